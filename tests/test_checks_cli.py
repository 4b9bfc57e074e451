"""The command line checks its arguments and folders before any computation: exit 2 and one line on stderr."""

import pytest

from reconleak_core import __main__ as cli
from reconleak_core.__main__ import main


@pytest.fixture
def no_run(monkeypatch):
    """Fail the test if an experiment would start: every check must come first."""
    def forbidden(*args, **kwargs):
        raise AssertionError("the experiment ran before the arguments were checked")

    monkeypatch.setattr("reconleak_core.experiments.run", forbidden)


@pytest.mark.parametrize("extra, message", [
    (["--seed", "99999999999999999999"], "--seed must be an integer in"),
    (["--seed", "-1"], "--seed must be an integer in"),
    (["--out", "FILE"], "--out .* exists and is not a folder"),
    (["--out", "FILE/sub"], "--out .* exists and is not a folder"),
    (["--cache-dir", "FILE"], "--cache-dir .* exists and is not a folder"),
    (["--out", "/proc/no/such/folder"], "--out .* cannot write into"),
])
def test_bad_arguments_exit_2_with_one_line_before_any_computation(tmp_path, capsys, no_run, extra, message):
    (tmp_path / "file").write_text("a file, not a folder")
    extra = [str(tmp_path / "file") + a[4:] if a.startswith("FILE") else a for a in extra]
    args = ["reproduce", "init_radius", "--scale", "test", "--device", "cpu"]
    if "--out" not in extra:
        args += ["--out", str(tmp_path / "out")]
    if "--cache-dir" not in extra:
        args += ["--cache-dir", str(tmp_path / "cache")]
    assert main(args + extra) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    assert __import__("re").search(message, err), err
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def test_the_folder_check_leaves_nothing_behind(tmp_path):
    cli._check_writable_folder(tmp_path / "a" / "b", "--out")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("source, name, message", [
    ("raise RuntimeError('boom at import')\n", "raises_at_import", "importing it raised RuntimeError: boom at import"),
    ("def broken(:\n", "has_a_syntax_error", "its source has a syntax error"),
    (None, ".relative", "give an absolute module name"),
    (None, "", "give an absolute module name"),
    (None, "no_such_module_anywhere", "cannot import it"),
])
def test_an_import_that_fails_in_any_way_exits_2_with_one_line(tmp_path, monkeypatch, capsys, no_run, source, name,
                                                               message):
    if source is not None:
        (tmp_path / f"{name}.py").write_text(source)
        monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["reproduce", "init_radius", "--import", name]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: --import") and message in err, err
