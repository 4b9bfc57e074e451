"""Smoke test of the benchmark scripts whose ``--quick`` mode takes seconds: each runs as a subprocess,
exits 0 and prints its headline last (or, for ``gpu_scale.py`` without CUDA, its skip message).

Not run here, because their quick modes execute notebooks or train a network (tens of seconds):
``attack_convergence.py``, ``slider_latency.py``, ``book_time.py``, ``certificate.py`` and ``run_all.py``
(which runs all of them). The ``TARGET`` lines every script prints are checked to parse as ``run_all.py``
reads them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _run(script: str, *args: str) -> list[str]:
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), "--quick", *args], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"{script} --quick failed:\n{proc.stdout}\n{proc.stderr}"
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines, f"{script} --quick printed nothing"
    return lines


@pytest.mark.parametrize("script", ["attack_step.py", "batched_sweep.py"])
def test_quick_benchmark_prints_its_headline_last(script):
    assert _run(script, "--threads", "1")[-1].startswith("HEADLINE")


def test_gpu_benchmark_skips_cleanly_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the quick GPU run is not a smoke test")
    assert "Skipped" in _run("gpu_scale.py")[-1]


def test_target_lines_parse_as_run_all_reads_them():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import _bench
        import run_all
    finally:
        sys.path.remove(str(BENCHMARKS))
    line = _bench.target("paper step, float32, 1 thread(s): library/floor", 1.234, 2.0)
    assert line == "TARGET paper step, float32, 1 thread(s): library/floor: 1.23 (target ≤ 2: met)"
    parsed = run_all._TARGET.match(line).groupdict()
    assert (parsed["what"], parsed["value"], parsed["rule"], parsed["status"]) == (
        "paper step, float32, 1 thread(s): library/floor", "1.23", "≤ 2", "met")
    seconds = run_all._TARGET.match(_bench.target("certificate", 75.0, 60.0, unit=" s")).groupdict()
    assert (seconds["value"], seconds["unit"], seconds["rule"], seconds["status"]) == ("75", " s", "≤ 60", "MISSED")
    assert run_all._TARGET.match(_bench.target("speed-up", 7.2, 5.0, op=">="))["status"] == "met"
