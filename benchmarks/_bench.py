"""Shared helpers of the benchmark scripts: interleaved timing, the machine line, tables.

Every script in ``benchmarks/`` is run as ``python benchmarks/<name>.py [--quick]`` and prints a short
table with its headline figure LAST. Ratios are measured side by side in one run: the variants are
timed in interleaved rounds (round r runs every variant once, in a rotated order) and each variant's
figure is the median over rounds, so slow drift of a noisy machine hits all variants alike.

Robustness rules: every figure is a median over at least ``MIN_ROUNDS`` (5) rounds; timing scripts print
a row per torch thread count (1 and 2 by default: two-thread timings collapse when another process
takes a core, one-thread timings barely move); the machine is read from the system, not written by hand.

Interface
---------
- :func:`machine_info` — the machine as read from ``lscpu`` / ``/proc/cpuinfo`` / ``/proc/meminfo`` and
  torch's build configuration (CPU model, physical cores, logical CPUs, ISA torch dispatches to, BLAS,
  memory, torch and Python versions, CUDA device); :func:`machine` — the same as one line, with the
  current thread count and load average (other processes distort absolute times; ratios less so).
- :func:`interleaved` — ``{name: median seconds}`` of callables timed in interleaved rounds; its
  ``ratio(a, b)`` is the median of the per-round ratios (what every target ratio is).
- :func:`thread_counts`, :func:`threads` — the thread counts a run measures (``--threads``, default 1 and 2)
  and a context manager that sets one.
- :func:`target` — one line ``TARGET <what>: <value> (target <op> <threshold>: met|MISSED)``, the form
  ``run_all.py`` collects into ``RESULTS.md``'s summary.
- :func:`table` — a fixed-width text table.
- :func:`parser`, :func:`parse` — the common options ``--quick`` and ``--threads``.
- :func:`fmt_s` — seconds, 3 significant digits.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import statistics
import subprocess
import time
from collections.abc import Callable

import torch

MIN_ROUNDS = 5  # every timed figure is a median over at least this many rounds


def _lscpu() -> dict[str, str]:
    """``lscpu``'s fields (empty where the command is missing)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in out.splitlines() if ":" in line)}


def _proc_field(path: str, field: str) -> str | None:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU model name from lscpu or /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    return (_lscpu().get("Model name") or _proc_field("/proc/cpuinfo", "model name") or platform.processor()
            or "unknown CPU")


def _blas() -> str:
    """The BLAS torch was built with, from ``torch.__config__.show()`` (e.g. ``mkl``)."""
    config = torch.__config__.show()
    match = re.search(r"BLAS_INFO=([^,\s]+)", config)
    return match.group(1) if match else "unknown"


def machine_info(device: torch.device | None = None) -> dict[str, str]:
    """Where the numbers are measured, read from the system (see the module docstring)."""
    cpu = _lscpu()
    try:
        cores = int(cpu["Core(s) per socket"]) * int(cpu["Socket(s)"])
    except (KeyError, ValueError):
        cores = None
    mem = _proc_field("/proc/meminfo", "MemTotal")
    info = {
        "cpu": cpu_model(),
        "physical cores": str(cores) if cores else "unknown",
        "logical CPUs": str(os.cpu_count()),
        "hypervisor": cpu.get("Hypervisor vendor", "none"),
        "L3 cache": cpu.get("L3 cache", "unknown"),
        "torch CPU capability": torch.backends.cpu.get_cpu_capability(),
        "BLAS": _blas(),
        "memory": f"{int(mem.split()[0]) / 2 ** 20:.1f} GiB" if mem else "unknown",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "CUDA device": (torch.cuda.get_device_name(device) if device is not None and device.type == "cuda"
                        else "none used"),
    }
    return info


def machine(device: torch.device | None = None) -> str:
    """One line describing where the numbers were measured (system facts, threads now, load average)."""
    info = machine_info(device)
    line = (f"machine: {info['cpu']} | {info['physical cores']} cores, {info['logical CPUs']} logical CPUs | "
            f"{info['torch CPU capability']}, BLAS {info['BLAS']} | {info['memory']} | torch {info['torch']} "
            f"({torch.get_num_threads()} threads) | load average {os.getloadavg()[0]:.1f} at start")
    if info["CUDA device"] != "none used":
        line += f" | {info['CUDA device']}"
    return line


def thread_counts(args) -> list[int]:
    """The torch thread counts to measure: ``--threads N`` alone, else 1 and 2 (capped at the CPU count)."""
    if args.threads is not None:
        return [args.threads]
    return sorted({1, min(2, os.cpu_count() or 1)})


@contextlib.contextmanager
def threads(n: int):
    """Run the block with ``torch.set_num_threads(n)``; the previous count is restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def target(what: str, value: float, threshold: float, op: str = "<=", unit: str = "") -> str:
    """``TARGET what: value (target op threshold: met|MISSED)`` — printed by every script for every target."""
    if op not in ("<=", ">="):
        raise ValueError(f"op must be '<=' or '>=', got {op!r}")
    met = value <= threshold if op == "<=" else value >= threshold
    sign = "≤" if op == "<=" else "≥"
    return (f"TARGET {what}: {value:.3g}{unit} (target {sign} {threshold:g}{unit}: "
            f"{'met' if met else 'MISSED'})")


def _sync(device: torch.device | None) -> None:
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


class Rounds(dict):
    """``{name: median seconds}`` of :func:`interleaved`, with each round's times kept in ``rounds``."""

    def __init__(self, rounds: dict[str, list[float]]):
        super().__init__({name: statistics.median(ts) for name, ts in rounds.items()})
        self.rounds = rounds

    def ratio(self, a: str, b: str) -> float:
        """The median over rounds of a's time / b's time in the same round: a drift of the machine's
        speed between rounds cancels, which the ratio of the two medians does not guarantee."""
        return statistics.median(x / y for x, y in zip(self.rounds[a], self.rounds[b]))


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
                device: torch.device | None = None) -> Rounds:
    """Median wall time (seconds) of each callable, timed in ``repeats`` interleaved rounds (a :class:`Rounds`).

    Each round runs every callable once; the order rotates from round to round. ``warmup`` untimed
    rounds come first. On CUDA the device is synchronised around each call.
    """
    if repeats < MIN_ROUNDS:
        raise ValueError(f"repeats must be at least {MIN_ROUNDS} (medians of ≥ {MIN_ROUNDS} rounds), got {repeats!r}")
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
    return Rounds(times)


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
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads: measure only this count (default: timing scripts measure 1 and 2)")
    return p


def parse(p: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse the command line and apply ``--threads`` (to this process and to kernels it starts). Also
    keeps freed memory in the process, as a chapter's setup cell does (``runtime.keep_freed_memory``): every
    variant of a script runs under the same allocator settings as the book."""
    from reconleak_core.runtime import keep_freed_memory

    args = p.parse_args()
    keep_freed_memory()
    if args.threads is not None:
        if args.threads < 1:
            p.error(f"--threads must be a positive integer, got {args.threads}")
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # also for notebook kernels started later
    return args


def fmt_s(seconds: float) -> str:
    """Seconds with 3 significant digits, in s or ms."""
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"
