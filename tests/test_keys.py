from __future__ import annotations

import base64
import json
import os
import stat

import numpy as np
import pytest

import pihlib

METHODS = [("PE", {}), ("EtC", {}), ("LE", {}), ("ELE", {}), ("PE-IIR", {"inverted": 921}),
           ("PE", {"channel_maps": "authors-aliased"})]


@pytest.mark.parametrize("method, options", METHODS)
def test_save_and_load_round_trip(tmp_path, method, options):
    key = pihlib.keygen(method, seed=3, shape=(16, 24), block_size=4, **options)
    path = pihlib.save_key(key, tmp_path / "k.json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    back = pihlib.load_key(path)
    assert back == key and back.options == key.options and back.shape == (16, 24)
    for name, a in key.arrays.items():
        assert back.arrays[name].dtype == a.dtype
        np.testing.assert_array_equal(back.arrays[name], a)
    assert [p.name for p in tmp_path.iterdir()] == ["k.json"]  # no temporary file left behind


def test_overwriting_a_key_file_keeps_mode_0600(tmp_path):
    path = tmp_path / "k.json"
    path.write_text("old")
    os.chmod(path, 0o644)
    pihlib.save_key(pihlib.keygen("LE", seed=1), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_fingerprint_is_short_stable_and_the_only_display(tmp_path):
    key = pihlib.keygen("LE", seed=0)
    fp = pihlib.fingerprint(key)
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert fp == pihlib.fingerprint(pihlib.keygen("LE", seed=0))
    assert fp != pihlib.fingerprint(pihlib.keygen("LE", seed=1))
    assert fp == pihlib.fingerprint(pihlib.load_key(pihlib.save_key(key, tmp_path / "k")))
    shown = repr(key) + str(key)
    assert fp in shown and "perm" not in shown and "array" not in shown
    assert str(int(key.arrays["perm"][0])) + "," not in shown


def test_key_arrays_are_read_only():
    key = pihlib.keygen("ELE", seed=0)
    with pytest.raises(ValueError):
        key.arrays["block_order"][0] = 1


def _edit(path, change):
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


@pytest.fixture
def key_file(tmp_path):
    return pihlib.save_key(pihlib.keygen("EtC", seed=2), tmp_path / "k.json")


def test_tampered_content_is_refused(key_file):
    def flip_rotation(doc):
        data = bytearray(base64.b64decode(doc["arrays"]["rotation"]["data"]))
        data[0] = (data[0] + 1) % 4
        doc["arrays"]["rotation"]["data"] = base64.b64encode(bytes(data)).decode()
    _edit(key_file, flip_rotation)
    with pytest.raises(pihlib.PihError, match="checksum does not match"):
        pihlib.load_key(key_file)


def test_key_relabelled_as_another_method_is_refused(key_file):
    _edit(key_file, lambda d: d.update(method="PE"))
    with pytest.raises(pihlib.PihError, match="damaged or tampered"):
        pihlib.load_key(key_file)


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(p.read_bytes()[:200]), "not valid JSON"),
    (lambda p: p.write_bytes(b"\xff\xfe\x00garbage"), "not UTF-8"),
    (lambda p: p.write_text('{"format": "something else"}'), "not a pihlib key file"),
    (lambda p: _edit(p, lambda d: d.update(version=99)), "version 99"),
    (lambda p: _edit(p, lambda d: d.pop("sha256")), "damaged"),
    (lambda p: _edit(p, lambda d: d["arrays"]["flip"].update(data="!!!")), "damaged"),
    (lambda p: _edit(p, lambda d: d["arrays"]["flip"].update(shape=[7])), "damaged"),
])
def test_damaged_key_files_are_refused(key_file, damage, message):
    damage(key_file)
    with pytest.raises(pihlib.PihError, match=message):
        pihlib.load_key(key_file)


def test_missing_key_file(tmp_path):
    with pytest.raises(pihlib.PihError, match="does not exist"):
        pihlib.load_key(tmp_path / "nope.json")
