"""Execution time of each chapter (nbclient, a fresh kernel per chapter, as Jupyter Book runs them) and the total.

    python benchmarks/book_time.py [--quick] [--chapters 01 02 ...] [--cache-dir DIR]

Reads whichever chapters exist in ``book/`` at run time and names them. By default the library's
result cache (``RECONLEAK_CACHE``) points to a new empty folder, so every expensive result is
computed: the time of a first build with no cache (CI's situation). ``--cache-dir`` reuses a folder
(run twice with the same folder to see the warm build). The executed notebooks are not written back.
Times include kernel start-up; the slowest cell of each chapter is named (nbclient's timestamps). Targets: each
chapter ≤ 90 s, all together ≤ 10 minutes on 2 CPU cores.
``--quick`` executes only the first chapter.
"""

from __future__ import annotations

import sys
import tempfile

import _bench
import _notebooks
import nbformat

CHAPTER_LIMIT_S = 90.0
TOTAL_LIMIT_S = 600.0


def slowest_cell(nb) -> tuple[int | None, float]:
    """Index and seconds of the code cell that ran longest (nbclient's execution timestamps)."""
    from datetime import datetime

    best, best_s = None, 0.0
    for index, cell in enumerate(nb.cells):
        timing = cell.get("metadata", {}).get("execution", {})
        start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if start and end:
            seconds = (datetime.fromisoformat(end.replace("Z", "+00:00"))
                       - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
            if seconds > best_s:
                best, best_s = index, seconds
    return best, best_s


def main() -> None:
    p = _bench.parser(__doc__.splitlines()[0])
    p.add_argument("--chapters", nargs="*", help="only chapters whose file name contains one of these")
    p.add_argument("--cache-dir", default=None, help="RECONLEAK_CACHE for the kernels (default: a new empty folder)")
    args = _bench.parse(p)
    paths = _notebooks.selected(args)
    print(_bench.machine())

    with tempfile.TemporaryDirectory(prefix="reconleak-cache-") as fresh:
        cache = args.cache_dir or fresh
        print(f"cache: {cache} ({'given' if args.cache_dir else 'new, empty: cold build'})")
        rows, total, failures = [], 0.0, []
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            executed, seconds, error = _notebooks.execute(nb, env={"RECONLEAK_CACHE": cache})
            cell, cell_s = slowest_cell(executed)
            total += seconds
            status = "ok" if seconds <= CHAPTER_LIMIT_S else "OVER 90 s"
            if error:
                status = f"ERROR: {error[:60]}"
                failures.append(path.stem)
            slowest = "-" if cell is None else f"cell {cell}: {cell_s:.1f} s"
            rows.append([path.stem, f"{seconds:.1f} s", slowest, status])
            print(f"{path.stem}: {seconds:.1f} s {status}", file=sys.stderr, flush=True)
    rows.append(["total", f"{total:.1f} s", "", "ok" if total <= TOTAL_LIMIT_S else "OVER 10 min"])
    print(_bench.table(["chapter", "time", "slowest cell", "status"], rows))
    over = [r[0] for r in rows[:-1] if r[3] != "ok"]
    print(f"HEADLINE (targets: each ≤ 90 s, all ≤ 600 s): total {total:.1f} s for {len(paths)} chapter(s) "
          f"({', '.join(p.stem for p in paths)}); slowest {max(rows[:-1], key=lambda r: float(r[1][:-2]))[0]}"
          + (f"; over limit or failed: {', '.join(over)}" if over else "; all within limits"))


if __name__ == "__main__":
    main()
