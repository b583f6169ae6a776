"""Beyond the paper (notebook 04): does the key with the highest rho hide more from someone who
tries to see?

For each method, N random keys are scored with rho (authors' convention, the key-search images) and
the best and the worst are kept. Against each, on real test images: (1) a classifier trained on
plain images, never shown the key, classifies the scrambled images (above chance, 10 %, information
leaks); (2) an attacker's key-independent view: the per-pixel mean over channels of the distance from
mid-grey, |x - 127.5|, which PE's negative-positive flip (x -> 255 - x) and channel shuffle leave
unchanged, compared with the same view of the plain image (Pearson correlation, mean over images);
(3) the images, best and worst key side by side.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data import load_cifar10
from ..images import png_base64
from ..keys import fingerprint
from ..keysearch import candidate_keys
from ..scorecache import CachedScorer
from ..scramblers import scramble
from ..train import TrainConfig, evaluate, train
from . import cache

NOTEBOOK = "04_hiding"
CODE = ("pihlib.train", "pihlib.models.classifiers", "pihlib.models.adaptation", "pihlib.scramblers",
        "pihlib.keys", "pihlib.images", "pihlib.metrics", "pihlib.assets", "pihlib.rho",
        "pihlib.scorecache", "pihlib.keysearch", __name__)
READERS = ("claims", "accuracy_rows", "view_rows", "book_values", "z_of")
CHANCE = 0.10


def attacker_view(images: torch.Tensor) -> torch.Tensor:
    """N x H x W: the mean over channels of |x - 127.5|, which needs no key."""
    return (images.float() - 127.5).abs().mean(1)


def view_correlation(plain: torch.Tensor, scrambled: torch.Tensor) -> float:
    """Mean over images of the Pearson correlation between the two images' attacker views."""
    a, b = (attacker_view(x).flatten(1) for x in (plain, scrambled))
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return float(((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)).mean())


def compute(params: dict, train_set, test_set, search_images: torch.Tensor, device=None,
            progress: bool = True) -> dict:
    config = TrainConfig("plain", seed=params["seed"], epochs=params["epochs"],
                         batch_size=params["batch_size"])
    model = train(config, train_set.images, train_set.labels, test_set.images, test_set.labels,
                  device=device, progress=progress).model
    x, y = test_set.images, test_set.labels
    scorer = CachedScorer(search_images)
    out = {"plain_accuracy": evaluate(model, x, y, None), "n_test": len(x), "methods": {}}
    for method in params["methods"]:
        keys = list(candidate_keys(method, params["keys"], seed=params["seed"] + 1))
        rho = [scorer(k) for k in keys]
        entry = out["methods"][method] = {"rho_all": rho}
        for which, i in (("best", int(np.argmax(rho))), ("worst", int(np.argmin(rho)))):
            s = scramble(x, keys[i])
            entry[which] = {"fingerprint": fingerprint(keys[i]), "rho": rho[i],
                            "accuracy": evaluate(model, s, y, None),
                            "view_correlation": view_correlation(x, s),
                            "images_png": [png_base64(im) for im in s[:params["n_show"]]],
                            "view_png": [png_base64(attacker_view(s[j:j + 1]).round().clamp(0, 255)
                                                    .to(torch.uint8).expand(3, -1, -1))
                                         for j in range(params["n_show"])]}
    out["plain_png"] = [png_base64(im) for im in x[:params["n_show"]]]
    return out


def run(preset: str, params: dict, data: str | None = None, device=None, progress: bool = True) -> dict:
    train_set = load_cifar10("train", data, count=params["n_train"])
    test_set = load_cifar10("test", data, count=params["n_test"])
    search = train_set.images[:params["n_search"]]
    return cache.cached(preset, "hiding", params,
                        lambda: compute(params, train_set, test_set, search, device, progress),
                        code=CODE, data=train_set.source.as_dict(), assets=["alexnet"])


def z_of(p1: float, p2: float, n: int) -> float:
    """How many standard errors apart two accuracies on the same ``n`` images are (unpaired)."""
    se = np.sqrt(p1 * (1 - p1) / n + p2 * (1 - p2) / n)
    return float((p1 - p2) / se) if se > 0 else 0.0


def accuracy_rows(record: dict) -> dict[str, dict]:
    r = record["result"]
    rows = {}
    for m, e in r["methods"].items():
        best, worst = e["best"]["accuracy"], e["worst"]["accuracy"]
        rows[m] = {"rho, best / worst key": f"{e['best']['rho']:.4f} / {e['worst']['rho']:.4f}",
                   "plain classifier's accuracy %, best key": f"{100 * best:.1f}",
                   "worst key": f"{100 * worst:.1f}",
                   "best - worst (standard errors)": f"{z_of(best, worst, r['n_test']):+.1f}"}
    return rows


def view_rows(record: dict) -> dict[str, dict]:
    return {m: {"view correlation, best key": f"{e['best']['view_correlation']:.3f}",
                "worst key": f"{e['worst']['view_correlation']:.3f}"}
            for m, e in record["result"]["methods"].items()}


def claims(record: dict) -> list[dict]:
    """Does selection by rho buy hiding? Against the plain classifier: the best key's images must be
    classified less accurately than the worst key's by more than 2 standard errors; against the
    key-independent view: the best key's view must correlate less with the plain image's."""
    r = record["result"]
    leak = {m: (e["best"]["accuracy"], e["worst"]["accuracy"]) for m, e in r["methods"].items()}
    helped = [m for m, (b, w) in leak.items() if z_of(b, w, r["n_test"]) < -2]
    hurt = [m for m, (b, w) in leak.items() if z_of(b, w, r["n_test"]) > 2]
    if len(helped) == len(leak):
        classifier = "yes"
    elif helped:
        classifier = "partly: for " + ", ".join(helped)
    else:
        classifier = "no" + (": the best key leaks more for " + ", ".join(hurt) if hurt else
                             ": within 2 SE for every method")
    views = {m: e["best"]["view_correlation"] - e["worst"]["view_correlation"]
             for m, e in r["methods"].items()}
    lower = [m for m, d in views.items() if d < -0.01]
    if len(lower) == len(views):
        view = "yes"
    else:
        view = "partly: for " + ", ".join(lower) if lower else \
            "no: the view is as clear for the best key as for the worst"
    chance_line = CHANCE + 2 * np.sqrt(CHANCE * (1 - CHANCE) / r["n_test"])
    above = [m for m, (b, _) in leak.items() if b > chance_line]
    return [
        {"claim": "(this project) the highest-rho key hides more from a classifier trained on plain images",
         "ours": "; ".join(f"{m} {100 * b:.1f} % (best) vs {100 * w:.1f} % (worst)"
                           for m, (b, w) in leak.items())
                 + f"; above chance with the best key: {', '.join(above) or 'none'}",
         "verdict": classifier},
        {"claim": "(this project) the highest-rho key hides more from a key-independent view (|x - 127.5|)",
         "ours": "; ".join(f"{m} {e['best']['view_correlation']:.3f} (best) vs "
                           f"{e['worst']['view_correlation']:.3f}" for m, e in r["methods"].items()),
         "verdict": view},
    ]


def book_values(record: dict) -> dict[str, str]:
    from .verdicts import entry

    a, v = claims(record)
    if a["verdict"] == v["verdict"] == "yes":
        both = "yes"
    elif a["verdict"].startswith("no") and v["verdict"].startswith("no"):
        both = "no"
    else:
        both = "partly"
    return {**entry("hiding", both, f"against the plain classifier: {a['verdict']}; against the "
                                    f"key-independent view: {v['verdict']}")}
