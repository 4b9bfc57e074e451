"""runtime.setup makes the chapters independent of MPLBACKEND: in a Jupyter kernel, figures land in the
outputs even when the environment says MPLBACKEND=Agg (headless servers, CI); outside a kernel the
backend is left alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import nbformat
from nbclient import NotebookClient

from reconleak_core import runtime

ROOT = Path(__file__).resolve().parents[1]

PLOT = "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.show()"


def _pngs(cell) -> int:
    return sum("image/png" in out.get("data", {}) for out in cell.outputs)


def test_setup_in_a_kernel_draws_figures_inline_despite_mplbackend_agg(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # the kernel imports this checkout's reconleak_core, not another installed copy
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(PLOT),  # before setup: the environment's Agg, no figure saved
                nbformat.v4.new_code_cell("from reconleak_core import runtime\nDEVICE = runtime.setup(seed=0)"),
                nbformat.v4.new_code_cell(PLOT),
                nbformat.v4.new_code_cell("import matplotlib, reconleak_core\n"
                                          "print(matplotlib.get_backend())\nprint(reconleak_core.__file__)")]
    NotebookClient(nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(ROOT)}}).execute()
    backend, module = nb.cells[3].outputs[0].text.split()
    assert Path(module).resolve().is_relative_to(ROOT), f"the kernel imported {module}"
    assert _pngs(nb.cells[0]) == 0, "MPLBACKEND=Agg did not take effect: this test would prove nothing"
    assert _pngs(nb.cells[2]) == 1, "after runtime.setup, plt.show() must leave the figure in the outputs"
    assert backend in ("inline", "module://matplotlib_inline.backend_inline")


def test_setup_outside_a_kernel_leaves_the_backend_alone(capsys):
    before = matplotlib.get_backend()
    runtime.setup(seed=0)
    assert matplotlib.get_backend() == before
    assert "seed 0 | device" in capsys.readouterr().out



def test_keep_freed_memory_applies_on_glibc_and_keeps_attack_results():
    """runtime.keep_freed_memory changes where memory comes from, never a number: an attack gives the same
    bits before and after (in a fresh process, so the default allocator is really the starting point)."""
    code = """
import platform, torch
from reconleak_core import attack, models, runtime
net = models.TwoLayerReLU(6, 20, seed=0)
run = lambda: attack.reconstruct_batch(net, 8, seeds=[0, 1], steps=50, device="cpu").candidates
before = run()
applied = runtime.keep_freed_memory()
print(applied == (platform.libc_ver()[0] == "glibc"), torch.equal(before, run()))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]
