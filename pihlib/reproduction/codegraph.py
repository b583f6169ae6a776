"""Which pihlib modules a module imports, read from its source (nothing is imported or run).

Every form of import counts, wherever it stands (inside a function too): ``import pihlib.a.b``,
``from pihlib.a import b``, ``from . import b``, ``from .b import name``. Importing ``pihlib.a.b``
runs the packages above it (``pihlib/__init__.py``, ``pihlib/a/__init__.py``), so they count as
imported as well. Only modules under the ``pihlib`` package (or the top-level module given) are
followed: third-party code is recorded by its version (``provenance``), not by its source.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from ..errors import PihError

PACKAGE = "pihlib"
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def source_path(module: str) -> Path | None:
    """The source file of ``module`` (a pihlib module, or any importable top-level module), or None
    if there is none."""
    parts = module.split(".")
    if parts[0] == PACKAGE:
        base = PACKAGE_DIR.joinpath(*parts[1:])
        for path in (base.with_suffix(".py"), base / "__init__.py"):
            if path.is_file():
                return path
        return None
    spec = importlib.util.find_spec(module)
    return Path(spec.origin) if spec and spec.origin and spec.origin.endswith(".py") else None


def _package_of(module: str) -> str:
    path = source_path(module)
    return module if path is not None and path.name == "__init__.py" else module.rpartition(".")[0]


def _with_parents(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


@cache
def _import_nodes(module: str) -> tuple[ast.Import | ast.ImportFrom, ...]:
    """Every import statement of ``module``'s source, wherever it stands (read once)."""
    path = source_path(module)
    if path is None:
        raise PihError(f"no Python source for module {module!r}")
    return tuple(n for n in ast.walk(ast.parse(path.read_text(), str(path)))
                 if isinstance(n, ast.Import | ast.ImportFrom))


@cache
def imports(module: str) -> frozenset[str]:
    """The pihlib modules ``module``'s source imports (see the module's docstring)."""
    found: set[str] = set()
    for node in _import_nodes(module):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            if node.level:
                base = _package_of(module).split(".")
                base = base[:len(base) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            names = [origin] + [f"{origin}.{a.name}" for a in node.names]
        for name in names:  # a name that is no module of pihlib's is a function, a class or a constant
            if name.split(".")[0] == PACKAGE and source_path(name) is not None:
                found |= _with_parents(name)
    found.discard(module)
    return frozenset(found)


def closure(roots: Iterable[str], stop: Iterable[str] = ()) -> list[str]:
    """``roots``, the packages above them (importing a module runs them) and every pihlib module
    they import, directly or through others, sorted; the modules in ``stop`` are neither included nor
    followed."""
    stop, seen = set(stop), set()
    todo = [m for r in roots for m in _with_parents(r) if m not in stop and source_path(m) is not None]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += [n for n in imports(m) if n not in stop and n not in seen]
    return sorted(seen)


def third_party(modules: Iterable[str]) -> list[str]:
    """The top-level packages outside pihlib and Python's standard library that ``modules`` import
    (wherever the import stands), sorted: the packages whose versions shape what they compute."""
    found = set()
    for module in modules:
        for node in _import_nodes(module):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                found.add(node.module.split(".")[0])
    return sorted(n for n in found if n != PACKAGE and n not in sys.stdlib_module_names and n != "__future__")
