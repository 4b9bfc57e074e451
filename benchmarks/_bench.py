"""Shared helpers of the benchmark scripts: interleaved timing, the machine line, tables.

Every script in ``benchmarks/`` is run as ``python benchmarks/<name>.py [--quick]`` and prints a short
table with its headline figure LAST. Ratios are measured side by side in one run: the variants are
timed in interleaved rounds (round r runs every variant once, in a rotated order) and each variant's
figure is the median over rounds, so slow drift of a noisy machine hits all variants alike.

Interface
---------
- :func:`machine` — one line: CPU model, cores, torch threads, torch version, device, load average
  (other processes on the machine distort absolute times; ratios from interleaved rounds less so).
- :func:`interleaved` — ``{name: median seconds}`` of callables timed in interleaved rounds.
- :func:`table` — a fixed-width text table.
- :func:`parser`, :func:`parse` — the common options ``--quick`` and ``--threads``.
- :func:`fmt_s` — seconds, 3 significant digits.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine(device: torch.device | None = None) -> str:
    """One line describing where the numbers were measured."""
    line = (f"machine: {cpu_model()} | {os.cpu_count()} cores | torch {torch.__version__} "
            f"({torch.get_num_threads()} threads) | load average {os.getloadavg()[0]:.1f} at start")
    if device is not None and device.type == "cuda":
        line += f" | {torch.cuda.get_device_name(device)}"
    return line


def _sync(device: torch.device | None) -> None:
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
                device: torch.device | None = None) -> dict[str, float]:
    """Median wall time (seconds) of each callable, timed in ``repeats`` interleaved rounds.

    Each round runs every callable once; the order rotates from round to round. ``warmup`` untimed
    rounds come first. On CUDA the device is synchronised around each call.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(warmup + repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            _sync(device)
            start = time.perf_counter()
            fns[name]()
            _sync(device)
            if r >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def table(header: list[str], rows: list[list[object]]) -> str:
    """A fixed-width text table (numbers are formatted by the caller)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[k]) for row in cells) for k in range(len(header))]
    lines = ["  ".join(c.rjust(w) if k else c.ljust(w) for k, (c, w) in enumerate(zip(row, widths)))
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark has: ``--quick`` (CI-sized) and ``--threads``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="CI-sized run (seconds)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    return p


def parse(p: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse the command line and apply ``--threads`` (to this process and to kernels it starts)."""
    args = p.parse_args()
    if args.threads is not None:
        if args.threads < 1:
            p.error(f"--threads must be a positive integer, got {args.threads}")
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # also for notebook kernels started later
    return args


def fmt_s(seconds: float) -> str:
    """Seconds with 3 significant digits, in s or ms."""
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"
