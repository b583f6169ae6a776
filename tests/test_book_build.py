"""What `python -m pihlib.reproduction build` (make book) says: for each preset's results folder, what
it computed and what it re-used, and where the book is (not the temporary folder Jupyter Book built)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pihlib.reproduction import book
from pihlib.reproduction.cache import results_root


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

