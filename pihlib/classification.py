"""The paper's classification experiments: Table 2 (original vs. proposed keys) and Table 3.

"Original" is one random key per run; "proposed" the best of N keys by rho (Algorithm 1) over the
key-search images. Each run trains an adaptation network and a classifier on the scrambled training
images, and records its test accuracy, its key's rho (authors' convention) and, for Table 3, its
prediction on three test images. Every run is cached on its own with its provenance
(``results/<preset>/classification-runs/``), so an interrupted experiment, or one cut into pieces by a
time budget, goes on where it stopped. From the command line (a GPU machine, say):

    python -m pihlib.classification --preset gpu [--data PATH] [--budget-s SECONDS] [-p NAME VALUE ...]
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
import time
from dataclasses import asdict
from functools import cache, partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from . import presets, results
from .data import CIFAR10_CLASSES, ImageSet, cache_root, load_cifar10
from .errors import PihError
from .keys import Key, fingerprint
from .keysearch import CachedScorer, search
from .metrics import metric
from .scramblers import keygen, scramble
from .train import CODE_VERSION, TrainConfig, model_inputs, time_to_accuracy, train

KINDS = ("original", "proposed")
TRAIN_PARAMS = ("classifier", "epochs", "batch_size", "lr", "schedule")
TABLE3_CLASSES = ("frog", "automobile", "horse")
TABLE3_COLUMNS = ("PE", "LE")  # the proposed keys' columns beside the plain one, as in the paper
RUNS = "classification-runs"  # the runs' folder under results/<preset>/
TARGET_ACCURACY = 0.93  # the gpu preset's target for PE and LE


class BudgetExhausted(PihError):
    """The time budget ran out before every run was done; the finished runs are cached."""

    def __init__(self, done: int, total: int, budget_s: float):
        super().__init__(f"time budget of {budget_s:.0f} s reached with {done} of {total} runs done "
                         "(each finished run is cached): run again to go on")
        self.done, self.total = done, total


def load_inputs(params: dict, data: str | None = None) -> tuple[ImageSet, ImageSet, torch.Tensor]:
    """The training set, the test set and the key-search images that ``params`` asks for."""
    train_set = load_cifar10("train", data, count=params["n_train"])
    test_set = load_cifar10("test", data, count=params["n_test"])
    if params["n_search"] <= params["n_train"]:  # the first images of the training set, as loading gives
        search_images = train_set.images[:params["n_search"]]
    else:
        search_images = load_cifar10("train", data, count=params["n_search"]).images
    return train_set, test_set, search_images


def jobs(methods: list[str], seeds: list[int]) -> list[tuple[str, str, int]]:
    """(method, kind, seed) of every run, in the order they are run: the classifier on plain images
    first, then seed by seed, so a budget that cuts the list short leaves every method a run."""
    if not isinstance(seeds, list | tuple) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise PihError(f"seeds must be a non-empty list of integers, got {seeds!r}")
    if not isinstance(methods, list | tuple) or not all(m in presets.METHODS for m in methods):
        raise PihError(f"methods must be a list drawn from {presets.METHODS}, got {methods!r}")
    return [("plain", "plain", seeds[0])] + [(m, k, s) for s in seeds for m in methods for k in KINDS]


def _key(method: str, kind: str, seed: int, trials: int, scorer: CachedScorer, images: torch.Tensor) -> Key:
    if kind == "original":
        return keygen(method, seed=seed)
    return search(images, method, trials, seed=seed, scorer=scorer, progress=False).key


def table3_images(test_set: ImageSet) -> dict[str, int]:
    """The first test image of each of Table 3's classes (a frog, an automobile, a horse)."""
    labels = test_set.labels.tolist()
    missing = [c for c in TABLE3_CLASSES if CIFAR10_CLASSES.index(c) not in labels]
    if missing:
        raise PihError(f"Table 3 needs a {', '.join(missing)} among the {len(labels)} test images: use more")
    return {c: labels.index(CIFAR10_CLASSES.index(c)) for c in TABLE3_CLASSES}


def png_base64(image: torch.Tensor) -> str:
    """A uint8 3 x H x W image as base64 PNG text (lossless, small enough for a JSON record)."""
    buf = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).cpu().numpy()).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def decode_png(text: str) -> np.ndarray:
    """The H x W x 3 uint8 array of ``png_base64``'s text."""
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(text))).convert("RGB"))


@cache
def _lpips():
    return metric("lpips", convention="authors")


@torch.no_grad()
def table3_column(test_set: ImageSet, model: torch.nn.Module, key: Key | None) -> dict:
    """For each of Table 3's images: the model's predicted class and its probability, the (scrambled)
    image, and its LPIPS against the plain image (authors' convention, as the paper's)."""
    device = next(model.parameters()).device
    out = {}
    for name, index in table3_images(test_set).items():
        x = test_set.images[index:index + 1]
        logits, _ = model.eval()(model_inputs(x.to(device), key))
        p = logits.float().softmax(1)[0]
        y = scramble(x, key) if key is not None else x
        out[name] = {"test_index": index, "class": CIFAR10_CLASSES[int(p.argmax())],
                     "probability": float(p.max()), "lpips": float(_lpips()(x, y)),
                     "image_png": png_base64(y[0])}
    return out


def _run_name(method: str, kind: str, seed: int) -> str:
    return f"{RUNS}/plain-seed{seed}" if kind == "plain" else f"{RUNS}/{method}-{kind}-seed{seed}"


def _run_params(method: str, kind: str, seed: int, params: dict, data_sha256: str) -> dict:
    cfg = TrainConfig(method, seed=seed, **{k: params[k] for k in TRAIN_PARAMS})
    return {"method": method, "kind": kind, "seed": seed, "config": asdict(cfg), "code_version": CODE_VERSION,
            "n_train": params["n_train"], "n_test": params["n_test"], "data_sha256": data_sha256,
            **({} if kind == "plain" else {"n_search": params["n_search"]}),
            **({"trials": params["trials"]} if kind == "proposed" else {})}


def _train_run(run_params: dict, trials: int, train_set: ImageSet, test_set: ImageSet,
               search_images: torch.Tensor, scorer: CachedScorer | None, preset: str, device: torch.device,
               progress: bool) -> dict:
    method, kind, seed = run_params["method"], run_params["kind"], run_params["seed"]
    key = None if kind == "plain" else _key(method, kind, seed, trials, scorer, search_images)
    cfg = TrainConfig(**run_params["config"])
    ckpt = checkpoint_dir(preset) / f"{method}-{kind}-{seed}-{cfg.digest()}.pt"
    r = train(cfg, train_set.images, train_set.labels, test_set.images, test_set.labels, key=key,
              device=device, checkpoint=ckpt, progress=progress)
    return {"method": method, "kind": kind, "seed": seed,
            "fingerprint": None if key is None else fingerprint(key),
            "rho": None if key is None else scorer(key), "accuracy": r.test_accuracy, "history": r.history,
            "wall_time_s": r.wall_time_s, "images_per_s": r.images_per_s, "device": r.device,
            "config": run_params["config"], "table3": table3_column(test_set, r.model, key)}


def experiment(params: dict, train_set: ImageSet, test_set: ImageSet, search_images: torch.Tensor,
               preset: str, device: str | torch.device | None = None, budget_s: float | None = None,
               progress: bool = True) -> dict:
    """Every run of ``params`` (notebook 03's parameters), each computed only if not cached, and
    Table 3 assembled from them. Returns ``{"runs", "plain", "table3"}``; each run carries its record's
    provenance. ``budget_s``: start no run that the longest run so far says would end past it (raises
    ``BudgetExhausted``)."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    todo = jobs(params["methods"], params["seeds"])
    table3_images(test_set)  # fail before any training if Table 3 cannot be made
    data = train_set.source.as_dict()
    search_images = search_images.to(device)
    scorer = None
    start, longest, out = time.perf_counter(), 0.0, []
    bar = tqdm(todo, desc="classification runs", unit="run", disable=not progress)
    for done, (method, kind, seed) in enumerate(bar):
        name = _run_name(method, kind, seed)
        run_params = _run_params(method, kind, seed, params, train_set.source.sha256)
        record = results.lookup(preset, name, run_params)
        if record is None:
            if budget_s is not None and time.perf_counter() - start + longest > budget_s:
                raise BudgetExhausted(done, len(todo), budget_s)
            if scorer is None and kind != "plain":
                scorer = CachedScorer(search_images)
            bar.set_postfix_str(f"{method} {kind} seed {seed}")
            t0 = time.perf_counter()
            compute = partial(_train_run, run_params, params["trials"], train_set, test_set, search_images,
                              scorer, preset, device, progress)
            record = results.cached(preset, name, run_params, compute, data=data, assets=["alexnet"])
            longest = max(longest, time.perf_counter() - t0)
        out.append({**record["result"], "provenance": record["provenance"]})
    plain = out[0]
    runs = out[1:]
    return {"runs": runs, "plain": plain, "table3": assemble_table3(plain, runs, params["seeds"][0])}


def stored_runs(preset: str, params: dict) -> dict:
    """The runs of ``params`` already stored at ``preset``, on whatever data they were computed (their
    provenance says which); nothing is computed. Returns ``{"runs", "plain", "total"}``: the stored
    key runs, the plain run (or None) and the number of runs ``params`` asks for."""
    todo = jobs(params["methods"], params["seeds"])
    found = []
    for method, kind, seed in todo:
        record = results.load(preset, _run_name(method, kind, seed))
        want = _run_params(method, kind, seed, params, "")  # any data: compared without its hash
        if record is not None and {**record["params"], "data_sha256": ""} == want:
            found.append({**record["result"], "provenance": record["provenance"]})
    plain = next((r for r in found if r["kind"] == "plain"), None)
    return {"runs": [r for r in found if r["kind"] != "plain"], "plain": plain, "total": len(todo)}


def assemble_table3(plain: dict, runs: list[dict], seed: int) -> dict:
    """Table 3 from the runs: the plain classifier and the proposed keys of PE and LE (first seed)."""
    columns = {"plain": plain["table3"]}
    for r in runs:
        if r["kind"] == "proposed" and r["seed"] == seed and r["method"] in TABLE3_COLUMNS:
            columns[f"{r['method']} (proposed)"] = r["table3"]
    table: dict = {}
    for column, images in columns.items():
        for name, v in images.items():
            table.setdefault(name, {"test_index": v["test_index"]})[column] = {
                k: v[k] for k in ("class", "probability", "lpips", "image_png")}
    return table


def summary(runs: list[dict], target: float = TARGET_ACCURACY) -> dict:
    """Per method and key kind, over seeds: accuracy (%) and rho, mean and SD; the mean training
    time of a run and the mean time to ``target`` test accuracy (over the runs that reached it)."""
    out: dict = {}
    for r in runs:
        v = out.setdefault(r["method"], {}).setdefault(r["kind"], {"acc": [], "rho": [], "time": [],
                                                                   "to_target": []})
        v["acc"].append(100 * r["accuracy"])
        v["rho"].append(r["rho"])
        v["time"].append(r["history"][-1].get("time_s", float("nan")) if r["history"] else float("nan"))
        v["to_target"].append(time_to_accuracy(r["history"], target))
    for kinds in out.values():
        for v in kinds.values():
            for k in ("acc", "rho"):
                t = torch.tensor(v[k], dtype=torch.float64)
                v[f"{k}_mean"] = float(t.mean())
                v[f"{k}_sd"] = float(t.std()) if len(t) > 1 else float("nan")
            v["time_mean"] = float(np.mean(v["time"]))
            reached = [t for t in v["to_target"] if t is not None]
            v["reached_target"] = f"{len(reached)}/{len(v['to_target'])}"
            v["to_target_mean"] = float(np.mean(reached)) if reached else None
    return out


def checkpoint_dir(preset: str) -> Path:
    """Where training checkpoints live (large files: a cache, never committed)."""
    path = cache_root() / "checkpoints" / preset
    path.mkdir(parents=True, exist_ok=True)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pihlib.classification", description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu", choices=list(presets.PRESETS))
    ap.add_argument("--data", default=None, help="a CIFAR-10 source (default: $PIH_CIFAR10, else official)")
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda when there is one)")
    ap.add_argument("--budget-s", type=float, default=None,
                    help="start no run that would end after this many seconds; run again to go on")
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="override one parameter of 03_classification, e.g. -p seeds [0]")
    args = ap.parse_args(argv)
    overrides = {name: presets.parse_value(value) for name, value in args.p}
    try:
        params = presets.params("03_classification", args.preset, **overrides)
        train_set, test_set, search_images = load_inputs(params, args.data)
        result = experiment(params, train_set, test_set, search_images, args.preset, args.device,
                            args.budget_s)
    except BudgetExhausted as e:
        print(e, file=sys.stderr)
        return 3
    except PihError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"plain: {100 * result['plain']['accuracy']:.2f} %")
    for method, kinds in summary(result["runs"]).items():
        for kind, v in kinds.items():
            to = "-" if v["to_target_mean"] is None else f"{v['to_target_mean']:.1f} s"
            print(f"{method:4} {kind:9} accuracy {v['acc_mean']:6.2f} % (SD {v['acc_sd']:.2f})  "
                  f"rho {v['rho_mean']:.4f}  {v['time_mean']:.1f} s a run  "
                  f"{100 * TARGET_ACCURACY:.0f} % reached {v['reached_target']}, after {to}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
