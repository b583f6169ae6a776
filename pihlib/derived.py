"""First layers set from the scrambled training images' statistics: the inverse a server can derive
of a scrambler it knows by method but not by key.

The server that trains a classifier on scrambled images knows the method (Kerckhoffs' principle) but
not the key. Each of the four scramblers is a fixed map, and what the scrambled training images give
away of it (``pihlib.attacks``' ciphertext-only recoveries) sets a fixed first layer that undoes it:

- PE: every pixel's signed channel permutation (``pe_ciphertext_only``): the plain image, exactly,
  once the one global signed permutation is settled by the priors of natural images;
- LE: which 4-bit halves are high halves, their inversions and their places (``le_ciphertext_only``):
  the plain image at 4-bit depth, ``(x // 16) * 16 + 8``;
- EtC: every block's place and transform (``etc_ciphertext_only``, a jigsaw puzzle solved over all the
  images): the plain image, exactly or mirrored left-right as a whole (which a classifier trained
  with flips does not mind);
- ELE: every block's high halves and their inversions (``ele_ciphertext_only``), where in its block
  each goes (their partial correlations), then the blocks' places and turns as EtC's jigsaw
  (``ele_high_halves``): the plain image at 4-bit depth, ``(x // 16) * 16 + 8``, or that mirrored
  left-right as a whole. Measured with 1000 images (real CIFAR-10, keys of seeds 0 to 5): every
  block right with every key, held-out images bit for bit.

The classifier for plain images then trains on what the layer gives, as airbench's whitening layer
is set from the training data before training. The paper's adaptation networks
(``pihlib.models.adaptation``) learn their maps from scratch instead.

Measured at the CPU proxy (``benchmarks/bench_derived_inverse.py``: 4000 JPEG CIFAR-10 training
images, 1000 test images, airbench95's recipe, 8 epochs, key seed 0, one run each;
``benchmarks/measured/bench_derived_inverse-cpu.txt``), test accuracy with the paper's adaptation
network / with the derived first layer, against 59.90 % on the plain images:

- PE 44.50 / 59.90 %; LE 36.80 / 59.00 %;
- EtC 18.60 / 59.90 %; ELE 16.70 / 59.00 % (ELE's layer gives LE's 4-bit images).

References:
    K. Madono et al., "Scrambling Parameter Generation to Improve Perceptual Information Hiding"
    (the scramblers and the paper's adaptation networks); W. Sirichotedumrong, H. Kiya, "Visual
    Security Evaluation of Learnable Image Encryption Methods against Ciphertext-only Attacks",
    APSIPA ASC 2020, arXiv:2010.06198 (the attacks' setting); K. Jordan, "94% on CIFAR-10 in 3.29
    seconds on a single GPU", arXiv:2404.00498, 2024 (airbench: a first layer set from the data).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .attacks import ele_high_halves, etc_ciphertext_only, le_ciphertext_only, pe_ciphertext_only
from .errors import PihError

__all__ = ["DERIVED_METHODS", "FIT_IMAGES", "DerivedFirstLayer", "derive_first_layer"]

# The scrambled training images a layer is set from: PE's, LE's and EtC's recoveries are exact from 100
# CIFAR-10 images, ELE's from 1000 (``pihlib.attacks``' measured numbers)
FIT_IMAGES = 1000
CHUNK = 4096  # images the layer maps at once


def _pe(scrambled: torch.Tensor, block_size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    return pe_ciphertext_only(scrambled).unscramble


def _le(scrambled: torch.Tensor, block_size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    recovered = le_ciphertext_only(scrambled, block_size)
    if recovered.layout is None:
        raise PihError("LE's first layer needs images of two or more rows and columns of blocks")
    return recovered.high_halves


def _etc(scrambled: torch.Tensor, block_size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    return etc_ciphertext_only(scrambled, block_size).unscramble


def _ele(scrambled: torch.Tensor, block_size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    return ele_high_halves(scrambled, block_size).unscramble


DERIVED_METHODS: dict[str, Callable[[torch.Tensor, int], Callable[[torch.Tensor], torch.Tensor]]] = {
    "PE": _pe, "LE": _le, "EtC": _etc, "ELE": _ele}


@dataclass(frozen=True)
class DerivedFirstLayer:
    """A fixed map from scrambled images to plain-like ones, set from scrambled training images.

    Attributes:
        method: the scrambling method it undoes.
        images: how many scrambled images it was set from.
        fit_s: seconds it took to set.
    """

    method: str
    images: int
    fit_s: float
    apply: Callable[[torch.Tensor], torch.Tensor]

    def __call__(self, scrambled: torch.Tensor) -> torch.Tensor:
        """Scrambled images (uint8 N x 3 x H x W, any device) -> plain-like images: uint8 N x 3 x H x W
        on the CPU (``PihError`` for images of another size or type)."""
        _check_uint8(scrambled)
        return torch.cat([self.apply(scrambled[i:i + CHUNK]) for i in range(0, len(scrambled), CHUNK)])


def _check_uint8(scrambled: torch.Tensor) -> None:
    """The layers take and give 8-bit images: refuse floats (which some attacks' maps would pass)."""
    if not isinstance(scrambled, torch.Tensor) or scrambled.dtype != torch.uint8 or scrambled.dim() != 4:
        what = f"{scrambled.dtype} tensor of shape {tuple(scrambled.shape)}" \
            if isinstance(scrambled, torch.Tensor) else type(scrambled).__name__
        raise PihError(f"a derived first layer takes scrambled images as a uint8 torch.Tensor "
                       f"N x 3 x H x W, got a {what}")


def derive_first_layer(method: str, scrambled: torch.Tensor, block_size: int = 4) -> DerivedFirstLayer:
    """Set the first layer that undoes ``method`` from images scrambled with one key of it.

    Args:
        method: one of ``DERIVED_METHODS`` ("PE", "LE", "EtC", "ELE").
        scrambled: uint8 torch.Tensor N x 3 x H x W, the scrambled training images (the first
            ``FIT_IMAGES`` are used; a hundred or more for an exact map, a thousand for ELE), on any
            device.
        block_size: B, the key's block size (LE, EtC, ELE), a positive integer dividing H and W.

    Returns:
        DerivedFirstLayer: call it on scrambled images (training and test alike).

    Raises:
        PihError: ``method`` has no derived layer; ``scrambled`` is not a uint8 torch.Tensor
            N x 3 x H x W with N >= 1; ``block_size`` does not divide the images.
    """
    if method not in DERIVED_METHODS:
        raise PihError(f"a derived first layer exists for {', '.join(DERIVED_METHODS)}, not {method!r}")
    _check_uint8(scrambled)
    seen = scrambled[:FIT_IMAGES]
    start = time.perf_counter()
    apply = DERIVED_METHODS[method](seen, block_size)
    return DerivedFirstLayer(method, len(seen), time.perf_counter() - start, apply)
