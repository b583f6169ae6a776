"""The layering rule: the core (pihlib/) never imports the reproduction (pihlib/reproduction/), and the
notebooks stay views (parameters, a run, plots, glue)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = sorted(p for p in (ROOT / "pihlib").rglob("*.py") if "reproduction" not in p.relative_to(ROOT).parts)
MAX_NOTEBOOK_CODE_LINES = 45  # outside the parameters cell: well under the 60 the architecture asks


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
            names.update("." * node.level + (node.module + "." if node.module else "") + a.name
                         for a in node.names)
    return names


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_never_imports_the_reproduction(path):
    assert not [n for n in imported(path) if "reproduction" in n.split(".")]


def test_the_rule_sees_every_form_of_import(tmp_path):
    for line in ("from .reproduction import cache", "from . import reproduction",
                 "import pihlib.reproduction.book", "from pihlib.reproduction.cache import cached"):
        probe = tmp_path / "probe.py"
        probe.write_text(line + "\n")
        assert [n for n in imported(probe) if "reproduction" in n.split(".")], line


COMPUTE = sorted((ROOT / "pihlib" / "reproduction" / "compute").glob("*.py"))
# what the compute side may import of the reproduction: itself, the PNG helpers and the bookkeeping
COMPUTE_MAY_IMPORT = {"pihlib.reproduction", "pihlib.reproduction.png", "pihlib.reproduction.cache",
                      "pihlib.reproduction.provenance", "pihlib.reproduction.codegraph"}


@pytest.mark.parametrize("path", COMPUTE, ids=lambda p: p.stem)
def test_compute_never_imports_what_reads_results(path):
    """The code that computes records never imports the code that reads them (``report/``, the
    figures, summary, book, shards, presets, the paper's numbers), directly or through others: a
    record's code digest then covers only what computes it."""
    from pihlib.reproduction import cache, codegraph

    module = "pihlib.reproduction.compute." + path.stem if path.stem != "__init__" else \
        "pihlib.reproduction.compute"
    direct = {m for m in codegraph.imports(module) if m.startswith("pihlib.reproduction")}
    reached = {m for m in cache.code_modules(module) if m.startswith("pihlib.reproduction")}
    outside = {m for m in direct | reached if not m.startswith("pihlib.reproduction.compute")}
    assert not outside - COMPUTE_MAY_IMPORT


def code_lines(notebook: Path) -> int:
    count, cell = 0, None
    for line in notebook.read_text().splitlines():
        if line.startswith("# %%"):
            cell = "skip" if ("[markdown]" in line or "parameters" in line) else "code"
        elif cell == "code" and line.strip() and not line.lstrip().startswith("#"):
            count += 1
    return count


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("*.py")), ids=lambda p: p.stem)
def test_notebooks_are_views(notebook):
    assert code_lines(notebook) < MAX_NOTEBOOK_CODE_LINES
    text = notebook.read_text()
    assert "from pihlib.reproduction import" in text and "cache.cached(" not in text


# Public docstrings: Google-style sections (``Args:``, ``Returns:``, ``Raises:``), as piq and pyiqa
# write them. Every public function and class of ``pihlib.__all__``, ``pihlib.train.train``,
# ``pihlib.keysearch.search`` and the public names of ``pihlib.bestofn`` must name each argument with
# a description, say what it returns, and have a ``Raises`` entry for ``PihError`` wherever a
# ``raise PihError`` can be reached from it through pihlib's own functions (see ``_doc_can_raise``).

DOC_SECTION_NAMES = {"Args", "Arguments", "Parameters", "Keyword Args", "Attributes", "Returns", "Yields",
                     "Raises", "References", "Example", "Examples", "Note", "Notes", "Warning", "See Also"}
DOC_ARG_SECTIONS = ("Args", "Arguments", "Parameters", "Keyword Args")


def _doc_targets() -> list[str]:
    """The names checked, read without importing pihlib: ``__all__`` (whatever is not a function or
    class is skipped when checked), ``train.train``, ``keysearch.search``, ``bestofn``'s public names."""
    tree = ast.parse((ROOT / "pihlib" / "__init__.py").read_text())
    names = next(ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                 and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets))
    bestofn = ast.parse((ROOT / "pihlib" / "bestofn.py").read_text())
    names += ["train.train", "keysearch.search"]
    names += [f"bestofn.{node.name}" for node in bestofn.body
              if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_")]
    return names


def _doc_sections(doc: str) -> dict[str, list[str]]:
    """Google-style sections of a docstring: header ``Name:`` unindented, body the indented lines
    below it (dedented), up to the next unindented line."""
    import inspect
    import textwrap

    sections: dict[str, list[str]] = {}
    current = None
    for line in inspect.cleandoc(doc).splitlines():
        if line and not line[0].isspace():
            header = line.strip()[:-1] if line.strip().endswith(":") else None
            current = header if header in DOC_SECTION_NAMES else None
            if current is not None:
                sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return {k: textwrap.dedent("\n".join(v).strip("\n")).splitlines() for k, v in sections.items()}


def _doc_entries(body: list[str]) -> dict[str, str]:
    """``name: description`` entries of an Args/Attributes/Raises section (``*args``, ``**kwargs`` and
    ``name (type):`` too), each with its description and its indented continuation lines."""
    import re

    entries: dict[str, str] = {}
    name = None
    for line in body:
        m = re.match(r"\*{0,2}([A-Za-z_][\w.]*)\s*(\([^)]*\))?\s*:(.*)$", line) if line[:1].strip() else None
        if m:
            name = m.group(1)
            entries[name] = m.group(3).strip()
        elif name is not None and line.strip():
            entries[name] += " " + line.strip()
    return entries


def _doc_entry_functions(obj) -> list:
    """What runs when ``obj`` is called: a function itself; a class's own ``__init__`` and
    ``__post_init__`` (a dataclass's generated ``__init__`` has no source and is skipped)."""
    import inspect

    if inspect.isclass(obj):
        return [obj.__dict__[m] for m in ("__init__", "__post_init__")
                if inspect.isfunction(obj.__dict__.get(m))]
    return [inspect.unwrap(obj)] if inspect.isfunction(obj) else []


def _doc_resolve(node, env: dict, owner):
    """The object an expression names: a global or imported name, ``module.attr``, ``Class.attr``,
    ``self.method``/``cls.method`` (``owner``: the method's class). None when not resolvable."""
    import inspect

    if isinstance(node, ast.Name):
        if node.id in ("self", "cls") and owner is not None:
            return owner
        return env.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _doc_resolve(node.value, env, owner)
        if inspect.ismodule(base) or inspect.isclass(base):
            return inspect.getattr_static(base, node.attr, None) if inspect.isclass(base) \
                else getattr(base, node.attr, None)
    return None


def _doc_can_raise(obj, memo: dict | None = None) -> bool:
    """Whether a ``raise PihError`` is reachable from ``obj``: in its own code, or in a pihlib function
    or class (not the reproduction; or one of the caller's own module) that it calls by a resolvable
    name. Calls through values
    (``scorer(key)``, ``REGISTRY[name]()``) are not followed, so this can miss a path, never invent one."""
    import importlib
    import inspect
    import textwrap

    from pihlib.errors import PihError

    memo = {} if memo is None else memo
    for f in _doc_entry_functions(obj):
        if f in memo:
            if memo[f]:
                return True
            continue
        memo[f] = False  # in progress: a cycle adds nothing
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(f)))
        except (OSError, TypeError, SyntaxError):
            continue
        env = {**f.__globals__, **inspect.getclosurevars(f).nonlocals}
        for node in ast.walk(tree):  # imports inside the function
            if isinstance(node, ast.ImportFrom):
                home = importlib.import_module(f.__module__)
                package = f.__module__ if hasattr(home, "__path__") else f.__module__.rpartition(".")[0]
                module = importlib.import_module("." * node.level + (node.module or ""), package) \
                    if node.level else importlib.import_module(node.module)
                env.update({a.asname or a.name: getattr(module, a.name, None) for a in node.names})
        parts = f.__qualname__.split(".")
        owner = f.__globals__.get(parts[0]) if len(parts) == 2 else None
        owner = owner if inspect.isclass(owner) else None
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if _doc_resolve(exc, env, owner) is PihError:
                    memo[f] = True
                    return True
            elif isinstance(node, ast.Call):
                target = _doc_resolve(node.func, env, owner)
                if isinstance(target, staticmethod | classmethod):
                    target = target.__func__
                module = getattr(target, "__module__", None) or ""
                ours = module == f.__module__ or (module.startswith("pihlib")
                                                  and "reproduction" not in module.split("."))
                if (inspect.isfunction(target) or inspect.isclass(target)) and ours \
                        and _doc_can_raise(target, memo):
                    memo[f] = True
                    return True
    return False


def _doc_returns_value(f) -> bool:
    """Whether an unannotated function has a ``return <value>`` of its own (not in a nested def)."""
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(f)))).body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        return False
    todo = list(ast.iter_child_nodes(tree))
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Return) and node.value is not None and \
                not (isinstance(node.value, ast.Constant) and node.value.value is None):
            return True
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            todo.extend(ast.iter_child_nodes(node))
    return False


def _doc_problems(obj) -> list[str]:
    """What the docstring of a public function or class lacks (an empty list: nothing)."""
    import inspect

    doc = obj.__doc__  # not inherited: a class without its own docstring has none
    if not doc or len(doc.split()) < 5:
        return ["no docstring (or a few words only)"]
    sections = _doc_sections(doc)
    problems = []
    args: dict[str, str] = {}
    for name in DOC_ARG_SECTIONS:
        args.update(_doc_entries(sections.get(name, [])))
    if inspect.isclass(obj):
        init = obj.__dict__.get("__init__")
        params = list(inspect.signature(obj).parameters) if init is not None else []
        documented = {**_doc_entries(sections.get("Attributes", [])), **args}
    else:
        params = [p for p in inspect.signature(obj).parameters if p not in ("self", "cls")]
        documented = args
    for p in params:
        if p not in documented:
            problems.append(f"argument {p!r} not documented (an 'Args:' entry '{p}: ...')")
        elif len(documented[p].split()) < 2:
            problems.append(f"argument {p!r} has no description")
    problems += [f"documents {p!r}, which is not an argument" for p in args if p not in params]
    if not inspect.isclass(obj):
        generator = inspect.isgeneratorfunction(obj)
        returns = inspect.signature(obj).return_annotation
        if generator or returns not in (None, "None", inspect.Signature.empty) or \
                (returns is inspect.Signature.empty and _doc_returns_value(obj)):
            body = sections.get("Yields" if generator and "Yields" in sections else "Returns", [])
            if len(" ".join(body).split()) < 3:
                section = "Yields" if generator else "Returns"
                problems.append(f"no '{section}:' section saying what it returns")
    if _doc_can_raise(obj):
        raises = _doc_entries(sections.get("Raises", []))
        if len(raises.get("PihError", "").split()) < 3:
            problems.append("can raise PihError but has no 'Raises:' entry 'PihError: <when>'")
    return problems


@pytest.mark.parametrize("name", _doc_targets())
def test_public_docstrings_have_args_returns_and_raises(name):
    import importlib
    import inspect

    module, _, attr = name.rpartition(".")
    obj = getattr(importlib.import_module(f"pihlib.{module}" if module else "pihlib"), attr)
    if not (inspect.isfunction(obj) or inspect.isclass(obj)):
        pytest.skip(f"{name} is a {type(obj).__name__}, not a function or class")
    assert not _doc_problems(obj), (name, _doc_problems(obj))


def test_the_docstring_check_refuses_what_is_not_documented():
    from pihlib.errors import PihError

    def bare(x, y=1):
        """Scale x by y, which is a short sentence."""
        if x is None:
            raise PihError("no x")
        return x * y

    def through_a_helper(x):
        """Check x and return it, documented.

        Args:
            x: the value to check, any object.

        Returns:
            object: ``x`` itself, unchanged.
        """
        return bare(x)

    def good(x, **options):
        """Check x and return it, documented.

        Args:
            x: the value to check, any object.
            **options: ignored here, kept for the example.

        Returns:
            object: ``x`` itself, unchanged.

        Raises:
            PihError: ``x`` is None.
        """
        return bare(x)

    assert len(_doc_problems(bare)) == 4  # x, y, Returns, Raises
    assert _doc_problems(through_a_helper) == [
        "can raise PihError but has no 'Raises:' entry 'PihError: <when>'"]
    assert _doc_problems(good) == []
    bad = good.__doc__.replace("        x: the value", "        z: the value")
    good.__doc__ = bad
    assert _doc_problems(good) == ["argument 'x' not documented (an 'Args:' entry 'x: ...')",
                                   "documents 'z', which is not an argument"]


# No import circles ---------------------------------------------------------------------------------

def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, every form counted wherever it stands (inside a
    function too): ``import p.a``, ``from p.a import x``, ``from . import a``, ``from .a import x``.
    A name imported from a package that is not a module of it counts as importing the package."""
    paths = {".".join(p.relative_to(package.parent).with_suffix("").parts).removesuffix(".__init__"): p
             for p in sorted(package.rglob("*.py"))}
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(here[:len(here) - node.level + 1] + [node.module or ""]) if node.level \
                    else node.module or ""
                base = base.rstrip(".")
                targets = ([base] if node.module else []) + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in paths:  # a name in a module, or an outside module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle (a -> b -> ... -> a) for each group of modules that import one another."""
    found, done = [], set()
    for start in sorted(graph):
        if start in done:
            continue
        reach = _reachable(graph, start)
        group = {m for m in reach if start in _reachable(graph, m)}
        done |= group | {start}
        if start in group:
            found.append(_path(graph, start, group))
    return found


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _path(graph: dict[str, set[str]], start: str, group: set[str]) -> list[str]:
    """A shortest circle from ``start`` back to it, within ``group``."""
    came = {start: None}
    todo = [start]
    while todo:
        node = todo.pop(0)
        for nxt in sorted(graph[node] & group):
            if nxt == start:
                path = [node]
                while came[path[-1]] is not None:
                    path.append(came[path[-1]])
                return [*reversed(path), start]
            if nxt not in came:
                came[nxt] = node
                todo.append(nxt)
    raise AssertionError(f"{start} is in no circle")


def test_pihlib_has_no_import_circle():
    graph = import_graph(ROOT / "pihlib")
    assert "pihlib.methods" in graph and "pihlib.keys" in graph["pihlib.scramblers"]
    found = circles(graph)  # the whole package, pihlib/reproduction too
    assert not found, "import circles: " + "; ".join(" -> ".join(c) for c in found)


def test_the_circle_check_sees_every_form_of_import(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    for path, text in [
        ("__init__.py", "from .a import A\n"),
        ("a.py", "A = 1\ndef f():\n    from . import b\n"),  # inside a function
        ("b.py", "from .sub import c\n"),  # a module of a subpackage
        ("sub/__init__.py", ""),
        ("sub/c.py", "import pkg.sub.d\n"),  # absolute
        ("sub/d.py", "from ..a import A\nimport os\nfrom typing import Any\n"),  # two levels up
        ("e.py", "from . import A\n"),  # a name from the package's __init__
    ]:
        (pkg / path).write_text(text)
    graph = import_graph(pkg)
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.sub", "pkg.sub.c"},
                     "pkg.sub": set(), "pkg.sub.c": {"pkg.sub.d"}, "pkg.sub.d": {"pkg.a"},
                     "pkg.e": {"pkg"}}
    assert circles(graph) == [["pkg.a", "pkg.b", "pkg.sub.c", "pkg.sub.d", "pkg.a"]]
    assert circles({"x": {"y"}, "y": {"x"}, "z": {"x"}}) == [["x", "y", "x"]]
