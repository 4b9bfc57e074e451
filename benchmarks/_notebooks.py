"""Helpers of ``book_time.py`` and ``slider_latency.py``: find the chapters, execute one with nbclient.

- :func:`chapters` — the chapter notebooks present in ``book/`` now (sorted), optionally filtered.
- :func:`selected` — the chapters a script's ``--chapters``/``--quick`` arguments ask for (exits if none).
- :func:`execute` — run a notebook in a fresh kernel from ``book/`` (as Jupyter Book does); returns the
  executed notebook, the wall time and an error line (``None`` when every cell ran).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"


def chapters(names: list[str] | None = None) -> list[Path]:
    """``book/*.ipynb`` (checkpoints excluded), sorted; ``names`` keeps those whose stem contains a name."""
    found = sorted(p for p in BOOK.glob("*.ipynb") if not p.name.startswith("."))
    if names:
        found = [p for p in found if any(n in p.stem for n in names)]
    return found


def selected(args) -> list[Path]:
    """The chapters named by ``args.chapters`` (all by default; only the first with ``--quick``).

    Exits with a message when ``book/`` holds none."""
    paths = chapters(args.chapters)
    if args.quick and not args.chapters:
        paths = paths[:1]
    if not paths:
        raise SystemExit("no chapter notebooks found in book/")
    return paths


def execute(nb, timeout: int = 600, env: dict | None = None):
    """Execute ``nb`` (an nbformat node) in a new kernel with working directory ``book/``.

    ``env`` adds environment variables for the kernel (e.g. ``RECONLEAK_CACHE``). Returns
    ``(nb, seconds, error)``; ``error`` names the failure (a cell's error, a timeout, a dead kernel) or is ``None``.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(BOOK)}})
    start = time.perf_counter()
    error = None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
        lines = [line for line in str(err).splitlines() if line.strip()]
        error = f"{type(err).__name__}: {lines[-1] if lines else ''}"
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb, time.perf_counter() - start, error
