"""Build the book: run every notebook with papermill at a preset, then Jupyter Book (offline).

    python -m pihlib.book build --preset cpu [--dest _build] [-p NOTEBOOK.NAME VALUE ...]
    python -m pihlib.book mathjax        # MathJax 3 from npm, for offline math (build does it too)

The book's sources (``_config.yml``, ``_toc.yml``, ``book/``) are staged in ``<dest>/src``; the
jupytext sources in ``notebooks/`` are converted to temporary notebooks (papermill never writes over
a source), executed with the preset's parameters into ``<dest>/src/book/generated``, and Jupyter Book
builds ``<dest>/html`` with warnings as errors. Expensive results are cached in ``results/<preset>/``
(see ``pihlib.results``), so a second build only re-renders. Each preset can have its own ``dest``:
``make book`` builds ``_build/html``, ``make test`` the smoke book in ``_build/smoke/html``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ._cli import Parser, run_command
from .errors import PihError
from .presets import PRESETS, parse_value

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["00_scramblers", "01_metric_selection", "02_key_search", "03_classification"]
MATHJAX = "mathjax@3.2.2"


def run(preset: str, out: Path, overrides: dict[str, dict] | None = None,
        notebooks: list[str] = NOTEBOOKS) -> None:
    """Execute the notebooks at ``preset`` into ``out``."""
    import jupytext
    import papermill

    if preset not in PRESETS:
        raise PihError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    out.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(notebooks, 1):
        print(f"[{i}/{len(notebooks)}] {name} (preset {preset})", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / f"{name}.ipynb"
            jupytext.write(jupytext.read(ROOT / "notebooks" / f"{name}.py"), source)
            executed = Path(tmp) / f"{name}.executed.ipynb"
            papermill.execute_notebook(str(source), str(executed), kernel_name="python3", cwd=str(ROOT),
                                       parameters={"preset": preset, **(overrides or {}).get(name, {})},
                                       progress_bar=False)
            shutil.move(executed, out / f"{name}.ipynb")


def build(preset: str, dest: Path = ROOT / "_build", overrides: dict[str, dict] | None = None,
          notebooks: list[str] = NOTEBOOKS) -> Path:
    """Stage the sources, execute the notebooks, build the HTML; returns the HTML folder."""
    src = dest / "src"
    shutil.rmtree(src, ignore_errors=True)
    (src / "book").mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, src / name)
    for page in (ROOT / "book").glob("*.md"):
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


def mathjax(dest: Path = ROOT / "_static_extra" / "mathjax") -> Path:
    """MathJax 3 (npm), served with the book: math renders without a CDN."""
    if (dest / "tex-chtml.js").exists():
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", tmp, MATHJAX],
                       check=True)
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(Path(tmp) / "node_modules" / "mathjax" / "es5", dest)
    return dest


def _overrides(pairs: list[list[str]]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for target, value in pairs:
        notebook, _, name = target.partition(".")
        if notebook not in NOTEBOOKS or not name:
            raise PihError(f"-p takes NOTEBOOK.NAME VALUE with NOTEBOOK one of {', '.join(NOTEBOOKS)}")
        out.setdefault(notebook, {})[name] = parse_value(value)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = Parser(prog="python -m pihlib.book", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True, parser_class=Parser)
    b = sub.add_parser("build", help="execute the notebooks at a preset and build the HTML book")
    b.add_argument("--preset", default="cpu", choices=list(PRESETS))
    b.add_argument("--dest", type=Path, default=ROOT / "_build", help="build folder (default _build)")
    b.add_argument("-p", nargs=2, action="append", default=[], metavar=("NOTEBOOK.NAME", "VALUE"),
                   help="override one parameter, e.g. -p 02_key_search.trials 50")
    sub.add_parser("mathjax", help="install MathJax 3 for offline math")

    def body() -> None:
        args = ap.parse_args(argv)
        if args.command == "mathjax":
            print(mathjax())
        else:
            build(args.preset, args.dest.resolve(), _overrides(args.p))

    return run_command("pihlib.book", body)


if __name__ == "__main__":
    sys.exit(main())
