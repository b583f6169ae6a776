"""pihlib.attacks on real CIFAR-10: known plaintext recovers every method's map (and key); scrambled
images alone recover PE's per-pixel maps and LE's block means. The numbers asserted are the ones
measured and quoted in the functions' docstrings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pihlib
from pihlib import attacks
from pihlib.scramblers import index_map

# pairs of the first CIFAR-10 training images that give an exact map (known_plaintext's docstring)
PAIRS = {"PE": 3, "EtC": 1, "LE": 1, "ELE": 15}


# Known plaintext ------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", pihlib.METHODS)
def test_known_plaintext_recovers_the_map_and_decrypts_held_out_images(method, train, held_out):
    key = pihlib.keygen(method, seed=0)
    pairs = PAIRS[method]
    got = attacks.known_plaintext(train[:pairs], pihlib.scramble(train[:pairs], key), method)
    want = index_map(key)
    assert got.exact and got.pairs == pairs
    assert np.array_equal(got.src, want.src) and np.array_equal(got.xor, want.xor)
    assert torch.equal(got.unscramble(pihlib.scramble(held_out, key)), held_out)
    assert torch.equal(pihlib.unscramble(pihlib.scramble(held_out, key), got.key), held_out)
    if method == "EtC":  # flip 2 is rotation + 2 and flip 1: the same scramble, other codes
        assert pihlib.fingerprint(got.key) != pihlib.fingerprint(key)
        assert (got.key.arrays["flip"] < 2).all() and (key.arrays["flip"] == 2).any()
    else:
        assert pihlib.fingerprint(got.key) == pihlib.fingerprint(key)


@pytest.mark.parametrize("method, pairs", [("PE", 1), ("ELE", 10)])
def test_fewer_pairs_leave_units_open(method, pairs, train):
    key = pihlib.keygen(method, seed=0)
    y = pihlib.scramble(train[:pairs], key)
    got = attacks.known_plaintext(train[:pairs], y, method)
    assert not got.exact and got.key is None
    want = index_map(key)
    wrong = (got.src != want.src) | (got.xor != want.xor)
    assert wrong.any() and not (wrong & ~got.ambiguous).any()  # every error is flagged ambiguous
    assert torch.equal(got.unscramble(y), train[:pairs])  # the choice made still fits the pairs


@pytest.mark.parametrize("method, shape, block", [("PE", (16, 24), None), ("EtC", (16, 24), 2),
                                                  ("EtC", (16, 24), 8), ("EtC", (8, 8), 1),
                                                  ("LE", (16, 24), 8), ("ELE", (16, 24), 2),
                                                  ("ELE", (8, 16), 1)])
def test_known_plaintext_on_other_shapes_and_block_sizes(method, shape, block):
    key = pihlib.keygen(method, seed=1, shape=shape, block_size=block)
    x = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (8, 3, *shape), dtype=np.uint8))
    got = attacks.known_plaintext(x, pihlib.scramble(x, key), method, block_size=block or 4)
    assert got.exact
    assert index_map(got.key).src.tolist() == index_map(key).src.tolist()
    assert torch.equal(got.unscramble(pihlib.scramble(x[:2].float() / 255, key)), x[:2].float() / 255)


# Ciphertext only -------------------------------------------------------------------------------------

def test_pe_ciphertext_only_recovers_every_pixel_up_to_one_global_map(train, held_out):
    key = pihlib.keygen("PE", seed=0)
    got = attacks.pe_ciphertext_only(pihlib.scramble(train, key))
    assert got.images == 100
    h, w = key.shape
    # the recovered matrix of each pixel is the true one times a global G
    g = np.einsum("hwji,hwjk->hwik", attacks.pe_matrices(key), got.matrices).reshape(-1, 9)
    maps, counts = np.unique(g, axis=0, return_counts=True)
    assert counts.max() / (h * w) >= 0.99  # measured: every pixel, with 10 images or more
    global_map = torch.from_numpy(maps[counts.argmax()].reshape(3, 3).astype(np.float64))
    plain = held_out.double()
    back = got.unscramble(pihlib.scramble(held_out, key)).double() - 127.5
    undone = torch.einsum("cd,ndhw->nchw", global_map, back) + 127.5
    corr = [np.corrcoef(a.flatten(), b.flatten())[0, 1] for a, b in zip(undone, plain, strict=True)]
    assert np.median(corr) > 0.99 and min(corr) > 0.95
    # on these images the priors also settle G: the key itself comes back (measured: 20 of 20 sets of
    # 100 training images)
    assert got.key == key and torch.equal(back + 127.5, plain)


def test_le_ciphertext_only_recovers_block_means(train):
    key = pihlib.keygen("LE", seed=0)
    y = pihlib.scramble(train, key)
    got = attacks.le_ciphertext_only(y)
    m = index_map(key)
    first = attacks.unitmaps._nibble_blocks(key.shape, 4)[0]  # one block's positions (all alike)
    high = np.flatnonzero(m.src[first] % 2 == 0)  # positions that took a high half
    assert np.array_equal(got.high, high)
    assert np.array_equal(got.signs, np.where(m.xor[first][high] == 15, -1, 1))
    thumbs = got.thumbnails(y)
    assert thumbs.shape == (100, 8, 8) and thumbs.dtype == torch.float32
    means = train.double().reshape(100, 3, 8, 4, 8, 4).mean((1, 3, 5))
    r = [np.corrcoef(a.flatten(), b.flatten())[0, 1] for a, b in zip(thumbs.double(), means, strict=True)]
    assert np.median(r) > 0.99  # measured 0.9998
    assert (thumbs.double() - means).abs().mean() < 2  # grey levels; measured 0.7
    # every high half back in its place, channel names included: the 4-bit images themselves
    byte = first[:48] // 2  # block 0's bytes in LE slot order (row, column, channel)
    slot_of = {int(v): i for i, v in enumerate(byte)}
    assert got.layout.tolist() == [slot_of[int(u) // 2] for u in m.src[first][got.high]]
    assert torch.equal(got.high_halves(y), train // 16 * 16 + 8)


def test_le_layout_needs_blocks_on_both_axes(train):
    key = pihlib.keygen("LE", seed=0, shape=(32, 4), block_size=4)
    y = pihlib.scramble(train[:, :, :, :4].contiguous(), key)
    got = attacks.le_ciphertext_only(y)
    assert got.layout is None and got.thumbnails(y[:2]).shape == (2, 8, 1)
    with pytest.raises(pihlib.PihError, match="no layout"):
        got.high_halves(y[:2])


# Bad input -------------------------------------------------------------------------------------------

U8 = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)


@pytest.mark.parametrize("call, message", [
    (lambda: attacks.known_plaintext(U8, U8[:1], "PE"), "must have the same shape"),
    (lambda: attacks.known_plaintext(U8, torch.zeros(2, 3, 32, 16, dtype=torch.uint8), "PE"), "same shape"),
    (lambda: attacks.known_plaintext(U8.float(), U8.float(), "LE"), "must be uint8"),
    (lambda: attacks.known_plaintext(U8, U8.int(), "LE"), "uint8"),
    (lambda: attacks.known_plaintext(U8.numpy(), U8, "LE"), "torch.Tensor"),
    (lambda: attacks.known_plaintext(U8[:0], U8[:0], "LE"), "empty batch"),
    (lambda: attacks.known_plaintext(U8[:, :2], U8[:, :2], "LE"), "N x 3 x H x W"),
    (lambda: attacks.known_plaintext(U8, U8, "LE", block_size=5), "block size 5 does not divide"),
    (lambda: attacks.known_plaintext(U8, U8, "EtC", block_size=0), "positive integer"),
    (lambda: attacks.known_plaintext(U8, U8, "PE-IIR"), "attacks take the methods PE, EtC, LE, ELE"),
    (lambda: attacks.known_plaintext(U8, U8 + 1, "LE"), "not scrambled from the plain ones by one LE key"),
    (lambda: attacks.pe_ciphertext_only(U8.float()), "must be uint8"),
    (lambda: attacks.pe_ciphertext_only(U8[:0]), "empty batch"),
    (lambda: attacks.le_ciphertext_only(U8, block_size=5), "block size 5 does not divide"),
    (lambda: attacks.pe_matrices(pihlib.keygen("LE", seed=0)), "takes a PE Key"),
])
def test_bad_input_is_refused_in_one_clear_line(call, message):
    with pytest.raises(pihlib.PihError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("method", pihlib.METHODS)
def test_images_of_another_method_fit_no_key(method, train):
    other = {"PE": "LE", "EtC": "PE", "LE": "ELE", "ELE": "EtC"}[method]
    y = pihlib.scramble(train[:PAIRS[method] + 4], pihlib.keygen(other, seed=0))
    with pytest.raises(pihlib.PihError, match=f"not scrambled from the plain ones by one {method} key"):
        attacks.known_plaintext(train[:PAIRS[method] + 4], y, method)


def test_recovered_maps_refuse_images_of_another_size(train):
    key = pihlib.keygen("LE", seed=0)
    got = attacks.le_ciphertext_only(pihlib.scramble(train[:10], key))
    with pytest.raises(pihlib.PihError, match="recovered for 32x32"):
        got.thumbnails(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))
    kpa = attacks.known_plaintext(train[:1], pihlib.scramble(train[:1], key), "LE")
    with pytest.raises(pihlib.PihError, match="recovered for 32x32"):
        kpa.unscramble(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))
