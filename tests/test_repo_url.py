"""The repository address is decided in one place, _config.yml, and tools/set_repo_url.py keeps every copy in line."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("set_repo_url", ROOT / "tools" / "set_repo_url.py")
set_repo_url = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(set_repo_url)


def test_every_copy_of_the_repository_url_agrees_with_config():
    assert set_repo_url.disagreements(ROOT) == []
    where = [w for w, values in set_repo_url.copies(ROOT) if values]
    assert len(where) == len(list((ROOT / "book").glob("*.ipynb"))) + 2  # chapters, SETUP_CELL, README


def test_set_repo_url_rewrites_every_copy_for_a_fork_and_keeps_outputs(tmp_path):
    for relative in ("_config.yml", "README.md", "tests/test_notebooks.py", "book/01_homogeneous_networks.ipynb"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / relative, tmp_path / relative)
    before = nbformat.read(tmp_path / "book/01_homogeneous_networks.ipynb", as_version=4)
    assert set_repo_url.main(["https://github.com/someone/fork", "--branch", "pages", "--root", str(tmp_path)]) == 0
    assert set_repo_url.configured(tmp_path) == ("https://github.com/someone/fork", "pages")
    assert set_repo_url.disagreements(tmp_path) == []
    assert "colab.research.google.com/github/someone/fork/blob/pages/book/" in (tmp_path / "README.md").read_text()
    after = nbformat.read(tmp_path / "book/01_homogeneous_networks.ipynb", as_version=4)
    setup_cell = next(c for c in after.cells if c.cell_type == "code")
    assert 'REPO = "https://github.com/someone/fork"' in setup_cell.source
    assert [c.get("outputs") for c in after.cells] == [c.get("outputs") for c in before.cells]
    assert [c.get("execution_count") for c in after.cells] == [c.get("execution_count") for c in before.cells]
    # a copy edited by hand is reported
    readme = tmp_path / "README.md"
    readme.write_text(readme.read_text().replace("someone/fork/blob/pages", "other/repo/blob/main", 1))
    assert set_repo_url.main(["--check", "--root", str(tmp_path)]) == 1
    assert set_repo_url.main(["not-a-url", "--root", str(tmp_path)]) == 2
