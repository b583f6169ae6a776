"""The numbers quoted in ``pihlib.attacks.learned``'s docstrings, measured again on real CIFAR-10.

For each method: an ITN trained (``train_itn``) on the training images, scrambled with keys of the
adversary's own (seed 0), is applied to held-out test images scrambled with a key it has never seen
(seed 12345); beside it, the FR-Attack's key-free reconstruction, the scrambled images themselves
(identity: what the attacker holds) and a constant mid-grey image. Each is compared with the plain
images by SSIM (grey) and LPIPS (alex); median over the test images. About 3 minutes a method on two
CPU cores with the defaults.

    python benchmarks/bench_learned.py [--data PATH] [--train 2000] [--test 200] [--epochs 4]
        [--keys 256] [--methods PE,EtC,LE,ELE]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

import pihlib
from pihlib import attacks

SHARED = Path(os.environ.get("PIH_SHARED", Path(__file__).resolve().parents[2] / "shared"))
DEFAULT_DATA = SHARED / "data" / "cifar10-lossless-3k.npz"
TARGET_SEED = 12345  # the key the test images are scrambled with; the ITN's own keys come from seed 0


def luminance(x: torch.Tensor) -> torch.Tensor:
    x = x.double()
    return 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]


def corr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a.reshape(len(a), -1).double(), b.reshape(len(b), -1).double()
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + 1e-12)


def gradient(y: torch.Tensor) -> torch.Tensor:
    return (y[:, :-1, 1:] - y[:, :-1, :-1]).abs() + (y[:, 1:, :-1] - y[:, :-1, :-1]).abs()


def thumbnails(y: torch.Tensor, b: int = 4) -> torch.Tensor:
    n, h, w = y.shape
    return y.reshape(n, h // b, b, w // b, b).mean((2, 4))


def fr_row(method: str, plain: torch.Tensor, scrambled: torch.Tensor) -> str:
    """The FR-Attack's correlations with the plain luminance (median over images), scrambled's beside."""
    grey = attacks.fr_attack(scrambled, method)[:, 0].double()
    lum, slum = luminance(plain), luminance(scrambled)
    folded = 127.5 - (lum - 127.5).abs()
    tfold = 127.5 - (thumbnails(lum) - 127.5).abs()
    cols = [("folded Y", corr(grey, folded), corr(slum, folded)),
            ("|corr Y|", corr(grey, lum).abs(), corr(slum, lum).abs()),
            ("edges", corr(gradient(grey), gradient(lum)), corr(gradient(slum), gradient(lum))),
            ("thumbnails", corr(thumbnails(grey), tfold), corr(thumbnails(slum), tfold))]
    return "  ".join(f"{name} {a.median():.3f} ({b.median():.3f})" for name, a, b in cols)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--test", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--keys", type=int, default=256)
    ap.add_argument("--methods", default=",".join(pihlib.METHODS))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train = pihlib.load_cifar10("train", args.data, count=args.train).images
    test = pihlib.load_cifar10("test", args.data, count=args.test).images
    ssim, lpips = pihlib.metric("ssim"), pihlib.metric("lpips")
    grey = torch.full_like(test, 128)
    print(f"train {len(train)} images x {args.epochs} epochs, {args.keys} keys of its own; "
          f"test {len(test)} images, target key seed {TARGET_SEED}; median SSIM (up) / LPIPS (down)")
    for method in args.methods.split(","):
        y = pihlib.scramble(test, pihlib.keygen(method, seed=TARGET_SEED))
        t0 = time.perf_counter()
        model = attacks.train_itn(train, method, keys=args.keys, epochs=args.epochs, seed=0)
        trained = time.perf_counter() - t0
        rows = {"identity": y, "mid-grey": grey, "FR": attacks.fr_attack(y, method),
                "ITN": attacks.itn_attack(model, y)}
        scores = "  ".join(f"{name} {ssim(test, z).median():.3f}/{lpips(test, z).median():.3f}"
                           for name, z in rows.items())
        print(f"{method:4s} {scores}  (ITN trained in {trained:.0f} s)")
        print(f"     FR correlations (scrambled's): {fr_row(method, test, y)}", flush=True)


if __name__ == "__main__":
    main()
