"""List every function and method of reconleak_core taking more than six positional parameters (issue 14).

    python tools/positional_params.py [--max N]

Counts parameters that can be passed by position (positional-only and positional-or-keyword), ``self`` and
``cls`` excluded, for functions defined in the package (nested functions included, found through the
module's source). Exit status 1 when any function exceeds the limit.
"""

from __future__ import annotations

import argparse
import ast
import pathlib
import sys

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "reconleak_core"


def offenders(limit: int = 6, package: pathlib.Path = PACKAGE) -> list[tuple[str, int, str, int]]:
    """(file, line, qualified name, positional count) of each function with more than ``limit``, for the
    modules ``package/**/*.py`` (default: reconleak_core, its subpackages included)."""
    out = []
    for path in sorted(pathlib.Path(package).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        stack = [(tree, "")]
        while stack:
            node, prefix = stack.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    args = [a.arg for a in child.args.posonlyargs + child.args.args]
                    if args and args[0] in ("self", "cls"):
                        args = args[1:]
                    name = prefix + child.name
                    if len(args) > limit:
                        out.append((str(path.relative_to(package)), child.lineno, name, len(args)))
                    stack.append((child, name + "."))
                elif isinstance(child, ast.ClassDef):
                    stack.append((child, prefix + child.name + "."))
    return sorted(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max", type=int, default=6)
    limit = p.parse_args().max
    found = offenders(limit)
    for file, line, name, count in found:
        print(f"{file}:{line}: {name} takes {count} positional parameters (limit {limit})")
    print(f"{len(found)} function(s) over {limit} positional parameters")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
