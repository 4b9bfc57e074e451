"""runtime.setup makes the chapters independent of MPLBACKEND: in a Jupyter kernel, figures land in the
outputs even when the environment says MPLBACKEND=Agg (headless servers, CI); outside a kernel the
backend is left alone."""

from __future__ import annotations

import os
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

