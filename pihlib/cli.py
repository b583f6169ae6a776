"""The ``pih`` command: key generation, scrambling and unscrambling of PNG files, fingerprints.

Every bad input ends with one line on stderr and exit status 2, before any output file is written (an
input that is not a regular file or cannot be read, or that Pillow cannot read, is named); an
existing file is replaced only with ``--force``, never when it is one of the command's inputs (the
same path, or a link to it); the outputs of one call appear all or none, and with ``--force`` the files
they replace come back if any step fails; Ctrl-C ends with status 130 (see ``pihlib._cli``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import struct
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from . import __version__
from ._cli import (
    Parser,
    check_files_together,
    check_output_file,
    check_regular_file,
    run_command,
    write_files_together,
)
from .data import SPLITS, load_cifar10
from .errors import PihError
from .keys import fingerprint, load_key, save_key
from .keysearch import SCHEMES, search
from .methods import get_method
from .metrics import CONVENTIONS, RHO_CONVENTION, UNDEFINED, metric, metric_names
from .runtime import cache_root
from .scramblers import (
    ALL_METHODS,
    CHANNEL_MAPS,
    MAX_PIXELS,
    METHODS,
    index_map,
    keygen,
    scramble,
    unscramble,
)

PROGRESS_FROM = 32  # files; fewer finish too quickly for a progress bar to help (shown on a terminal)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _shape(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shape must look like 32x32, got {text!r}") from None
    return h, w


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog="pih", description="Scramble images with keys (PE, EtC, LE, ELE), "
                "after Madono et al., 'Scrambling Parameter Generation to Improve Perceptual "
                "Information Hiding'.")
    p.add_argument("--version", action="version", version=f"pih (pihlib) {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    k = sub.add_parser("keygen", help="draw a random key and write it (mode 0600)")
    k.add_argument("method", metavar="METHOD", choices=ALL_METHODS, help=" | ".join(ALL_METHODS))
    k.add_argument("--seed", type=int, default=None, help="seed (default: fresh entropy)")
    k.add_argument("--block-size", type=int, default=None, help="block size for LE, ELE, EtC (default 4)")
    k.add_argument("--shape", type=_shape, default=(32, 32), help="image size HxW (default 32x32)")
    k.add_argument("--inverted", type=int, help="PE-IIR: number of inverted values")
    k.add_argument("--channel-maps", choices=CHANNEL_MAPS, default=None,
                   help="PE, EtC: 'authors-aliased' reproduces the authors' lossy channel step")
    k.add_argument("-o", "--output", required=True, metavar="KEYFILE")
    k.add_argument("--force", action="store_true", help="replace an existing KEYFILE")
    for name, verb in (("scramble", "scramble"), ("unscramble", "unscramble")):
        s = sub.add_parser(name, help=f"{verb} PNG images; outputs keep their file names")
        s.add_argument("keyfile", metavar="KEYFILE")
        s.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR")
        s.add_argument("-o", "--output", required=True, metavar="OUTDIR")
        s.add_argument("--force", action="store_true", help="replace existing files in OUTDIR")
    f = sub.add_parser("fingerprint", help="print a key file's fingerprint")
    f.add_argument("keyfile", metavar="KEYFILE")
    ks = sub.add_parser("keysearch", help="Algorithm 1: keep the key with the highest rho (mean LPIPS) "
                        "among N random keys, scored over a CIFAR-10 source")
    ks.add_argument("method", metavar="METHOD", choices=METHODS, help=" | ".join(METHODS))
    ks.add_argument("--images", required=True, metavar="PATH",
                    help="CIFAR-10: an .npz, a folder of class folders, a .tar/.tar.gz, or 'official'")
    ks.add_argument("--split", choices=SPLITS, default="train")
    ks.add_argument("--count", type=int, metavar="M", help="score over the first M images (default: all)")
    ks.add_argument("--trials", type=int, default=20, metavar="N", help="candidate keys (default 20)")
    ks.add_argument("--seed", type=int, default=None)
    ks.add_argument("--block-size", type=int, default=None, help="block size for LE, ELE, EtC (default 4)")
    ks.add_argument("--scheme", choices=SCHEMES, default="fresh",
                    help="'reshuffle': the authors' candidates for PE and EtC (one key, reshuffled)")
    ks.add_argument("--convention", choices=CONVENTIONS, default=RHO_CONVENTION,
                    help="LPIPS input convention of rho (default: the authors', [0,1] fed as is)")
    ks.add_argument("--json", action="store_true", help="print every candidate's fingerprint and rho as JSON")
    ks.add_argument("-o", "--output", required=True, metavar="KEYFILE")
    ks.add_argument("--force", action="store_true", help="replace an existing KEYFILE")
    m = sub.add_parser("metric", help="an image metric of PNG files: REF and DIST, or one image for a "
                       "no-reference metric; folders of PNGs compare as sets (FID) or pairwise (mean)")
    m.add_argument("name", metavar="NAME", choices=metric_names(), help=" | ".join(metric_names()))
    m.add_argument("images", nargs="+", metavar="REF [DIST]")
    m.add_argument("--net", choices=("alex", "vgg"), help="lpips: backbone (default alex)")
    m.add_argument("--convention", choices=CONVENTIONS,
                   help="lpips: 'lpips' scales [0,1] images to [-1,1] as the official LPIPS (default); "
                        "'authors' feeds [0,1] as the paper's authors did")
    return p


def _read_set(item: str) -> tuple[list[str], torch.Tensor]:
    """The PNG files of a file or folder: their names and the images, N x 3 x H x W uint8."""
    files = _gather_inputs([item])
    shapes = {}
    images = [_read_png(f) for f in files]
    for f, im in zip(files, images, strict=True):
        shapes.setdefault(im.shape, f)
    if len(shapes) > 1:
        a, b = list(shapes.values())[:2]
        raise PihError(f"images of different sizes in {item}: {a.name} and {b.name}")
    return [f.name for f in files], torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)


def _metric(args: argparse.Namespace) -> None:
    options = {k: v for k, v in (("net", args.net), ("convention", args.convention)) if v is not None}
    if options and args.name != "lpips":
        raise PihError(f"--net and --convention apply to lpips only, not {args.name}")
    m = metric(args.name, **options)
    want = 2 if m.info.reference else 1
    if len(args.images) != want:
        raise PihError(f"{args.name} takes {'REF and DIST' if want == 2 else 'one image'}, "
                       f"got {len(args.images)} path(s)")
    read = [_read_set(item) for item in args.images]
    sets = [images for _, images in read]
    if not m.info.per_image and min(len(s) for s in sets) < 2:
        raise PihError(f"{args.name} compares two sets of images: give two folders of PNG files")
    if m.info.per_image and want == 2 and all(Path(i).is_dir() for i in args.images):
        (names_a, a), (names_b, b) = read  # pairs by file name
        unmatched = sorted(set(names_a) ^ set(names_b))
        if unmatched:
            where = args.images[0] if unmatched[0] in names_a else args.images[1]
            raise PihError(f"{unmatched[0]} is in {where} only: folders are compared pairwise by file name")
        sets = [a, b[[names_b.index(n) for n in names_a]]]
    value = m(*sets)
    undefined = [n for n, v in zip(read[-1][0], value.view(-1).tolist(), strict=False) if v != v]
    if undefined:
        raise PihError(f"{args.name} is undefined for {', '.join(undefined[:3])}"
                       f"{f' and {len(undefined) - 3} more' if len(undefined) > 3 else ''}: {UNDEFINED}")
    print(f"{value.double().mean().item():.6g}")


def _gather_inputs(inputs: list[str]) -> list[Path]:
    """The files named, and the ``*.png`` files of the folders named: each a regular file that can be
    read (a FIFO, socket or device, a broken link or an unreadable file is refused by name)."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            try:
                entries = sorted(path.iterdir())
            except OSError as e:
                raise PihError(f"folder {path} cannot be read: {e.strerror or type(e).__name__}") from None
            found = [p for p in entries if p.suffix.lower() == ".png" and not p.is_dir()]
            if not found:
                raise PihError(f"folder {path} holds no .png files")
            files += found
        else:
            files.append(path)
    for f in files:
        check_regular_file(f)
    names = [f.name for f in files]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise PihError(f"two inputs share the file name {dup[0]}; outputs keep input names")
    return files


def _png_header(path: Path) -> tuple[int, int, int]:
    """Width, height and bit depth from a PNG's header, read before any pixel is decoded."""
    try:
        with open(path, "rb") as f:
            head = f.read(29)
    except OSError as e:
        raise PihError(f"{path} cannot be read: {e.strerror or type(e).__name__}") from None
    if len(head) < 29 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise PihError(f"{path} is not a readable image: not a PNG file (pih reads and writes PNG only)")
    width, height, depth = struct.unpack(">IIB", head[16:25])
    return width, height, depth


def _read_png(path: Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """An 8-bit RGB PNG as H x W x 3 uint8; anything that would not come back exactly is refused."""
    width, height, depth = _png_header(path)
    if width * height > MAX_PIXELS:
        raise PihError(f"{path} claims {width}x{height} pixels, more than pih takes ({MAX_PIXELS:,})")
    if depth != 8:
        raise PihError(f"{path} has {depth}-bit samples; pih scrambles 8-bit RGB images exactly, "
                       "so it refuses to convert them")
    if shape is not None and (height, width) != shape:
        raise PihError(f"{path} is {height}x{width} but the key was made for {shape[0]}x{shape[1]} images")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.mode != "RGB":
                    raise PihError(f"{path} is a {im.mode} image; pih scrambles 8-bit RGB images")
                if "transparency" in im.info:
                    raise PihError(f"{path} has a transparent colour (tRNS), which pih would drop; "
                                   "give an RGB image without transparency")
                if getattr(im, "n_frames", 1) > 1:
                    raise PihError(f"{path} is animated ({im.n_frames} frames); pih takes one frame")
                return np.asarray(im, np.uint8)
    except (PihError, MemoryError):
        raise
    except Exception as e:  # whatever Pillow raises while reading (a text or ICC chunk too large to
        # inflate is a ValueError, a bomb a DecompressionBombError/Warning): one line naming the file
        why = " ".join(str(e).split())[:200]
        raise PihError(f"{path} is not a readable image ({type(e).__name__}{': ' + why if why else ''})") \
            from None


def _png_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def _convert(args: argparse.Namespace, inverse: bool) -> None:
    key = load_key(args.keyfile)
    files = _gather_inputs(args.inputs)
    out_dir = Path(args.output)
    if inverse:  # refuse a lossy key before reading anything
        index_map(key, inverse=True)
    inputs = [*files, Path(args.keyfile)]  # no output may replace an image read or the key
    check_files_together(out_dir, [f.name for f in files], args.force, inputs)  # before the work
    show = len(files) >= PROGRESS_FROM and sys.stderr.isatty()
    with tqdm(files, desc="reading", unit="file", disable=not show) as bar:
        images = np.stack([_read_png(f, key.shape) for f in bar])
    x = torch.from_numpy(images).permute(0, 3, 1, 2)
    out = (unscramble if inverse else scramble)(x, key).permute(0, 2, 3, 1).contiguous().numpy()
    with tqdm(files, desc="writing", unit="file", disable=not show) as bar:
        pngs = {f.name: _png_bytes(img) for f, img in zip(bar, out, strict=True)}
    write_files_together(out_dir, pngs, args.force, inputs=inputs)


def _keysearch(args: argparse.Namespace) -> None:
    if args.images == "official":
        inputs = [cache_root() / "cifar10"]
    else:
        source = Path(args.images).expanduser()
        inputs = [source]
        if os.path.lexists(source) and not source.is_dir():  # a FIFO would block, a device never end
            check_regular_file(source, "CIFAR-10 source")
    block_size = _block_size(args.method, args.block_size)
    check_output_file(args.output, args.force, inputs)  # before minutes of searching
    data = load_cifar10(args.split, args.images, count=args.count)
    result = search(data.images, args.method, trials=args.trials, seed=args.seed, scheme=args.scheme,
                    convention=args.convention, block_size=block_size, progress=sys.stderr.isatty())
    check_output_file(args.output, args.force, inputs)  # nothing appeared there meanwhile
    save_key(result.key, args.output)
    if args.json:
        print(json.dumps({**result.as_dict(), "images": data.source.as_dict()}, indent=1))
    else:
        print(f"{args.method} key {fingerprint(result.key)}: rho {result.score:.4f} ({args.convention} "
              f"convention), best of {args.trials} over {len(data)} {args.split} images; written to "
              f"{args.output}")


def _block_size(method: str, given: int | None) -> int | None:
    """``--block-size`` for ``method``: 4 if not given; refused for a method without blocks."""
    if given is not None and not get_method(method).blocks:
        raise PihError(f"{method} scrambles single pixels and takes no --block-size")
    return 4 if given is None else given


def _keygen(args: argparse.Namespace) -> None:
    block_size = _block_size(args.method, args.block_size)
    check_output_file(args.output, args.force)
    options = {}
    if args.inverted is not None:
        options["inverted"] = args.inverted
    if args.channel_maps is not None:
        options["channel_maps"] = args.channel_maps
    key = keygen(args.method, seed=args.seed, shape=args.shape, block_size=block_size, **options)
    save_key(key, args.output)
    print(f"{key.method} key {fingerprint(key)} written to {args.output}")


def main(argv: list[str] | None = None) -> int:
    def body() -> None:
        args = _parser().parse_args(argv)
        if args.command == "keygen":
            _keygen(args)
        elif args.command == "fingerprint":
            print(fingerprint(load_key(args.keyfile)))
        elif args.command == "metric":
            _metric(args)
        elif args.command == "keysearch":
            _keysearch(args)
        else:
            _convert(args, inverse=args.command == "unscramble")

    return run_command("pih", body)


if __name__ == "__main__":
    sys.exit(main())
