"""The PIH score rho (paper Eq. 1) on real CIFAR-10 images."""

from __future__ import annotations

import pytest
import torch

import pihlib
from pihlib.rho import PIHScorer


def test_rho_is_the_mean_lpips_in_either_convention(cifar_images):
    keys = [pihlib.keygen(m, seed=3) for m in ("PE", "EtC", "LE", "ELE")]
    for convention in ("authors", "lpips"):
        scores = pihlib.rho(cifar_images, keys, convention=convention, batch_size=24)
        assert scores.shape == (4,) and scores.dtype == torch.float64
        lp = pihlib.metric("lpips", convention=convention)
        for key, s in zip(keys, scores, strict=True):
            want = lp(cifar_images, pihlib.scramble(cifar_images, key)).double().mean()
            assert abs(s.item() - want.item()) < 1e-6
    authors = pihlib.rho(cifar_images, keys, convention="authors")
    documented = pihlib.rho(cifar_images, keys, convention="lpips")
    assert (authors - documented).abs().min() > 1e-3  # the two conventions are different numbers


def test_rho_in_the_paper_range_and_one_key(cifar_images):
    s = pihlib.rho(cifar_images, pihlib.keygen("PE", seed=0))
    assert s.shape == (1,)
    assert 0.1 < s.item() < 0.5  # the paper's PIH values are 0.15-0.34 (authors' convention)
    identity = pihlib.keygen("PE-IIR", seed=0, inverted=0)
    assert pihlib.rho(cifar_images, identity).item() == pytest.approx(0, abs=1e-6)


def test_plain_features_are_computed_once(cifar_images, monkeypatch):
    scorer = PIHScorer(cifar_images, batch_size=20, progress=False)
    calls = []
    original = scorer.lpips.reference
    monkeypatch.setattr(scorer.lpips, "reference", lambda x: calls.append(len(x)) or original(x))
    first = scorer.score([pihlib.keygen("LE", seed=s) for s in range(3)])
    again = scorer.score(pihlib.keygen("LE", seed=0))
    assert calls == [20, 20, 20, 4]  # one pass over the 64 plain images, whatever the number of keys
    assert again.item() == first[0].item()


def test_shared_model_and_bad_input(cifar_images):
    model = pihlib.metric("lpips", convention="authors")
    PIHScorer(cifar_images, model=model)
    with pytest.raises(pihlib.PihError, match="alex/authors, not alex/lpips"):
        PIHScorer(cifar_images, convention="lpips", model=model)
    with pytest.raises(pihlib.PihError, match="convention must be one of"):
        pihlib.rho(cifar_images, pihlib.keygen("LE"), convention="0-1")
    with pytest.raises(pihlib.PihError, match="uint8 images"):
        pihlib.rho(cifar_images.float() / 255, pihlib.keygen("LE"))
    with pytest.raises(pihlib.PihError, match="images are 32x32 but the key was made for 64x64"):
        pihlib.rho(cifar_images, pihlib.keygen("LE", shape=(64, 64)))


@pytest.mark.parametrize("batch_size", [0, -3, True, 2.5, "8"])
def test_a_batch_size_is_a_positive_integer(cifar_images, batch_size):
    with pytest.raises(pihlib.PihError, match="batch_size must be a positive integer"):
        PIHScorer(cifar_images, batch_size=batch_size)
