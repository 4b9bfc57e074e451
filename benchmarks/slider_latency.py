"""Latency of one live slider update in each chapter, measured through the chapters' own callbacks.

    python benchmarks/slider_latency.py [--quick] [--chapters 06 07 ...] [--repeats R]

For every chapter present in ``book/`` now, the script finds the cells that build sliders with
``ipywidgets.interact(f, ...)`` / ``interactive(f, ...)`` (function or decorator form), and inserts after
each one a timing cell that rebuilds the same ``interactive(f, ...)`` from the cell's own source and
then moves each control, one at a time, to a few values (slider min, max and middle, or other options,
then back to the default). Setting ``widget.value`` runs the callback synchronously exactly as a live
update does (``interactive.update``: clear the output, call f, draw the figure inline), so the time of
that assignment is the latency a reader waits for. The chapter then runs top to bottom in a fresh
kernel (nbclient), so the callbacks see the state the chapter built. Sliders wired by other means
(``.observe`` handlers) are listed as not measured.

Target: median ≤ 1 s per update on 2 CPU cores at book scale. Headline (last line): the worst chapter's
median, and the chapters measured.
"""

from __future__ import annotations

import ast
import json
import statistics
import sys

import _bench
import _notebooks
import nbformat

MARK = "__RECONLEAK_SLIDER_LATENCY__"

# Runs inside the chapter's kernel; {make} is ``interactive(<the cell's own arguments>)``.
TIMING_CELL = '''
import json as _rl_json, time as _rl_time
from ipywidgets import interactive as _rl_interactive


def _rl_samples(w, quick):
    """Values to move control ``w`` to (attribute, value), ending back at its default."""
    if hasattr(w, "index") and hasattr(w, "options"):
        n = len(w.options)
        picks = [i for i in dict.fromkeys([0, n - 1, n // 2]) if i != w.index]
        return [("index", i) for i in picks[:1 if quick else 3]] + [("index", w.index)]
    if isinstance(w.value, bool):
        return [("value", not w.value), ("value", w.value)]
    if all(hasattr(w, a) for a in ("min", "max")) and isinstance(w.value, (int, float)):
        lo, hi = w.min, w.max
        if hasattr(w, "base"):   # FloatLogSlider: min and max are exponents
            lo, hi = w.base ** lo, w.base ** hi
        mid = (lo + hi) / 2 if isinstance(w.value, float) else (lo + hi) // 2
        picks = [v for v in dict.fromkeys([lo, hi, mid]) if v != w.value]
        return [("value", v) for v in picks[:1 if quick else 3]] + [("value", w.value)]
    return []


_rl_iw = {make}
_rl_times, _rl_controls = [], []
for _rl_w in _rl_iw.kwargs_widgets:
    _rl_samples_w = _rl_samples(_rl_w, {quick})
    if _rl_samples_w:
        _rl_controls.append(getattr(_rl_w, "description", "") or getattr(_rl_w, "_kwarg", "?"))
    for _rl_rep in range({repeats}):
        for _rl_attr, _rl_v in _rl_samples_w:
            _rl_t = _rl_time.perf_counter()
            setattr(_rl_w, _rl_attr, _rl_v)
            _rl_times.append(_rl_time.perf_counter() - _rl_t)
print("{mark}" + _rl_json.dumps({{"cell": {cell}, "callback": {callback!r}, "controls": _rl_controls,
                                   "times": _rl_times}}))
_rl_iw.close()
'''


def _name(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def slider_calls(source: str) -> tuple[list[tuple[str, str]], list[str]]:
    """``([(callback, interactive(...) source)], [unmeasured reasons])`` for one code cell's source."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return [], []
    text = "\n".join(lines)
    found, skipped = [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) in ("interact", "interactive") and node.args:
            call = ast.get_source_segment(text, node)
            func = ast.get_source_segment(text, node.func)
            found.append((ast.get_source_segment(text, node.args[0]), "_rl_interactive" + call[len(func):]))
        elif isinstance(node, ast.Call) and _name(node.func) in ("interact_manual", "interactive_output"):
            skipped.append(f"{_name(node.func)} (not a live update)")
        elif isinstance(node, ast.FunctionDef):
            for dec in node.decorator_list:
                target = dec.func if isinstance(dec, ast.Call) else dec
                if _name(target) in ("interact", "interactive"):
                    args = ""
                    if isinstance(dec, ast.Call):
                        call = ast.get_source_segment(text, dec)
                        args = ", " + call[len(ast.get_source_segment(text, dec.func)) + 1:-1]
                    found.append((node.name, f"_rl_interactive({node.name}{args})"))
        elif isinstance(node, ast.Call) and _name(node.func) == "observe":
            skipped.append("an .observe(...) handler")
    return found, skipped


def instrument(nb, quick: bool, repeats: int):
    """A copy of ``nb`` with a timing cell after every slider cell; also the list of unmeasured sliders."""
    out = nbformat.v4.new_notebook(metadata=nb.metadata)
    skipped = []
    for index, cell in enumerate(nb.cells):
        out.cells.append(cell)
        if cell.cell_type != "code":
            continue
        found, skip = slider_calls(cell.source)
        skipped += [f"cell {index}: {s}" for s in skip]
        for callback, make in found:
            out.cells.append(nbformat.v4.new_code_cell(TIMING_CELL.format(
                make=make, quick=quick, repeats=repeats, mark=MARK, cell=index, callback=callback)))
    return out, skipped


def records(nb) -> list[dict]:
    """The timing records printed by the inserted cells of an executed notebook."""
    found = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                for line in output.get("text", "").splitlines():
                    if line.startswith(MARK):
                        found.append(json.loads(line[len(MARK):]))
    return found


def main() -> None:
    p = _bench.parser(__doc__.splitlines()[0])
    p.add_argument("--chapters", nargs="*", help="only chapters whose file name contains one of these")
    p.add_argument("--repeats", type=int, default=None, help="passes over each control's values (default 2; quick 1)")
    p.add_argument("--timeout", type=int, default=600, help="per-cell execution timeout in seconds (default 600)")
    args = _bench.parse(p)
    repeats = args.repeats or (1 if args.quick else 2)
    paths = _notebooks.selected(args)
    print(_bench.machine())

    rows, medians, notes = [], {}, []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        instrumented, skipped = instrument(nb, args.quick, repeats)
        notes += [f"{path.stem}: not measured: {s}" for s in skipped]
        if len(instrumented.cells) == len(nb.cells):
            rows.append([path.stem, "-", "no interact/interactive slider", "-", "-", "-"])
            continue
        executed, seconds, error = _notebooks.execute(instrumented, timeout=args.timeout)
        found = records(executed)
        print(f"{path.stem}: executed in {seconds:.0f} s, {len(found)} slider cell(s) timed"
              + (f" (stopped: {error})" if error else ""), file=sys.stderr, flush=True)
        if error:
            notes.append(f"{path.stem}: execution stopped: {error}")
        for rec in found:
            times = rec["times"]
            if not times:
                rows.append([path.stem, rec["cell"], rec["callback"], "-", "-", "no movable control"])
                continue
            rows.append([path.stem, rec["cell"], f"{rec['callback']} ({', '.join(rec['controls'])})", len(times),
                         _bench.fmt_s(statistics.median(times)), _bench.fmt_s(max(times))])
        all_times = [t for rec in found for t in rec["times"]]
        if all_times:
            medians[path.stem] = statistics.median(all_times)
    print(_bench.table(["chapter", "cell", "callback (controls)", "updates", "median", "max"], rows))
    for note in notes:
        print(note)
    if not medians:
        print(f"HEADLINE: no slider measured in {len(paths)} chapter(s): {', '.join(p.stem for p in paths)}")
        return
    worst = max(medians, key=medians.get)
    print(f"HEADLINE (target ≤ 1 s): worst chapter median {_bench.fmt_s(medians[worst])} ({worst}); "
          f"measured {len(medians)} chapter(s) with sliders: {', '.join(medians)} "
          f"(of {len(paths)} present: {', '.join(p.stem for p in paths)})")


if __name__ == "__main__":
    main()
