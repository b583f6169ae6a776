"""Evidence first: a claim is judged on the strongest committed results, whatever preset the book is
built at. With only the `cpu` preset's results committed the verdicts rest on them; with the `gpu`
preset's beside them, on those: the verdicts change exactly where the two presets' records say
different things."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from pihlib.reproduction import presets
from pihlib.reproduction.report import classification, evidence, hiding, introduction

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "results"


def _results(tmp_path: Path, monkeypatch, which: tuple[str, ...]) -> Path:
    """A results folder holding copies of the committed presets ``which``."""
    root = tmp_path / "-".join(which)
    for preset in which:
        shutil.copytree(COMMITTED / preset, root / preset)
    monkeypatch.setenv("PIH_RESULTS", str(root))
    return root


@pytest.mark.skipif(not (COMMITTED / "gpu" / "hiding.json").exists(), reason="no committed gpu hiding run")
def test_hiding_verdict_rests_on_the_gpu_run_when_it_is_committed(tmp_path, monkeypatch):
    cpu = json.loads((COMMITTED / "cpu" / "hiding.json").read_text())
    gpu = json.loads((COMMITTED / "gpu" / "hiding.json").read_text())
    _results(tmp_path, monkeypatch, ("cpu",))
    alone = evidence.candidates("cpu", "hiding", {"hiding": cpu})
    assert [p for _, p in alone] == ["cpu"]
    assert hiding.verdicts(alone) == hiding.verdicts([({"hiding": cpu}, "cpu")])
    _results(tmp_path, monkeypatch, ("cpu", "gpu"))
    both = evidence.candidates("cpu", "hiding", {"hiding": cpu})
    assert [p for _, p in both] == ["gpu", "cpu"] and both[0][0]["hiding"]["result"] == gpu["result"]
    # each claim on the first record that can support it: the gpu run's where it can, else the cpu's
    values = hiding.verdicts(both)
    for g, c, observer in zip(hiding.claims(gpu), hiding.claims(cpu), ("classifier", "view"), strict=True):
        tested = [p for p, claim in (("gpu", g), ("cpu", c)) if claim["verdict"].tested]
        source = (tested or ["gpu"])[0]  # untestable on both: the strongest, saying so
        assert f"{observer} ({source} preset)" in values["reason_hiding"]
    # a build at the gpu preset is its own strongest evidence
    assert [p for _, p in evidence.candidates("gpu", "hiding", {"hiding": gpu})] == ["gpu"]


def test_table3_and_accuracy_rest_on_the_gpu_runs_when_they_are_committed(tmp_path, monkeypatch):
    params = presets.params("03_classification", "cpu")
    _results(tmp_path, monkeypatch, ("cpu",))
    cpu = classification.stored_runs("cpu", params)
    if not cpu["plain"]:
        pytest.skip("no committed cpu runs")
    from pihlib.reproduction.compute import table3

    result = {**cpu, "table3": table3.assemble(cpu["plain"], cpu["runs"], params["seeds"][0])}
    alone = classification.evidence_runs("cpu", result)
    assert alone["preset"] == "cpu" and alone["table3"] == result["table3"]
    _results(tmp_path, monkeypatch, ("cpu", "gpu"))
    gpu = classification.stored_runs("gpu", presets.params("03_classification", "gpu"))
    if not gpu["plain"]:
        pytest.skip("no committed gpu runs")
    shown = classification.evidence_runs("cpu", result)
    assert shown["preset"] == "gpu" and shown["plain"]["accuracy"] == gpu["plain"]["accuracy"]
    # the verdict is the gpu runs' Table 3's, whatever the cpu runs' says
    assert classification.claims(shown)[1]["verdict"] == classification.claims(
        {"runs": gpu["runs"], "table3": shown["table3"]})[1]["verdict"]


def test_the_introduction_rests_on_the_gpu_results_where_they_are_committed(tmp_path, monkeypatch):
    """The whole verdict table, as a book built at the cpu (or smoke) preset shows it, with only the
    cpu preset's results committed and with the gpu preset's beside them: the rows the gpu records
    speak to (the classification runs, the hiding study) move to them, the others stay on the cpu's."""
    _results(tmp_path, monkeypatch, ("cpu",))
    alone = introduction.verdicts("cpu")
    assert {f"verdict_{row}" for row in introduction.ROWS} <= alone.keys()
    assert introduction.verdicts("smoke") == alone  # a smoke build shows the committed cpu evidence
    _results(tmp_path, monkeypatch, ("cpu", "gpu"))
    both = introduction.verdicts("cpu")
    gpu_rows = {"table2_acc", "accuracy", "table3", "hiding"}
    changed = {row for row in introduction.ROWS if alone[f"reason_{row}"] != both[f"reason_{row}"]}
    assert changed == gpu_rows
    for row in introduction.ROWS:
        if row in ("table2_acc", "hiding", "table1"):  # their reasons name the presets in their own words
            continue
        assert both[f"reason_{row}"].endswith("(gpu preset)" if row in gpu_rows else "(cpu preset)"), row
    # the small runs cannot say anything of the paper's accuracy; the gpu runs can
    assert alone["verdict_table2_acc"] == "not tested" and both["verdict_table2_acc"] != "not tested"
    assert both["reason_table2_acc"].startswith("gpu preset")
    # the plain-trained observer of the cpu preset reads no scrambled image above chance: it is passed
    # over for the gpu run's, which does
    assert "classifier (cpu preset): not tested" in alone["reason_hiding"]
    assert "classifier (gpu preset)" in both["reason_hiding"]


def test_the_introduction_glues_every_row_and_nothing_else():
    intro = (ROOT / "book" / "intro.md").read_text()
    rows = set(re.findall(r"::verdict_(\w+):s", intro))
    assert rows == set(introduction.ROWS)
    assert rows == set(re.findall(r"::reason_(\w+):s", intro))
