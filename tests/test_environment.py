"""pyproject.toml and environment.yml pin the same versions, and every third-party module the code
imports is declared there."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pins(requirements):
    pins = {}
    for req in requirements:
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", req.strip())
        assert m, f"{req!r} is not pinned with =="
        pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def test_environment_yml_pins_what_pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    want = _pins(reqs)
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    got = _pins([r for r in pip if not r.startswith("-e")])
    assert got == want
    assert "python=3.11" in env["dependencies"]


# import names that differ from their distribution's name (used where the distribution is not installed)
DISTRIBUTIONS = {"PIL": "pillow", "yaml": "pyyaml", "IPython": "ipython", "myst_nb": "myst-nb",
                 "sklearn": "scikit-learn", "cv2": "opencv-python", "skimage": "scikit-image"}
LOCAL = {"pihlib", "tests"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imports(folders) -> dict[str, set[str]]:
    """Top-level module of every absolute import in the .py files under ``folders`` -> the files."""
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_third_party_import_is_declared():
    """Each module that pihlib/, notebooks/, tests/ and benchmarks/ import from outside the standard
    library comes from a distribution that pyproject.toml declares, not from one that only happens to be
    installed as a dependency of another."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values()
                                            for r in extra]
    declared = {_normalise(name) for name in _pins(reqs)}
    installed = packages_distributions()
    missing = {}
    for module, files in _imports(["pihlib", "notebooks", "tests", "benchmarks"]).items():
        if module in sys.stdlib_module_names or module in LOCAL or module == "__future__":
            continue
        candidates = {_normalise(d) for d in installed.get(module, [])} or \
            {_normalise(DISTRIBUTIONS.get(module, module))}
        if not candidates & declared:
            missing[module] = f"{'/'.join(sorted(candidates))} (imported by {', '.join(sorted(files)[:3])})"
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_the_import_scan_sees_what_it_must():
    found = _imports(["notebooks", "pihlib"])
    assert {"pandas", "PIL", "torch", "nbformat"} <= set(found)
    assert "sys" in found and "pihlib" in found  # left out by the check above, not by the scan
