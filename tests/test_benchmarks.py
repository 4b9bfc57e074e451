"""Smoke test of the benchmark scripts whose ``--quick`` mode takes seconds: each runs as a subprocess,
exits 0 and prints its headline last (or, for ``gpu_scale.py`` without CUDA, its skip message).

Not run here, because their quick modes execute notebooks or train a network (tens of seconds):
``attack_convergence.py``, ``slider_latency.py`` and ``book_time.py``.
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
