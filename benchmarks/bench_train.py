"""Training speed on scrambled CIFAR-10: images/s on the device used, and time to a target accuracy.

The baseline, in the same process and with the same settings, is training on the plain images: the
ratio is what scrambling (and the adaptation network) costs. Target for the gpu preset: PE and LE at
93 % test accuracy in under 2 minutes each on one H100.

    python benchmarks/bench_train.py [--data PATH] [--methods PE LE] [--epochs 20] [--target 0.93]
"""

from __future__ import annotations

import argparse
import os

import torch

import pihlib
from pihlib.results import device_name
from pihlib.train import TrainConfig, time_to_accuracy, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("PIH_CIFAR10"))
    ap.add_argument("--methods", nargs="+", default=["PE", "LE"])
    ap.add_argument("--n-train", type=int, default=None)
    ap.add_argument("--classifier", default="fast", choices=["fast", "resnet18", "pyramidnet"])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--lr", type=float, default=0.2)
    ap.add_argument("--target", type=float, default=0.93)
    args = ap.parse_args()

    tr = pihlib.load_cifar10("train", args.data, count=args.n_train)
    te = pihlib.load_cifar10("test", args.data)
    print(f"{len(tr)} training images ({tr.source.kind}, {'lossless' if tr.source.lossless else 'LOSSY'}), "
          f"{len(te)} test images, {args.classifier}, {args.epochs} epochs, on {device_name()}, "
          f"torch {torch.__version__}")
    rates = {}
    for method in ["plain", *args.methods]:
        key = None if method == "plain" else pihlib.keygen(method, seed=0)
        config = TrainConfig(method, classifier=args.classifier, epochs=args.epochs,
                             batch_size=args.batch_size, lr=args.lr)
        r = train(config, tr.images, tr.labels, te.images, te.labels, key=key)
        reached = time_to_accuracy(r.history, args.target)
        when = "not reached" if reached is None else f"{reached:.1f} s of training"
        rates[method] = r.images_per_s
        print(f"{method:6} {r.images_per_s:10,.0f} images/s ({r.images_per_s / rates['plain']:.2f}x plain)  "
              f"final test accuracy {100 * r.test_accuracy:.2f} %  {100 * args.target:.0f} %: {when}")


if __name__ == "__main__":
    main()
