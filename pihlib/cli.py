"""The ``pih`` command: key generation, scrambling and unscrambling of PNG files, fingerprints.

Every bad input ends with one line on stderr and exit status 2, before any output file is written.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from ._io import atomic_write_bytes
from .data import SPLITS, load_cifar10
from .errors import PihError
from .keys import fingerprint, load_key, save_key
from .keysearch import SCHEMES, search
from .metrics import CONVENTIONS, metric, metric_names
from .scramblers import CHANNEL_MAPS, METHODS, index_map, keygen, scramble, unscramble

PROGRESS_FROM = 32  # files; fewer finish too quickly for a progress bar to help (shown on a terminal)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, status 2
        raise PihError(message)


def _shape(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shape must look like 32x32, got {text!r}") from None
    return h, w


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="pih", description="Scramble images with keys (PE, EtC, LE, ELE), "
                "after Madono et al., 'Scrambling Parameter Generation to Improve Perceptual "
                "Information Hiding'.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    k = sub.add_parser("keygen", help="draw a random key and write it (mode 0600)")
    k.add_argument("method", metavar="METHOD", choices=METHODS, help=" | ".join(METHODS))
    k.add_argument("--seed", type=int, default=None, help="seed (default: fresh entropy)")
    k.add_argument("--block-size", type=int, default=4, help="block size for LE, ELE, EtC (default 4)")
    k.add_argument("--shape", type=_shape, default=(32, 32), help="image size HxW (default 32x32)")
    k.add_argument("--inverted", type=int, help="PE-IIR: number of inverted values")
    k.add_argument("--channel-maps", choices=CHANNEL_MAPS, default=None,
                   help="PE, EtC: 'authors-aliased' reproduces the authors' lossy channel step")
    k.add_argument("-o", "--output", required=True, metavar="KEYFILE")
    for name, verb in (("scramble", "scramble"), ("unscramble", "unscramble")):
        s = sub.add_parser(name, help=f"{verb} PNG images; outputs keep their file names")
        s.add_argument("keyfile", metavar="KEYFILE")
        s.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR")
        s.add_argument("-o", "--output", required=True, metavar="OUTDIR")
    f = sub.add_parser("fingerprint", help="print a key file's fingerprint")
    f.add_argument("keyfile", metavar="KEYFILE")
    ks = sub.add_parser("keysearch", help="Algorithm 1: keep the key with the highest rho (mean LPIPS) "
                        "among N random keys, scored over a CIFAR-10 source")
    ks.add_argument("method", metavar="METHOD", choices=("PE", "EtC", "LE", "ELE"),
                    help="PE | EtC | LE | ELE")
    ks.add_argument("--images", required=True, metavar="PATH",
                    help="CIFAR-10: an .npz, a folder of class folders, a .tar/.tar.gz, or 'official'")
    ks.add_argument("--split", choices=SPLITS, default="train")
    ks.add_argument("--count", type=int, metavar="M", help="score over the first M images (default: all)")
    ks.add_argument("--trials", type=int, default=20, metavar="N", help="candidate keys (default 20)")
    ks.add_argument("--seed", type=int, default=None)
    ks.add_argument("--block-size", type=int, default=4)
    ks.add_argument("--scheme", choices=SCHEMES, default="fresh",
                    help="'reshuffle': the authors' candidates for PE and EtC (one key, reshuffled)")
    ks.add_argument("--convention", choices=CONVENTIONS, default="authors",
                    help="LPIPS input convention of rho (default: the authors', [0,1] fed as is)")
    ks.add_argument("--json", action="store_true", help="print every candidate's fingerprint and rho as JSON")
    ks.add_argument("-o", "--output", required=True, metavar="KEYFILE")
    m = sub.add_parser("metric", help="an image metric of PNG files: REF and DIST, or one image for a "
                       "no-reference metric; folders of PNGs compare as sets (FID) or pairwise (mean)")
    m.add_argument("name", metavar="NAME", choices=metric_names(), help=" | ".join(metric_names()))
    m.add_argument("images", nargs="+", metavar="REF [DIST]")
    m.add_argument("--net", choices=("alex", "vgg"), help="lpips: backbone (default alex)")
    m.add_argument("--convention", choices=CONVENTIONS,
                   help="lpips: 'lpips' scales [0,1] images to [-1,1] as the official LPIPS (default); "
                        "'authors' feeds [0,1] as the paper's authors did")
    return p


def _read_set(item: str) -> torch.Tensor:
    files = _gather_inputs([item])
    shapes = {}
    images = [_read_png(f) for f in files]
    for f, im in zip(files, images, strict=True):
        shapes.setdefault(im.shape, f)
    if len(shapes) > 1:
        a, b = list(shapes.values())[:2]
        raise PihError(f"images of different sizes in {item}: {a.name} and {b.name}")
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)


def _metric(args: argparse.Namespace) -> None:
    options = {k: v for k, v in (("net", args.net), ("convention", args.convention)) if v is not None}
    if options and args.name != "lpips":
        raise PihError(f"--net and --convention apply to lpips only, not {args.name}")
    m = metric(args.name, **options)
    want = 2 if m.info.reference else 1
    if len(args.images) != want:
        raise PihError(f"{args.name} takes {'REF and DIST' if want == 2 else 'one image'}, "
                       f"got {len(args.images)} path(s)")
    sets = [_read_set(item) for item in args.images]
    if not m.info.per_image and min(len(s) for s in sets) < 2:
        raise PihError(f"{args.name} compares two sets of images: give two folders of PNG files")
    value = m(*sets)
    print(f"{value.double().mean().item():.6g}")


def _gather_inputs(inputs: list[str]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".png")
            if not found:
                raise PihError(f"folder {path} holds no .png files")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise PihError(f"{path} does not exist")
    names = [f.name for f in files]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise PihError(f"two inputs share the file name {dup[0]}; outputs keep input names")
    return files


def _read_png(path: Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    try:
        with Image.open(path) as im:
            if im.format != "PNG":
                raise PihError(f"{path} is a {im.format} image; pih reads and writes PNG only")
            if im.mode != "RGB":
                raise PihError(f"{path} is a {im.mode} image; pih scrambles 8-bit RGB images")
            if shape is not None and (im.height, im.width) != shape:
                raise PihError(f"{path} is {im.height}x{im.width} but the key was made for "
                               f"{shape[0]}x{shape[1]} images")
            return np.asarray(im, np.uint8)
    except (UnidentifiedImageError, OSError) as e:
        raise PihError(f"{path} is not a readable image ({type(e).__name__})") from None


def _png_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def _convert(args: argparse.Namespace, inverse: bool) -> None:
    key = load_key(args.keyfile)
    files = _gather_inputs(args.inputs)
    out_dir = Path(args.output)
    if out_dir.exists() and not out_dir.is_dir():
        raise PihError(f"output {out_dir} exists and is not a folder")
    for f in files:
        if (out_dir / f.name).resolve() == f.resolve():
            raise PihError(f"output {out_dir / f.name} would overwrite its input")
    if inverse:  # refuse a lossy key before reading anything
        index_map(key, inverse=True)
    show = len(files) >= PROGRESS_FROM and sys.stderr.isatty()
    with tqdm(files, desc="reading", unit="file", disable=not show) as bar:
        images = np.stack([_read_png(f, key.shape) for f in bar])
    x = torch.from_numpy(images).permute(0, 3, 1, 2)
    out = (unscramble if inverse else scramble)(x, key).permute(0, 2, 3, 1).contiguous().numpy()
    pngs = [_png_bytes(img) for img in out]
    out_dir.mkdir(parents=True, exist_ok=True)
    with tqdm(files, desc="writing", unit="file", disable=not show) as bar:
        for f, data in zip(bar, pngs, strict=True):
            atomic_write_bytes(out_dir / f.name, data)


def _keysearch(args: argparse.Namespace) -> None:
    data = load_cifar10(args.split, args.images, count=args.count)
    result = search(data.images, args.method, trials=args.trials, seed=args.seed, scheme=args.scheme,
                    convention=args.convention, block_size=args.block_size, progress=sys.stderr.isatty())
    save_key(result.key, args.output)
    if args.json:
        print(json.dumps({**result.as_dict(), "images": data.source.as_dict()}, indent=1))
    else:
        print(f"{args.method} key {fingerprint(result.key)}: rho {result.score:.4f} ({args.convention} "
              f"convention), best of {args.trials} over {len(data)} {args.split} images; written to "
              f"{args.output}")


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        if args.command == "keygen":
            options = {}
            if args.inverted is not None:
                options["inverted"] = args.inverted
            if args.channel_maps is not None:
                options["channel_maps"] = args.channel_maps
            key = keygen(args.method, seed=args.seed, shape=args.shape, block_size=args.block_size,
                         **options)
            save_key(key, args.output)
            print(f"{key.method} key {fingerprint(key)} written to {args.output}")
        elif args.command == "fingerprint":
            print(fingerprint(load_key(args.keyfile)))
        elif args.command == "metric":
            _metric(args)
        elif args.command == "keysearch":
            _keysearch(args)
        else:
            _convert(args, inverse=args.command == "unscramble")
    except PihError as e:
        print(f"pih: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
