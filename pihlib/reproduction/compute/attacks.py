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
  block levels and, from ``ELE_IMAGE_FROM`` images on, its high 4-bit halves laid out and placed,
  ``ele_high_halves``), as MSE (0-255 scale), SSIM and LPIPS (standard inputs) against the plain
  image where there is an image, beside the scrambled image's own (the attack's starting point);
  and what of the key comes back (PE: the exact key; EtC: the blocks placed right, up to a mirror of
  the whole image; LE: the 4-bit image; ELE: the blocks whose high halves and signs are right, the
  blocks the statistics alone place right and, from ``ELE_IMAGE_FROM`` on, the blocks laid out right
  and the test images given back at 4-bit depth);
- the key-free attacks (``pihlib.attacks.learned``) on each key's scrambled test images: the feature
  reconstruction attack (``fr_attack``, one image at a time) and the inverse transformation network
  (``train_itn``, ``itn_attack``), one per method, trained on ``itn_images`` plain training images
  (the attacker's own, never the test images) scrambled with ``itn_keys`` keys of its own, for
  ``itn_steps`` steps;
- a classifier trained on ``n_classifier`` plain training images (``pihlib.train``, ``classifier_epochs``
  epochs): its accuracy on the first ``n_classify`` plain test images, and on the ``group`` highest- and
  the ``group`` lowest-rho keys' scrambled images of them and every attack's reconstruction of them
  (a classifier's forward pass is the experiment's costliest step on a CPU, hence fewer images).

Every reconstruction (``RECONSTRUCTIONS``: the scrambled images themselves as the starting point, the
known-plaintext map from all ``max_pairs`` pairs, the ciphertext-only attack from the most images
where it gives an image, FR and ITN) gets the mean MSE, PSNR, SSIM and LPIPS against the plain test
images for every key, and for the ``group`` highest- and lowest-rho keys each test image's LPIPS, SSIM,
PSNR and whether the classifier got it right (the first ``n_classify``) (``encode``: compact base64
text), from which the report draws intervals over keys and images.

The paper's scheme reuses one key for a whole data set, which is what both attacks exploit.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import numpy as np
import torch

from ...attacks import (
    ele_ciphertext_only,
    ele_high_halves,
    etc_ciphertext_only,
    fr_attack,
    itn_attack,
    known_plaintext,
    le_ciphertext_only,
    pe_ciphertext_only,
    train_itn,
)
from ...data import load_cifar10
from ...errors import PihError
from ...keys import fingerprint
from ...keysearch import candidate_keys
from ...metrics import metric
from ...runtime import default_device
from ...scorecache import CachedScorer
from ...scramblers import scramble
from ...train import TrainConfig, predict, train
from .. import cache
from ..png import png_base64

NOTEBOOK = "05_attacks"
CIPHERTEXT_ONLY = ("PE", "EtC", "LE", "ELE")  # the methods a ciphertext-only attack is built for
# reconstruction against the plain image (MSE on the 0-255 scale; PSNR in dB, at most PSNR_CAP)
MEASURES = ("mse", "psnr", "ssim", "lpips")
PSNR_CAP = 100.0  # dB given to an image identical to the plain one (one level off in one value: 83 dB)
# what each key's test images are judged as (the scrambled images: the attacks' starting point)
RECONSTRUCTIONS = ("scrambled", "known plaintext", "ciphertext only", "FR", "ITN")
# per-image values kept for the group's keys: (offset, scale) of their uint16 code, 4 decimals
# (PSNR: 2), and the classifier's outcome, one bit an image
PER_IMAGE = {"lpips": (0.0, 1e4), "ssim": (-1.0, 1e4), "psnr": (0.0, 1e2)}
# ELE's ciphertext-only attack places each block's high halves and the blocks themselves
# (``ele_high_halves``: the 4-bit image) from this many scrambled images on; below, its statistics only
ELE_IMAGE_FROM = 1000
N_SHOWN = 6  # test images whose ITN reconstruction (highest-rho key) the record keeps, for the figure


def encode(values, name: str) -> str:
    """Per-image values of measure ``name`` (``PER_IMAGE``) or 0/1 outcomes (``"correct"``) as base64
    text: uint16 little-endian codes, or packed bits."""
    v = np.asarray(values, dtype=float)
    if name == "correct":
        return base64.b64encode(np.packbits(v.astype(np.uint8)).tobytes()).decode()
    offset, scale = PER_IMAGE[name]
    codes = np.clip(np.round((v - offset) * scale), 0, 65535).astype("<u2")
    return base64.b64encode(codes.tobytes()).decode()


def decode(text: str, name: str, n: int) -> np.ndarray:
    """``encode``'s text back to ``n`` float values (``"correct"``: 0.0 or 1.0)."""
    raw = base64.b64decode(text)
    if name == "correct":
        return np.unpackbits(np.frombuffer(raw, np.uint8))[:n].astype(float)
    offset, scale = PER_IMAGE[name]
    return np.frombuffer(raw, "<u2")[:n] / scale + offset


def measures_of(names=MEASURES) -> dict:
    """The measures by name; PSNR capped at ``PSNR_CAP`` (an identical image's is infinite)."""
    out = {name: metric(name) for name in names}
    if "psnr" in out:
        psnr = out["psnr"]
        out["psnr"] = lambda x, y: psnr(x, y).clamp_max(PSNR_CAP)
    return out


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


def correct(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """Per image, 1 where ``model`` classifies it as its label, else 0."""
    return (predict(model, images, None).argmax(1).cpu() == labels.cpu()).numpy().astype(np.uint8)


def reconstructions(method: str, key, train: torch.Tensor, test: torch.Tensor, max_pairs: int, itn,
                    coa: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """Each attack's reconstruction (``RECONSTRUCTIONS``) of ``test`` scrambled with ``key``: the
    scrambled images, the known-plaintext map from ``max_pairs`` pairs, ``coa`` (the ciphertext-only
    attack's, where it gives an image), FR and ITN."""
    y = scramble(test, key)
    pairs = train[:max_pairs]
    kpa = known_plaintext(pairs, scramble(pairs, key), method)
    out = {"scrambled": y, "known plaintext": kpa.unscramble(y)}
    if coa is not None:
        out["ciphertext only"] = coa
    out["FR"] = fr_attack(y, method, key.block_size or 4)
    out["ITN"] = itn_attack(itn, y)
    return out


def outcomes(model: torch.nn.Module, test: torch.Tensor, labels: torch.Tensor,
             n: int) -> Callable[[torch.Tensor], np.ndarray]:
    """A function of images (N x 3 x H x W, in the test images' order) giving the classifier's outcome
    (``correct``) on the first ``n``: the plain images' own where they are the plain images, and once
    for images it has seen (FR-Attack's are the same for every key of PE and LE)."""
    plain = correct(model, test[:n], labels[:n])
    seen: dict[str, np.ndarray] = {}

    def of(images: torch.Tensor) -> np.ndarray:
        x = images[:n]
        if torch.equal(x, test[:n]):
            return plain
        digest = hashlib.sha256(x.contiguous().cpu().numpy().tobytes()).hexdigest()
        if digest not in seen:
            seen[digest] = correct(model, x, labels[:n])
        return seen[digest]
    return of


def judged(measures: dict, test: torch.Tensor, images: torch.Tensor,
           classify: Callable[[torch.Tensor], np.ndarray] | None) -> dict:
    """One reconstruction's means over the images; with ``classify`` (``outcomes``; for a key of the
    groups) also each image's LPIPS, SSIM, PSNR (``encode``) and the classifier's outcome."""
    values = {name: m(test, images).float().cpu().numpy() for name, m in measures.items()}
    out = {name: float(v.mean()) for name, v in values.items()}
    if classify is not None:
        hits = classify(images)
        out["accuracy"] = float(hits.mean())
        out["per_image"] = {**{name: encode(values[name], name) for name in PER_IMAGE},
                            "correct": encode(hits, "correct")}
    return out


def groups(rho: list[float], k: int) -> tuple[list[int], list[int]]:
    """The indices of the ``k`` highest- and the ``k`` lowest-rho keys (highest first; lowest first)."""
    order = np.argsort(-np.asarray(rho), kind="stable")
    return [int(i) for i in order[:k]], [int(i) for i in order[::-1][:k]]


def ciphertext_only(method: str, key, train: torch.Tensor, test: torch.Tensor, n: int,
                    measures: dict, kept: dict | None = None) -> dict:
    """The ciphertext-only attack on ``method`` from ``n`` scrambled training images, judged on the
    scrambled test images; ``kept`` (if given) gets the reconstruction under ``"images"`` where it is
    an image (PE, EtC; LE: the high halves, or the scrambled images where it finds no layout)."""
    y = scramble(test, key)
    kept = {} if kept is None else kept
    if method == "EtC":
        recovered = etc_ciphertext_only(scramble(train[:n], key), key.block_size)
        images = kept["images"] = recovered.unscramble(y)
        return {**quality(measures, test, images), "blocks_right": recovered.blocks_right(key, "mirror"),
                "exact_images": bool(torch.equal(images, test))}
    if method == "ELE":
        seen = scramble(train[:n], key)
        recovered = ele_ciphertext_only(seen, key.block_size)
        out = {"thumbnail_r_median": _median_r(recovered.thumbnails(y), block_means(test, key.block_size)),
               "blocks_right": recovered.blocks_right(key, "mirror"),
               "halves_right": recovered.halves_right(key)}
        if n >= ELE_IMAGE_FROM:  # each block's layout and place too: the 4-bit image (10-15 s a call)
            full = ele_high_halves(seen, key.block_size)
            kept["images"] = full.unscramble(y)
            out.update({**quality(measures, test, kept["images"]), "layouts_right": full.layouts_right(key),
                        "at_four_bits": _share_equal(kept["images"], (test // 16) * 16 + 8)})
        return out
    if method == "PE":
        recovered = pe_ciphertext_only(scramble(train[:n], key))
        kept["images"] = recovered.unscramble(y)
        return {**quality(measures, test, kept["images"]), "exact_key": fingerprint(recovered.key)
                == fingerprint(key)}
    recovered = le_ciphertext_only(scramble(train[:n], key), key.block_size)
    out = {"thumbnail_r_median": _median_r(recovered.thumbnails(y), block_means(test, key.block_size))}
    kept["images"] = y
    if recovered.layout is not None:
        kept["images"] = recovered.high_halves(y)
        out.update(quality(measures, test, kept["images"]))
    return out


def _share_equal(images: torch.Tensor, target: torch.Tensor) -> float:
    """The share of ``images`` equal to ``target``, or to it mirrored left-right as a whole."""
    same = (images == target).flatten(1).all(1) | (images == target.flip(-1)).flatten(1).all(1)
    return float(same.float().mean())


def block_means(images: torch.Tensor, b: int) -> torch.Tensor:
    """N x H/b x W/b: each b x b block's mean level over its pixels and channels."""
    h, w = images.shape[2:]
    return images.float().reshape(len(images), 3, h // b, b, w // b, b).mean((1, 3, 5))


def _median_r(a: torch.Tensor, b: torch.Tensor) -> float:
    """The median over images of the correlation between ``a`` and ``b``'s values."""
    return float(np.median([np.corrcoef(x.flatten(), y.flatten())[0, 1] for x, y in zip(a, b, strict=True)]))


def classifier(params: dict, train_set, test_set, device=None) -> torch.nn.Module:
    """The classifier trained on ``n_classifier`` plain training images (evaluated after each epoch on
    the first ``n_classify`` test images)."""
    config = TrainConfig("plain", seed=params["seed"], epochs=params["classifier_epochs"],
                         batch_size=params["classifier_batch_size"])
    n, m = params["n_classifier"], params["n_classify"]
    return train(config, train_set.images[:n], train_set.labels[:n], test_set.images[:m],
                 test_set.labels[:m], device=device, progress=False).model


def compute(params: dict, train_set, test_set, score_images: torch.Tensor, device=None) -> dict:
    train, test, labels = train_set.images, test_set.images, test_set.labels
    measures = measures_of()
    scorer = CachedScorer(score_images)
    pairs_plain = train[:params["max_pairs"]]
    model = classifier(params, train_set, test_set, device)
    n_classify = min(params["n_classify"], len(test))
    classify = outcomes(model, test, labels, n_classify)
    plain_correct = classify(test)
    out = {"n_test": len(test), "n_classify": n_classify, "methods": {},
           "plain_accuracy": float(plain_correct.mean()),
           "plain_correct": encode(plain_correct, "correct"),
           "four_bit_ceiling": quality(measures, test, (test // 16) * 16 + 8)}
    for method in params["methods"]:
        keys = list(candidate_keys(method, params["keys"], seed=params["seed"] + 1))
        rho = [scorer(k) for k in keys]
        best_k, worst_k = groups(rho, params["group"])
        itn = train_itn(train[:params["itn_images"]], method, keys=params["itn_keys"],
                        steps=params["itn_steps"], seed=params["seed"] + 2, device=default_device(device),
                        block_size=keys[0].block_size or 4)
        per_key = []
        for i, key in enumerate(keys):
            fp = fingerprint(key)
            entry = {"fingerprint": fp, "kpa": pairs_needed(pairs_plain, scramble(pairs_plain, key), method,
                                                             (test, scramble(test, key), fp)),
                     "scrambled": quality(measures, test, scramble(test, key))}
            kept: dict = {}  # the reconstruction from the most images
            if method in CIPHERTEXT_ONLY:
                entry["coa"] = {str(n): ciphertext_only(method, key, train, test, n, measures, kept)
                                for n in sorted(params["coa_images"])}
                entry["coa"] = {str(n): entry["coa"][str(n)] for n in params["coa_images"]}
            images = reconstructions(method, key, train, test, params["max_pairs"], itn, kept.get("images"))
            grouped = classify if i in best_k or i in worst_k else None
            entry["reconstructions"] = {a: judged(measures, test, x, grouped) for a, x in images.items()}
            per_key.append(entry)
        shown = itn_attack(itn, scramble(test[:N_SHOWN], keys[best_k[0]]))
        out["methods"][method] = {"rho": rho, "keys": per_key, "best": int(np.argmax(rho)),
                                  "worst": int(np.argmin(rho)), "best_k": best_k, "worst_k": worst_k,
                                  "itn_png": [png_base64(x) for x in shown]}
    return out


def run(preset: str, params: dict, data: str | None = None, device=None) -> dict:
    """The ``attacks`` record (cached)."""
    if 2 * params["group"] > params["keys"]:
        raise PihError(f"05_attacks: group ({params['group']}) must be at most half the keys "
                       f"({params['keys']}), so that the highest- and lowest-rho keys do not overlap")
    train_set = load_cifar10("train", data, count=max(max(params["coa_images"]), params["max_pairs"],
                                                          params["n_score"], params["n_classifier"],
                                                          params["itn_images"]))
    test_set = load_cifar10("test", data, count=params["n_test"])
    return cache.cached(preset, "attacks", params,
                        lambda: compute(params, train_set, test_set, train_set.images[:params["n_score"]],
                                        device),
                        code=__name__, data=train_set.source.as_dict(), assets=["alexnet"])
