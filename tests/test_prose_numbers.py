"""Claim: the prose of a chapter cannot drift from its outputs. Every measured-looking number in a chapter's text
(a decimal such as "0.74", a percentage such as "35 %", a factor such as "74×") appears among the chapter's own
outputs or code, to the number of decimals the prose quotes; and no chapter or docstring speaks of our issue
tracker ("issue").

Numbers inside math ($...$), inline code and link targets are not prose. A handful of numbers are definitions
rather than measurements; each is listed in ``DEFINITIONS`` with its reason.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))

# (chapter stem, number as written): why it is not a measured quantity
DEFINITIONS = {
    ("01_homogeneous_networks", "3.2"): "the live slider's largest scale, 10^0.5 (FloatLogSlider max=0.5)",
    ("01_homogeneous_networks", "1.1"): "an exercise's instruction: multiply W by 1.1",
    ("08_open_questions", "0.02"): "the deep preset's training step (lr 0.02 in experiments.core.digits_spec)",
    ("02_reconstruction_attack", "0.5"): "Haim et al.'s DSSIM = (1 − SSIM)/2 is 0.5 at SSIM 0 (a definition)",
}

# a number in prose: a decimal, or an integer or decimal followed by % or × (not "8×8", an image size)
PROSE_NUMBER = re.compile(r"(?<![\w.×])(\d+(?:\.\d+)?)(?:(\s?%)|(×)(?![\d\w]))?")
# any number in an output or in code, with an optional exponent
ANY_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _prose(markdown: str) -> str:
    """The chapter's text without display and inline math, inline code, roles and link targets."""
    markdown = re.sub(r"\$\$.*?\$\$", " ", markdown, flags=re.DOTALL)
    markdown = re.sub(r"\$[^$\n]*\$", " ", markdown)
    markdown = re.sub(r"`[^`]*`", " ", markdown)
    return re.sub(r"\]\([^)]*\)", "]", markdown)


def _numbers(texts) -> list[float]:
    found = set()
    for text in texts:
        for match in ANY_NUMBER.finditer(text):
            found.add(float(match.group(0)))
    return sorted(found)


def _texts(cells) -> list[str]:
    """The code and every text output of the chapter (stdout, text/plain, text/html, text/markdown)."""
    texts = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        texts.append("".join(cell["source"]))
        for output in cell.get("outputs", []):
            if "text" in output:
                texts.append("".join(output["text"]))
            for kind, value in output.get("data", {}).items():
                if kind in ("text/plain", "text/html", "text/markdown"):
                    texts.append("".join(value))
    return texts


def _matches(written: str, percent: bool, values: list[float]) -> bool:
    decimals = len(written.split(".")[1]) if "." in written else 0
    target = float(written)
    for value in values:
        if round(abs(value), decimals) == target or (percent and round(100 * abs(value), decimals) == target):
            return True
    return False


def unmatched_numbers(path: Path) -> list[str]:
    """Each prose number of the chapter at ``path`` that none of its outputs or code holds, with its context."""
    cells = json.loads(path.read_text())["cells"]
    values = _numbers(_texts(cells))
    missing = []
    for cell in cells:
        if cell["cell_type"] != "markdown":
            continue
        text = _prose("".join(cell["source"]))
        for match in PROSE_NUMBER.finditer(text):
            written, percent, times = match.groups()
            if "." not in written and not (percent or times):
                continue   # a bare integer: a count, a step number, a chapter, a year
            if (path.stem, written) in DEFINITIONS or _matches(written, bool(percent), values):
                continue
            context = " ".join(text[max(0, match.start() - 60):match.end() + 20].split())
            missing.append(f"{match.group(0).strip()!r} in '...{context}...'")
    return missing


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_number_in_a_chapters_prose_is_in_its_outputs(path):
    missing = unmatched_numbers(path)
    assert not missing, f"{path.name}: prose numbers found in no output or code of the chapter:\n" + "\n".join(missing)


def test_the_check_finds_a_drifted_number(tmp_path):
    """The check can fail: a chapter whose prose says 0.74 beside an output of 0.75 is caught; 0.75 passes."""
    def chapter(prose):
        cells = [{"cell_type": "markdown", "metadata": {}, "source": [prose]},
                 {"cell_type": "code", "metadata": {}, "source": ["print(x)"], "execution_count": 1,
                  "outputs": [{"output_type": "stream", "name": "stdout", "text": ["median 0.7512, 35%\n"]}]}]
        path = tmp_path / "99_x.ipynb"
        path.write_text(json.dumps({"cells": cells}))
        return path

    assert unmatched_numbers(chapter("median about 0.74 and 35 % leaked")) == [
        "'0.74' in '...median about 0.74 and 35 % leaked...'"]
    assert unmatched_numbers(chapter("median about 0.75 (0.751), 35 %, $0.1$ and `0.2`")) == []
    assert len(unmatched_numbers(chapter("40 % leaked, 3× the loss"))) == 2


def test_no_chapter_or_docstring_speaks_of_the_issue_tracker():
    word = re.compile(r"\bissues?\b", re.IGNORECASE)
    found = [f"{p.name}: {m.group(0)}" for p in CHAPTERS for c in json.loads(p.read_text())["cells"]
             for m in word.finditer("".join(c["source"]))]
    found += [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in sorted((ROOT / "reconleak_core").rglob("*.py"))
              for m in word.finditer(p.read_text())]
    found += [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in sorted((ROOT / "book").rglob("*.md"))
              for m in word.finditer(p.read_text())]
    assert not found, "chapters and the library speak to readers, not of our tracker:\n" + "\n".join(found)
