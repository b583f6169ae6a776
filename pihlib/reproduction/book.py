"""Build the book: run every notebook with papermill at a preset, then Jupyter Book (offline).

    python -m pihlib.reproduction build --preset cpu [--dest _build] [-p NOTEBOOK.NAME VALUE ...]
    python -m pihlib.reproduction mathjax   # MathJax 3 from npm, for offline math (build does it too)

The book's sources (``_config.yml``, ``_toc.yml``, ``book/``) are staged in ``<dest>/src``; the
jupytext sources in ``notebooks/`` are converted to temporary notebooks (papermill never writes over
a source), executed with the preset's parameters into ``<dest>/src/book/generated``, and Jupyter Book
builds ``<dest>/html`` with warnings as errors. Expensive results are cached in ``results/<preset>/``
(see ``pihlib.reproduction.cache``), so a second build only re-renders. Each preset can have its own ``dest``:
``make book`` builds ``_build/html``, ``make test`` the smoke book in ``_build/smoke/html``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import PihError
from . import presets
from .presets import NOTEBOOKS, PRESETS
from .provenance import CHECKOUT

MATHJAX = "mathjax@3.2.2"


def _require_checkout() -> None:
    if not (CHECKOUT / "notebooks").is_dir() or not (CHECKOUT / "_toc.yml").exists():
        raise PihError(f"the book is built from the project checkout (notebooks/, book/, _toc.yml); "
                       f"{CHECKOUT} is not one")


def _hide_parameters(path: Path) -> None:
    """The parameters cells (the notebook's defaults and papermill's injected values) are left out of
    the page: each notebook shows the resolved parameters as a table instead."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if {"parameters", "injected-parameters"} & set(tags):
            cell["metadata"]["tags"] = [*tags, "remove-cell"]
    nbformat.write(nb, path)


def papermill_parameters(preset: str, overrides: dict[str, dict] | None = None,
                         notebooks: list[str] = NOTEBOOKS) -> dict[str, dict]:
    """What papermill injects into each notebook: the preset and the notebook's overrides, an explicit
    None too (papermill writes ``NAME = None``; a parameter not given keeps its default, ``...``:
    the preset's value). Each override is checked first (``presets.params``), so a wrong one is
    refused before any notebook runs."""
    out = {}
    for name in notebooks:
        given = {k: v for k, v in (overrides or {}).get(name, {}).items() if v is not presets.NOT_GIVEN}
        presets.params(name, preset, **given)
        out[name] = {"preset": preset, **given}
    return out


def run(preset: str, out: Path, overrides: dict[str, dict] | None = None,
        notebooks: list[str] = NOTEBOOKS) -> None:
    """Execute the notebooks at ``preset`` into ``out``."""
    import jupytext
    import papermill

    _require_checkout()
    if preset not in PRESETS:
        raise PihError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    parameters = papermill_parameters(preset, overrides, notebooks)
    out.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(notebooks, 1):
        print(f"[{i}/{len(notebooks)}] {name} (preset {preset})", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / f"{name}.ipynb"
            jupytext.write(jupytext.read(CHECKOUT / "notebooks" / f"{name}.py"), source)
            executed = Path(tmp) / f"{name}.executed.ipynb"
            papermill.execute_notebook(str(source), str(executed), kernel_name="python3", cwd=str(CHECKOUT),
                                       parameters=parameters[name],
                                       progress_bar=False)
            _hide_parameters(executed)
            shutil.move(executed, out / f"{name}.ipynb")


def build(preset: str, dest: Path = CHECKOUT / "_build", overrides: dict[str, dict] | None = None,
          notebooks: list[str] = NOTEBOOKS) -> Path:
    """Stage the sources, execute the notebooks, build the HTML; returns the HTML folder."""
    _require_checkout()
    src = dest / "src"
    shutil.rmtree(src, ignore_errors=True)
    (src / "book").mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(CHECKOUT / name, src / name)
    for page in (CHECKOUT / "book").glob("*.md"):
        shutil.copy(page, src / "book" / page.name)
    (src / "_static_extra").symlink_to(mathjax().parent)
    run(preset, src / "book" / "generated", overrides, notebooks)
    html = dest / "html"
    subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", "--warningiserror",
                    "--keep-going", "--path-output", str(dest / "jb"), str(src)], check=True)
    shutil.rmtree(html, ignore_errors=True)
    shutil.move(dest / "jb" / "_build" / "html", html)
    shutil.rmtree(dest / "jb", ignore_errors=True)
    print(f"book ({preset}): {html / 'index.html'}")
    return html


def mathjax(dest: Path = CHECKOUT / "_static_extra" / "mathjax") -> Path:
    """MathJax 3 (npm), served with the book: math renders without a CDN."""
    if (dest / "tex-chtml.js").exists():
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", tmp, MATHJAX],
                       check=True)
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(Path(tmp) / "node_modules" / "mathjax" / "es5", dest)
    return dest
