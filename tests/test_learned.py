"""pihlib.attacks.learned on real CIFAR-10: the FR-Attack's features are key-free and follow the plain
images where the method keeps pixels in place; a briefly trained ITN beats the scrambled images
themselves on held-out images and an unseen key. Thresholds sit below the values measured on these
images (quoted beside them); ``benchmarks/bench_learned.py`` measures the full-size numbers."""

from __future__ import annotations

import pytest
import torch

import pihlib
from pihlib import attacks
from pihlib.attacks.learned import ITN

STEPS = 30  # training steps of the ITN tests (32 images each)
# SSIM (median over 64 test images) the ITN must add to the scrambled images' own; measured, ITN vs identity:
# PE 0.099 vs 0.070, EtC 0.095 vs 0.028, LE 0.097 vs 0.070, ELE 0.098 vs 0.015. LPIPS is not asked: after
# 30 steps the ITN's blurred images are further than the scrambled ones (0.55 against 0.20 to 0.41).
# This is a weak bar: a constant mid-grey image scores 0.104 (benchmarks/bench_learned.py), above these
# briefly trained ITNs; only the fully trained PE ITN (0.216) clears both.
MARGIN = {"PE": 0.015, "EtC": 0.04, "LE": 0.015, "ELE": 0.04}


def luminance(x: torch.Tensor) -> torch.Tensor:
    """uint8 N x 3 x H x W -> float64 N x H x W, ITU-R BT.601 weights."""
    x = x.double()
    return 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]


def corr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each image of ``a`` with the same image of ``b`` (N,)."""
    a, b = a.reshape(len(a), -1).double(), b.reshape(len(b), -1).double()
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + 1e-12)


def gradient(y: torch.Tensor) -> torch.Tensor:
    """N x H x W -> N x (H-1) x (W-1): |horizontal| + |vertical| differences."""
    return (y[:, :-1, 1:] - y[:, :-1, :-1]).abs() + (y[:, 1:, :-1] - y[:, :-1, :-1]).abs()


def thumbnails(y: torch.Tensor, b: int = 4) -> torch.Tensor:
    n, h, w = y.shape
    return y.reshape(n, h // b, b, w // b, b).mean((2, 4))


def blocks(grey: torch.Tensor, b: int = 4) -> list[tuple[int, ...]]:
    """The sorted list of every block's sorted values: what moving, rotating and flipping keep."""
    n, h, w = grey.shape
    v = grey.reshape(n, h // b, b, w // b, b).permute(0, 1, 3, 2, 4).reshape(n, -1, b * b)
    return sorted(map(tuple, torch.sort(v, -1).values.reshape(-1, b * b).tolist()))


# FR-Attack -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", pihlib.METHODS)
def test_fr_attack_needs_no_key(method, cifar_images):
    x = cifar_images
    plain_features = attacks.fr_attack(x, method)
    for seed in (0, 1):
        got = attacks.fr_attack(pihlib.scramble(x, pihlib.keygen(method, seed=seed)), method)
        assert got.shape == x.shape and got.dtype == torch.uint8
        assert torch.equal(got[:, 0], got[:, 1]) and torch.equal(got[:, 0], got[:, 2])
        if method in ("PE", "LE"):  # pixels (PE) or blocks (LE) stay in place: the same image
            assert torch.equal(got, plain_features)
        else:  # the same blocks, moved, rotated or flipped
            assert blocks(got[:, 0]) == blocks(plain_features[:, 0])


def test_fr_attack_on_pe_gives_back_the_folded_luminance_and_the_edges(cifar_images):
    x = cifar_images
    y = pihlib.scramble(x, pihlib.keygen("PE", seed=0))
    grey = attacks.fr_attack(y, "PE")[:, 0].double()
    lum = luminance(x)
    folded = 127.5 - (lum - 127.5).abs()
    assert corr(grey, folded).median() > 0.95  # measured 0.985
    edges, scrambled_edges = corr(gradient(grey), gradient(lum)), corr(gradient(luminance(y)), gradient(lum))
    assert edges.median() > 0.75 and edges.min() > 0.5  # measured 0.84 and 0.69
    assert scrambled_edges.abs().median() < 0.15  # measured -0.07
    # the luminance itself, up to the fold's sign: far above the scrambled image's
    assert corr(grey, lum).abs().median() > 0.35 > 0.1 > corr(luminance(y), lum).abs().median()  # 0.44, 0.04


def test_fr_attack_on_le_gives_back_block_thumbnails(cifar_images):
    x = cifar_images
    y = pihlib.scramble(x, pihlib.keygen("LE", seed=0))
    grey = attacks.fr_attack(y, "LE")[:, 0].double()
    folded = 127.5 - (thumbnails(luminance(x)) - 127.5).abs()
    assert corr(thumbnails(grey), folded).median() > 0.8  # measured 0.87
    assert corr(thumbnails(luminance(y)), folded).abs().median() < 0.2  # measured 0.10


@pytest.mark.parametrize("method", ["EtC", "ELE"])
def test_fr_attack_leaves_moved_blocks_where_they_are(method, cifar_images):
    """Key-free features cannot say where a block came from: pixel by pixel, nothing correlates."""
    x = cifar_images
    grey = attacks.fr_attack(pihlib.scramble(x, pihlib.keygen(method, seed=0)), method)[:, 0]
    assert corr(grey, 127.5 - (luminance(x) - 127.5).abs()).median().abs() < 0.1  # measured 0.01, 0.03


def test_fr_attack_takes_float_images_and_one_image(cifar_images):
    y = pihlib.scramble(cifar_images[:4], pihlib.keygen("EtC", seed=0))
    want = attacks.fr_attack(y, "EtC")
    assert torch.equal(attacks.fr_attack(y.float() / 255, "EtC"), want)
    assert torch.equal(attacks.fr_attack(y[0], "EtC"), want[:1])


# ITN-Attack ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def own_images(cifar_npz) -> torch.Tensor:
    """The adversary's plain images: CIFAR-10 training images (the targets are test images)."""
    return pihlib.load_cifar10("train", cifar_npz, count=256).images


@pytest.mark.parametrize("method", pihlib.METHODS)
def test_a_briefly_trained_itn_beats_the_scrambled_images_on_an_unseen_key(method, own_images, cifar_images):
    torch.set_num_threads(1)
    model = attacks.train_itn(own_images, method, keys=16, steps=STEPS, batch_size=32, seed=0)
    assert isinstance(model, ITN) and not model.training
    target = pihlib.keygen(method, seed=12345)  # none of the adversary's keys
    y = pihlib.scramble(cifar_images, target)
    got = attacks.itn_attack(model, y)
    assert got.shape == y.shape and got.dtype == torch.uint8
    ssim = pihlib.metric("ssim")
    itn, identity = ssim(cifar_images, got).median().item(), ssim(cifar_images, y).median().item()
    assert itn > identity + MARGIN[method], (itn, identity)


def test_train_itn_is_reproducible_and_itn_attack_takes_floats_and_one_image(own_images, cifar_images):
    a = attacks.train_itn(own_images[:16], "LE", keys=2, steps=2, batch_size=8, seed=3)
    b = attacks.train_itn(own_images[:16], "LE", keys=2, steps=2, batch_size=8, seed=3)
    y = pihlib.scramble(cifar_images[:4], pihlib.keygen("LE", seed=0))
    out = attacks.itn_attack(a, y)
    assert torch.equal(out, attacks.itn_attack(b, y))
    assert torch.equal(attacks.itn_attack(a, y.float() / 255), out)
    assert torch.equal(attacks.itn_attack(a, y[0]), out[:1])
    keys = [pihlib.keygen("PE", seed=s) for s in range(2)]
    assert attacks.itn_attack(attacks.train_itn(own_images[:8], "PE", keys=keys, steps=1), y).shape == y.shape


# Bad input -------------------------------------------------------------------------------------------

U8 = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)


@pytest.mark.parametrize("call, message", [
    (lambda: attacks.fr_attack(U8, "PE-IIR"), "take the methods PE, EtC, LE, ELE"),
    (lambda: attacks.fr_attack(U8, "LE", block_size=5), "block size 5 does not divide"),
    (lambda: attacks.fr_attack(U8[:0], "PE"), "empty batch"),
    (lambda: attacks.fr_attack(U8.numpy(), "PE"), "torch.Tensor"),
    (lambda: attacks.fr_attack(U8[:, :2], "PE"), "N x 3 x H x W"),
    (lambda: attacks.fr_attack(U8.float() + 0.5 / 255, "PE"), "8-bit levels"),
    (lambda: attacks.train_itn(U8, "PE", keys=0), "keys must be at least 1"),
    (lambda: attacks.train_itn(U8, "PE", keys=[pihlib.keygen("LE", seed=0)]), "must be a PE key"),
    (lambda: attacks.train_itn(U8, "PE", keys="many"), "positive count or a non-empty sequence"),
    (lambda: attacks.train_itn(U8, "EtC", epochs=0), "epochs must be a positive integer"),
    (lambda: attacks.train_itn(U8, "EtC", steps=1, lr=0), "lr must be positive"),
    (lambda: attacks.itn_attack(torch.nn.Conv2d(3, 3, 1), U8), "takes an ITN"),
    (lambda: attacks.itn_attack(ITN("PE"), U8[:, :, :16]), "trained on 32x32"),
    (lambda: ITN("ELE", width=0), "width must be a positive integer"),
])
def test_bad_input_is_refused_in_one_clear_line(call, message):
    with pytest.raises(pihlib.PihError, match=message) as info:
        call()
    assert "\n" not in str(info.value)
