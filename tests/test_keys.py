from __future__ import annotations

import base64
import json
import math
import os
import stat

import numpy as np
import pytest

import pihlib
import pihlib.methods
from pihlib.keys import key_file_bytes, key_to_json
from pihlib.keyspace import key_space_bits

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


# Stability: fingerprints, old key files, key-space sizes -------------------------------------------

# keygen(method, seed=0) at 32 x 32 (block size 4), fingerprinted by the code before the method registry
# moved to pihlib.methods and key files stored narrow dtypes: a key's digest must never change.
OLD_FINGERPRINTS = [
    ("PE", {}, "2e0798197eb7fcdc"), ("EtC", {}, "736c1ec4597ecf77"), ("LE", {}, "167cd7aaa101637b"),
    ("ELE", {}, "2615f7b946445d86"), ("PE-IIR", {"inverted": 1536}, "66f2f30e51ec603f"),
    ("PE", {"channel_maps": "authors-aliased"}, "b45e8de3e70014eb"),
    ("EtC", {"channel_maps": "authors-aliased"}, "406b95d230cb9a3b"),
]


@pytest.mark.parametrize("method, options, expected", OLD_FINGERPRINTS)
def test_fingerprints_of_existing_keys_are_unchanged(tmp_path, method, options, expected):
    key = pihlib.keygen(method, seed=0, shape=(32, 32), **options)
    assert pihlib.fingerprint(key) == expected
    assert pihlib.fingerprint(pihlib.load_key(pihlib.save_key(key, tmp_path / "k.json"))) == expected


# keygen("EtC", seed=0, shape=(4, 4), block_size=2) as the code before wrote it (block_order in int64)
OLD_ETC_FILE = {
    "arrays": {"block_order": {"data": "AAAAAAAAAAACAAAAAAAAAAEAAAAAAAAAAwAAAAAAAAA=", "dtype": "int64",
                               "shape": [4]},
               "channel_order": {"data": "BQMDBQ==", "dtype": "uint8", "shape": [4]},
               "flip": {"data": "AAACAQ==", "dtype": "uint8", "shape": [4]},
               "invert": {"data": "AAABAQ==", "dtype": "bool", "shape": [4]},
               "rotation": {"data": "AQEAAA==", "dtype": "uint8", "shape": [4]}},
    "block_size": 2, "format": "pihlib.key", "method": "EtC", "options": {},
    "sha256": "72cb99568c2ed1dd8ebb5bec0780b3c40d26ef03088253b845a7a71f661b46d0", "shape": [4, 4],
    "version": 1}


def test_a_file_written_by_the_old_code_still_loads(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps(OLD_ETC_FILE, indent=1))
    key = pihlib.load_key(path)
    assert key == pihlib.keygen("EtC", seed=0, shape=(4, 4), block_size=2)
    assert key.arrays["block_order"].dtype == np.int64


@pytest.mark.parametrize("method, options", METHODS)
def test_files_in_the_keys_own_dtypes_still_load(tmp_path, method, options):
    key = pihlib.keygen(method, seed=5, shape=(16, 24), block_size=8, **options)
    doc = json.loads(key_to_json(key))
    for name, a in key.arrays.items():  # as the code before wrote them: the key's dtypes, int64 included
        data = base64.b64encode(a.astype(a.dtype.newbyteorder("<")).tobytes()).decode()
        doc["arrays"][name] = {"dtype": a.dtype.name, "shape": list(a.shape), "data": data}
    path = tmp_path / "k.json"
    path.write_text(json.dumps(doc))
    assert pihlib.load_key(path) == key


@pytest.mark.parametrize("method, shape, block_size, stored", [
    ("LE", (32, 32), 4, {"perm": "uint8"}),  # 96 values
    ("ELE", (32, 32), 8, {"block_perms": "uint16", "block_order": "uint8"}),  # 384 values, 16 blocks
    ("LE", (112, 112), 112, {"perm": "uint32"}),  # 75,264 values
    ("ELE", (512, 512), 1, {"block_perms": "uint8", "block_order": "uint32"}),  # 262,144 blocks
    ("EtC", (8, 8), 1, {"block_order": "uint8", "invert": "bool", "rotation": "uint8", "flip": "uint8",
                        "channel_order": "uint8"}),
])
def test_arrays_are_stored_in_the_smallest_dtype_and_read_back(tmp_path, method, shape, block_size, stored):
    key = pihlib.keygen(method, seed=1, shape=shape, block_size=block_size)
    path = pihlib.save_key(key, tmp_path / "k.json")
    doc = json.loads(path.read_text())
    assert {name: spec["dtype"] for name, spec in doc["arrays"].items()} == stored
    assert path.stat().st_size == key_file_bytes(method, shape, block_size)
    back = pihlib.load_key(path)
    assert back == key
    for name, a in key.arrays.items():
        assert back.arrays[name].dtype == a.dtype  # the key's own dtypes, not the file's
        np.testing.assert_array_equal(back.arrays[name], a)


@pytest.mark.parametrize("method, options", METHODS)
@pytest.mark.parametrize("shape, block_size", [((16, 24), 4), ((48, 48), 16), ((28, 14), 7)])
def test_key_file_bytes_is_the_size_save_key_writes(tmp_path, method, options, shape, block_size):
    key = pihlib.keygen(method, seed=2, shape=shape, block_size=block_size, **options)
    path = pihlib.save_key(key, tmp_path / "k.json")
    assert path.stat().st_size == key_file_bytes(method, shape, block_size, **options)


def _geometries_of_the_largest_images():
    """Every shape of MAX_PIXELS pixels with power-of-two sides and every block size that divides it,
    and 4095 x 4095 (just under) with each of its divisors (105 is the first block of LE/ELE values
    that need uint32)."""
    for k in range(25):
        for j in range(min(k, 24 - k) + 1):
            yield (2**k, 2 ** (24 - k)), 2**j
    yield from (((4095, 4095), b) for b in range(1, 4096) if 4095 % b == 0)


def test_every_key_keygen_makes_can_be_saved_and_read_back():
    """A real round trip of the largest keys takes minutes and gigabytes; their file sizes are exact
    (``key_file_bytes`` is checked against real files above), so check those against the limit."""
    assert pihlib.keys.MAX_KEY_BYTES == pihlib.scramblers.MAX_PIXELS * 64  # 1 GiB
    iir = {"inverted": 0}
    sizes = {(method, shape, b): key_file_bytes(method, shape, b, **(iir if method == "PE-IIR" else {}))
             for shape, b in _geometries_of_the_largest_images() for method in pihlib.methods.ALL_METHODS}
    assert max(sizes.values()) == 536_874_057 < pihlib.keys.MAX_KEY_BYTES  # as the keys module says
    worst = max(sizes, key=sizes.get)
    assert worst[0] == "ELE" and worst[2] == 128
    assert sizes["ELE", (4096, 4096), 1] == 223_696_629
    # in the key's own dtypes, as files were written before, that key's file was over the limit
    specs = pihlib.methods.REGISTRY["ELE"].arrays((4096, 4096), 1)
    old_data = sum(4 * -(-math.prod(dims) * np.dtype(dtype).itemsize // 3)  # base64 of each array
                   for dims, _, dtype in specs.values())
    assert old_data > pihlib.keys.MAX_KEY_BYTES


# The key-space sizes (pihlib.keyspace), as the code before computed them, before they moved into each
# method's registry entry: (method, shape, block size, options, nominal bits, effective bits).
OLD_KEY_SPACES = [
    ("PE", (32, 32), 4, {}, 5719.001600738464, 5719.001600738464),
    ("EtC", (32, 32), 4, {}, 751.5389606710356, 714.1013606248816),
    ("LE", (32, 32), 4, {}, 498.27715779390303, 498.27715779390303),
    ("ELE", (32, 32), 4, {}, 32185.733242751518, 32185.733242751518),
    ("PE-IIR", (32, 32), 4, {}, 3065.881653278082, 3065.881653278082),
    ("PE-IIR", (32, 32), 4, {"inverted": 100}, 631.3810891690046, 631.3810891690046),
    ("PE", (64, 48), 8, {}, 17157.004802215393, 17157.004802215393),
    ("EtC", (64, 48), 8, {}, 543.9802292904305, 515.9020292558151),
    ("LE", (64, 48), 8, {}, 2748.2492469754493, 2748.2492469754493),
    ("ELE", (64, 48), 8, {}, 132118.91342685127, 132118.91342685127),
    ("PE-IIR", (64, 48), 8, {}, 9209.089250298915, 9209.089250298915),
    ("PE-IIR", (64, 48), 8, {"inverted": 100}, 791.4498180039373, 791.4498180039373),
    ("EtC", (32, 32), 1, {}, 16105.68324479304, 15506.681644054575),
    ("LE", (32, 32), 1, {}, 9.491853096329677, 9.491853096329677),
    ("ELE", (32, 32), 1, {}, 18488.663714242848, 18488.663714242848),
    ("PE", (4096, 4096), 1, {}, 93700122.22649899, 93700122.22649899),
    ("EtC", (4096, 4096), 1, {}, 498740159.129875, 488926116.903376),
    ("ELE", (4096, 4096), 1, {}, 537695660.6400169, 537695660.6400169),
    ("PE-IIR", (4096, 4096), 1, {}, 50331634.88177061, 50331634.88177061),
    ("PE-IIR", (4096, 4096), 1, {"inverted": 100}, 2033.731115102768, 2033.731115102768),
]


@pytest.mark.parametrize("method, shape, block_size, options, nominal, effective", OLD_KEY_SPACES)
def test_key_space_sizes_are_unchanged(method, shape, block_size, options, nominal, effective):
    got = key_space_bits(method, shape, block_size, **options)
    assert got == {"nominal": pytest.approx(nominal, rel=1e-14),
                   "effective": pytest.approx(effective, rel=1e-14)}


def test_key_space_of_an_unknown_method_is_refused():
    with pytest.raises(pihlib.PihError, match="unknown scrambling method 'XX'"):
        key_space_bits("XX")


# PE-IIR's count: one check, for keygen and for a key made by hand or read from a file -------------

def test_the_inverted_count_is_checked_the_same_way_everywhere():
    invert = np.zeros((3, 2, 2), bool)
    invert.flat[:3] = True
    for make in (lambda o: pihlib.keygen("PE-IIR", shape=(2, 2), **o),
                 lambda o: pihlib.Key("PE-IIR", (2, 2), None, {"invert": invert}, o)):
        for options in ({}, {"inverted": 13}, {"inverted": -1}, {"inverted": True}, {"inverted": 2.0}):
            with pytest.raises(pihlib.PihError, match=r"PE-IIR needs the option inverted=<count> with "
                                                      r"0 <= count <= 12, got "):
                make(options)
    key = pihlib.Key("PE-IIR", (2, 2), None, {"invert": invert}, {"inverted": np.int64(3)})
    assert type(key.options["inverted"]) is int and key == pihlib.Key("PE-IIR", (2, 2), None,
                                                                       {"invert": invert}, {"inverted": 3})
    with pytest.raises(pihlib.PihError, match="marks 3 values; it must mark 4"):
        pihlib.Key("PE-IIR", (2, 2), None, {"invert": invert}, {"inverted": 4})
