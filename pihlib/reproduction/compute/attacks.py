"""Beyond the paper (notebook 05): does the key with the highest rho resist the attacks the field uses
against these scramblers?

For each method, ``keys`` random keys are scored with rho (authors' convention) and, against every
one of them, on real CIFAR-10:

- the known-plaintext attack (``pihlib.attacks.known_plaintext``): the fewest plain/scrambled
  training pairs that determine the key's whole map (up to ``max_pairs``; None if more are needed),
  and whether that map decrypts the held-out test images bit-exactly;
- the ciphertext-only attacks (``pe_ciphertext_only``, ``etc_ciphertext_only``, ``le_ciphertext_only``,
  ``ele_ciphertext_only``) from each of ``coa_images`` scrambled training images: what they
  reconstruct of the held-out test images (PE, EtC: the image; LE: its high 4-bit halves; ELE: its
  block levels, placed), as MSE (0-255 scale), SSIM and LPIPS (standard inputs) against the plain
  image where there is an image, beside the scrambled image's own (the attack's starting point);
  and what of the key comes back (PE: the exact key; EtC: the blocks placed right, up to a mirror of
  the whole image; LE: the 4-bit image; ELE: the blocks whose high halves and signs are right, and
  the blocks placed right).

The paper's scheme reuses one key for a whole data set, which is what both attacks exploit.
"""

from __future__ import annotations

import numpy as np
import torch

from ...attacks import (
    ele_ciphertext_only,
    etc_ciphertext_only,
    known_plaintext,
    le_ciphertext_only,
    pe_ciphertext_only,
)
from ...data import load_cifar10
from ...keys import fingerprint
from ...keysearch import candidate_keys
from ...metrics import metric
from ...scorecache import CachedScorer
from ...scramblers import scramble
from .. import cache

NOTEBOOK = "05_attacks"
CIPHERTEXT_ONLY = ("PE", "EtC", "LE", "ELE")  # the methods a ciphertext-only attack is built for
MEASURES = ("mse", "ssim", "lpips")  # reconstruction against the plain image (MSE on the 0-255 scale)


def pairs_needed(plain: torch.Tensor, scrambled: torch.Tensor, method: str, test: tuple) -> dict:
    """The fewest known pairs (of ``plain`` and ``scrambled``, in order) whose map is exact, and whether
    it decrypts the held-out ``test`` (plain, scrambled) images bit-exactly."""
    for p in range(1, len(plain) + 1):
        recovered = known_plaintext(plain[:p], scrambled[:p], method)
        if recovered.exact:
            return {"pairs": p, "decrypts_test": bool(torch.equal(recovered.unscramble(test[1]), test[0])),
                    "same_key": recovered.key is not None and fingerprint(recovered.key) == test[2]}
    return {"pairs": None, "decrypts_test": False, "same_key": False}


def quality(measures: dict, plain: torch.Tensor, images: torch.Tensor) -> dict[str, float]:
    """Mean of each measure of ``images`` against ``plain`` over the images."""
    return {name: float(m(plain, images).mean()) for name, m in measures.items()}


def ciphertext_only(method: str, key, train: torch.Tensor, test: torch.Tensor, n: int,
                    measures: dict) -> dict:
    """The ciphertext-only attack on ``method`` from ``n`` scrambled training images, judged on the
    scrambled test images."""
    y = scramble(test, key)
    if method == "EtC":
        recovered = etc_ciphertext_only(scramble(train[:n], key), key.block_size)
        images = recovered.unscramble(y)
        return {**quality(measures, test, images), "blocks_right": recovered.blocks_right(key, "mirror"),
                "exact_images": bool(torch.equal(images, test))}
    if method == "ELE":
        recovered = ele_ciphertext_only(scramble(train[:n], key), key.block_size)
        return {"thumbnail_r_median": _median_r(recovered.thumbnails(y), block_means(test, key.block_size)),
                "blocks_right": recovered.blocks_right(key, "mirror"),
                "halves_right": recovered.halves_right(key)}
    if method == "PE":
        recovered = pe_ciphertext_only(scramble(train[:n], key))
        return {**quality(measures, test, recovered.unscramble(y)), "exact_key": fingerprint(recovered.key)
                == fingerprint(key)}
    recovered = le_ciphertext_only(scramble(train[:n], key), key.block_size)
    out = {"thumbnail_r_median": _median_r(recovered.thumbnails(y), block_means(test, key.block_size))}
    if recovered.layout is not None:
        out.update(quality(measures, test, recovered.high_halves(y)))
    return out


def block_means(images: torch.Tensor, b: int) -> torch.Tensor:
    """N x H/b x W/b: each b x b block's mean level over its pixels and channels."""
    h, w = images.shape[2:]
    return images.float().reshape(len(images), 3, h // b, b, w // b, b).mean((1, 3, 5))


def _median_r(a: torch.Tensor, b: torch.Tensor) -> float:
    """The median over images of the correlation between ``a`` and ``b``'s values."""
    return float(np.median([np.corrcoef(x.flatten(), y.flatten())[0, 1] for x, y in zip(a, b, strict=True)]))


def compute(params: dict, train: torch.Tensor, test: torch.Tensor, score_images: torch.Tensor) -> dict:
    measures = {name: metric(name) for name in MEASURES}
    scorer = CachedScorer(score_images)
    pairs_plain = train[:params["max_pairs"]]
    out = {"n_test": len(test), "methods": {},
           "four_bit_ceiling": quality(measures, test, (test // 16) * 16 + 8)}
    for method in params["methods"]:
        keys = list(candidate_keys(method, params["keys"], seed=params["seed"] + 1))
        rho = [scorer(k) for k in keys]
        per_key = []
        for key in keys:
            fp = fingerprint(key)
            entry = {"fingerprint": fp, "kpa": pairs_needed(pairs_plain, scramble(pairs_plain, key), method,
                                                             (test, scramble(test, key), fp)),
                     "scrambled": quality(measures, test, scramble(test, key))}
            if method in CIPHERTEXT_ONLY:
                entry["coa"] = {str(n): ciphertext_only(method, key, train, test, n, measures)
                                for n in params["coa_images"]}
            per_key.append(entry)
        out["methods"][method] = {"rho": rho, "keys": per_key, "best": int(np.argmax(rho)),
                                  "worst": int(np.argmin(rho))}
    return out


def run(preset: str, params: dict, data: str | None = None) -> dict:
    """The ``attacks`` record (cached)."""
    train_set = load_cifar10("train", data, count=max(max(params["coa_images"]), params["max_pairs"],
                                                          params["n_score"]))
    test_set = load_cifar10("test", data, count=params["n_test"])
    train = train_set.images
    return cache.cached(preset, "attacks", params,
                        lambda: compute(params, train, test_set.images, train[:params["n_score"]]),
                        code=__name__, data=train_set.source.as_dict(), assets=["alexnet"])
