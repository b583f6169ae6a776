"""No number typed by hand: the README's block of our results is what the committed results say
(``python -m pihlib.reproduction summary``), the presets' sizes on the book's pages come from the
presets, and the figures draw the intervals their captions state."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pihlib.bestofn import pool_estimate
from pihlib.errors import PihError
from pihlib.metrics import metric_names
from pihlib.reproduction import cache, presets, summary
from pihlib.reproduction.compute.metric_study import IIR_PERCENT
from pihlib.reproduction.report import figures

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def committed(monkeypatch):
    """The checkout's committed results (conftest points every test at a folder of its own)."""
    monkeypatch.setenv("PIH_RESULTS", str(ROOT / "results"))
    return ROOT / "results"


def test_the_readme_block_is_what_the_committed_results_say(committed):
    block = summary.readme_block((ROOT / "README.md").read_text())
    fresh = summary.markdown()
    assert block == fresh, (f"README.md's block between {summary.BEGIN} and {summary.END} disagrees with "
                            f"results/: run `{summary.COMMAND}` and commit README.md")


def test_the_summary_covers_the_committed_presets_only(committed):
    which = summary.committed_presets()
    assert "smoke" not in which  # git-ignored: computed by every smoke build
    assert set(which) <= set(presets.PRESETS) and which == [p for p in presets.PRESETS if p in which]
    text = summary.markdown()
    for preset in which:
        assert f"### The `{preset}` preset" in text
    if "gpu" in which:  # every gpu number is shown with its data, device and the state of its code
        gpu = text.split("### The `gpu` preset")[1]
        assert "device: cuda" in gpu and "data: " in gpu
        assert "computed by older code" in gpu or "computed by this code" in gpu


def _one_record(tmp_path: Path, committed: Path, stale: bool) -> Path:
    """A results folder with one hiding record copied from the committed ones, its code digest this
    checkout's (or not)."""
    source = next(p for p in sorted(committed.glob("*/hiding.json")))
    record = json.loads(source.read_text())
    now = cache.code_digest(cache.code_modules(summary.computed_by("hiding")))
    record["provenance"]["code_sha256"] = "0" * 64 if stale else now
    record["provenance"]["content_sha256"] = cache.content_digest(record)  # written as `cached` writes it
    folder = tmp_path / "results" / source.parent.name
    folder.mkdir(parents=True)
    (folder / "hiding.json").write_text(json.dumps(record))
    return folder


@pytest.mark.parametrize("stale", [True, False])
def test_each_number_says_whether_older_code_computed_it(tmp_path, committed, monkeypatch, stale):
    folder = _one_record(tmp_path, committed, stale)
    monkeypatch.setenv("PIH_RESULTS", str(folder.parent))
    text = summary.markdown([folder.name])
    record = json.loads((folder / "hiding.json").read_text())
    assert ("**computed by older code**" in text) is stale and ("computed by this code" in text) is not stale
    assert record["provenance"]["device"] in text
    assert f"{100 * record['result']['plain_accuracy']:.1f} %" in text
    assert f"{record['result']['n_test']:,} plain test images" in text


def test_write_readme_rewrites_only_the_block(tmp_path, committed, monkeypatch):
    folder = _one_record(tmp_path, committed, stale=True)
    monkeypatch.setenv("PIH_RESULTS", str(folder.parent))
    readme = tmp_path / "README.md"
    head, tail = "# title\n\nprose 84.50 %\n\n", "\n\n## after\n\nmore prose\n"
    readme.write_text(f"{head}{summary.BEGIN}\nold numbers\n{summary.END}{tail}")
    assert summary.write_readme(readme, [folder.name])
    text = readme.read_text()
    assert text.startswith(head + summary.BEGIN + "\n") and text.endswith(summary.END + tail)
    assert summary.readme_block(text) == summary.markdown([folder.name])
    assert not summary.write_readme(readme, [folder.name])  # already up to date
    readme.write_text("no markers\n")
    with pytest.raises(PihError, match="summary:begin"):
        summary.write_readme(readme, [folder.name])


def test_the_command_prints_the_summary(tmp_path, committed, monkeypatch, capsys):
    from pihlib.reproduction.__main__ import main

    folder = _one_record(tmp_path, committed, stale=True)
    monkeypatch.setenv("PIH_RESULTS", str(folder.parent))
    assert main(["summary", "--preset", folder.name]) == 0
    assert capsys.readouterr().out.strip() == summary.markdown([folder.name])


def test_the_pages_read_the_presets_sizes():
    values = summary.book_values()
    for preset, p in presets.PRESETS.items():
        size, cl = values[f"size_{preset}"], p["03_classification"]
        assert f"on {cl['n_train']:,} images, tested on {cl['n_test']:,}" in size
        assert f"key search: {p['02_key_search']['n_images']:,} images" in size
        assert "`" not in size  # glued as plain text
    assert values["repeats_default"] == str(presets.BASE["02_key_search"]["repeats"])
    pages = {p.name: p.read_text() for p in (ROOT / "book").glob("*.md")}
    for name in ("size_smoke", "size_cpu", "size_gpu", "size_paper", "time_cpu", "time_gpu"):
        assert f"generated/00_scramblers.ipynb::{name}:s" in pages["rerun.md"]


def _metric_record(keys: np.ndarray) -> dict:
    """A metric-study record whose every metric has, at every ratio, the per-key values ``keys``."""
    pct = IIR_PERCENT
    names = metric_names()
    values = {n: [keys.tolist() for _ in pct] for n in names}
    return {"result": {"percents": pct, "values": values, "images": dict.fromkeys(names, 8),
                       "iterations": dict.fromkeys(names, len(keys))}}


def test_fig3_bands_are_95_percent_intervals_over_keys():
    keys = np.arange(10.0)
    fig = figures.fig3(_metric_record(keys))
    ax = fig.axes[0]
    band = ax.collections[0].get_paths()[0].vertices
    at_50 = band[np.isclose(band[:, 0], 50), 1]
    lo, hi = at_50.min(), at_50.max()
    se = keys.std(ddof=1) / np.sqrt(len(keys))
    assert lo == pytest.approx(keys.mean() - 1.96 * se, abs=0.35)  # a bootstrap 95 % interval of the mean
    assert hi == pytest.approx(keys.mean() + 1.96 * se, abs=0.35)
    assert hi - lo < 1.5 * keys.std(ddof=1)  # not the one-SD band (2 SD wide) it used to be
    line = ax.lines[0].get_ydata()
    assert np.allclose(line, keys.mean())


def test_figs45_bands_are_the_pools_bootstrap_intervals():
    rng = np.random.default_rng(0)
    records = {}
    for m in ("PE", "LE"):
        pool = (0.3 + 0.01 * rng.standard_normal(100)).tolist()
        records[m] = {"params": {"trials": 5, "repeats": 2},
                      "result": {"pool": pool, "repeats": {"ns": [1, 2, 3, 4, 5], "mean": [0.3] * 5,
                                                           "sd": [0.01] * 5, "mean_se": [0.001] * 5,
                                                           "evaluations": 30}}}
    figs = figures.figs45(records)
    b = pool_estimate(records["PE"]["result"]["pool"], range(1, 6))
    bands = figures.selection_bands(np.array(records["PE"]["result"]["pool"]), np.arange(1, 6))
    assert np.allclose(bands["mean_band"], b.band) and np.allclose(bands["sd"], b.sd)
    for number in (4, 5):  # a band on both figures
        assert len(figs[number].axes[0].collections) >= 1
    assert (bands["sd_band"][0] <= bands["sd"]).all() and (bands["sd"] <= bands["sd_band"][1]).all()


def test_the_summary_reads_records_only(tmp_path, committed, monkeypatch):
    """Nothing is computed or written: an empty results folder gives an empty summary."""
    (tmp_path / "results").mkdir()
    monkeypatch.setenv("PIH_RESULTS", str(tmp_path / "results"))
    assert "No results are stored for `gpu`" in summary.markdown(["gpu"])
    assert list((tmp_path / "results").iterdir()) == []
