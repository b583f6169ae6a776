"""The results cache: reuse when the parameters and the code digest match, recompute otherwise,
provenance recorded."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import pihlib
from pihlib.reproduction import cache as results
from pihlib.reproduction import provenance

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("PIH_RESULTS", str(tmp_path))
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
    box = provenance.markdown(record)
    assert "LOSSY (JPEG)" in box and "weights: alexnet" in box and "preset `cpu`" in box
    assert "cdcdcdcdcdcdcdcd" in box and "versions" in box


def test_provenance_box_of_several_records(root):
    data = {"kind": "npz", "sha256": "ef" * 32, "count": 9, "split": "train", "lossless": True}
    a = results.cached("gpu", "runs/a", {"a": 1}, lambda: {}, data=data, assets=["alexnet"])
    b = results.cached("gpu", "runs/b", {"b": 1}, lambda: {}, data=data, assets=["alexnet"])
    assert (root / "gpu" / "runs" / "a.json").exists()
    a["provenance"]["device"] = "cuda: NVIDIA H100 80GB HBM3"  # as if computed elsewhere
    box = provenance.markdown([a, results.lookup("gpu", "runs/b", {"b": 1})], title="two runs")
    assert box.startswith("**Provenance** of two runs (preset `gpu`, 1 of 2 reused")
    assert box.count("efefefefefefefef") == 1  # shared: shown once
    assert "cuda: NVIDIA H100 80GB HBM3; cpu" in box  # distinct: each shown
    assert " to " in box and "s in all" in box
    assert b["provenance"]["device"] in box
    assert results.lookup("gpu", "runs/b", {"b": 2}) is None and results.lookup("gpu", "runs/c", {}) is None


def test_commit_of_a_copy_without_git_history(root, monkeypatch):
    monkeypatch.setenv("PIH_GIT_COMMIT", "0123abcd (copied to a GPU machine)")
    record = results.cached("gpu", "copied", {}, lambda: {})
    assert record["provenance"]["git_commit"] == "0123abcd (copied to a GPU machine)"


def test_a_code_change_invalidates_a_result(root, tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    package.mkdir()
    module = package / "pih_digest_probe.py"
    module.write_text('"""A module."""\n\nSCALE = 2  # a comment\n')
    monkeypatch.syspath_prepend(str(package))
    calls = []

    def compute():
        calls.append(1)
        return {"value": len(calls)}

    def digest_now() -> str:
        results._module_digest.cache_clear()
        return results.code_digest(results.code_modules("pih_digest_probe"))

    first = results.cached("smoke", "probe", {"n": 1}, compute, code="pih_digest_probe")
    before = digest_now()
    assert first["provenance"]["code_sha256"] == before and first["provenance"]["code_modules"] == \
        ["pih_digest_probe"]
    assert results.cached("smoke", "probe", {"n": 1}, compute, code="pih_digest_probe")["result"] == \
        {"value": 1} and len(calls) == 1
    # the whole file counts, as a showyourwork rule's input: a comment too
    module.write_text('"""A module."""\n\nSCALE = 2  # another comment\n')
    assert digest_now() != before
    assert results.load("smoke", "probe", "pih_digest_probe")["provenance"]["stale"]
    assert results.lookup("smoke", "probe", {"n": 1}, "pih_digest_probe") is None
    again = results.cached("smoke", "probe", {"n": 1}, compute, code="pih_digest_probe")
    assert again["result"] == {"value": 2} and not results.load("smoke", "probe", "pih_digest_probe")[
        "provenance"]["stale"]
    box = provenance.markdown({**first, "provenance": {**first["provenance"], "stale": True}})
    assert "computed by older code" in box


def test_the_digest_covers_what_a_module_imports_and_nothing_else(monkeypatch):
    """The compute side of every experiment: every pihlib module it imports, wherever the import
    stands, found from the source, and each one's imports in turn; the bookkeeping left out."""
    modules = set(results.code_modules("pihlib.reproduction.compute.classification"))
    for m in ("pihlib.data", "pihlib.runtime", "pihlib.train", "pihlib.models.adaptation",
              "pihlib.reproduction.compute.runs", "pihlib.reproduction.compute.training_studies",
              "pihlib.reproduction.png", "pihlib", "pihlib.reproduction", "pihlib.reproduction.compute"):
        assert m in modules, m
    assert not modules & set(results.BOOKKEEPING)
    assert not [m for m in modules if m.startswith("pihlib.reproduction.report")]
    scrambling = set(results.code_modules("pihlib.reproduction.compute.scrambling"))
    assert "pihlib.train" not in scrambling and "pihlib.reproduction.compute.runs" not in scrambling


COMPUTE_MODULES = ["scrambling", "metric_study", "key_search", "classification", "hiding", "runs",
                   "training_studies", "table3"]


def test_every_module_an_experiment_loads_is_in_its_digest():
    """Checked against Python itself: every pihlib module that importing a compute module loads, but
    the bookkeeping ones, is in its digest. One interpreter: before each module, every pihlib module
    is dropped from ``sys.modules``, so each import starts afresh (torch, loaded once, stays)."""
    modules = [f"pihlib.reproduction.compute.{name}" for name in COMPUTE_MODULES]
    code = ("import importlib, json, sys, torch\n"
            "out = {}\n"
            f"for module in {modules!r}:\n"
            "    for m in [m for m in sys.modules if m == 'pihlib' or m.startswith('pihlib.')]:\n"
            "        del sys.modules[m]\n"
            "    importlib.import_module(module)\n"
            "    out[module] = [m for m in sys.modules if m == 'pihlib' or m.startswith('pihlib.')]\n"
            "print(json.dumps(out))\n")
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    found = json.loads(probe.stdout)
    for module in modules:
        loaded = set(found[module]) - set(results.BOOKKEEPING)
        assert module in loaded, module
        missing = loaded - set(results.code_modules(module))
        assert not missing, f"{module} loads {missing}, which its digest leaves out"


def test_a_record_from_other_data_is_not_reused(root):
    calls = []

    def compute():
        calls.append(1)
        return {"value": len(calls)}

    one, other = ({"kind": "npz", "sha256": c * 64} for c in "ab")
    results.cached("smoke", "thing", {"n": 1}, compute, data=one)
    assert results.cached("smoke", "thing", {"n": 1}, compute, data=one)["result"] == {"value": 1}
    assert results.lookup("smoke", "thing", {"n": 1}, data=other) is None
    assert results.cached("smoke", "thing", {"n": 1}, compute, data=other)["result"] == {"value": 2}
    assert results.load("smoke", "thing")["provenance"]["data"]["sha256"] == "b" * 64


@pytest.mark.parametrize("edit", [
    lambda r: r["result"].update(value=99),  # a result number
    lambda r: r["params"].update(n=2),  # a stored parameter
    lambda r: r["provenance"]["data"].update(sha256="c" * 64),  # the data's provenance
    lambda r: r["provenance"].pop("content_sha256"),  # the digest itself removed
])
def test_a_record_edited_by_hand_is_refused_or_recomputed(root, edit):
    calls = []

    def compute():
        calls.append(1)
        return {"value": len(calls)}

    data = {"kind": "npz", "sha256": "a" * 64}
    results.cached("smoke", "thing", {"n": 1}, compute, data=data)
    path = root / "smoke" / "thing.json"
    record = json.loads(path.read_text())
    assert record["provenance"]["content_sha256"] == results.content_digest(record)
    edit(record)
    path.write_text(json.dumps(record, indent=1))
    with pytest.raises(pihlib.PihError, match="thing.json was edited or damaged after it was written"):
        results.load("smoke", "thing")
    assert results.lookup("smoke", "thing", {"n": 1}, data=data) is None
    assert results.cached("smoke", "thing", {"n": 1}, compute, data=data)["result"] == {"value": 2}
    assert results.load("smoke", "thing")["result"] == {"value": 2}  # written anew, intact


def test_every_committed_record_is_intact():
    from pathlib import Path

    for path in sorted((provenance.CHECKOUT / "results").rglob("*.json")):
        if "smoke" in path.parts:
            continue
        record = json.loads(Path(path).read_text())
        assert record["provenance"]["content_sha256"] == results.content_digest(record), path


def test_results_never_go_into_site_packages(monkeypatch, tmp_path):
    monkeypatch.delenv("PIH_RESULTS", raising=False)
    assert results.results_root() == provenance.CHECKOUT / "results"  # run from the checkout
    monkeypatch.setattr(provenance, "CHECKOUT", tmp_path / "site-packages")
    with pytest.raises(pihlib.PihError, match="set PIH_RESULTS"):
        results.results_root()
    monkeypatch.setenv("PIH_RESULTS", str(tmp_path / "mine"))
    assert results.results_root() == tmp_path / "mine"


def test_uncommitted_code_is_marked(root, monkeypatch):
    monkeypatch.setenv("PIH_GIT_COMMIT", "0123abcd" + provenance.UNCOMMITTED)
    box = provenance.markdown(results.cached("gpu", "dirty", {}, lambda: {}))
    assert "**uncommitted code**" in box


def test_uncommitted_changes_are_those_of_the_code_a_result_depends_on(tmp_path, monkeypatch):
    monkeypatch.delenv("PIH_GIT_COMMIT", raising=False)
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    for name in ("used.py", "other.py"):
        (repo / "pkg" / name).write_text("X = 1\n")

    def git(*args):
        subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=repo, check=True,
                       capture_output=True)

    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "x")
    monkeypatch.setattr(provenance, "CHECKOUT", repo)
    (repo / "pkg" / "other.py").write_text("X = 2\n")
    assert provenance.git_commit(["pkg/used.py"]).endswith(tuple("0123456789abcdef"))
    assert provenance.git_commit().endswith(provenance.UNCOMMITTED)
    (repo / "pkg" / "used.py").write_text("X = 3\n")
    assert provenance.git_commit(["pkg/used.py"]).endswith(provenance.UNCOMMITTED)
    (repo / "pkg" / "new.py").write_text("X = 4\n")  # not tracked: its code is in no commit
    assert provenance.git_commit(["pkg/new.py"]).endswith(provenance.UNCOMMITTED)


def test_the_code_digest_is_the_same_on_every_python():
    """The digest reads the files' bytes (no syntax tree, whose form changes between Pythons)."""
    import pihlib.errors

    expected = hashlib.sha256(Path(pihlib.errors.__file__).read_bytes()).hexdigest()
    assert results._module_digest("pihlib.errors") == expected
    assert results.code_digest(["pihlib.errors"]) == hashlib.sha256(
        f"pihlib.errors:{expected}\n".encode()).hexdigest()


def test_codegraph_sees_every_form_of_import(tmp_path, monkeypatch):
    from pihlib.reproduction import codegraph

    pkg = tmp_path / "fake"
    (pkg / "sub").mkdir(parents=True)
    files = {"__init__.py": "", "sub/__init__.py": "", "a.py": "", "b.py": "", "c.py": "", "d.py": "",
             "e.py": "", "sub/f.py": "", "unused.py": "",
             "sub/root.py": ("import fake.a\nfrom fake import b\nfrom .. import c\nfrom ..d import NAME\n"
                             "from . import f\nimport numpy\n\n\ndef later():\n    from fake.e import g\n")}
    for name, text in files.items():
        (pkg / name).write_text(text)
    monkeypatch.setattr(codegraph, "PACKAGE", "fake")
    monkeypatch.setattr(codegraph, "PACKAGE_DIR", pkg)
    codegraph.imports.cache_clear()
    try:
        every = ["fake", "fake.a", "fake.b", "fake.c", "fake.d", "fake.e", "fake.sub", "fake.sub.f",
                 "fake.sub.root"]
        assert codegraph.closure(["fake.sub.root"]) == every  # not fake.unused
        stopped = codegraph.closure(["fake.sub.root"], stop=["fake.sub.f"])
        assert stopped == [m for m in every if m != "fake.sub.f"]
        assert codegraph.third_party(["fake.sub.root"]) == ["numpy"]
    finally:
        codegraph.imports.cache_clear()
