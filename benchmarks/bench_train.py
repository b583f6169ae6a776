"""Training recipes side by side at equal wall time: test accuracy on scrambled CIFAR-10.

Each recipe trains plain, PE and LE (by default) for about ``--seconds`` of training: a short
calibration run measures the recipe's images a second on this device, and the number of epochs is
set from it (the schedules depend on the run's length, so it is fixed before the run), rounded: the
training times differ by up to half an epoch, and each is printed. The baseline, in the same
process, is the previous gpu preset's recipe: FastNet, classic SGD, batch 512 at lr 0.2 (the learning
rate scaled linearly with ``--batch-size``). On 2 CPU cores the default is the project's proxy for the
GPU runs: 10,000 JPEG training images, 2,000 test images, 3 minutes a run.

    python benchmarks/bench_train.py [--data PATH] [--methods plain PE LE] [--recipes fastnet airbench]
        [--n-train 10000] [--n-test 2000] [--seconds 180] [--batch-size 256] [--target 0.93]

On a GPU (the whole training set, the presets' batch sizes): ``--n-train 50000 --n-test 10000
--batch-size 1024 --seconds 30``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

import pihlib
from pihlib.runtime import device_name
from pihlib.train import TrainConfig, time_to_accuracy, train

# name -> (description, TrainConfig options); batch_size comes from the command line
RECIPES = {
    "fastnet": ("FastNet, classic SGD (the previous gpu preset)",
                {"recipe": "classic", "classifier": "fast"}),
    "airbench": ("airbench95's recipe, whitened on what the first layer sees", {"recipe": "airbench"}),
    "airbench-learned": ("airbench95's recipe, a trainable first layer instead of the whitening",
                         {"recipe": "airbench", "whiten": False}),
}


def config(recipe: str, method: str, batch_size: int, epochs: int) -> TrainConfig:
    options = dict(RECIPES[recipe][1])
    if options["recipe"] == "classic":
        options["lr"] = 0.2 * batch_size / 512
    return TrainConfig(method, batch_size=batch_size, epochs=epochs, **options)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = Path(os.environ.get("PIH_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    ap.add_argument("--data", default=os.environ.get("PIH_CIFAR10",
                                                     str(shared / "data" / "cifar10-jpeg-60k.tar.gz")))
    ap.add_argument("--methods", nargs="+", default=["plain", "PE", "LE"])
    ap.add_argument("--recipes", nargs="+", default=["fastnet", "airbench"], choices=list(RECIPES))
    ap.add_argument("--n-train", type=int, default=10000)
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=180, help="training time a run")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--target", type=float, default=0.93)
    ap.add_argument("--device", default=None)
    args = ap.parse_args()

    tr = pihlib.load_cifar10("train", args.data, count=args.n_train)
    te = pihlib.load_cifar10("test", args.data, count=args.n_test)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    print(f"{len(tr)} training images ({tr.source.kind}, {'lossless' if tr.source.lossless else 'LOSSY'}), "
          f"{len(te)} test images, about {args.seconds:.0f} s of training a run, batch {args.batch_size}, "
          f"on {device_name(device)}, torch {torch.__version__}", flush=True)
    for recipe in args.recipes:
        print(f"  {recipe}: {RECIPES[recipe][0]}")
    calibration = slice(0, 4 * args.batch_size)
    accuracy: dict[tuple[str, str], float] = {}
    seconds: dict[tuple[str, str], float] = {}
    for method in args.methods:
        key = None if method == "plain" else pihlib.keygen(method, seed=0)
        for recipe in args.recipes:
            probe = train(config(recipe, method, args.batch_size, 1), tr.images[calibration],
                          tr.labels[calibration], te.images[:args.batch_size], te.labels[:args.batch_size],
                          key=key, device=device, progress=False)
            epochs = max(1, round(args.seconds * probe.images_per_s / len(tr)))
            r = train(config(recipe, method, args.batch_size, epochs), tr.images, tr.labels, te.images,
                      te.labels, key=key, device=device, progress=False)
            accuracy[method, recipe] = r.test_accuracy
            seconds[method, recipe] = r.train_time_s
            reached = time_to_accuracy(r.history, args.target)
            plain_acc = r.history[-1]["test_accuracy"]
            print(f"{method:6} {recipe:17} {epochs:3d} epochs {r.train_time_s:7.1f} s "
                  f"{r.images_per_s:8,.0f} images/s  test accuracy {100 * r.test_accuracy:6.2f} % "
                  f"(without TTA {100 * plain_acc:6.2f} %)  {100 * args.target:.0f} %: "
                  f"{'not reached' if reached is None else f'{reached:.1f} s'}", flush=True)
    base = args.recipes[0]
    for recipe in args.recipes[1:]:
        gains = ", ".join(f"{m} {100 * (accuracy[m, recipe] - accuracy[m, base]):+.2f} "
                          f"({seconds[m, recipe]:.0f} s against {seconds[m, base]:.0f} s)"
                          for m in args.methods)
        print(f"{recipe} against {base} at about equal training time (points of test accuracy): {gains}")


if __name__ == "__main__":
    main()
