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

from ...data import load_cifar10
from ...keys import fingerprint
from ...keysearch import candidate_keys
from ...scorecache import CachedScorer
from ...scramblers import scramble
from ...train import TrainConfig, evaluate, predict, train
from .. import cache
from ..png import png_base64

NOTEBOOK = "04_hiding"


def attacker_view(images: torch.Tensor) -> torch.Tensor:
    """N x H x W: the mean over channels of |x - 127.5|, which needs no key."""
    return (images.float() - 127.5).abs().mean(1)


def view_correlations(plain: torch.Tensor, scrambled: torch.Tensor) -> torch.Tensor:
    """Per image (float32, shape (N,)): the Pearson correlation between the plain and the scrambled
    image's attacker views."""
    a, b = (attacker_view(x).flatten(1) for x in (plain, scrambled))
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)


def correct(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> list[int]:
    """Per image, 1 where ``model`` classifies it as its label, else 0."""
    hits = predict(model, images, None).argmax(1).cpu() == labels.cpu()
    return hits.to(torch.int64).tolist()


def compute(params: dict, train_set, test_set, search_images: torch.Tensor, device=None,
            progress: bool = True) -> dict:
    config = TrainConfig("plain", seed=params["seed"], epochs=params["epochs"],
                         batch_size=params["batch_size"])
    model = train(config, train_set.images, train_set.labels, test_set.images, test_set.labels,
                  device=device, progress=progress).model
    x, y = test_set.images, test_set.labels
    scorer = CachedScorer(search_images)
    out = {"plain_accuracy": evaluate(model, x, y, None), "n_test": len(x), "methods": {},
           "plain_correct": correct(model, x, y)}
    for method in params["methods"]:
        keys = list(candidate_keys(method, params["keys"], seed=params["seed"] + 1))
        rho = [scorer(k) for k in keys]
        entry = out["methods"][method] = {"rho_all": rho}
        for which, i in (("best", int(np.argmax(rho))), ("worst", int(np.argmin(rho)))):
            s = scramble(x, keys[i])
            views = view_correlations(x, s)
            entry[which] = {"fingerprint": fingerprint(keys[i]), "rho": rho[i],
                            "accuracy": evaluate(model, s, y, None), "correct": correct(model, s, y),
                            "view_correlation": float(views.mean()),
                            "view_correlations": [round(float(v), 6) for v in views],
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
                        code=__name__, data=train_set.source.as_dict(), assets=["alexnet"])
