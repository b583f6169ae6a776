"""The classification experiment (Tables 2 and 3): runs cached one by one, a time budget, the CLI."""

from __future__ import annotations

import json

import pytest

import pihlib
from pihlib import keysearch, scorecache
from pihlib.keys import fingerprint
from pihlib.reproduction import presets
from pihlib.reproduction.__main__ import main
from pihlib.reproduction.compute import classification, derived_runs, runs, table3
from pihlib.reproduction.png import decode_png
from pihlib.reproduction.report import classification as reader

PARAMS = {"methods": ["PE"], "seeds": [0], "trials": 3, "n_train": 64, "n_test": 32, "n_search": 32,
          "recipe": "airbench", "classifier": "airbench", "epochs": 1, "batch_size": 32, "lr": 10.0,
          "schedule": "triangle"}


@pytest.fixture
def root(tmp_path, monkeypatch, lpips_cache):
    monkeypatch.setenv("PIH_RESULTS", str(tmp_path / "results"))
    return tmp_path / "results"


def test_runs_are_cached_one_by_one_and_a_budget_stops_between_them(root, cifar_npz, capsys, lpips_cache):
    inputs = runs.inputs(PARAMS, cifar_npz)
    out = classification.compute(PARAMS, *inputs, preset="smoke", progress=False)
    files = sorted(p.name for p in (root / "smoke" / runs.RUNS).iterdir())
    assert files == ["PE-original-seed0.json", "PE-proposed-seed0.json", "plain-seed0.json"]
    assert not list((lpips_cache / "checkpoints").rglob("*.pt"))  # each removed once its record is written
    original, proposed = out["runs"]
    assert (original["kind"], proposed["kind"]) == ("original", "proposed")
    assert proposed["rho"] > 0 and original["rho"] > 0 and proposed["fingerprint"] != original["fingerprint"]
    assert original["config"]["recipe"] == "airbench" and original["config"]["tta"] == 2
    assert out["plain"]["rho"] is None and out["plain"]["fingerprint"] is None
    # the same keys with first layers derived from the training statistics: PE's given back exactly
    derived = out["derived"]
    assert [(r["method"], r["kind"], r["fingerprint"]) for r in derived] == \
        [(r["method"], r["kind"], r["fingerprint"]) for r in out["runs"]]
    assert all(r["recovered"] == {"exact": 1.0, "four_bit": 0.0} and r["config"]["method"] == "plain"
               and r["fit_images"] == PARAMS["n_train"] and 0 <= r["accuracy"] <= 1 for r in derived)
    assert sorted(p.name for p in (root / "smoke" / derived_runs.RUNS).iterdir()) == \
        ["PE-original-seed0.json", "PE-proposed-seed0.json"]
    for r in out["runs"]:
        assert 0 <= r["accuracy"] <= 1 and r["history"][0]["time_s"] > 0
        assert r["provenance"]["data"]["sha256"] == inputs[0].source.sha256
    stored = (root / "smoke" / runs.RUNS / "PE-proposed-seed0.json").read_text()
    assert proposed["fingerprint"] in stored and '"arrays"' not in stored  # a fingerprint, never the key

    table3 = out["table3"]
    assert list(table3) == ["frog", "automobile", "horse"]
    frog = table3["frog"]
    assert set(frog) == {"test_index", "plain", "PE (proposed)"}
    assert inputs[1].classes[int(inputs[1].labels[frog["test_index"]])] == "frog"
    assert frog["plain"]["lpips"] == pytest.approx(0, abs=1e-6) and frog["PE (proposed)"]["lpips"] > 0.1
    plain_image = inputs[1].images[frog["test_index"]].permute(1, 2, 0).numpy()
    assert (decode_png(frog["plain"]["image_png"]) == plain_image).all()
    assert (decode_png(frog["PE (proposed)"]["image_png"]) != plain_image).mean() > 0.5

    # what is stored, read without data and without computing: only runs of the same parameters
    stored = reader.stored_runs("smoke", PARAMS)
    assert stored["total"] == 3 and stored["plain"]["accuracy"] == out["plain"]["accuracy"]
    assert [r["fingerprint"] for r in stored["runs"]] == [r["fingerprint"] for r in out["runs"]]
    other = reader.stored_runs("smoke", {**PARAMS, "epochs": 2, "seeds": [0, 1]})
    assert other == {"runs": [], "plain": None, "total": 5}

    # two seeds under a budget of 0 s: the three cached runs are reused, the first new one is not started
    two = {**PARAMS, "seeds": [0, 1]}
    with pytest.raises(runs.BudgetExhausted, match="3 of 5 runs done") as stop:
        classification.compute(two, *inputs, preset="smoke", budget_s=0, progress=False)
    assert (stop.value.done, stop.value.total) == (3, 5)
    again = classification.compute(PARAMS, *inputs, preset="smoke", budget_s=0, progress=False)
    assert all(r["provenance"]["reused"] for r in again["runs"])
    assert [r["accuracy"] for r in again["runs"]] == [r["accuracy"] for r in out["runs"]]

    # the command line: every run cached, so it reports them; the first-layer study, not cached, does
    # not fit in no time: left, exit code 3; with a second seed, its runs are left too
    common = ["compute", "--preset", "smoke", "--only", "classification", "--data", str(cifar_npz),
              "--device", "cpu", "--budget-s", "0", "--jpeg-data", ""]
    common += [a for k, v in PARAMS.items() if k != "seeds"
               for a in ("-p", f"classification.{k}", json.dumps(v))]
    assert main([*common, "-p", "classification.seeds", "[0]"]) == 3
    out = capsys.readouterr()
    assert "PE   original  accuracy" in out.out and "plain:" in out.out
    assert "PE   proposed  accuracy" in out.out.split("first layer derived")[0].rsplit("\n", 2)[-2]
    assert "0 task(s) computed, 5 found cached, 1 left" in out.out  # 3 runs, 2 with derived layers
    assert "left for the next call: classification first_layer" in out.out
    assert "1 task(s) left for the next call: classification first_layer" in out.err
    assert main([*common, "-p", "classification.seeds", "[0, 1]"]) == 3
    out = capsys.readouterr()
    assert "run again to go on" in out.err and "classification: 5 tasks" in out.err
    assert "PE   original  accuracy" not in out.out  # the runs of seed 1 are missing: no report
    assert main([*common, "-p", "classification.epochs", "'many'"]) == 2
    assert "training epochs must be a positive integer" in capsys.readouterr().err
    assert main([*common, "-p", "03_classification.seeds", "[]"]) == 2
    assert "seeds must be a non-empty list of integers" in capsys.readouterr().err
    assert main([*common, "-p", "classification.seeds", "[0]", "-p", "classification.methods",
                 "['XOR']"]) == 2
    assert "methods must be a list drawn from" in capsys.readouterr().err


def test_table3_needs_its_classes(cifar_npz):
    test = pihlib.load_cifar10("test", cifar_npz, count=3)  # a cat, two ships
    with pytest.raises(pihlib.PihError, match="Table 3 needs a frog, automobile, horse"):
        table3.images(test)


def test_summary_reads_time_to_target():
    history = [{"epoch": 1, "test_accuracy": 0.9, "time_s": 10.0}, {"epoch": 2, "test_accuracy": 0.95,
                                                                    "time_s": 20.0}]
    runs = [{"method": "PE", "kind": "original", "seed": s, "accuracy": a, "rho": 0.3, "history": h}
            for s, a, h in [(0, 0.95, history), (1, 0.91, history[:1])]]
    v = reader.summary(runs)["PE"]["original"]
    assert v["acc_mean"] == pytest.approx(93) and v["reached_target"] == "1/2" and v["to_target_mean"] == 20
    assert v["time_mean"] == 15


@pytest.mark.parametrize("method", ["PE", "EtC", "LE", "ELE"])
def test_the_original_key_is_drawn_apart_from_the_search(method, cifar_images):
    for seed in range(3):
        original = runs.run_key(method, "original", seed, 20)
        candidates = keysearch.candidate_keys(method, 20, runs.key_streams(seed)[1])
        assert fingerprint(original) not in {fingerprint(k) for k in candidates}
        assert fingerprint(original) == fingerprint(runs.run_key(method, "original", seed, 20))
    images = cifar_images[:4]
    scorer = scorecache.CachedScorer(images, cache=False)
    proposed = runs.run_key(method, "proposed", 0, 3, scorer, images)
    searched = keysearch.search(images, method, 3, seed=runs.key_streams(0)[1], scorer=scorer,
                                progress=False)
    assert fingerprint(proposed) == fingerprint(searched.key)
    assert fingerprint(proposed) in {f for f, _ in searched.candidates}


def test_training_parameters_left_open_take_the_recipes():
    params = {**PARAMS, "classifier": None, "lr": None, "schedule": None, "epochs": None, "batch_size": None}
    config = runs.train_config(params, "LE", 2)
    assert (config.classifier, config.lr, config.epochs, config.seed) == ("airbench", 10.0, 15, 2)
    paper = runs.train_config(presets.params("03_classification", "paper"), "PE", 0)
    assert (paper.recipe, paper.classifier, paper.schedule) == ("classic", "pyramidnet", "steps")
    assert paper.tta == 0 and paper.epochs == 100


def test_targets_are_checked_against_the_runs_data():
    def run(method, accuracy, lossless=True, seconds=10.0):
        return {"method": method, "kind": "original", "accuracy": accuracy,
                "provenance": {"data": {"lossless": lossless}, "wall_time_s": seconds}}

    empty = reader.target_check([], None)
    assert {r["met"] for r in empty} == {"not run"}
    rows = {r["what"]: r for r in reader.target_check([run("PE", 0.935), run("LE", 0.90)],
                                                               run("plain", 0.951))}
    assert rows["PE accuracy %"]["met"] == "yes" and rows["LE accuracy %"]["met"] == "no"
    assert rows["plain accuracy %"]["met"] == "yes" and rows["EtC accuracy %"]["met"] == "not run"
    assert rows["all runs, compute time (s)"]["met"] == "yes"
    jpeg = {r["what"]: r for r in reader.target_check([run("PE", 0.915, False, 400.0)], None)}
    assert set(jpeg) == {"PE accuracy %", "LE accuracy %", "all runs, compute time (s)"}
    assert jpeg["PE accuracy %"]["met"] == "yes" and jpeg["all runs, compute time (s)"]["met"] == "no"


def test_a_checkpoint_belongs_to_its_runs_data():
    params = runs.run_params("LE", "original", 0, PARAMS, "a" * 64)
    same = runs.run_params("LE", "original", 0, PARAMS, "a" * 64)
    other_data = runs.run_params("LE", "original", 0, PARAMS, "b" * 64)
    fewer = runs.run_params("LE", "original", 0, {**PARAMS, "n_train": 32}, "a" * 64)
    path = runs.checkpoint_path("smoke", params)
    assert path == runs.checkpoint_path("smoke", same)
    assert path != runs.checkpoint_path("smoke", other_data) != runs.checkpoint_path(
        "smoke", fewer)


def test_compute_refuses_bad_counts_and_paths_before_computing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PIH_RESULTS", str(tmp_path / "results"))
    assert main(["compute", "--preset", "smoke", "--only", "key_search", "-p", "key_search.trials",
                 "-3"]) == 2
    assert capsys.readouterr().err.strip() == ("pihlib.reproduction: error: 02_key_search: trials must be a "
                                               "positive integer, got -3")
    assert main(["compute", "--preset", "smoke", "--jpeg-data", str(tmp_path / "none.tar")]) == 2
    assert "the JPEG copy" in capsys.readouterr().err
    assert main(["compute", "--preset", "smoke", "--budget-s", "-1"]) == 2
    assert "must not be negative" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()
