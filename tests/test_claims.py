"""Each experiment of the reproduction at a tiny size on real CIFAR-10, and its claims: verdicts that
follow the data, including the ones that say "no"."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from pihlib.bestofn import pool_estimate
from pihlib.metrics import metric_names
from pihlib.reproduction import key_search, metric_study, paper, presets, scrambling, table3


@pytest.fixture
def results_root(tmp_path, monkeypatch, isolated_cache):
    monkeypatch.setenv("PIH_RESULTS", str(tmp_path / "results"))
    return tmp_path / "results"


def test_scrambling_runs_and_its_claim_can_fail(results_root, cifar_npz):
    params = presets.params(scrambling.NOTEBOOK, "smoke", n_check=32)
    record = scrambling.run("smoke", params, str(cifar_npz))
    assert (results_root / "smoke" / "scramblers.json").exists()
    assert scrambling.claims(record)[0]["verdict"] == "yes"
    assert record["provenance"]["code_sha256"] and "pihlib.scramblers" in record["provenance"]["code_modules"]
    broken = copy.deepcopy(record)
    broken["result"]["LE"]["exact_inverse"] = False
    assert scrambling.claims(broken)[0]["verdict"] == "no: LE"
    assert scrambling.table(broken)["LE"]["exact inverse on all images"] == "NO"


def _curves(peaks: dict[str, int], widths: dict[str, float] | None = None) -> dict:
    """A metric-study record whose mean curves peak where ``peaks`` says (default 50 %), as wide as
    ``widths`` says (a triangle of that half-width, in % IIR)."""
    pct = presets.IIR_PERCENT
    values = {}
    for name in metric_names():
        peak, width = peaks.get(name, 50), (widths or {}).get(name, 30)
        curve = [max(0.0, 1 - abs(p - peak) / width) + 0.1 for p in pct]
        if name in ("psnr", "ssim"):
            curve = [2 - c for c in curve]  # lower means more hiding
        values[name] = [[c, c + 0.01] for c in curve]
    return {"result": {"percents": pct, "values": values, "images": dict.fromkeys(values, 8),
                       "iterations": dict.fromkeys(values, 2)}}


def test_fig3_claims_follow_the_curves():
    good = metric_study.claims(_curves({}, {"lpips": 15}))
    assert [c["verdict"] for c in good] == ["yes", "yes"]
    assert good[0]["claim"] == paper.CLAIMS["fig3_peak"]
    off = metric_study.claims(_curves({"brisque": 30}, {"fid": 10}))
    assert off[0]["verdict"] == "no: brisque peaks at 30 %"
    assert off[1]["verdict"].startswith("no: brisque") and "fid 10 %" in off[1]["verdict"]
    assert metric_study.peaks(_curves({"psnr": 70}))["psnr"]["peak_percent"] == 70  # its minimum


def test_peak_summary():
    s = metric_study.peak_summary([0, 50, 100], [0.0, 1.0, 0.0])
    assert s == {"peak_percent": 50.0, "width_above_half": pytest.approx(50, abs=0.2)}


def _search_records(pool_sd: dict[str, float]) -> dict:
    """Key-search records with normal pools of the given SDs and repeats whose SD falls with N."""
    rng = np.random.default_rng(0)
    out = {}
    for m, sd in pool_sd.items():
        pool = (0.3 + sd * rng.standard_normal(400)).tolist()
        ns = list(range(1, 21))
        b = pool_estimate(pool, ns, bootstrap=200)
        out[m] = {"params": {"trials": 20, "repeats": 5},
                  "result": {"pool": pool, "repeats": {"ns": ns, "mean": b.mean.tolist(),
                                                       "sd": np.linspace(2 * sd, sd / 2, 20).tolist(),
                                                       "mean_se": b.mean_se.tolist()}}}
    return out


def test_fig4_fig5_claims_follow_the_pools():
    most_unstable_pe = key_search.claims(_search_records({"PE": 0.02, "EtC": 0.01, "LE": 0.01, "ELE": 0.01}))
    assert most_unstable_pe[1]["verdict"] == "yes"
    assert most_unstable_pe[2]["verdict"] == "yes"  # the two estimators agree (same distribution)
    le_unstable = key_search.claims(_search_records({"PE": 0.01, "EtC": 0.01, "LE": 0.03, "ELE": 0.01}))
    assert le_unstable[1]["verdict"] == "partly: SD falls for PE, EtC, LE, ELE; PE most unstable: no"
    assert le_unstable[0]["verdict"].startswith(("yes", "partly: the smallest gain is"))


def test_key_search_runs_on_real_images(results_root, cifar_npz):
    params = presets.params(key_search.NOTEBOOK, "smoke", n_images=8, trials=3, pool=6, repeats=2,
                            methods=["PE", "LE"])
    records = key_search.run("smoke", params, str(cifar_npz))
    assert set(records) == {"PE", "LE"} and len(records["PE"]["result"]["aliased"]) == 6
    values = key_search.book_values(records)
    assert values["paper_pih_original_PE"] == "0.3161 ± 0.0038" and "reshuffle_PE" in values
    assert {c["verdict"].split(":")[0] for c in key_search.claims(records)} <= {"yes", "no", "partly"}


def _table(classes: dict[str, dict[str, str]]) -> dict:
    return {image: {"test_index": i, **{col: {"class": c, "probability": 0.9, "lpips": 0.3, "image_png": ""}
                                        for col, c in cols.items()}}
            for i, (image, cols) in enumerate(classes.items())}


def test_table3_claim_follows_the_predictions():
    right = {c: {"plain": c, "PE (proposed)": c, "LE (proposed)": c} for c in table3.CLASSES}
    assert table3.claims(_table(right))[0]["verdict"] == "yes"
    wrong = copy.deepcopy(right)
    wrong["horse"]["LE (proposed)"] = "deer"
    assert table3.claims(_table(wrong))[0]["verdict"] == "no: horse (LE (proposed): deer)"
    only_pe = {c: {"plain": c, "PE (proposed)": c} for c in table3.CLASSES}
    assert table3.claims(_table(only_pe))[0]["verdict"].startswith("not run")
    rows = table3.rows(_table(right))
    assert rows["frog", "PE (proposed)"]["paper"] == "frog (0.9993), LPIPS 0.3701"
