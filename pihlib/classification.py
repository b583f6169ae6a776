"""The paper's classification experiments: Table 2 (original vs. proposed keys) and Table 3.

"Original" is one random key per run; "proposed" the best of N keys by rho (Algorithm 1) over the
key-search images. Each run trains an adaptation network and a classifier on the scrambled
training images and reports its test accuracy and its key's rho (authors' convention).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .data import CIFAR10_CLASSES, cache_root
from .keys import Key, fingerprint
from .keysearch import CachedScorer, search
from .metrics import metric
from .scramblers import keygen, scramble
from .train import TrainConfig, TrainResult, model_inputs, train

TABLE3_CLASSES = ("frog", "automobile", "horse")


def _key(method: str, kind: str, seed: int, trials: int, scorer: CachedScorer, images: torch.Tensor) -> Key:
    if kind == "original":
        return keygen(method, seed=seed)
    return search(images, method, trials, seed=seed, scorer=scorer, progress=False).key


def table2(train_set, test_set, search_images: torch.Tensor, methods: list[str], seeds: list[int],
           trials: int, config: dict, preset: str, device: str | None = None, progress: bool = True) -> dict:
    """Every (method, key kind, seed) run; the trained models of seed ``seeds[0]`` are kept for
    Table 3 under ``models``."""
    scorer = CachedScorer(search_images)
    runs, models = [], {}
    jobs = [(m, k, s) for m in methods for k in ("original", "proposed") for s in seeds]
    for method, kind, seed in tqdm(jobs, desc="table 2", disable=not progress):
        key = _key(method, kind, seed, trials, scorer, search_images)
        cfg = TrainConfig(method, seed=seed, **config)
        ckpt = checkpoint_dir(preset) / f"{method}-{kind}-{seed}-{cfg.digest()}.pt"
        r: TrainResult = train(cfg, train_set.images, train_set.labels, test_set.images, test_set.labels,
                               key=key, device=device, checkpoint=ckpt, progress=progress)
        runs.append({"method": method, "kind": kind, "seed": seed, "fingerprint": fingerprint(key),
                     "rho": scorer(key), "accuracy": r.test_accuracy, "history": r.history,
                     "wall_time_s": r.wall_time_s, "images_per_s": r.images_per_s, "device": r.device,
                     "config": asdict(cfg)})
        if seed == seeds[0]:
            models[(method, kind)] = (r.model, key)
    return {"runs": runs, "models": models}


def table3_images(test_set) -> dict[str, int]:
    """The first test image of each of Table 3's classes (a frog, an automobile, a horse)."""
    labels = test_set.labels.tolist()
    return {c: labels.index(CIFAR10_CLASSES.index(c)) for c in TABLE3_CLASSES}


@torch.no_grad()
def table3(test_set, models: dict[str, tuple[torch.nn.Module, Key | None]]) -> dict:
    """Predicted class, its probability and LPIPS (authors' convention) for each image and model."""
    lpips = metric("lpips", convention="authors")
    out = {}
    for name, index in table3_images(test_set).items():
        x = test_set.images[index:index + 1]
        row = {}
        for column, (model, key) in models.items():
            device = next(model.parameters()).device
            logits, _ = model(model_inputs(x.to(device), key))
            p = logits.float().softmax(1)[0]
            y = scramble(x, key) if key is not None else x
            row[column] = {"class": CIFAR10_CLASSES[int(p.argmax())], "probability": float(p.max()),
                           "lpips": float(lpips(x, y)), "image": y[0].permute(1, 2, 0).tolist()}
        out[name] = {"test_index": index, **row}
    return out


def summary(runs: list[dict]) -> dict:
    """Mean and SD over seeds of accuracy (%) and rho, per method and key kind."""
    out: dict = {}
    for r in runs:
        out.setdefault(r["method"], {}).setdefault(r["kind"], {"acc": [], "rho": []})
        out[r["method"]][r["kind"]]["acc"].append(100 * r["accuracy"])
        out[r["method"]][r["kind"]]["rho"].append(r["rho"])
    for kinds in out.values():
        for v in kinds.values():
            for k in ("acc", "rho"):
                t = torch.tensor(v[k], dtype=torch.float64)
                v[f"{k}_mean"] = float(t.mean())
                v[f"{k}_sd"] = float(t.std()) if len(t) > 1 else float("nan")
    return out


def checkpoint_dir(preset: str) -> Path:
    """Where training checkpoints live (large files: a cache, never committed)."""
    path = cache_root() / "checkpoints" / preset
    path.mkdir(parents=True, exist_ok=True)
    return path
