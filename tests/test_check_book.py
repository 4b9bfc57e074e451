"""The browser check (.ci/check_book.py) passes a sound page and fails a deliberately broken one.

Runs headless Debian chromium through playwright on tiny handmade pages (skipped where either is
missing): the sound one holds a working sliders.static_slider and a figure at its natural size; the broken
one a code line wider than its box, a figure shrunk to a third of its width, a slider that never
changes its picture, a hidden progress bar that leaves a blank gap, and a console error. A second pair:
a page showing the same figure in two cells and a stretched figure, beside a sound one whose only repeated
image is a small icon.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

pytest.importorskip("playwright")
if shutil.which("chromium") is None:
    pytest.skip("no chromium on PATH (Debian: apt-get install -y chromium)", allow_module_level=True)

from reconleak_core import sliders  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_book", ROOT / ".ci" / "check_book.py")
check_book = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_book)

PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><style>article {{ width: 600px }}</style></head>
<body><article>{body}</article></body></html>"""


def _png(width: int, height: int) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _draw(fig, k):
    fig.add_subplot().plot([0, k])


def _site(tmp_path: Path) -> Path:
    slider = sliders.static_slider(_draw, {"k": [1, 2, 3]}, figsize=(5, 2), dpi=50).data
    good = (f'<div class="cell"><div class="cell_output"><pre>short line</pre></div></div>{slider}'
            f'<img src="{_png(500, 200)}" width="500">')
    bad = ('<div class="cell"><div class="cell_output"><pre style="overflow:auto">' + "x" * 300 + "</pre></div></div>"
           f'<img src="{_png(1800, 300)}" style="max-width:100%">'
           f'<div><img src="{_png(300, 100)}"><input type="range" min="0" max="3" value="0"></div>'
           '<div class="widget-subarea"><div style="visibility:hidden;height:32px">bar</div></div>'
           '<script type="application/vnd.jupyter.widget-view+json">{"model_id": "hiddenbar"}</script>'
           '<script>console.error("something broke")</script>'
           + '<button class="search-button-field">Search</button>' * 2)
    (tmp_path / "index.html").write_text(PAGE.format(body=good))
    (tmp_path / "bad.html").write_text(PAGE.format(body=bad))
    (tmp_path / "_toc.yml").write_text("root: index\nchapters:\n  - file: bad\n")
    return tmp_path


def test_browser_check_passes_a_sound_page_and_names_every_fault_of_a_broken_one(tmp_path, capsys):
    site = _site(tmp_path)
    status = check_book.main(["--html", str(site), "--toc", str(site / "_toc.yml")])
    out = capsys.readouterr().out
    assert status == 1
    assert "FAIL index" not in out and "index: " in out and "1 sliders driven, 0 problems" in out
    bad = out.split("FAIL bad:", 1)[1]
    assert "output overflows its container" in bad
    assert "figure shown at 0.33 of its natural width" in bad
    assert "never changed the picture" in bad
    assert "console error: something broke" in bad
    assert "widget hiddenbar is hidden but leaves a 32 px blank gap" in bad
    assert "2 search fields are visible" in bad


def _cell(code: str, output: str) -> str:
    return (f'<div class="cell"><div class="cell_input"><pre>{code}</pre></div>'
            f'<div class="cell_output">{output}</div></div>')


def test_browser_check_names_the_cells_that_repeat_an_image_and_a_stretched_figure(tmp_path, capsys):
    icon, figure = f'<img src="{_png(32, 32)}">', f'<img src="{_png(400, 150)}" width="400">'
    slider = sliders.static_slider(_draw, {"k": [1, 2]}, figsize=(4, 2), dpi=50).data
    sound = icon + _cell("slider", slider) + _cell("show(1)", figure) + icon
    repeated = (_cell("show(1)", figure) + _cell("show(2)", f'<img src="{_png(400, 160)}" width="400">')
                + _cell("interact(show)\nmore", figure) + _cell("small()", f'<img src="{_png(200, 100)}" width="400">'))
    (tmp_path / "index.html").write_text(PAGE.format(body=sound))
    (tmp_path / "repeat.html").write_text(PAGE.format(body=repeated))
    (tmp_path / "_toc.yml").write_text("root: index\nparts:\n  - chapters:\n      - file: repeat\n")
    status = check_book.main(["--html", str(tmp_path), "--toc", str(tmp_path / "_toc.yml")])
    out = capsys.readouterr().out
    assert status == 1
    assert "FAIL index" not in out and "index: " in out
    bad = out.split("FAIL repeat:", 1)[1]
    assert ('the same image is shown 2 times: cell 1 ("show(1)") output, figure 1 of the page; '
            'cell 3 ("interact(show)") output, figure 3 of the page') in bad
    assert "figure shown at 2.00 of its natural width (200 px stretched to 400 px; maximum 1.05)" in bad
    assert "show(2)" not in bad
