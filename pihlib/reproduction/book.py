"""Build the book: run every notebook with papermill at a preset, then Jupyter Book (offline).

    python -m pihlib.reproduction build --preset cpu [--dest _build] [-p NOTEBOOK.NAME VALUE ...]
    python -m pihlib.reproduction mathjax   # MathJax 3 from npm, for offline math (build does it too)

The book's sources (``_config.yml``, ``_toc.yml``, ``book/``: its pages, bibliography and style sheet)
are staged in ``<dest>/src``, the configuration with the stamp every page ends with (``stamp``: when,
from which commit, at which preset); the
jupytext sources in ``notebooks/`` are converted to temporary notebooks (papermill never writes over
a source), executed with the preset's parameters into ``<dest>/src/book/generated``, and Jupyter Book
builds ``<dest>/html`` with warnings as errors. Expensive results are cached in ``results/<preset>/``
(see ``pihlib.reproduction.cache``), so a second build only re-renders. Each preset can have its own ``dest``:
``make book`` builds ``_build/html``, ``make test`` the smoke book in ``_build/smoke/html``.

At the end the build says, for each preset's results folder, how many results it computed and how
many it re-used (from the record files' content before and after the notebooks ran), then where the
book is.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from ..errors import PihError
from . import presets
from .presets import NOTEBOOKS, PRESETS
from .provenance import CHECKOUT, git_commit

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


def execute(name: str, parameters: dict, out: Path) -> float:
    """Run notebook ``name`` (its jupytext source) with papermill into ``out/<name>.ipynb``, the
    parameters cells hidden; returns the seconds it took."""
    import jupytext
    import papermill

    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"{name}.ipynb"
        jupytext.write(jupytext.read(CHECKOUT / "notebooks" / f"{name}.py"), source)
        executed = Path(tmp) / f"{name}.executed.ipynb"
        papermill.execute_notebook(str(source), str(executed), kernel_name="python3", cwd=str(CHECKOUT),
                                   parameters=parameters, progress_bar=False)
        _hide_parameters(executed)
        shutil.move(executed, out / f"{name}.ipynb")
    return time.monotonic() - start


def may_download() -> bool:
    """Whether a notebook may download the official CIFAR-10 (torchvision's download is not safe for
    two processes at once): no ``$PIH_CIFAR10`` and no official copy in the cache yet."""
    from ..runtime import cache_root

    official = cache_root() / "cifar10" / "cifar-10-batches-py"
    return not os.environ.get("PIH_CIFAR10") and not official.is_dir()


def run(preset: str, out: Path, overrides: dict[str, dict] | None = None,
        notebooks: list[str] = NOTEBOOKS, jobs: int | None = None) -> None:
    """Execute the notebooks at ``preset`` into ``out``, ``jobs`` at a time (default: 2 where the
    machine has two cores or more: each notebook's kernel spends seconds importing before it reads
    or computes anything; the notebooks write records of their own, and the shared score cache
    merges under a lock). Where CIFAR-10 may have to be downloaded (``may_download``), the first
    notebook runs alone first and fetches it."""
    _require_checkout()
    if preset not in PRESETS:
        raise PihError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    parameters = papermill_parameters(preset, overrides, notebooks)
    out.mkdir(parents=True, exist_ok=True)
    jobs = jobs or min(2, os.cpu_count() or 1)

    failed = threading.Event()  # after a failure, no notebook not yet started is started

    def one(i: int, name: str) -> None:
        if failed.is_set():
            return
        print(f"[{i}/{len(notebooks)}] {name} (preset {preset})", flush=True)
        try:
            seconds = execute(name, parameters[name], out)
        except BaseException:
            failed.set()
            raise
        print(f"[{i}/{len(notebooks)}] {name} ran in {seconds:.0f} s", flush=True)

    first = 1 if notebooks and may_download() else 0
    if first:
        one(1, notebooks[0])
    pool = ThreadPoolExecutor(jobs)  # each notebook runs in a kernel process of its own
    try:
        for future in [pool.submit(one, i, name) for i, name in enumerate(notebooks[first:], first + 1)]:
            future.result()
    finally:  # the running ones end
        pool.shutdown(cancel_futures=True)


def results_snapshot() -> dict[str, dict[str, str]]:
    """Each preset's results folder under ``cache.results_root()`` -> its record files (``*.json``, in
    any subfolder, by path within the folder) -> sha256 of their content."""
    from .cache import results_root

    root = results_root()
    if not root.is_dir():
        return {}
    return {folder.name: {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
                          for p in sorted(folder.rglob("*.json")) if p.is_file()}
            for folder in sorted(root.iterdir()) if folder.is_dir()}


def _results(n: int) -> str:
    return f"{n} stored result" + ("" if n == 1 else "s")


def results_summary(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]],
                    preset: str, failed: bool = False) -> list[str]:
    """One line per preset results folder: what the run between the two ``results_snapshot()``s
    computed there (new records, and records whose content changed) and what it re-used (records
    left as they were); the folder of ``preset`` first and always, the others where they exist. After
    a ``failed`` run, only what it computed (kept: the next run re-uses it)."""
    from .cache import results_root

    root = results_root()
    lines = []
    for name in [preset, *sorted((before.keys() | after.keys()) - {preset})]:
        old, new = before.get(name, {}), after.get(name, {})
        folder = root / name
        where = f"{folder.relative_to(CHECKOUT) if folder.is_relative_to(CHECKOUT) else folder}/"
        replaced = sum(old[k] != new[k] for k in old.keys() & new.keys())
        computed = len(new.keys() - old.keys()) + replaced
        kept = len(new) - computed
        gone = len(old.keys() - new.keys())
        if failed:
            if computed:
                lines.append(f"computed {computed} into {where} before the failure (kept for the next run)")
            continue
        if not computed:
            line = (f"re-used {_results(kept)} from {where} (none computed)" if name == preset
                    else f"{where}: {_results(kept)}, none computed")
        else:
            line = f"computed {computed}" + (f" ({replaced} replacing older ones)" if replaced else "")
            line += f", re-used {_results(kept)} from {where}" if kept else f" into {where} (none re-used)"
        lines.append(line + (f"; {gone} removed" if gone else ""))
    return lines


def stamp(preset: str, overrides: dict[str, dict] | None = None, when: datetime | None = None,
          commit: str | None = None) -> str:
    """The line at the foot of every page (HTML, Jupyter Book's ``html.extra_footer``): when the book
    was built (UTC, default now), from which commit (``provenance.git_commit``: marked when the code had
    uncommitted changes) and at which preset, with the notebooks' overrides where there are any."""
    when = (when or datetime.now(UTC)).astimezone(UTC)
    head, _, mark = (commit or git_commit()).partition(" ")
    given = [f"{name}.{k} {v!r}" for name, params in (overrides or {}).items()
             for k, v in params.items() if v is not presets.NOT_GIVEN]
    line = (f'Built {when:%Y-%m-%d %H:%M} UTC from commit <code>{escape(head[:12])}</code>'
            f'{" " + escape(mark) if mark else ""} at the <code>{escape(preset)}</code> preset')
    if given:
        line += " with " + ", ".join(f"<code>{escape(g)}</code>" for g in given)
    return f'<p class="pih-stamp">{line}.</p>'


def stage_config(src: Path, preset: str, overrides: dict[str, dict] | None = None) -> None:
    """``_config.yml`` into ``src``, with the page stamp (``stamp``) as its ``html.extra_footer``."""
    import yaml

    config = yaml.safe_load((CHECKOUT / "_config.yml").read_text())
    config.setdefault("html", {})["extra_footer"] = stamp(preset, overrides)
    (src / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))


JB_CLOSING = "Finished generating HTML for"  # Jupyter Book's closing box, naming the folder it built
SPHINX_EPILOG = "The HTML pages are in "  # Sphinx's last line, naming it too
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _border(line: str) -> bool:
    """A border of one of Jupyter Book's boxes: a line of "=", maybe coloured."""
    text = _ANSI.sub("", line).strip()
    return bool(text) and set(text) == {"="}


def run_jupyter_book(command: list[str]) -> None:
    """Run ``command`` (Jupyter Book), printing its standard output as it comes, except Sphinx's last
    line and Jupyter Book's closing box (the folder they name is moved away by ``build``, which then
    says where the book is). Its standard error is not touched, and when it fails the whole of its
    output is shown."""
    held: list[str] = []  # blank lines and borders, which may open the closing box
    dropped: list[str] = []
    in_box = False
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # each line as it is written
    with subprocess.Popen(command, stdout=subprocess.PIPE, env=env, text=True, encoding="utf-8",
                          errors="replace") as proc:
        for line in proc.stdout:
            if in_box:
                dropped.append(line)
                in_box = not _border(line)  # the box ends with its second border
            elif JB_CLOSING in line or _ANSI.sub("", line).startswith(SPHINX_EPILOG):
                dropped += [*held, line]
                held.clear()
                in_box = JB_CLOSING in line
            elif _border(line) or not line.strip():
                held.append(line)
            else:
                sys.stdout.write("".join(held) + line)
                sys.stdout.flush()
                held.clear()
    if proc.returncode != 0 or not dropped:  # a failure shows everything, the folder named too
        sys.stdout.write("".join(dropped + held))
        sys.stdout.flush()
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, command)


def build(preset: str, dest: Path = CHECKOUT / "_build", overrides: dict[str, dict] | None = None,
          notebooks: list[str] = NOTEBOOKS) -> Path:
    """Stage the sources, execute the notebooks, build the HTML; returns the HTML folder. Says what
    it computed and re-used in each preset's results folder (``results_summary``) and where the book
    is."""
    _require_checkout()
    src = dest / "src"
    shutil.rmtree(src, ignore_errors=True)
    (src / "book").mkdir(parents=True)
    shutil.copy(CHECKOUT / "_toc.yml", src / "_toc.yml")
    for pattern in ("*.md", "*.bib", "*.css"):  # the pages, the bibliography, the style sheet
        for page in (CHECKOUT / "book").glob(pattern):
            shutil.copy(page, src / "book" / page.name)
    (src / "_static_extra").symlink_to(mathjax().parent)
    html = dest / "html"
    before = results_snapshot()
    failed = True
    try:
        run(preset, src / "book" / "generated", overrides, notebooks)
        stage_config(src, preset, overrides)  # stamped when the pages are made
        start = time.monotonic()
        run_jupyter_book([str(Path(sys.executable).parent / "jupyter-book"), "build", "--warningiserror",
                          "--keep-going", "--path-output", str(dest / "jb"), str(src)])
        print(f"Jupyter Book made the pages in {time.monotonic() - start:.0f} s", flush=True)
        failed = False
    finally:  # after a failure too: what was computed so far is kept
        for line in results_summary(before, results_snapshot(), preset, failed):
            print(line, flush=True)
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
