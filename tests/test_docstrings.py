"""Claim: every public parameter of the library is described in its docstring.

Public means a name in a module's ``__all__`` (every module of ``reconleak_core``, the experiments included):
a function's parameters, a class's constructor parameters (a dataclass's fields) and the parameters of its
public methods. A parameter counts as described when its docstring (inherited ones included, as Sphinx
shows them) has a napoleon ``Args:`` / ``Parameters`` entry for it, or names it in double backticks in its
prose: ``name``, ``name=value``, ``name(...)`` or ``name[...]`` between double backquotes. ``self``, ``cls`` and the
catch-all ``*args`` / ``**kwargs`` are not counted.

Run as a script to list what is missing: ``python tests/test_docstrings.py``.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
import sys

import reconleak_core

SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Keyword Args|Keyword Arguments|Other Parameters)\s*:?\s*$")


def _modules():
    yield reconleak_core
    for info in pkgutil.walk_packages(reconleak_core.__path__, "reconleak_core."):
        if info.name.endswith("__main__"):
            continue
        yield importlib.import_module(info.name)


def _section_names(doc: str) -> set:
    """Names listed as entries of the docstring's parameter sections (numpy or Google style)."""
    names, inside, indent = set(), False, None
    lines = doc.splitlines()
    for k, line in enumerate(lines):
        if SECTION.match(line):
            inside, indent = True, None
            continue
        if not inside:
            continue
        stripped = line.strip()
        if set(stripped) <= set("-") and stripped:      # numpy's underline
            continue
        if not stripped:
            continue
        level = len(line) - len(line.lstrip())
        if indent is None:
            indent = level
        if level < indent or (level == indent and k + 1 < len(lines) and set(lines[k + 1].strip()) <= set("-")
                              and lines[k + 1].strip()):
            inside = False                              # the next section (or prose) begins
            continue
        if level == indent:
            head = re.split(r"\s*[:(]", stripped, maxsplit=1)[0]
            names.update(n.strip().lstrip("*") for n in head.split(","))
    return names


def _described(doc: str, name: str, listed: set) -> bool:
    return name in listed or re.search(rf"``\*{{0,2}}{re.escape(name)}(=[^`]*|\([^`]*\)|\[[^`]*\])?``", doc) is not None


def _parameters(obj) -> list:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    return [p.name for p in sig.parameters.values()
            if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _targets():
    """``(qualified name, callable, docstring)`` of every public function, class and public method."""
    seen = set()
    for module in _modules():
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name, None)
            if obj is None or id(obj) in seen:
                continue
            if inspect.isclass(obj):
                seen.add(id(obj))
                qual = f"{obj.__module__}.{obj.__qualname__}"
                init = obj if dataclasses.is_dataclass(obj) or "__init__" in vars(obj) else None
                if init is not None and not issubclass(obj, BaseException):
                    yield qual, obj, inspect.getdoc(obj) or ""
                for attr, member in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    func = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
                    if inspect.isfunction(func):
                        yield f"{qual}.{attr}", func, inspect.getdoc(getattr(obj, attr)) or ""
            elif inspect.isfunction(obj) or (callable(obj) and hasattr(obj, "__wrapped__")):
                seen.add(id(obj))
                yield f"{obj.__module__}.{obj.__qualname__}", obj, inspect.getdoc(obj) or ""


def undescribed() -> list:
    """``(qualified name, parameter)`` of every public parameter that its docstring does not describe."""
    missing = []
    for qual, obj, doc in _targets():
        listed = _section_names(doc)
        for name in _parameters(obj):
            if not _described(doc, name, listed):
                missing.append((qual, name))
    return missing


def test_every_public_parameter_is_described():
    missing = [(q, p) for q, p in undescribed()]
    assert not missing, (f"{len(missing)} public parameters are not described (an Args:/Parameters entry or "
                         "``name`` in the docstring):\n" + "\n".join(f"  {q}: {p}" for q, p in missing))


def test_the_count_sees_sections_and_backticks():
    def f(alpha, beta, *, gamma=1, delta=2):
        """Sum.

        ``delta`` is added last.

        Parameters
        ----------
        alpha, beta:
            Numbers.

        Args:
            gamma (int): a number.
        """

    listed = _section_names(inspect.getdoc(f))
    assert {"alpha", "beta", "gamma"} <= listed
    assert [p for p in _parameters(f) if not _described(inspect.getdoc(f), p, listed)] == []

    def g(x, y):
        """Uses ``x`` only; y is mentioned without backticks."""

    assert [p for p in _parameters(g) if not _described(inspect.getdoc(g), p, set())] == ["y"]


if __name__ == "__main__":
    found = undescribed()
    total = sum(len(_parameters(obj)) for _, obj, _ in _targets())
    for qual, name in found:
        print(f"{qual}: {name}")
    print(f"{len(found)} of {total} public parameters undescribed", file=sys.stderr)
