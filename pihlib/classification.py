"""The paper's classification experiments: Table 2 (original vs. proposed keys) and Table 3.

"Original" is one random key per run; "proposed" the best of N keys by rho (Algorithm 1) over the
key-search images; the two are drawn from independent streams of the run's seed, so the original key
is never among the search's candidates. Each run trains an adaptation network and a classifier on the
scrambled training images, and records its test accuracy, its key's rho (authors' convention) and, for
Table 3, its prediction on three test images. Every run is cached on its own with its provenance
(``results/<preset>/classification-runs/``), so an interrupted experiment, or one cut into pieces by a
time budget, goes on where it stopped. From the command line (a GPU machine, say):

    python -m pihlib.classification --preset gpu [--data PATH] [--budget-s SECONDS] [-p NAME VALUE ...]
"""

from __future__ import annotations

import base64
import dataclasses
import io
import time
from dataclasses import asdict
from functools import cache, partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from . import paper, presets, results
from ._cli import Parser, run_command
from .data import CIFAR10_CLASSES, ImageSet, cache_root, load_cifar10, load_paired_copy
from .errors import PihError
from .keys import Key, fingerprint
from .keysearch import CachedScorer, search
from .metrics import metric
from .scramblers import keygen, scramble
from .train import CODE_VERSION, TRAIN_FIELDS, TrainConfig, evaluate, predict, time_to_accuracy, train

KINDS = ("original", "proposed")
TABLE3_CLASSES = ("frog", "automobile", "horse")
TABLE3_COLUMNS = ("PE", "LE")  # the proposed keys' columns beside the plain one, as in the paper
RUNS = "classification-runs"  # the runs' folder under results/<preset>/
TARGET_ACCURACY = 0.93  # the time-to-accuracy column's threshold
# The gpu preset's targets (test accuracy %, mean over seeds, original keys): on the official
# (lossless) data, the plain classifier at airbench95's level and each method at the paper's mean; on
# the shared JPEG copy, PE and LE at 91 %. And all of its runs, key searches included, in 5 minutes.
TARGETS_LOSSLESS = {"plain": 95.0, **{m: paper.TABLE2[m]["original"]["acc_mean"] for m in paper.TABLE2}}
TARGETS_JPEG = {"PE": 91.0, "LE": 91.0}
TARGET_TOTAL_S = 300.0


class BudgetExhausted(PihError):
    """The time budget ran out before every run was done; the finished runs are cached."""

    exit_status = 3

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


def key_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Two independent random streams of one run's seed: the original key's and the key search's."""
    original, searched = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(original), np.random.default_rng(searched)


def run_key(method: str, kind: str, seed: int, trials: int, scorer: CachedScorer | None = None,
            images: torch.Tensor | None = None) -> Key:
    """The key of a run: ``original``, one random key; ``proposed``, the best of ``trials`` candidates by
    rho over ``images`` (Algorithm 1). Each from its own stream of ``seed`` (``key_streams``)."""
    original, searched = key_streams(seed)
    if kind == "original":
        return keygen(method, seed=original)
    return search(images, method, trials, seed=searched, scorer=scorer, progress=False).key


def train_config(params: dict, method: str, seed: int) -> TrainConfig:
    """The training configuration of one run: the recipe's values, overridden by those ``params``
    names (a None leaves the recipe's)."""
    return TrainConfig(method, seed=seed, **{k: params[k] for k in TRAIN_FIELDS if params.get(k) is not None})


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
def table3_column(test_set: ImageSet, model: torch.nn.Module, key: Key | None, tta: int = 0) -> dict:
    """For each of Table 3's images: the model's predicted class and its probability (with the run's
    test-time augmentation), the (scrambled) image, and its LPIPS against the plain image (authors'
    convention, as the paper's)."""
    device = next(model.parameters()).device
    out = {}
    for name, index in table3_images(test_set).items():
        x = test_set.images[index:index + 1]
        p = predict(model, x.to(device), key, tta)[0].softmax(0)
        y = scramble(x, key) if key is not None else x
        out[name] = {"test_index": index, "class": CIFAR10_CLASSES[int(p.argmax())],
                     "probability": float(p.max()), "lpips": float(_lpips()(x, y)),
                     "image_png": png_base64(y[0])}
    return out


def _run_name(method: str, kind: str, seed: int) -> str:
    return f"{RUNS}/plain-seed{seed}" if kind == "plain" else f"{RUNS}/{method}-{kind}-seed{seed}"


def _run_params(method: str, kind: str, seed: int, params: dict, data_sha256: str) -> dict:
    cfg = train_config(params, method, seed)
    return {"method": method, "kind": kind, "seed": seed, "config": asdict(cfg), "code_version": CODE_VERSION,
            "n_train": params["n_train"], "n_test": params["n_test"], "data_sha256": data_sha256,
            **({} if kind == "plain" else {"n_search": params["n_search"]}),
            **({"trials": params["trials"]} if kind == "proposed" else {})}


def _train_run(run_params: dict, trials: int, train_set: ImageSet, test_set: ImageSet,
               search_images: torch.Tensor, scorer: CachedScorer | None, preset: str, device: torch.device,
               progress: bool) -> dict:
    method, kind, seed = run_params["method"], run_params["kind"], run_params["seed"]
    key = None if kind == "plain" else run_key(method, kind, seed, trials, scorer, search_images)
    cfg = TrainConfig(**run_params["config"])
    ckpt = checkpoint_path(preset, run_params)
    r = train(cfg, train_set.images, train_set.labels, test_set.images, test_set.labels, key=key,
              device=device, checkpoint=ckpt, progress=progress)
    return {"method": method, "kind": kind, "seed": seed,
            "fingerprint": None if key is None else fingerprint(key),
            "rho": None if key is None else scorer(key), "accuracy": r.test_accuracy, "history": r.history,
            "wall_time_s": r.wall_time_s, "images_per_s": r.images_per_s, "device": r.device,
            "config": run_params["config"], "table3": table3_column(test_set, r.model, key, cfg.tta)}


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
            checkpoint_path(preset, run_params).unlink(missing_ok=True)  # the record holds the run now
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


JPEG_METHODS = ("plain", "PE", "LE")  # the methods with a target on the JPEG copy


def jpeg_penalty(params: dict, train_set: ImageSet, test_set: ImageSet, jpeg: str,
                 methods: tuple[str, ...] = JPEG_METHODS, device: str | torch.device | None = None,
                 progress: bool = True) -> dict:
    """What the lossy copy of CIFAR-10 costs: the lossless ``train_set`` and ``test_set`` (official
    order) paired with their copies in ``jpeg``; the PSNR of the pairs; and, for each method (original
    key of the first seed, the run's training settings), a model trained on the lossless images and
    one trained on the JPEG images, each tested on both test sets."""
    seed = params["seeds"][0]
    sets = {"lossless": (train_set, test_set)}
    if not all(s.source.lossless for s in sets["lossless"]):
        raise PihError(f"{train_set.source.path} is not a lossless source")
    sets["jpeg"] = tuple(load_paired_copy(ref, jpeg) for ref in sets["lossless"])
    psnr = metric("psnr")
    out: dict = {"psnr": {}, "accuracy": {}, "sources": {k: v[0].source.as_dict() for k, v in sets.items()}}
    for split, i in (("train", 0), ("test", 1)):
        p = psnr(sets["lossless"][i].images, sets["jpeg"][i].images)
        out["psnr"][split] = {"mean": float(p.mean()), "min": float(p.min()), "max": float(p.max()),
                              "count": len(p)}
    for method in methods:
        key = None if method == "plain" else run_key(method, "original", seed, 1)
        config = train_config(params, method, seed)
        acc = out["accuracy"][method] = {}
        for trained_on, (train_images, own_test) in sets.items():
            r = train(config, train_images.images, train_images.labels, own_test.images, own_test.labels,
                      key=key, device=device, progress=progress)
            for tested_on, (_, test_images) in sets.items():
                acc[f"{trained_on}->{tested_on}"] = evaluate(r.model, test_images.images, test_images.labels,
                                                            key, tta=config.tta)
    return out


FIRST_LAYER_VARIANTS = {"whitened": {}, "trainable": {"whiten": False}}
FIRST_LAYER_METHODS = ("LE", "ELE")  # the methods whose first layer sits behind an adaptation network


def first_layer_study(params: dict, train_set: ImageSet, test_set: ImageSet, preset: str,
                      methods: tuple[str, ...] = FIRST_LAYER_METHODS,
                      device: str | torch.device | None = None, progress: bool = True) -> dict:
    """Behind an adaptation network, airbench's frozen whitening layer is computed from the network's
    output at initialisation, which then moves as it trains: is that better than a first layer that
    trains? Each method (original key of the first seed, the run's settings) trained both ways; the
    record (cached at ``preset``) holds the test accuracies."""
    seed = params["seeds"][0]
    keyed = {k: params[k] for k in ("seeds", "n_train", "n_test", *TRAIN_FIELDS) if k in params}
    keyed.update(code_version=CODE_VERSION, methods=list(methods), data_sha256=train_set.source.sha256)

    def compute() -> dict:
        out = {}
        for method in methods:
            key = run_key(method, "original", seed, 1)
            for variant, options in FIRST_LAYER_VARIANTS.items():
                config = dataclasses.replace(train_config(params, method, seed), **options)
                r = train(config, train_set.images, train_set.labels, test_set.images, test_set.labels,
                          key=key, device=device, progress=progress)
                out.setdefault(method, {})[variant] = {"accuracy": r.test_accuracy,
                                                       "time_s": r.wall_time_s}
        return out

    return results.cached(preset, "first_layer", keyed, compute, data=train_set.source.as_dict())


def cached_jpeg_penalty(preset: str, params: dict, train_set: ImageSet, test_set: ImageSet, jpeg: str,
                        device: str | torch.device | None = None, progress: bool = True) -> dict:
    """``jpeg_penalty``'s record (result and provenance), computed only if none is cached at ``preset``
    for these parameters."""
    keyed = {k: params[k] for k in ("seeds", "n_train", "n_test", *TRAIN_FIELDS) if k in params}
    keyed.update(code_version=CODE_VERSION, jpeg=Path(jpeg).name)
    compute = partial(jpeg_penalty, params, train_set, test_set, jpeg, device=device, progress=progress)
    return results.cached(preset, "jpeg_penalty", keyed, compute, data=train_set.source.as_dict())


def target_check(runs: list[dict], plain: dict | None) -> list[dict]:
    """Each target of the gpu preset beside what ``runs`` (and the ``plain`` run) reached: mean test
    accuracy over the original keys' runs per method, against the targets for the runs' data (JPEG
    targets where the data was lossy), and the runs' total compute time (training, key searches and
    evaluation, from their provenance) against 5 minutes."""
    everything = runs + ([plain] if plain else [])
    lossless = all(r["provenance"]["data"]["lossless"] for r in everything) if everything else True
    targets = TARGETS_LOSSLESS if lossless else TARGETS_JPEG
    data = "official (lossless)" if lossless else "JPEG copy (lossy)"
    rows = []
    for method, target in targets.items():
        accs = ([plain["accuracy"]] if plain else []) if method == "plain" else \
            [r["accuracy"] for r in runs if r["method"] == method and r["kind"] == "original"]
        mean = 100 * float(np.mean(accs)) if accs else None
        rows.append({"what": f"{method} accuracy %", "data": data, "target": f">= {target:.2f}",
                     "reached": "-" if mean is None else f"{mean:.2f} ({len(accs)} run(s))",
                     "met": "not run" if mean is None else "yes" if mean >= target else "no"})
    total = sum(r["provenance"]["wall_time_s"] for r in everything)
    rows.append({"what": "all runs, compute time (s)", "data": data, "target": f"<= {TARGET_TOTAL_S:.0f}",
                 "reached": f"{total:.0f} ({len(everything)} run(s))" if everything else "-",
                 "met": "not run" if not everything else "yes" if total <= TARGET_TOTAL_S else "no"})
    return rows


def checkpoint_path(preset: str, run_params: dict) -> Path:
    """Where a run's training checkpoint lives while it trains (a cache, never committed; removed once
    the run's record is written). Named by everything the run depends on (its parameters, data and
    key search), so a checkpoint is never resumed for other data."""
    folder = cache_root() / "checkpoints" / preset
    folder.mkdir(parents=True, exist_ok=True)
    p = run_params
    return folder / f"{p['method']}-{p['kind']}-{p['seed']}-{results.params_hash(p)[:16]}.pt"


def main(argv: list[str] | None = None) -> int:
    ap = Parser(prog="python -m pihlib.classification", description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu", choices=list(presets.PRESETS))
    ap.add_argument("--data", default=None, help="a CIFAR-10 source (default: $PIH_CIFAR10, else official)")
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda when there is one)")
    ap.add_argument("--budget-s", type=float, default=None,
                    help="start no run that would end after this many seconds; run again to go on")
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="override one parameter of 03_classification, e.g. -p seeds [0]")

    def body() -> None:
        args = ap.parse_args(argv)
        overrides = {name: presets.parse_value(value) for name, value in args.p}
        params = presets.params("03_classification", args.preset, **overrides)
        train_set, test_set, search_images = load_inputs(params, args.data)
        result = experiment(params, train_set, test_set, search_images, args.preset, args.device,
                            args.budget_s)
        print(f"plain: {100 * result['plain']['accuracy']:.2f} %")
        for method, kinds in summary(result["runs"]).items():
            for kind, v in kinds.items():
                to = "-" if v["to_target_mean"] is None else f"{v['to_target_mean']:.1f} s"
                print(f"{method:4} {kind:9} accuracy {v['acc_mean']:6.2f} % (SD {v['acc_sd']:.2f})  "
                      f"rho {v['rho_mean']:.4f}  {v['time_mean']:.1f} s a run  "
                      f"{100 * TARGET_ACCURACY:.0f} % reached {v['reached_target']}, after {to}")

    return run_command("pihlib.classification", body)


if __name__ == "__main__":
    raise SystemExit(main())
