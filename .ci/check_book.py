"""Browser check of the built book, offline: every page of _toc.yml must render completely.

    python .ci/check_book.py [--html _build/html] [--toc _toc.yml] [--screenshots DIR]

Serves the HTML on a local http.server (127.0.0.1, a free port) and opens every page listed in
_toc.yml in headless Debian chromium (driven by playwright; it never downloads a browser) while
aborting every request that does not go to that server, so the pages must render with no internet.
A page fails when
- a request leaves the machine (it is blocked, and listed), or a local file is missing (HTTP >= 400);
- the browser logs a JavaScript error, or a console error not in KNOWN_HARMLESS;
- an <img> did not load (naturalWidth == 0);
- a saved widget view (script[type="application/vnd.jupyter.widget-view+json"]) did not render into a
  visible widget (the widget manager inserts a div.widget-subarea before the script; it must hold a
  widget of non-zero size and no "Error displaying widget");
- a saved widget is hidden (visibility: hidden) but still takes room: a blank gap in the page (tqdm
  progress bars with leave=False, saved while they were being hidden);
- a formula (.math) was not typeset by MathJax;
- output overflows its container horizontally: a code line, a printed line or a table in a notebook cell
  (or a table of a page) wider than the box it sits in, so it is clipped or needs a sideways scroll;
- a figure in the article is shown at less than MIN_IMAGE_SCALE of its natural width (CSS px per
  image px, the window's device pixel ratio being 1): a 100-dpi matplotlib figure wider than the ~690 px
  column (or than a full-width cell, ~935 px) is shrunk, and its legend text (8.3 pt, 11.6 px natural)
  falls under 9 px below scale 0.8; or at more than MAX_IMAGE_SCALE of it: stretched beyond its pixels, so
  blurred (a slider frame drawn at 90 dpi and shown 100 px per inch). The text sizes inside a figure
  are measured where matplotlib can measure them, in tests/test_figures.py;
- the page shows the same image twice: two figures of the article (visible, at least MIN_FIGURE_WIDTH
  wide, so not the theme's icons) with the same content (SHA-256 of the bytes of their src, a data: URL or
  a file), e.g. a static slider and the saved output of a live widget below it. A slider shows one of its
  frames at a time (the others are not images of the page), so only the frame it shows at first counts.
  Each copy is named by its cell (number among the page's cells, first line of its code) and its rank
  among the page's figures;
- a precomputed slider does not work: every <input type="range"> outside a saved (dead) widget, e.g.
  sliders.static_slider's and FuncAnimation.to_jshtml's, is moved to each of its positions; the picture
  beside it must change at least once, and every frame shown must be a decodable image;
- more than one search field is visible (the theme's sidebar field and a duplicate in the top bar).
Console errors named in KNOWN_HARMLESS (each with its reason) are ignored; any other one fails.
Exit status 0 when every page passes, 1 otherwise, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import re
import shutil
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import yaml

# Console errors that are known to be harmless (regular expressions, searched in the message). sphinx-thebe's
# "THEBE_JS_URL has already been declared" is not here: book/_ext/reconleak_book.py removes the duplicate
# <script> that caused it.
KNOWN_HARMLESS = [
    # pydata-sphinx-theme on a browser's first visit (no colour mode saved yet); it falls back to "auto".
    r"Got invalid theme mode: \. Resetting to auto\.",
]

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-quic", "--disable-sync",
]

WIDGET_TIMEOUT_S = 30.0

# Smallest and largest allowed ratio of an image's displayed width to its natural width (see the module docstring).
MIN_IMAGE_SCALE = 0.8
MAX_IMAGE_SCALE = 1.05
# Images narrower than this (natural CSS px) are icons or logos, not figures with labels.
MIN_FIGURE_WIDTH = 120
# Horizontal overflow tolerated (px): sub-pixel rounding.
OVERFLOW_SLACK = 2

# Evaluated in the page: every box of notebook output (and every table of a page) whose content is wider
# than the box, and every figure of the article: its natural and shown widths, and the hash of its content.
LAYOUT_REPORT_JS = """
async ([slack, minWidth]) => {
  const article = document.querySelector("article") || document.body;
  const cells = Array.from(document.querySelectorAll("div.cell"));
  const place = (el) => {
    const cell = el.closest("div.cell");
    if (!cell) return "page";
    const code = cell.querySelector(".cell_input pre");
    const line = code ? ` ("${code.textContent.trim().split("\\n")[0].slice(0, 50)}")` : "";
    const part = el.closest(".cell_input") ? " code" : el.closest(".cell_output") ? " output" : "";
    return `cell ${cells.indexOf(cell) + 1}${line}${part}`;
  };
  const describe = (el) =>
    `${place(el)}, <${el.tagName.toLowerCase()}> "${el.textContent.trim().replace(/\\s+/g, " ").slice(0, 60)}"`;
  const sha256 = async (src) => {
    const digest = await crypto.subtle.digest("SHA-256", await (await fetch(src)).arrayBuffer());
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  };
  const boxes = new Set(article.querySelectorAll(
      "div.cell pre, div.cell table, div.cell_output > *, div.cell_output .output > *, table"));
  const overflow = [];
  for (const el of boxes) {
    if (el.closest("mjx-container, .widget-subarea")) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;            // not displayed
    const inner = el.scrollWidth - el.clientWidth;
    const outer = r.right - article.getBoundingClientRect().right;
    if (inner > slack || (outer > slack && !el.closest(".tag_full-width, .full-width"))) {
      overflow.push({what: describe(el), by: Math.round(Math.max(inner, outer))});
    }
  }
  const figures = [];
  for (const img of article.querySelectorAll("img")) {
    const r = img.getBoundingClientRect();
    // not loaded (reported elsewhere) or hidden
    if (!img.naturalWidth || r.width === 0 || !img.checkVisibility({visibilityProperty: true})) continue;
    const natural = img.naturalWidth;
    if (natural < minWidth) continue;                         // an icon or a logo
    const where = `${place(img)}, figure ${figures.length + 1} of the page`;
    figures.push({natural: Math.round(natural), shown: Math.round(r.width), scale: r.width / natural, where,
                  hash: await sha256(img.currentSrc)});
  }
  return {overflow, figures};
}
"""

# Evaluated in the page: move every precomputed slider to each of its positions and watch the picture.
SLIDER_REPORT_JS = """
async () => {
  const sliders = Array.from(document.querySelectorAll('input[type="range"]')).filter(
      (input) => !input.closest(".widget-subarea"));
  const reports = [];
  for (const [n, input] of sliders.entries()) {
    let box = input.closest(".reconleak-slider, .animation") || input.parentElement;
    while (box && box.querySelectorAll("img").length === 0) box = box.parentElement;
    const pictures = () => box ? Array.from(box.querySelectorAll("img")) : [];
    const seen = () => pictures().map((img) => img.getAttribute("src")).join("|");
    const start = input.value, first = seen();
    let changed = 0, broken = 0;
    const lo = Number(input.min || 0), hi = Number(input.max || 100), step = Number(input.step || 1);
    for (let v = lo; v <= hi; v += step) {
      input.value = String(v);
      input.dispatchEvent(new Event("input", {bubbles: true}));
      input.dispatchEvent(new Event("change", {bubbles: true}));
      await new Promise((resolve) => setTimeout(resolve, 20));
      for (const img of pictures()) {
        try { await img.decode(); } catch (e) { broken += 1; }
      }
      if (seen() !== first) changed += 1;
    }
    input.value = start;
    input.dispatchEvent(new Event("input", {bubbles: true}));
    const label = (input.labels && input.labels[0] && input.labels[0].textContent) || input.id || `#${n + 1}`;
    reports.push({label: label.trim(), positions: Math.floor((hi - lo) / step) + 1, changed, broken,
                  picture: box !== null});
  }
  return reports;
}
"""

# Evaluated in the page once it has loaded: a report of its images, widget views and formulas.
PAGE_REPORT_JS = """
() => {
  const size = (el) => { const r = el.getBoundingClientRect(); return [r.width, r.height]; };
  const images = Array.from(document.images).map((img) => ({
    src: img.currentSrc.slice(0, 120), ok: img.complete && img.naturalWidth > 0}));
  const views = Array.from(document.querySelectorAll(
      'script[type="application/vnd.jupyter.widget-view+json"]')).map((script) => {
    const area = script.previousElementSibling;
    const rendered = area !== null && area.classList.contains("widget-subarea");
    const widget = rendered ? area.firstElementChild : null;
    const [w, h] = widget ? size(widget) : [0, 0];
    const text = rendered ? area.textContent : "";
    const hidden = widget !== null && getComputedStyle(widget).visibility === "hidden";
    return {model: JSON.parse(script.textContent).model_id, rendered, width: w, height: h, hidden,
            error: /Error (displaying|creating) widget/.test(text)};
  });
  const formulas = Array.from(document.querySelectorAll(".math")).map(
      (el) => el.querySelector("mjx-container") !== null);
  const searchFields = Array.from(document.querySelectorAll(".search-button-field")).filter(
      (el) => el.checkVisibility({visibilityProperty: true}) && el.getBoundingClientRect().width > 0).length;
  return {images, views, formulas, searchFields};
}
"""


def toc_pages(toc_path: Path) -> list[str]:
    """Every document of the Jupyter Book table of contents, in order, without suffix."""
    toc = yaml.safe_load(toc_path.read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", [{"chapters": toc.get("chapters")}]):
        walk(part.get("chapters"))
    return [re.sub(r"\.(md|ipynb)$", "", page) for page in pages]


def serve(directory: Path) -> http.server.ThreadingHTTPServer:
    """A quiet static file server for ``directory`` on 127.0.0.1 and a free port, in a thread."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # noqa: D401 - keep the check's output readable
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def check_page(context, base: str, page: str, screenshots: Path | None) -> list[str]:
    """Open one page and return the list of its problems (empty when it renders completely)."""
    problems: list[str] = []
    tab = context.new_page()
    tab.on("console", lambda msg: msg.type == "error" and not any(
        re.search(p, msg.text) for p in KNOWN_HARMLESS) and problems.append(f"console error: {msg.text}"))
    tab.on("pageerror", lambda err: not any(re.search(p, str(err)) for p in KNOWN_HARMLESS)
           and problems.append(f"JavaScript error: {err}"))
    tab.on("response", lambda resp: resp.status >= 400 and problems.append(f"HTTP {resp.status}: {resp.url}"))
    response = tab.goto(f"{base}/{page}.html", wait_until="networkidle")
    if response is None or not response.ok:
        problems.append(f"page did not load (HTTP {response.status if response else 'no response'})")
        tab.close()
        return problems
    # Let MathJax and the widget manager finish: wait until every saved view has its widget-subarea
    # (or the timeout passes; unrendered views are then reported below).
    tab.evaluate("() => (window.MathJax && MathJax.startup && MathJax.startup.promise) || null")
    deadline = time.monotonic() + WIDGET_TIMEOUT_S
    while time.monotonic() < deadline:
        report = tab.evaluate(PAGE_REPORT_JS)
        if all(v["rendered"] and v["height"] > 0 for v in report["views"]):
            break
        tab.wait_for_timeout(250)
    tab.wait_for_load_state("networkidle")  # images inside widgets (data: URLs) and fonts
    report = tab.evaluate(PAGE_REPORT_JS)
    for img in report["images"]:
        if not img["ok"]:
            problems.append(f"image did not load: {img['src']}")
    for view in report["views"]:
        if not view["rendered"]:
            problems.append(f"widget {view['model']} was not rendered (blank where the widget was)")
        elif view["error"]:
            problems.append(f"widget {view['model']} rendered an error")
        elif view["hidden"] and view["height"] > 4:
            problems.append(f"widget {view['model']} is hidden but leaves a {round(view['height'])} px blank gap "
                            "(a progress bar saved while it was being hidden: tqdm's leave=False)")
        elif view["width"] <= 0 or view["height"] <= 0:
            problems.append(f"widget {view['model']} rendered with size {view['width']}x{view['height']}")
    if report["searchFields"] > 1:
        problems.append(f"{report['searchFields']} search fields are visible (the sidebar's and a duplicate, e.g. "
                        "the top bar's navbar_persistent): show one")
    missing_math = report["formulas"].count(False)
    if missing_math:
        problems.append(f"{missing_math} of {len(report['formulas'])} formulas were not typeset by MathJax")
    layout = tab.evaluate(LAYOUT_REPORT_JS, [OVERFLOW_SLACK, MIN_FIGURE_WIDTH])
    for box in layout["overflow"]:
        problems.append(f"output overflows its container by {box['by']} px: {box['what']}")
    shown_at = defaultdict(list)
    for img in layout["figures"]:
        shown_at[img["hash"]].append(img["where"])
        if img["scale"] < MIN_IMAGE_SCALE:
            problems.append(
                f"figure shown at {img['scale']:.2f} of its natural width ({img['natural']} px shown in "
                f"{img['shown']} px; minimum {MIN_IMAGE_SCALE}): its labels come out too small to read "
                f"({img['where']}); make it at most 6.8 inches wide, or 9.3 inches in a cell tagged full-width")
        elif img["scale"] > MAX_IMAGE_SCALE:
            problems.append(
                f"figure shown at {img['scale']:.2f} of its natural width ({img['natural']} px stretched to "
                f"{img['shown']} px; maximum {MAX_IMAGE_SCALE}): upscaled, so blurred ({img['where']}); draw it "
                "at the size it is shown")
    for places in shown_at.values():
        if len(places) > 1:
            problems.append(f"the same image is shown {len(places)} times: {'; '.join(places)} (each picture once "
                            "on a page: keep one, e.g. tag a live widget's cell remove-output below its static slider)")
    sliders = tab.evaluate(SLIDER_REPORT_JS)
    for slider in sliders:
        if not slider["picture"]:
            problems.append(f"slider {slider['label']!r} has no picture beside it")
        elif slider["positions"] > 1 and slider["changed"] == 0:
            problems.append(f"slider {slider['label']!r}: moving it through {slider['positions']} positions "
                            "never changed the picture")
        if slider["broken"]:
            problems.append(f"slider {slider['label']!r}: {slider['broken']} frames shown were not decodable images")
    if screenshots is not None:
        target = screenshots / f"{page.replace('/', '__')}.png"
        tab.screenshot(path=str(target), full_page=True)
    print(f"  {page}: {len(report['images'])} images, {len(report['views'])} widget views, "
          f"{len(report['formulas'])} formulas, {len(sliders)} sliders driven, {len(problems)} problems")
    tab.close()
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=Path("_build/html"), help="built HTML folder")
    parser.add_argument("--toc", type=Path, default=Path("_toc.yml"), help="the book's table of contents")
    parser.add_argument("--screenshots", type=Path, default=None, help="save a full-page PNG of each page here")
    args = parser.parse_args(argv)

    chromium = shutil.which("chromium")
    if chromium is None:
        print("check_book: no `chromium` on PATH (Debian: apt-get install -y chromium)", file=sys.stderr)
        return 2
    if not (args.html / "index.html").is_file():
        print(f"check_book: {args.html}/index.html not found: build the book first", file=sys.stderr)
        return 2
    pages = toc_pages(args.toc)
    if args.screenshots is not None:
        args.screenshots.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright  # heavy: imported only when checking

    server = serve(args.html)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    blocked: list[str] = []

    def route(r):
        if r.request.url.startswith(base + "/") or r.request.url.startswith(("data:", "blob:", "about:")):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    failures = 0
    print(f"check_book: {len(pages)} pages from {args.html}, served at {base}, all other requests blocked")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
            context = browser.new_context(viewport={"width": 1280, "height": 1000}, service_workers="block")
            context.route("**/*", route)
            for page in pages:
                if not (args.html / f"{page}.html").is_file():
                    print(f"FAIL {page}: {page}.html was not built")
                    failures += 1
                    continue
                blocked.clear()
                problems = check_page(context, base, page, args.screenshots)
                problems += [f"blocked non-local request: {url}" for url in blocked]
                if problems:
                    failures += 1
                    print(f"FAIL {page}:")
                    for problem in problems:
                        print(f"    {problem}")
            browser.close()
    finally:
        server.shutdown()
    if failures:
        print(f"check_book: {failures} of {len(pages)} pages failed")
        return 1
    print(f"check_book: all {len(pages)} pages render offline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
