"""Claim of issue 14: no module of reconleak_core reaches into another module's private names.

A name with a leading underscore is a module's own business; a helper two modules need is public and
documented (``checks.is_sequence``, ``models.network_degree``). The scan reads every module's source
(ast, no import) and flags ``from reconleak_core.X import _name`` (relative imports too) and ``X._name``
on a name bound to a reconleak_core module, at module level or inside a function.
"""

from __future__ import annotations

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "reconleak_core"


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _submodule(node: ast.ImportFrom) -> str | None:
    """The reconleak_core submodule an ``import from`` names ("" for the package itself), else None."""
    module = node.module or ""
    if node.level == 1:
        return module
    if node.level == 0 and (module == "reconleak_core" or module.startswith("reconleak_core.")):
        return module.removeprefix("reconleak_core").lstrip(".")
    return None


def private_imports(source: str, module: str) -> list[str]:
    """``line: what`` for each private name of another reconleak_core module that ``source`` uses."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}          # local name -> reconleak_core submodule it is bound to
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "reconleak_core" and len(parts) > 1:
                    if alias.asname:
                        aliases[alias.asname] = parts[1]
                    if any(_private(p) for p in parts[1:]):
                        found.append(f"{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            source_module = _submodule(node)
            if source_module is None:
                continue
            for alias in node.names:
                if source_module == "":                       # from reconleak_core import X: a module
                    aliases[alias.asname or alias.name] = alias.name
                    if _private(alias.name):
                        found.append(f"{node.lineno}: from reconleak_core import {alias.name}")
                elif _private(alias.name) and source_module.split(".")[0] != module:
                    found.append(f"{node.lineno}: from reconleak_core.{source_module} import {alias.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            value = node.value
            if isinstance(value, ast.Name) and aliases.get(value.id, module) != module:
                found.append(f"{node.lineno}: {value.id}.{node.attr}")
            elif (isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name)
                  and value.value.id == "reconleak_core" and value.attr != module):
                found.append(f"{node.lineno}: reconleak_core.{value.attr}.{node.attr}")
    return sorted(set(found), key=lambda s: (int(s.split(":")[0]), s))


def _offenders() -> dict[str, list[str]]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):   # a subpackage (experiments/) is one module's business
        found = private_imports(path.read_text(), path.relative_to(PACKAGE).with_suffix("").parts[0])
        if found:
            out[str(path.relative_to(PACKAGE))] = found
    return out


def test_no_module_imports_another_modules_private_names():
    assert _offenders() == {}


def test_scan_flags_every_form_of_private_import():
    source = "\n".join([
        "from reconleak_core.attack import AttackConfig, _is_sequence",
        "from reconleak_core import experiments, attack as attack_module",
        "from .kkt import _degree",
        "import reconleak_core.metrics as m",
        "import reconleak_core",
        "def f():",
        "    from reconleak_core.data import _to_output",
        "    return experiments._distances, attack_module._config, m._images, reconleak_core.viz._draw_rows",
    ])
    assert private_imports(source, "sweep") == [
        "1: from reconleak_core.attack import _is_sequence", "3: from reconleak_core.kkt import _degree",
        "7: from reconleak_core.data import _to_output", "8: attack_module._config", "8: experiments._distances",
        "8: m._images", "8: reconleak_core.viz._draw_rows"]


def test_scan_allows_public_names_aliases_and_own_private_names():
    source = "\n".join([
        "from reconleak_core.checks import check_int as _int",
        "from reconleak_core import sweep",
        "from reconleak_core.sweep import _RayOptions",
        "import torch",
        "x = sweep._RAY, torch._C, _int.__name__",
    ])
    assert private_imports(source, "sweep") == []
