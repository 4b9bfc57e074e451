"""An experiment added from outside the package: one declaration (``@experiments.experiment``) gives the
public function, the registry entry, the command line's argument and help line, the cached result and its
figure, with no edit to reconleak_core."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from test_priors import HalfSpace

from reconleak_core import experiments
from reconleak_core.__main__ import main

ROOT = Path(__file__).resolve().parents[1]

# the user's prior of tests/test_priors.py, pasted into the plugin module as its own source
HALFSPACE = inspect.getsource(HalfSpace)

def _docstring_example() -> str:
    """The literal block after "is one declaration" in the experiments module docstring."""
    doc = experiments.__doc__
    block = doc[doc.index("::\n", doc.index("is one declaration")) + 3:]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith("    "):
            break
        lines.append(line)
    return textwrap.dedent("\n".join(lines))


PLUGIN = '''
"""A user's experiments, outside the package: the experiments docstring's example, as written, and the
library's attack on a user's CNN with a user's prior."""
import dataclasses
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch

from reconleak_core import attack, kkt, models
from reconleak_core.experiments import Result, experiment
from reconleak_core.trained_nets import NetSpec

''' + _docstring_example() + '''

''' + HALFSPACE + '''

class TinyCNN(torch.nn.Module):
    """A user's bias-free CNN on 4x4 images, 2-homogeneous."""

    d, degree = 16, 2

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 2, bias=False), torch.nn.ReLU(),
                                        torch.nn.Flatten(), torch.nn.Linear(27, 1, bias=False)).double()

    def forward(self, x):
        return self.body(x.reshape(-1, 1, 4, 4)).reshape(x.shape[:-1])


@dataclass(frozen=True)
class CnnAttackConfig:
    offset: float = 0.25
    steps: int = 30

    @classmethod
    def preset(cls, scale="book", *, seed=0):
        return cls(steps=10 if scale == "test" else 30)


@dataclass(frozen=True, eq=False)
class CnnAttackResult(Result):
    config: CnnAttackConfig
    along_normal: torch.Tensor
    kkt: torch.Tensor

    name = "plugin_cnn_attack"
    _json_fields = ("along_normal", "kkt")

    def rows(self):
        return [{"min_along_normal": self.along_normal.min(), "kkt": self.kkt}]

    def plot(self):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.hist(self.along_normal)
        return fig


@experiment("plugin_cnn_attack", config=CnnAttackConfig, result=CnnAttackResult,
                        summary="the attack on a user's CNN with a user's prior (a plugin)")
def plugin_cnn_attack(config, run):
    """The library's attack on TinyCNN (gated by models.SoftGated) with the HalfSpace prior."""
    normal = torch.zeros(16, dtype=torch.float64)
    normal[0] = 1.0
    res = attack.reconstruct(models.SoftGated(TinyCNN()), 6, prior=HalfSpace(normal, config.offset),
                             steps=config.steps, seed=0, init_scale=0.5, device=run.device)
    return {"along_normal": res.candidates[:, 0], "kkt": res.kkt}
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The plugin module imported in this process; the registry is restored afterwards."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "margin_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(folder))
    before = dict(experiments.EXPERIMENTS)
    sys.modules.pop("margin_plugin", None)
    module = importlib.import_module("margin_plugin")
    yield module, folder
    sys.modules.pop("margin_plugin", None)
    experiments.EXPERIMENTS.clear()
    experiments.EXPERIMENTS.update(before)


def test_a_declared_experiment_is_registered_runs_and_is_cached(plugin, tmp_path, monkeypatch):
    module, _ = plugin
    entry = experiments.EXPERIMENTS["margins"]
    assert entry.function is module.margins and entry.result is module.MarginResult
    result = experiments.run("margins", "test", cache_root=tmp_path / "cache", device="cpu")
    assert isinstance(result, module.MarginResult) and isinstance(result.margins, torch.Tensor)
    assert abs(result.margins.min().item() - 1) < 1e-9          # margin-normalised: the smallest margin is 1
    # the shared closing caches the result: a second run computes nothing
    monkeypatch.setattr(experiments.Run, "network", lambda *a, **k: pytest.fail("recomputed a cached result"))
    again = module.margins(module.MarginConfig(), cache_root=tmp_path / "cache", device="cpu")
    torch.testing.assert_close(again.margins, result.margins)
    # and the shared opening refuses a config of another type
    with pytest.raises(TypeError, match="config must be a MarginConfig"):
        module.margins(experiments.InitRadiusConfig(), device="cpu")


def test_the_command_line_runs_an_experiment_from_outside_the_package(plugin, tmp_path):
    _, folder = plugin
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(folder), str(ROOT), os.environ.get("PYTHONPATH", "")]),
               MPLBACKEND="Agg")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "reconleak_core", "reproduce", "margins", "--import", "margin_plugin",
               "--scale", "test", "--no-cache", "--device", "cpu", "--out", str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "margins (scale test" in done.stdout and "margin" in done.stdout
    payload = json.loads((out / "margins.json").read_text())
    assert payload["experiment"] == "margins" and len(payload["margins"]) == 6
    assert (out / "margins.png").stat().st_size > 0
    helped = subprocess.run([sys.executable, "-m", "reconleak_core", "reproduce", "--help", "--import",
                             "margin_plugin"], env=env, capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0
    assert "normalised margins" in helped.stdout


def test_a_users_prior_and_cnn_run_through_an_experiment_and_the_command_line(plugin, tmp_path):
    """The plugin's second experiment: a user's CNN and a user's prior, no library class listed for either."""
    module, folder = plugin
    result = experiments.run("plugin_cnn_attack", "test", device="cpu", cache=False)
    assert (result.along_normal >= 0.25 - 1e-12).all()          # the user's prior is enforced
    assert torch.isfinite(result.kkt)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(folder), str(ROOT), os.environ.get("PYTHONPATH", "")]),
               MPLBACKEND="Agg")
    out = tmp_path / "cnn"
    done = subprocess.run([sys.executable, "-m", "reconleak_core", "reproduce", "plugin_cnn_attack", "--import",
                           "margin_plugin", "--scale", "test", "--no-cache", "--device", "cpu", "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    payload = json.loads((out / "plugin_cnn_attack.json").read_text())
    assert min(payload["along_normal"]) >= 0.25 - 1e-12 and (out / "plugin_cnn_attack.png").exists()


def test_an_unknown_import_is_a_usage_error(capsys):
    assert main(["reproduce", "init_radius", "--import", "no_such_module_here"]) == 2
    assert "--import no_such_module_here: cannot import it" in capsys.readouterr().err


def test_the_help_lists_every_registered_experiment_with_its_summary(capsys):
    assert main(["reproduce", "--help"]) == 0
    text = capsys.readouterr().out
    for name, entry in experiments.EXPERIMENTS.items():
        assert f"{name}  " in text and entry.summary in " ".join(text.split()), name


def test_register_refuses_bad_declarations(plugin):
    module, _ = plugin
    entry = experiments.EXPERIMENTS["margins"]
    with pytest.raises(ValueError, match="already registered"):
        experiments.register(entry)
    assert experiments.register(entry, replace=True) is entry
    with pytest.raises(ValueError, match="must be an identifier"):
        dataclasses.replace(entry, name="two words")
    with pytest.raises(ValueError, match="one non-empty line"):
        dataclasses.replace(entry, summary="")

    @dataclasses.dataclass(frozen=True, eq=False)
    class NoPlot(experiments.Result):
        def rows(self):
            return []

    with pytest.raises(TypeError, match="must define plot"):
        dataclasses.replace(entry, result=NoPlot)
    with pytest.raises(TypeError, match="subclass of experiments.Result"):
        dataclasses.replace(entry, result=dict)
    with pytest.raises(TypeError, match="register takes an Experiment"):
        experiments.register({"name": "x"})


def test_every_registered_result_defines_its_table_and_figure():
    from reconleak_core import viz

    for name, entry in experiments.EXPERIMENTS.items():
        assert entry.result.rows is not experiments.Result.rows, name
        assert entry.result.plot is not experiments.Result.plot or callable(getattr(viz, entry.result._plot)), name


def test_the_contributing_table_is_the_registry():
    """CONTRIBUTING.md's table of experiments lists every registered experiment with its summary, nothing else."""
    import re

    text = (ROOT / "CONTRIBUTING.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| (.+?) \|$", text, flags=re.MULTILINE))
    assert rows == {name: entry.summary for name, entry in experiments.EXPERIMENTS.items()}
