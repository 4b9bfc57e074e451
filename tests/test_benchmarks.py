"""Smoke test of the benchmark scripts whose ``--quick`` mode takes seconds: each runs as a subprocess,
exits 0 and prints its headline last (or, for ``gpu_scale.py`` without CUDA, its skip message).

Not run here, because their quick modes execute notebooks or train a network (tens of seconds):
``attack_convergence.py``, ``slider_latency.py``, ``book_time.py``, ``certificate.py``, ``time_to_leak.py``
(its quick mode compiles an attack step) and ``run_all.py``
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


def _run_all_module():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import run_all
    finally:
        sys.path.remove(str(BENCHMARKS))
    return run_all


def test_run_all_rewrites_results_but_keeps_everything_below_the_notes_marker(tmp_path, monkeypatch):
    run_all = _run_all_module()
    notes = ("## Measurements quoted by the library (hand notes)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
             "A second paragraph, kept as written; even a repeated\n" + run_all.NOTES_MARKER + "\nstays.\n")
    out = tmp_path / "RESULTS.md"
    out.write_text("# Benchmark results\n\nstale figure 9.99 s\n\n" + run_all.NOTES_MARKER + "\n\n" + notes)
    fake = {"script": "attack_step.py", "command": "python benchmarks/attack_step.py", "seconds": 1.0,
            "returncode": 0, "stdout": "HEADLINE fresh figure\n", "stderr": "", "targets": [],
            "headline": "HEADLINE fresh figure"}
    monkeypatch.setattr(run_all, "run", lambda script, extra, quick: dict(fake, script=script))
    monkeypatch.setattr(run_all._bench, "machine_info", lambda device=None: {"cpu": "test"})
    monkeypatch.setattr(sys, "argv", ["run_all.py", "--only", "attack_step", "--out", str(out)])
    with pytest.raises(SystemExit) as exit_:
        run_all.main()
    assert exit_.value.code == 0
    text = out.read_text()
    above, below = text.split(run_all.NOTES_MARKER + "\n", 1)
    assert "stale figure" not in above and "HEADLINE fresh figure" in above
    assert below == notes
    assert run_all.notes_of(run_all.render([fake], False, below)) == notes      # a second re-run keeps them too


def test_committed_results_keep_the_librarys_quoted_measurements_below_the_marker():
    run_all = _run_all_module()
    notes = run_all.notes_of((BENCHMARKS / "RESULTS.md").read_text())
    assert notes.startswith("## Measurements quoted by the library (hand notes)")
    assert "reconleak_core.train" in notes and "achievable_split_distance" in notes


@pytest.mark.parametrize("quick", [True, False], ids=["quick", "paper"])
def test_certificate_benchmark_builds_its_network_spec(quick):
    """The certificate benchmark's network spec follows the library's NetSpec (its run trains for minutes, so
    only the spec is built here; an API change that the script missed made a whole run_all.py fail)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("certificate_bench", BENCHMARKS / "certificate.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    net = module._spec(quick)
    sizes = module.QUICK if quick else module.PAPER
    assert (net.n, net.d, net.width, net.steps) == (sizes["n"], sizes["d"], sizes["width"], sizes["steps"])
