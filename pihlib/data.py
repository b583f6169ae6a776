"""CIFAR-10 as uint8 N x 3 x 32 x 32 tensors, with labels and a record of where the images came from.

Sources, in this order: the ``source`` argument, the environment variable ``PIH_CIFAR10``, then the
official download through torchvision into the cache folder. A source is
- ``"official"``: ``torchvision.datasets.CIFAR10(download=True)`` (needs internet to the authors' host);
- an ``.npz`` with ``{split}_images`` (N, 32, 32, 3) uint8, ``{split}_labels`` and ``classes``
  (the layout of ``../shared/data/cifar10-lossless-3k.npz``), read in its own order;
- a folder of class folders of images, with or without ``train/`` and ``test/`` above them;
- a ``.tar`` or ``.tar.gz`` of such a folder (``../shared/data/cifar10-jpeg-60k.tar.gz``).
Folder and archive sources keep no global index: their images are ordered class-interleaved (the first
image of each class in class order, then the second of each, ...), so that any prefix is balanced.
JPEG files make a source lossy, and the record says so. Nothing is ever silently replaced by other data.

Reference: A. Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", technical report,
University of Toronto, 2009 (CIFAR-10: 50,000 training and 10,000 test images, 32 x 32 RGB, 10 classes).
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ._io import sha256_file
from .errors import PihError
from .runtime import cache_root

#: CIFAR-10's ten class names; label k of an ``ImageSet`` is ``CIFAR10_CLASSES[k]`` (the official order).
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
SPLITS = ("train", "test")
IMAGE_SUFFIXES = {".png": True, ".bmp": True, ".jpg": False, ".jpeg": False}  # suffix -> lossless
HOW_TO = ("Provide CIFAR-10 with load_cifar10(source=PATH) or the environment variable "
          "PIH_CIFAR10=PATH, where PATH is an .npz in the layout of cifar10-lossless-3k.npz, a folder "
          "of class folders of images, or a .tar/.tar.gz of one; or use source='official' to let "
          "torchvision download the official files (needs internet).")


@dataclass(frozen=True)
class DataSource:
    """Where a set of images came from: enough to say in a book which data produced a number.

    Built by ``load_cifar10``; frozen. ``as_dict()`` gives it as plain JSON-ready values.

    Attributes:
        kind: ``"official"`` (torchvision's download), ``"npz"``, ``"folder"`` or ``"tar"``.
        path: the source as given (the cache folder for ``"official"``).
        sha256: hex sha256 of the source: of the file for an npz or a tar archive (of the official
            archive for ``"official"``), and of the sorted names and contents of the images for a
            folder.
        lossless: False when the source holds JPEG files (their pixels are not CIFAR-10's).
        count: the number of images loaded (after ``count=`` in ``load_cifar10``).
        split: ``"train"`` or ``"test"``.
        order: ``"official"`` (the source's own order), ``"class-interleaved"`` (folder and archive
            sources: first image of each class, then the second of each, ...), or ``"paired with
            ..."`` (``paired_copy``).
    """

    kind: str  # "official", "npz", "folder" or "tar"
    path: str
    sha256: str  # of the file (npz, tar, official archive) or of the folder's files and names
    lossless: bool
    count: int
    split: str
    order: str  # "official" or "class-interleaved"

    def as_dict(self) -> dict:
        """The record as a dict of its seven fields (str, bool and int values), for JSON.

        Returns:
            dict: ``{"kind", "path", "sha256", "lossless", "count", "split", "order"}``.
        """
        return asdict(self)


@dataclass(frozen=True)
class ImageSet:
    """A set of CIFAR-10 images with their labels and the record of their source.

    Built by ``load_cifar10``; frozen (the tensors themselves are not copied or locked). ``len()`` is
    the number of images.

    Attributes:
        images: uint8 tensor N x 3 x 32 x 32 (RGB, levels 0..255, on the CPU, contiguous).
        labels: int64 tensor of shape (N,), class numbers 0..9 indexing ``classes``.
        classes: the ten class names, ``CIFAR10_CLASSES``.
        source: the ``DataSource`` the images came from (``source.count == N``).
    """

    images: torch.Tensor  # uint8 N x 3 x 32 x 32
    labels: torch.Tensor  # int64 N
    classes: tuple[str, ...]
    source: DataSource

    def __len__(self) -> int:
        """The number of images N."""
        return len(self.labels)


def load_cifar10(split: str = "train", source: str | os.PathLike | None = None,
                 count: int | None = None, cache_dir: str | os.PathLike | None = None) -> ImageSet:
    """Load CIFAR-10 ``split`` ("train" or "test"); ``count`` keeps the first ``count`` images.

    The source is ``source``, else the environment variable ``PIH_CIFAR10``, else the official files
    (see the module docstring for the kinds of source and their order). Nothing is ever replaced by
    other data: a missing or damaged source is an error, never a fallback.

    Args:
        split: ``"train"`` (50,000 official images) or ``"test"`` (10,000).
        source: ``"official"`` (torchvision downloads the official archive; needs internet), or the
            path of an ``.npz`` (``{split}_images`` uint8 (N, 32, 32, 3), ``{split}_labels``,
            ``classes``), of a folder of class folders of PNG/BMP/JPEG images (with or without
            ``train/`` and ``test/`` above them), or of a ``.tar``/``.tar.gz``/``.tgz`` of such a
            folder. None: ``$PIH_CIFAR10``, else ``"official"``.
        count: keep only the first ``count`` images of the source's order (a positive int); None
            keeps all. Folder and archive sources decode only those (their order is
            class-interleaved, so any prefix is balanced across classes).
        cache_dir: where the official download goes; None: ``cache_root() / "cifar10"``. Only used
            for ``source="official"``.

    Returns:
        ImageSet: ``images`` uint8 N x 3 x 32 x 32 (0..255, CPU), ``labels`` int64 (N,) in 0..9,
        ``classes`` = ``CIFAR10_CLASSES``, and the ``DataSource`` record (sha256, lossless, order).

    Raises:
        PihError: ``split`` is not "train"/"test"; ``count`` is not a positive int or None, or
            asks for more images than the source holds; the source path does not exist or is not an
            npz, folder or tar; the file is damaged (not an npz or tar archive, truncated); an npz
            lacks the split's arrays or has other classes; class folders are not CIFAR-10's, hold no
            images of the split, or hold a non-image file or an image that is not RGB 32 x 32;
            the images are not uint8 (N, 32, 32, 3) with N >= 1 and integer labels 0..9 (one per
            image); the official download fails (no network). The message says how to provide
            CIFAR-10.

    References:
        A. Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", technical report,
        University of Toronto, 2009.

    Example::

        data = pihlib.load_cifar10("test", source="cifar10-lossless-3k.npz", count=100)
        data.images.shape, data.source.lossless  # (torch.Size([100, 3, 32, 32]), True)
    """
    return _load(split, source, count, cache_dir, strict=True)


def _load(split: str, source, count: int | None, cache_dir, strict: bool) -> ImageSet:
    """``load_cifar10``; with ``strict=False`` a ``count`` beyond the source's size keeps all of it."""
    if split not in SPLITS:
        raise PihError(f"split must be 'train' or 'test', got {split!r}")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise PihError(f"count must be a positive integer or None, got {count!r}")
    source = source if source is not None else os.environ.get("PIH_CIFAR10") or "official"
    if str(source) == "official":
        images, labels, record = _load_official(split, Path(cache_dir or cache_root() / "cifar10"))
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise PihError(f"CIFAR-10 source {path} does not exist. {HOW_TO}")
        if path.is_dir():
            images, labels, record = _load_class_files(_folder_entries(path, split), "folder", path, split,
                                                       count)
        elif path.name.endswith((".tar", ".tar.gz", ".tgz")):
            images, labels, record = _load_tar(path, split, count)
        elif path.suffix == ".npz":
            images, labels, record = _load_npz(path, split)
        else:
            raise PihError(f"CIFAR-10 source {path} is neither an .npz, a folder nor a .tar/.tar.gz. "
                           f"{HOW_TO}")
    total = record.pop("total", len(labels))  # class folders decode only the first ``count``
    if count is not None:
        if count > total and strict:
            raise PihError(f"asked for {count} {split} images but {record['path']} holds {total}")
        images, labels = images[:count], labels[:count]
    _check_arrays(images, labels, record["path"])
    return ImageSet(images=torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))),
                    labels=torch.from_numpy(labels.astype(np.int64)), classes=CIFAR10_CLASSES,
                    source=DataSource(count=len(labels), split=split, **record))


def _check_arrays(images: np.ndarray, labels: np.ndarray, where: str) -> None:
    """The one check of every source's arrays: uint8 images (N, 32, 32, 3) with N >= 1, and one
    integer label 0..9 for each (not float, which NaN or 8.1 would pass as, nor bool)."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise PihError(f"{where}: images must be uint8 (N, 32, 32, 3), got {images.dtype} {images.shape}")
    if not len(images):
        raise PihError(f"{where} holds no images")
    if labels.shape != (len(images),):
        raise PihError(f"{where}: {len(images)} images but labels of shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise PihError(f"{where}: labels must be integer class numbers 0..9, got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() > 9:
        raise PihError(f"{where}: labels must be class numbers 0..9, found {labels.min()}..{labels.max()}")


def _load_npz(path: Path, split: str):
    try:
        with np.load(path, allow_pickle=False) as f:
            names = set(f.files)
            need = {f"{split}_images", f"{split}_labels", "classes"}
            if not need <= names:
                raise PihError(f"{path} is not a CIFAR-10 npz: it lacks {', '.join(sorted(need - names))}")
            images, labels = f[f"{split}_images"], f[f"{split}_labels"]
            classes = tuple(str(c) for c in f["classes"])
    except PihError:
        raise
    except Exception as e:  # zipfile, pickle refusal, truncated data: all mean a damaged file
        raise PihError(f"{path} is damaged or not an .npz ({type(e).__name__}: {e}). {HOW_TO}") from None
    if classes != CIFAR10_CLASSES:
        raise PihError(f"{path}: classes {classes} are not CIFAR-10's {CIFAR10_CLASSES}")
    _check_arrays(images, labels, str(path))
    return images, labels, dict(kind="npz", path=str(path), sha256=sha256_file(path), lossless=True,
                                order="official")


def _load_official(split: str, root: Path):
    from torchvision.datasets import CIFAR10

    try:
        ds = CIFAR10(root=str(root), train=split == "train", download=True)
    except Exception as e:  # no network, a refused host, a corrupt download
        raise PihError(f"could not download the official CIFAR-10 into {root} "
                       f"({type(e).__name__}: {e}). {HOW_TO}") from None
    archive = root / CIFAR10.filename
    digest = sha256_file(archive) if archive.exists() else _hash_files(
        sorted((root / CIFAR10.base_folder).iterdir()))
    return (np.asarray(ds.data, np.uint8), np.asarray(ds.targets),
            dict(kind="official", path=str(root), sha256=digest, lossless=True, order="official"))


def source_sha256(source: str | os.PathLike) -> str:
    """sha256 of a data source as it lies on disk: a file's bytes, or a folder's files (names relative
    to it, and contents) in sorted order. For keying results by their inputs.

    Args:
        source: the path of a file or folder (an npz, a tar archive, a folder of class folders).

    Returns:
        str: 64 lowercase hex digits. For a folder this is not ``DataSource.sha256`` (which hashes
        only one split's images, with class-relative names).

    Raises:
        PihError: ``source`` is neither a file nor a folder (it does not exist).
    """
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        h = hashlib.sha256()
        for p in files:
            h.update(str(p.relative_to(path)).encode() + b"\0" + bytes.fromhex(sha256_file(p)))
        return h.hexdigest()
    if not path.is_file():
        raise PihError(f"data source {path} does not exist")
    return sha256_file(path)


def _hash_files(paths: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode() + b"\0" + bytes.fromhex(sha256_file(p)))
    return h.hexdigest()


# Folder and archive sources: a list of (class name, relative name, reader) entries -------------------

Entry = tuple[str, str, Callable[[], bytes]]


def _pick(parts: list[str], split: str, has_splits: bool) -> str | None:
    """The class of a file with path ``parts``, or None if it belongs to another split."""
    if has_splits:
        return parts[-2] if len(parts) >= 3 and parts[-3] == split else None
    return parts[-2] if len(parts) >= 2 else None


def _folder_entries(root: Path, split: str) -> list[Entry]:
    has_splits = (root / split).is_dir()
    base = root / split if has_splits else root
    entries = []
    for cls_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        for f in sorted(p for p in cls_dir.iterdir() if p.is_file()):
            entries.append((cls_dir.name, f"{cls_dir.name}/{f.name}", f.read_bytes))
    return entries


def _load_tar(path: Path, split: str, count: int | None = None):
    try:
        with tarfile.open(path) as tf:
            members = [m for m in tf.getmembers() if m.isfile()]
            has_splits = any(len(p) >= 3 and p[-3] in SPLITS for p in (m.name.split("/") for m in members))
            entries = []
            for m in members:
                parts = m.name.split("/")
                cls = _pick(parts, split, has_splits)
                if cls is not None and not parts[-1].startswith("."):
                    data = tf.extractfile(m).read()
                    entries.append((cls, f"{cls}/{parts[-1]}", lambda d=data: d))
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:  # truncated or not an archive
        raise PihError(f"{path} is damaged or not a tar archive ({type(e).__name__}: {e}). "
                       f"{HOW_TO}") from None
    images, labels, record = _load_class_files(entries, "tar", path, split, count)
    record["sha256"] = sha256_file(path)
    return images, labels, record


def _load_class_files(entries: list[Entry], kind: str, path: Path, split: str, count: int | None = None):
    """Images of class folders, class-interleaved; with ``count``, only the first ``count`` of that
    order are decoded (every file is still read and hashed for the record)."""
    if not entries:
        raise PihError(f"{path} holds no {split} images in class folders. {HOW_TO}")
    found = sorted({cls for cls, _, _ in entries})
    unknown = [c for c in found if c not in CIFAR10_CLASSES]
    if unknown:
        raise PihError(f"{path}: folders {unknown} are not CIFAR-10 classes {list(CIFAR10_CLASSES)}")
    entries = sorted(entries, key=lambda e: (e[0], e[1]))
    h = hashlib.sha256()
    rank: dict[str, int] = {}
    keys, lossless, blobs = [], True, []
    for cls, name, read in entries:
        suffix = Path(name).suffix.lower()
        if suffix not in IMAGE_SUFFIXES:
            raise PihError(f"{path}: {name} is not an image file ({', '.join(IMAGE_SUFFIXES)})")
        lossless &= IMAGE_SUFFIXES[suffix]
        data = read()
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        keys.append((rank.setdefault(cls, 0), CIFAR10_CLASSES.index(cls)))
        rank[cls] += 1
        blobs.append((name, data))
    order = sorted(range(len(keys)), key=keys.__getitem__)[:count]  # class-interleaved
    images = []
    for i in order:
        name, data = blobs[i]
        try:
            with Image.open(io.BytesIO(data)) as im:
                if im.mode != "RGB" or im.size != (32, 32):
                    raise PihError(f"{path}: {name} is {im.mode} {im.size[0]}x{im.size[1]}, "
                                   "not an RGB 32x32 CIFAR-10 image")
                images.append(np.asarray(im, np.uint8))
        except (UnidentifiedImageError, OSError) as e:
            raise PihError(f"{path}: {name} is not a readable image ({e})") from None
    labels = np.array([keys[i][1] for i in order])
    return (np.stack(images), labels,
            dict(kind=kind, path=str(path), sha256=h.hexdigest(), lossless=bool(lossless),
                 order="class-interleaved", total=len(keys)))


def paired_copy(reference: ImageSet, copy: ImageSet) -> ImageSet:
    """The images of ``copy`` that are copies of ``reference``'s, in ``reference``'s order.

    ``reference`` is a prefix of the official order (the official files, or an npz such as the shared
    lossless one); ``copy`` a class-folder source read class-interleaved (such as the shared JPEG
    copy), whose folders keep each class's official order. The k-th image of class c in the one is
    then the k-th image of class c in the other.

    Args:
        reference: an ``ImageSet`` in the official order (``source.order == "official"``).
        copy: an ``ImageSet`` of the same split from a folder or archive (class-interleaved).

    Returns:
        ImageSet: ``len(reference)`` images of ``copy`` (uint8 N x 3 x 32 x 32) with their labels,
        image i the copy of ``reference.images[i]``; its source's ``order`` says ``"paired with
        <kind> <sha256 prefix>"`` and ``count`` is N.

    Raises:
        PihError: ``reference`` is not in the official order; ``copy`` is not class-interleaved or is
            of another split; ``copy`` holds fewer images of some class than ``reference`` needs.
    """
    if reference.source.order != "official":
        raise PihError(f"pairing needs the reference in the official order, {reference.source.path} is "
                       f"{reference.source.order}")
    if copy.source.order != "class-interleaved" or copy.source.split != reference.source.split:
        raise PihError(f"pairing needs a class-folder copy of the {reference.source.split} split, got "
                       f"{copy.source.path} ({copy.source.order}, {copy.source.split})")
    labels = copy.labels.tolist()
    where: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        where.setdefault(label, []).append(i)
    seen: dict[int, int] = {}
    index = []
    for label in reference.labels.tolist():
        rank = seen.get(label, 0)
        seen[label] = rank + 1
        if rank >= len(where.get(label, [])):
            raise PihError(f"{copy.source.path} holds too few {CIFAR10_CLASSES[label]} images to pair with "
                           f"the first {len(reference)} of {reference.source.path}")
        index.append(where[label][rank])
    index_t = torch.tensor(index)
    order = f"paired with {reference.source.kind} {reference.source.sha256[:12]}"
    return ImageSet(copy.images[index_t], copy.labels[index_t], copy.classes,
                    DataSource(**{**copy.source.as_dict(), "count": len(index), "order": order}))


def load_paired_copy(reference: ImageSet, source: str | os.PathLike) -> ImageSet:
    """``paired_copy`` of ``reference`` from a class-folder ``source``, decoding only the balanced
    prefix that holds the pairs (class-interleaved order: the first k of every class).

    Args:
        reference: an ``ImageSet`` in the official order.
        source: a folder of class folders, or a ``.tar``/``.tar.gz`` of one, of the same split.

    Returns:
        ImageSet: as ``paired_copy(reference, copy)``.

    Raises:
        PihError: as ``load_cifar10`` for ``source``, and as ``paired_copy``.
    """
    need = len(CIFAR10_CLASSES) * int(torch.bincount(reference.labels, minlength=len(CIFAR10_CLASSES)).max())
    return paired_copy(reference, _load(reference.source.split, source, need, None, strict=False))
