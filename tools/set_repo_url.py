"""Point the book at a repository: _config.yml's ``repository.url`` (and ``branch``) and every copy of them.

    python tools/set_repo_url.py https://github.com/OWNER/NAME [--branch main]   # a fork: set and rewrite
    python tools/set_repo_url.py                                                 # rewrite copies from _config.yml
    python tools/set_repo_url.py --check                                         # exit 1 if a copy disagrees

_config.yml is the one place the address is decided (Jupyter Book's repository and Colab buttons read it).
The copies that cannot read it, and that this script rewrites, are:
- the ``REPO = "..."`` line of the standard setup cell, the first code cell of every book/*.ipynb (the
  notebook is rewritten with nbformat; outputs and execution counts are kept) and ``SETUP_CELL`` in
  tests/test_notebooks.py (which checks every chapter against it);
- README.md's Colab links, ``https://colab.research.google.com/github/OWNER/NAME/blob/BRANCH/...``.
tests/test_repo_url.py runs the check.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
_GITHUB = re.compile(r"https://github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?")
_SETUP_REPO = re.compile(r'(REPO = ")([^"]*)(")')
_COLAB = re.compile(r"https://colab\.research\.google\.com/github/[^/\s)]+/[^/\s)]+/blob/[^/\s)]+/")
_CONFIG_URL = re.compile(r"^(  url: )(\S+)(.*)$", flags=re.MULTILINE)
_CONFIG_BRANCH = re.compile(r"^(  branch: )(\S+)(.*)$", flags=re.MULTILINE)


def configured(root: Path = ROOT) -> tuple[str, str]:
    """``(url, branch)`` of _config.yml's ``repository`` section; the URL must be a GitHub repository."""
    repository = (yaml.safe_load((root / "_config.yml").read_text()) or {}).get("repository") or {}
    url, branch = repository.get("url"), repository.get("branch", "main")
    if not isinstance(url, str) or not _GITHUB.fullmatch(url):
        raise ValueError(f"_config.yml repository.url must be https://github.com/OWNER/NAME, got {url!r}")
    return url.rstrip("/").removesuffix(".git"), str(branch)


def _setup_cell_source(nb) -> tuple[int, str] | None:
    cells = [k for k, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    return (cells[0], nb.cells[cells[0]].source) if cells else None


def _rewrite(text: str, pattern: re.Pattern, value: str) -> tuple[str, int]:
    return pattern.subn(lambda m: (m.group(1) + value + m.group(3)) if m.groups() else value, text)


def copies(root: Path = ROOT) -> list[tuple[str, list[str]]]:
    """Every copy of the address: ``(where, values found)`` for each file that must hold one."""
    found = []
    for path in sorted((root / "book").glob("*.ipynb")):
        first = _setup_cell_source(nbformat.read(path, as_version=4))
        found.append((f"{path.relative_to(root)} (setup cell)",
                      [m.group(2) for m in _SETUP_REPO.finditer(first[1])] if first else []))
    found.append(("tests/test_notebooks.py (SETUP_CELL)",
                  [m.group(2) for m in _SETUP_REPO.finditer((root / "tests" / "test_notebooks.py").read_text())]))
    found.append(("README.md (Colab links)", _COLAB.findall((root / "README.md").read_text())))
    return found


def expected(url: str, branch: str) -> tuple[str, str]:
    """The setup cell's ``REPO`` value and the Colab link prefix for ``url`` at ``branch``."""
    owner, name = _GITHUB.fullmatch(url).groups()
    return url, f"https://colab.research.google.com/github/{owner}/{name}/blob/{branch}/"


def disagreements(root: Path = ROOT) -> list[str]:
    """The copies that do not match _config.yml (empty when all agree), each as a sentence."""
    repo, colab = expected(*configured(root))
    problems = []
    for where, values in copies(root):
        want = colab if where.startswith("README") else repo
        if not values:
            problems.append(f"{where}: no copy of the repository address found")
        for value in values:
            if value != want:
                problems.append(f"{where}: {value!r}, but _config.yml gives {want!r}")
    return problems


def rewrite(root: Path = ROOT, url: str | None = None, branch: str | None = None) -> list[str]:
    """Set _config.yml's address (when ``url``/``branch`` are given), then rewrite every copy; returns the
    files changed."""
    changed = []
    config_path = root / "_config.yml"
    config = config_path.read_text()
    if url is not None:
        if not _GITHUB.fullmatch(url):
            raise ValueError(f"the repository URL must be https://github.com/OWNER/NAME, got {url!r}")
        config, n = _rewrite(config, _CONFIG_URL, url.rstrip("/").removesuffix(".git"))
        if n != 1:
            raise ValueError("_config.yml must have exactly one '  url: ' line (under repository:)")
    if branch is not None:
        if not re.fullmatch(r"[A-Za-z0-9_./-]+", branch):
            raise ValueError(f"not a branch name: {branch!r}")
        config, n = _rewrite(config, _CONFIG_BRANCH, branch)
        if n != 1:
            raise ValueError("_config.yml must have exactly one '  branch: ' line (under repository:)")
    if config != config_path.read_text():
        config_path.write_text(config)
        changed.append("_config.yml")
    repo, colab = expected(*configured(root))
    for path in sorted((root / "book").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        first = _setup_cell_source(nb)
        if first is None:
            continue
        source, n = _rewrite(first[1], _SETUP_REPO, repo)
        if n and source != first[1]:
            nb.cells[first[0]].source = source
            nbformat.write(nb, path)
            changed.append(str(path.relative_to(root)))
    for relative, pattern, value in (("tests/test_notebooks.py", _SETUP_REPO, repo), ("README.md", _COLAB, colab)):
        path = root / relative
        text, _ = _rewrite(path.read_text(), pattern, value)
        if text != path.read_text():
            path.write_text(text)
            changed.append(relative)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", help="new repository URL, https://github.com/OWNER/NAME")
    parser.add_argument("--branch", help="new branch (default: keep _config.yml's)")
    parser.add_argument("--check", action="store_true", help="only report copies that disagree with _config.yml")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        if args.check:
            if args.url or args.branch:
                parser.error("--check takes no URL or branch")
            problems = disagreements(args.root)
            for problem in problems:
                print(problem)
            print("every copy agrees with _config.yml" if not problems else f"{len(problems)} copies disagree")
            return 1 if problems else 0
        changed = rewrite(args.root, args.url, args.branch)
    except ValueError as exc:
        print(f"set_repo_url: {exc}", file=sys.stderr)
        return 2
    print("rewrote " + ", ".join(changed) if changed else "nothing to change: every copy agrees with _config.yml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
