"""The command line's manners: its name as invoked, progress bars only on a terminal, a paper-scale run on a CPU
asked for before it starts, and hints in its own syntax."""

from __future__ import annotations

import io
import sys

import pytest

from reconleak_core import __main__ as cli


class _Stream(io.StringIO):
    def __init__(self, tty: bool, text: str = ""):
        super().__init__(text)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.fixture
def recorded(monkeypatch, tmp_path):
    """Record the arguments of the experiment the command would run, and run nothing."""
    calls = []

    class Stop(Exception):
        pass

    def record(name, scale, **kwargs):
        calls.append({"name": name, "scale": scale, **kwargs})
        raise Stop

    monkeypatch.setattr("reconleak_core.experiments.run", record)
    base = ["reproduce", "init_radius", "--device", "cpu", "--out", str(tmp_path / "out"),
            "--cache-dir", str(tmp_path / "cache")]
    return calls, Stop, base


@pytest.mark.parametrize(("argv0", "prog"), [("/usr/bin/reconleak", "reconleak"),
                                             ("/x/reconleak_core/__main__.py", "python -m reconleak_core")])
def test_the_usage_line_names_the_command_as_invoked(monkeypatch, argv0, prog):
    monkeypatch.setattr(sys, "argv", [argv0])
    assert cli._parser().format_usage().startswith(f"usage: {prog} ")


@pytest.mark.parametrize(("tty", "flags", "expected"), [(True, [], True), (False, [], False),
                                                        (True, ["--quiet"], False), (False, ["--progress"], True)])
def test_progress_bars_default_to_on_only_on_a_terminal(monkeypatch, recorded, tty, flags, expected):
    calls, Stop, base = recorded
    monkeypatch.setattr(sys, "stderr", _Stream(tty))
    with pytest.raises(Stop):
        cli.main(base + ["--scale", "test"] + flags)
    assert calls[0]["progress"] is expected


def test_paper_scale_on_a_cpu_asks_on_a_terminal_and_a_no_runs_nothing(monkeypatch, recorded, capsys):
    calls, Stop, base = recorded
    monkeypatch.setattr(sys, "stdin", _Stream(True, "n\n"))
    assert cli.main(base + ["--scale", "paper"]) == 1
    assert calls == [] and "takes hours" in capsys.readouterr().err


@pytest.mark.parametrize(("tty", "flags"), [(True, ["--yes"]), (False, [])])
def test_paper_scale_on_a_cpu_runs_with_yes_or_when_not_interactive_after_a_notice(monkeypatch, recorded, capsys,
                                                                                     tty, flags):
    calls, Stop, base = recorded
    monkeypatch.setattr(sys, "stdin", _Stream(tty, ""))
    with pytest.raises(Stop):
        cli.main(base + ["--scale", "paper"] + flags)
    assert calls[0]["scale"] == "paper" and "note: --scale paper" in capsys.readouterr().err


def test_cuda_without_cuda_gives_a_hint_in_the_command_lines_syntax(monkeypatch, recorded, capsys):
    calls, Stop, base = recorded
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert cli.main([a if a != "cpu" else "cuda" for a in base] + ["--scale", "test"]) == 2
    err = capsys.readouterr().err
    assert "--device auto" in err and "device='auto'" not in err and calls == []
