"""What `python -m pihlib.reproduction build` (make book) says: for each preset's results folder, what
it computed and what it re-used, and where the book is (not the temporary folder Jupyter Book built);
what it stages (the stamp every page ends with, the bibliography, the style sheet); and that every
figure's labels read at 9 points at the page's width."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image

from pihlib.keys import keygen
from pihlib.methods import METHODS
from pihlib.metrics import metric_names
from pihlib.reproduction import book, presets
from pihlib.reproduction.cache import results_root
from pihlib.reproduction.compute.metric_study import AUTHORS_LPIPS, IIR_PERCENT
from pihlib.reproduction.png import png_base64
from pihlib.reproduction.provenance import UNCOMMITTED
from pihlib.reproduction.report import figures

ROOT = Path(__file__).resolve().parents[1]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_summary_counts_records_computed_and_reused():
    root = results_root()  # the test's own (conftest)
    for name in ("a", "sub/b", "c"):
        _write(root / "cpu" / f"{name}.json", f'{{"{name}": 1}}\n')
    _write(root / "gpu" / "run.json", "{}\n")
    before = book.results_snapshot()
    assert book.results_summary(before, book.results_snapshot(), "cpu") == [
        f"re-used 3 stored results from {root}/cpu/ (none computed)",
        f"{root}/gpu/: 1 stored result, none computed"]
    _write(root / "cpu" / "a.json", '{"a": 1}\n')  # written again, the same: re-used
    _write(root / "cpu" / "sub" / "b.json", '{"b": 2}\n')  # recomputed
    _write(root / "cpu" / "d.json", "{}\n")  # new
    _write(root / "smoke" / "s.json", "{}\n")  # a new folder
    after = book.results_snapshot()
    assert book.results_summary(before, after, "cpu") == [
        f"computed 2 (1 replacing older ones), re-used 2 stored results from {root}/cpu/",
        f"{root}/gpu/: 1 stored result, none computed",
        f"computed 1 into {root}/smoke/ (none re-used)"]
    (root / "cpu" / "c.json").unlink()
    assert book.results_summary(before, book.results_snapshot(), "cpu")[0] == \
        f"computed 2 (1 replacing older ones), re-used 1 stored result from {root}/cpu/; 1 removed"


def test_summary_names_the_checkouts_results_folder_relative(monkeypatch):
    monkeypatch.delenv("PIH_RESULTS")  # the checkout's results/ (only named here, not read)
    records = {"cpu": {"x.json": "0" * 64}}
    assert book.results_summary(records, records, "cpu") == ["re-used 1 stored result from results/cpu/ "
                                                             "(none computed)"]


# a stand-in for `jupyter-book build`: some output, a line on stderr, then Sphinx's last line and
# Jupyter Book's own closing box, made by its own function (so a Jupyter Book that words it otherwise
# fails these tests), both naming the folder that `build` moves away
FAKE_JUPYTER_BOOK = textwrap.dedent("""
    import sys
    from pathlib import Path
    from jupyter_book.cli.main import builder_specific_actions
    print("Running Sphinx v7")
    print()
    print("build succeeded.")
    print("WARNING: shown as it is", file=sys.stderr)
    print()
    print("The HTML pages are in " + sys.argv[1] + "/jb/_build/html.")
    builder_specific_actions(0, "html", Path(sys.argv[1]) / "jb" / "_build" / "html", "book")
    sys.exit(int(sys.argv[2]))
""")


def test_jupyter_books_closing_box_is_left_out(tmp_path, capfd):
    book.run_jupyter_book([sys.executable, "-c", FAKE_JUPYTER_BOOK, str(tmp_path), "0"])
    out, err = capfd.readouterr()
    assert out == "Running Sphinx v7\n\nbuild succeeded.\n", out
    assert err == "WARNING: shown as it is\n"


def test_a_failing_jupyter_book_is_shown_in_full(tmp_path, capfd):
    with pytest.raises(subprocess.CalledProcessError):
        book.run_jupyter_book([sys.executable, "-c", FAKE_JUPYTER_BOOK, str(tmp_path), "1"])
    out, err = capfd.readouterr()
    assert out.startswith("Running Sphinx v7\n\nbuild succeeded.\n\nThe HTML pages are in ")
    assert "Finished generating HTML" in out
    assert str(tmp_path / "jb" / "_build" / "html") in out and err == "WARNING: shown as it is\n"


@pytest.fixture
def staged(monkeypatch, tmp_path):
    """``build`` with stand-ins for MathJax, the notebooks (one computes a result) and Jupyter Book."""
    static = tmp_path / "static" / "mathjax"
    static.mkdir(parents=True)
    monkeypatch.setattr(book, "mathjax", lambda: static)
    root = results_root()
    _write(root / "smoke" / "kept.json", "{}\n")
    _write(root / "gpu" / "run.json", "{}\n")
    monkeypatch.setattr(book, "run", lambda preset, *args, **kw: _write(root / preset / "new.json", "{}\n"))
    return root


def test_build_says_what_it_computed_and_where_the_book_is(staged, monkeypatch, tmp_path, capsys):
    def jupyter_book(command):
        out = Path(command[command.index("--path-output") + 1])
        _write(out / "_build" / "html" / "index.html", "<html></html>")
        print("jupyter-book ran")

    monkeypatch.setattr(book, "run_jupyter_book", jupyter_book)
    html = book.build("smoke", tmp_path / "dest", notebooks=[])
    assert html == tmp_path / "dest" / "html" and (html / "index.html").exists()
    assert not (tmp_path / "dest" / "jb").exists()
    assert capsys.readouterr().out.splitlines() == [
        "jupyter-book ran",
        "Jupyter Book made the pages in 0 s",
        f"computed 1, re-used 1 stored result from {staged}/smoke/",
        f"{staged}/gpu/: 1 stored result, none computed",
        f"book (smoke): {html / 'index.html'}"]


def test_build_says_what_it_computed_when_jupyter_book_fails(staged, monkeypatch, tmp_path, capsys):
    def jupyter_book(command):
        raise subprocess.CalledProcessError(1, command)

    monkeypatch.setattr(book, "run_jupyter_book", jupyter_book)
    with pytest.raises(subprocess.CalledProcessError):
        book.build("smoke", tmp_path / "dest", notebooks=[])
    assert capsys.readouterr().out.splitlines() == [  # what was computed; nothing said to be re-used
        f"computed 1 into {staged}/smoke/ before the failure (kept for the next run)"]


def test_build_says_nothing_of_results_when_it_fails_before_computing_any(staged, monkeypatch, tmp_path,
                                                                           capsys):
    def notebook_fails(*args, **kwargs):
        raise RuntimeError("a notebook failed")

    monkeypatch.setattr(book, "run", notebook_fails)
    with pytest.raises(RuntimeError):
        book.build("smoke", tmp_path / "dest", notebooks=[])
    assert capsys.readouterr().out == ""



# ---- the page stamp, the staged sources, the bibliography

WHEN = datetime(2026, 1, 2, 3, 4, 59, tzinfo=UTC)


def test_the_stamp_says_when_from_which_commit_and_at_which_preset():
    line = book.stamp("cpu", when=WHEN, commit="0123456789abcdef0123456789abcdef01234567")
    assert line == ('<p class="pih-stamp">Built 2026-01-02 03:04 UTC from commit <code>0123456789ab</code> '
                    'at the <code>cpu</code> preset.</p>')
    dirty = book.stamp("smoke", when=WHEN, commit=f"{'f' * 40}{UNCOMMITTED}")
    assert f"<code>{'f' * 12}</code> (with uncommitted changes) at the <code>smoke</code> preset." in dirty
    local = datetime(2026, 1, 2, 12, 4, tzinfo=timezone(timedelta(hours=9)))  # written in UTC
    assert "Built 2026-01-02 03:04 UTC" in book.stamp("cpu", when=local, commit="a" * 40)


def test_the_stamp_names_the_overrides_and_escapes():
    line = book.stamp("cpu", {"02_key_search": {"trials": 50, "methods": presets.NOT_GIVEN},
                              "04_hiding": {"keys": 100}}, when=WHEN, commit="<b>")
    assert line.endswith("preset with <code>02_key_search.trials 50</code>, "
                         "<code>04_hiding.keys 100</code>.</p>")
    assert "<code>&lt;b&gt;</code>" in line and "methods" not in line


def test_build_stages_the_bibliography_style_sheet_and_stamped_config(staged, monkeypatch, tmp_path):
    seen = {}

    def jupyter_book(command):
        src = Path(command[-1])
        seen["config"] = yaml.safe_load((src / "_config.yml").read_text())
        seen["book"] = sorted(p.name for p in (src / "book").iterdir())
        _write(Path(command[command.index("--path-output") + 1]) / "_build" / "html" / "index.html", "")

    monkeypatch.setattr(book, "run_jupyter_book", jupyter_book)
    monkeypatch.setattr(book, "git_commit", lambda: "c" * 40)
    book.build("smoke", tmp_path / "dest", notebooks=[])
    footer = seen["config"]["html"]["extra_footer"]
    assert re.fullmatch(r'<p class="pih-stamp">Built \d{4}-\d\d-\d\d \d\d:\d\d UTC from commit '
                        r'<code>c{12}</code> at the <code>smoke</code> preset\.</p>', footer), footer
    ours = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert {k: v for k, v in seen["config"].items() if k != "html"} == {k: v for k, v in ours.items()
                                                                        if k != "html"}
    assert {"references.bib", "book.css", "intro.md", "bibliography.md"} <= set(seen["book"])


def test_every_citation_is_in_the_bibliography_and_every_entry_is_cited():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["bibtex_bibfiles"] == ["book/references.bib"]
    bib = (ROOT / "book" / "references.bib").read_text()
    entries = set(re.findall(r"^@\w+\{([^,\s]+),", bib, flags=re.M))
    cited = set()
    for page in [*(ROOT / "book").glob("*.md"), *(ROOT / "notebooks").glob("*.py")]:  # pages, notebooks
        for keys in re.findall(r"\{cite(?::[a-z]+)?\}`([^`]+)`", page.read_text()):
            cited |= {k.strip() for k in keys.split(",")}
    assert sorted(cited - entries) == [] and sorted(entries - cited) == []
    assert "book/bibliography" in (ROOT / "_toc.yml").read_text()
    assert "```{bibliography}" in (ROOT / "book" / "bibliography.md").read_text()


# ---- the figures: every label at least 9 points at the page's width

def _png(seed: int) -> str:
    g = torch.Generator().manual_seed(seed)
    return png_base64(torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8, generator=g))


def _figures() -> dict:
    """Each figure of the book, drawn from small made-up records of the shapes the notebooks pass."""
    rng = np.random.default_rng(0)
    methods = list(METHODS)
    names = [*metric_names(), AUTHORS_LPIPS]
    metric = {"result": {"percents": IIR_PERCENT, "values": {n: rng.random((len(IIR_PERCENT), 3)).tolist()
                                                             for n in names},
                         "images": dict.fromkeys(names, 1000), "iterations": dict.fromkeys(names, 10)}}
    searches = {m: {"params": {"trials": 20, "repeats": 5},
                    "result": {"pool": (0.3 + 0.01 * rng.standard_normal(200)).tolist(),
                               "repeats": {"ns": list(range(1, 21)), "mean": [0.3] * 20, "sd": [0.01] * 20,
                                           "mean_se": [0.001] * 20, "evaluations": 1050}}} for m in methods}
    runs = [{"seed": 0, "kind": kind, "method": m,
             "history": [{"epoch": e, "test_accuracy": 0.5 + 0.02 * e} for e in range(1, 16)]}
            for m in methods for kind in ("original", "proposed")]
    cell = {"class": "automobile", "probability": 0.999, "lpips": 0.383}
    table3 = {image: {"test_index": i, **{c: {**cell, "image_png": _png(i)}
                                          for c in ("plain", "PE (proposed)", "LE (proposed)")}}
              for i, image in enumerate(("frog", "automobile", "horse"))}
    shown = [_png(i) for i in range(6)]
    keys = {w: {"rho": 0.3, "images_png": shown, "view_png": shown} for w in ("best", "worst")}
    hiding = {"plain_png": shown, "methods": dict.fromkeys(methods, keys)}
    examples = {"percents": [0, 10, 30, 50, 70, 90, 100], "images": [_png(i) for i in range(7)],
                "lpips": [0.0, 0.06, 0.21, 0.256, 0.266, 0.214, 0.203]}
    x = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    groups = pd.DataFrame([{"method": m, "attack": a, "measure": q, "group": g, "keys": 5, "mean": 0.3,
                            "low": 0.25, "high": 0.35}
                           for m in methods for a in ("none (the scrambled images)", "known plaintext",
                                                      "ciphertext only", "FR-Attack", "ITN-Attack")
                           for q in ("lpips", "accuracy") for g in ("highest rho", "lowest rho")])
    return {"scramblers": figures.scramblers({m: keygen(m, seed=0) for m in methods}, x),
            "fig3": figures.fig3(metric), **{f"fig{n}": f for n, f in figures.figs45(searches).items()},
            "table1": figures.table1(examples), "training": figures.training_curves(runs, 0),
            "table3": figures.table3(table3), "hiding": figures.hiding(hiding),
            "attack_groups": figures.attack_groups(groups)}


COLUMN_PX = 660  # CSS pixels a figure gets in the book in a 1280-px window (tests/test_book.py checks it)
PHONE_PX = 342  # and in a 390-px window, a phone's (also checked there)


def _smallest_label(fig: Figure, column_px: int) -> tuple[str, float]:
    """The figure's smallest text and the CSS points it reads at, shown in a column ``column_px`` wide."""
    width = Image.open(io.BytesIO(figures.png(fig))).size[0]  # PNG pixels at 110 dpi
    shown = 110 / 96 * min(1.0, column_px / width)  # CSS points per figure point on the page
    sizes = {t.get_text(): t.get_fontsize() for t in fig.findobj(Text) if t.get_visible()
             and t.get_text().strip()}
    assert sizes
    small = min(sizes, key=sizes.get)
    return small, sizes[small] * shown




def test_every_label_reads_at_9_points_at_page_width():
    for name, fig in _figures().items():
        assert fig.get_size_inches()[0] <= figures.PAGE, name
        small, points = _smallest_label(fig, COLUMN_PX)
        assert points >= 9, f"{name}: {small!r} at {points:.1f} pt on the page"


def test_notebooks_run_two_at_a_time_and_the_first_alone_where_it_may_download(monkeypatch, tmp_path):
    import threading
    import time

    running, most, order = [], [0], []
    lock = threading.Lock()

    def execute(name, parameters, out):
        with lock:
            running.append(name)
            order.append(name)
            most[0] = max(most[0], len(running))
            alone = running == [name]
        time.sleep(0.2)
        with lock:
            running.remove(name)
        return 0.2 if alone else 0.0

    monkeypatch.setattr(book, "execute", execute)
    names = list(book.NOTEBOOKS)
    monkeypatch.setattr(book, "may_download", lambda: False)
    book.run("smoke", tmp_path, notebooks=names, jobs=2)
    assert most[0] == 2 and sorted(order) == sorted(names)
    running[:], order[:] = [], []
    monkeypatch.setattr(book, "may_download", lambda: True)
    alone = []

    def first_alone(name, parameters, out):
        alone.append(execute(name, parameters, out) > 0)
        return 0.0

    monkeypatch.setattr(book, "execute", first_alone)
    book.run("smoke", tmp_path, notebooks=names, jobs=2)
    assert order[0] == names[0] and alone[0]  # the first ran before any other started

    started = []

    def fails(name, parameters, out):
        started.append(name)
        if name == names[1]:
            raise RuntimeError("boom")
        return 0.0

    monkeypatch.setattr(book, "execute", fails)
    with pytest.raises(RuntimeError, match="boom"):
        book.run("smoke", tmp_path, notebooks=names, jobs=1)
    assert started == names[:2]  # one at a time: nothing starts after the failure



def test_fig3_reads_at_8_points_on_a_phone():
    """Nine panels: drawn narrower, two a row, so that a phone shrinks them less."""
    small, points = _smallest_label(_figures()["fig3"], PHONE_PX)
    assert points >= 8, f"{small!r} at {points:.1f} pt on a phone"


def test_no_legend_covers_data():
    """Every legend lies outside every panel's data area (as drawn, after the layout has placed it)."""
    for name, fig in _figures().items():
        FigureCanvasAgg(fig).draw()
        renderer = fig.canvas.get_renderer()
        panels = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
        legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
        for legend in legends:
            box = legend.get_window_extent(renderer)
            for ax in panels:
                assert not box.overlaps(ax.get_window_extent(renderer)), \
                    f"{name}: a legend covers the panel {ax.get_title()!r}"
