from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import pihlib
from pihlib.scramblers import ALIASED_CHANNEL_ORDERS, CHANNEL_ORDERS, index_map
from tests import oracle

ALL = ["PE", "EtC", "LE", "ELE", "PE-IIR"]


def make_key(method, seed=0, shape=(32, 32), block_size=4, **options):
    if method == "PE-IIR":
        options.setdefault("inverted", 3 * shape[0] * shape[1] // 2)
    return pihlib.keygen(method, seed=seed, shape=shape, block_size=block_size, **options)


@st.composite
def cases(draw):
    method = draw(st.sampled_from(ALL))
    block = draw(st.sampled_from([1, 2, 4, 8]))
    h = block * draw(st.integers(1, 5))
    w = block * draw(st.integers(1, 5))
    n = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    options = {}
    if method == "PE-IIR":
        options["inverted"] = draw(st.integers(0, 3 * h * w))
    return method, block, (h, w), n, seed, options


@settings(max_examples=150, deadline=None)
@given(cases())
def test_unscramble_inverts_scramble_exactly(case):
    method, block, shape, n, seed, options = case
    key = pihlib.keygen(method, seed=seed, shape=shape, block_size=block, **options)
    x = torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, 3, *shape), dtype=np.uint8))
    y = pihlib.scramble(x, key)
    assert y.dtype == torch.uint8 and y.shape == x.shape
    assert torch.equal(pihlib.unscramble(y, key), x)
    assert torch.equal(pihlib.scramble(pihlib.unscramble(x, key), key), x)


@settings(max_examples=40, deadline=None)
@given(cases())
def test_engine_matches_the_step_by_step_reference(case):
    method, block, shape, _, seed, options = case
    if method in ("PE", "EtC") and seed % 2:
        options["channel_maps"] = "authors-aliased"
    key = pihlib.keygen(method, seed=seed, shape=shape, block_size=block, **options)
    x = np.random.default_rng(seed).integers(0, 256, (2, *shape, 3), dtype=np.uint8)
    got = pihlib.scramble(torch.from_numpy(x).permute(0, 3, 1, 2), key).permute(0, 2, 3, 1).numpy()
    want = np.stack([oracle.scramble_one(im, key) for im in x])
    np.testing.assert_array_equal(got, want)
    if "channel_maps" not in options:
        back = np.stack([oracle.unscramble_one(im, key) for im in want])
        np.testing.assert_array_equal(back, x)


@pytest.mark.parametrize("method", ALL)
def test_float_images_round_trip_bit_for_bit(method, cifar_images):
    key = make_key(method)
    x = cifar_images.float() / 255  # what ToTensor gives
    y = pihlib.scramble(x, key)
    assert y.dtype == torch.float32
    assert torch.equal(y, pihlib.scramble(cifar_images, key).float() / 255)
    assert torch.equal(pihlib.unscramble(y, key), x)


def test_single_image_and_larger_photo(cifar_images):
    key = make_key("ELE", shape=(96, 128), block_size=8)
    photo = torch.nn.functional.interpolate(cifar_images[:2].float(), size=(96, 128)).to(torch.uint8)
    assert torch.equal(pihlib.unscramble(pihlib.scramble(photo, key), key), photo)
    key32 = make_key("LE")
    one = cifar_images[0]
    assert torch.equal(pihlib.scramble(one, key32), pihlib.scramble(cifar_images[:1], key32)[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("method", ALL)
def test_cuda_tensors_stay_on_their_device(method, cifar_images):
    key = make_key(method)
    x = cifar_images.cuda()
    y = pihlib.scramble(x, key)
    assert y.is_cuda and torch.equal(y.cpu(), pihlib.scramble(cifar_images, key))
    assert torch.equal(pihlib.unscramble(y, key), x)


# Key structure ----------------------------------------------------------------------------------------

def test_le_key_structure():
    key = make_key("LE")
    perm = key.arrays["perm"]
    assert sorted(perm.tolist()) == list(range(96))
    assert int((perm > 48).sum()) == 47  # the inversion mask


def test_ele_key_structure():
    key = make_key("ELE")
    assert key.arrays["block_perms"].shape == (64, 96)
    assert all(sorted(p.tolist()) == list(range(96)) for p in key.arrays["block_perms"])
    assert sorted(key.arrays["block_order"].tolist()) == list(range(64))
    assert len({p.tobytes() for p in key.arrays["block_perms"]}) == 64  # a key for every block


def test_etc_key_structure():
    key = make_key("EtC")
    a = key.arrays
    assert int(a["invert"].sum()) == 32 and a["invert"].shape == (64,)
    assert set(a["rotation"].tolist()) <= {0, 1, 2, 3}
    assert set(a["flip"].tolist()) <= {0, 1, 2}
    assert set(a["channel_order"].tolist()) <= set(range(6))
    assert sorted(a["block_order"].tolist()) == list(range(64))


def test_pe_key_structure():
    key = make_key("PE")
    assert key.arrays["invert"].shape == (3, 32, 32)
    assert key.arrays["channel_order"].shape == (32, 32)
    assert 0.4 < key.arrays["invert"].mean() < 0.6
    assert key.block_size is None


@pytest.mark.parametrize("count", [0, 307, 1536, 3072])
def test_pe_iir_inverts_exactly_count_values(count, cifar_images):
    key = make_key("PE-IIR", inverted=count)
    assert int(key.arrays["invert"].sum()) == count
    changed = (pihlib.scramble(cifar_images, key) != cifar_images).reshape(len(cifar_images), -1)
    # a value v changes unless v == 255 - v, which no byte satisfies
    assert changed.sum(1).tolist() == [count] * len(cifar_images)


def test_keys_are_seeded_and_accept_a_generator():
    assert make_key("ELE", seed=5) == make_key("ELE", seed=5)
    assert make_key("ELE", seed=5) != make_key("ELE", seed=6)
    g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
    assert pihlib.keygen("EtC", seed=g1) == pihlib.keygen("EtC", seed=g2)


# Scrambling hides ------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["PE", "EtC", "LE", "ELE"])
def test_scrambling_changes_real_images_substantially(method, cifar_images):
    y = pihlib.scramble(cifar_images, make_key(method)).float()
    x = cifar_images.float()
    assert (y != x).float().mean() > 0.8
    assert (y - x).abs().mean() > 40  # of 255
    # the scrambled image is much less correlated with the plain one than neighbouring pixels are
    corr = np.corrcoef(x.flatten().numpy(), y.flatten().numpy())[0, 1]
    assert abs(corr) < 0.5


# The authors' defective channel maps ----------------------------------------------------------------

def test_authors_channel_maps_match_the_documented_ones():
    documented = [(0, 1, 2), (1, 1, 2), (2, 1, 2), (0, 2, 2), (2, 2, 2), (1, 2, 1)]
    assert [tuple(m) for m in ALIASED_CHANNEL_ORDERS] == documented
    assert sorted(map(tuple, CHANNEL_ORDERS)) == sorted(
        [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)])


@pytest.mark.parametrize("method", ["PE", "EtC"])
def test_authors_variant_duplicates_channels_and_refuses_to_unscramble(method, cifar_images):
    key = make_key(method, channel_maps="authors-aliased")
    y = pihlib.scramble(cifar_images, key)
    m = index_map(key)
    assert not m.invertible
    assert len(np.unique(m.src)) < m.src.size  # some values are read twice, others never
    with pytest.raises(pihlib.PihError, match="cannot be unscrambled"):
        pihlib.unscramble(y, key)


def test_authors_pe_variant_reproduces_each_channel_map():
    x = torch.tensor([10, 20, 30], dtype=torch.uint8).view(1, 3, 1, 1)
    for code, documented in enumerate(ALIASED_CHANNEL_ORDERS):
        key = pihlib.Key("PE", (1, 1), None, {"invert": np.zeros((3, 1, 1), bool),
                                              "channel_order": np.full((1, 1), code)},
                         {"channel_maps": "authors-aliased"})
        got = pihlib.scramble(x, key).flatten().tolist()
        assert got == [[10, 20, 30][c] for c in documented]


# Bad input -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad, message", [
    (torch.zeros(2, 32, 32, dtype=torch.uint8), "N x 3 x H x W"),
    (torch.zeros(2, 4, 32, 32, dtype=torch.uint8), "N x 3 x H x W"),
    (torch.zeros(2, 3, 32, 16, dtype=torch.uint8), "key was made for 32x32"),
    (torch.zeros(2, 3, 32, 32, dtype=torch.int32), "dtype"),
    (torch.full((1, 3, 32, 32), 2.0), r"\[0, 1\]"),
    (torch.full((1, 3, 32, 32), 0.5), "must be 8-bit levels"),
    (np.zeros((1, 3, 32, 32), np.uint8), "torch.Tensor"),
])
def test_bad_images_are_refused_clearly(bad, message):
    with pytest.raises(pihlib.PihError, match=message):
        pihlib.scramble(bad, make_key("LE"))


@pytest.mark.parametrize("call, message", [
    (lambda: pihlib.keygen("XX"), "unknown scrambling method 'XX'"),
    (lambda: pihlib.keygen("LE", block_size=5), "block size 5 does not divide the image size 32x32"),
    (lambda: pihlib.keygen("EtC", shape=(30, 32)), "does not divide the image size 30x32"),
    (lambda: pihlib.keygen("ELE", block_size=0), "positive integer"),
    (lambda: pihlib.keygen("LE", colour=True), "LE has no option colour"),
    (lambda: pihlib.keygen("PE-IIR"), "inverted"),
    (lambda: pihlib.keygen("PE-IIR", inverted=4000), "0 <= count <= 3072"),
    (lambda: pihlib.keygen("PE", channel_maps="wrong"), "channel_maps must be one of"),
    (lambda: pihlib.keygen("PE", shape=(0, 32)), "positive integers"),
])
def test_bad_key_requests_are_refused_clearly(call, message):
    with pytest.raises(pihlib.PihError, match=message):
        call()


def test_invalid_key_arrays_cannot_make_a_key():
    good = make_key("EtC")
    arrays = {k: v.copy() for k, v in good.arrays.items()}
    arrays["block_order"][:2] = 0
    with pytest.raises(pihlib.PihError, match="not a permutation"):
        pihlib.Key("EtC", (32, 32), 4, arrays)
    arrays = {k: v.copy() for k, v in good.arrays.items()}
    arrays["invert"][:] = True
    with pytest.raises(pihlib.PihError, match="must mark 32"):
        pihlib.Key("EtC", (32, 32), 4, arrays)
    with pytest.raises(pihlib.PihError, match="shape"):
        pihlib.Key("LE", (32, 32), 4, {"perm": np.arange(95)})
