"""The results cache: reuse when the parameters match, recompute otherwise, provenance recorded."""

from __future__ import annotations

import json

import pytest

from pihlib import results


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "ROOT", tmp_path)
    return tmp_path


def test_cached_reuses_and_recomputes(root):
    calls = []

    def compute():
        calls.append(1)
        return {"value": len(calls)}

    data = {"kind": "npz", "sha256": "ab" * 32, "count": 3, "split": "train", "lossless": True}
    first = results.cached("smoke", "thing", {"n": 1}, compute, data=data, assets=["niqe"])
    assert first["result"] == {"value": 1} and len(calls) == 1
    p = first["provenance"]
    assert p["preset"] == "smoke" and p["data"] == data
    assert p["params_sha256"] == results.params_hash({"n": 1})
    assert p["assets"]["niqe"]["raw_sha256"] and "torch" in p["versions"] and p["device"].startswith("cpu")
    assert p["git_commit"] and p["wall_time_s"] >= 0
    again = results.cached("smoke", "thing", {"n": 1}, compute)
    assert again["result"] == {"value": 1} and again["provenance"]["reused"] and len(calls) == 1
    changed = results.cached("smoke", "thing", {"n": 2}, compute)
    assert changed["result"] == {"value": 2} and len(calls) == 2
    forced = results.cached("smoke", "thing", {"n": 2}, compute, force=True)
    assert forced["result"] == {"value": 3}
    stored = json.loads((root / "smoke" / "thing.json").read_text())
    assert stored["result"] == {"value": 3} and "reused" not in stored["provenance"]


def test_damaged_result_is_recomputed(root):
    (root / "smoke").mkdir()
    (root / "smoke" / "thing.json").write_text("{half a record")
    record = results.cached("smoke", "thing", {}, lambda: {"ok": True})
    assert record["result"] == {"ok": True}
    assert json.loads((root / "smoke" / "thing.json").read_text())["result"] == {"ok": True}


def test_provenance_box_names_its_sources(root):
    record = results.cached("cpu", "box", {"a": 1}, lambda: {},
                            data={"kind": "tar", "sha256": "cd" * 32, "count": 9, "split": "test",
                                  "lossless": False}, assets=["alexnet"])
    box = results.provenance_markdown(record)
    assert "LOSSY (JPEG)" in box and "weights: alexnet" in box and "preset `cpu`" in box
    assert "cdcdcdcdcdcdcdcd" in box and "versions" in box
