"""The scrambling key: a small, typed, self-describing object, how one is drawn, its file format and
its fingerprint.

A key holds the method name, the image shape it was drawn for, the block size (None for PE and
PE-IIR), the method's options and a few numpy arrays (``pihlib.methods`` says which, for each
method). Every ``Key`` is checked when it is made (by ``keygen``, from a file, or by hand), so an
invalid key cannot exist. Keys are secrets: ``repr`` and ``str`` show only the fingerprint, and key
files are written with mode 0600.

Key file format (version 1): UTF-8 JSON text, one object
``{"format": "pihlib.key", "version": 1, "method", "shape": [H, W], "block_size", "options",
"arrays": {name: {"dtype", "shape", "data"}}, "sha256"}``. Each array is stored as ``data``, base64 of
its values' little-endian bytes in the stored ``dtype`` (``bool`` or an integer type); the reader
converts it to the dtype the key holds it in. ``save_key`` stores an integer array in the smallest
unsigned type that holds its largest value (uint8 for codes and for permutations of up to 256 values,
uint16 up to 65,536, uint32 beyond). Files written before it stored the key's own dtypes (int64
permutations): it is the same format (the reader has always taken any integer dtype), so old files
still load and older pihlib reads the new ones. ``sha256`` is the key's digest (see
``Key.digest``), which does not depend on the stored dtypes; a file whose content does not match it
is refused, and so is a file larger than ``MAX_KEY_BYTES`` (1 GiB). The largest keys ``keygen`` makes
(LE or ELE with blocks of more than 104 x 104 pixels in an image of ``MAX_PIXELS``: 6 four-bit values a
pixel, each in uint32) have files of at most 536,874,057 bytes (``key_file_bytes``); ELE at 4096 x 4096
with 1-pixel blocks has 223,696,629. Written in the key's own dtypes (int64 permutations), as before,
that key took about 1.25e9 bytes (1.08e9 with 4-pixel blocks), over the limit: it could not be read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import os
import stat
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_write_bytes
from .errors import PihError
from .methods import check_geometry, check_key, check_options, get_method

FORMAT = "pihlib.key"
VERSION = 1
FINGERPRINT_CHARS = 16
MAX_KEY_BYTES = 1 << 30  # the largest key's file is about half of this (tests/test_keys.py)



@dataclass(frozen=True, eq=False, repr=False)
class Key:
    """A scrambling key, checked when it is made. Draw one with ``pihlib.keygen``; read one with
    ``pihlib.load_key``; a key made by hand is checked the same way.

    Attributes:
        method: ``"PE"``, ``"EtC"``, ``"LE"``, ``"ELE"`` or ``"PE-IIR"``.
        shape: (H, W), the image size the key is for, positive ints with H*W <= 4096*4096.
        block_size: B for EtC, LE and ELE (it divides H and W); None for PE and PE-IIR.
        arrays: name -> read-only numpy array, as the method's registry entry says
            (``pihlib.methods``); with n = (H/B)(W/B) blocks:
            PE: ``invert`` bool 3 x H x W, ``channel_order`` uint8 H x W (codes 0..5);
            PE-IIR: ``invert`` bool 3 x H x W with exactly ``inverted`` True;
            EtC: ``rotation`` uint8 (n,) 0..3, ``invert`` bool (n,) with n // 2 True, ``flip`` uint8
            (n,) 0..2, ``channel_order`` uint8 (n,) 0..5, ``block_order`` int64 (n,) a permutation;
            LE: ``perm`` int64 (6B^2,) a permutation;
            ELE: ``block_perms`` int64 n x 6B^2, each row a permutation, ``block_order`` int64 (n,).
            Arrays given in any integer or bool dtype are copied into these dtypes.
        options: ``{"channel_maps": "authors-aliased"}`` (PE, EtC; the authors' lossy channel step),
            ``{"inverted": count}`` (PE-IIR, required), else empty.

    Two keys are equal when their digests are; ``repr`` and ``str`` show only the fingerprint.

    Raises:
        PihError: an unknown method; a shape or block size the method cannot take; an option it does
            not take or a bad value; arrays with other names, shapes, values out of bounds or a
            non-integer dtype; a permutation that is not one; the wrong number of inversions (EtC:
            half the blocks; PE-IIR: ``inverted``).

    References:
        The methods and their sources: ``pihlib.methods``; the paper: Madono et al., "Scrambling
        Parameter Generation to Improve Perceptual Information Hiding", IS&T Electronic Imaging.
    """

    method: str
    shape: tuple[int, int]
    block_size: int | None
    arrays: dict[str, np.ndarray]
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        shape = tuple(int(s) for s in self.shape)
        parts = check_key(self.method, shape, self.block_size, self.arrays, self.options)
        object.__setattr__(self, "shape", parts.shape)
        object.__setattr__(self, "arrays", parts.arrays)
        object.__setattr__(self, "options", parts.options)
        for a in self.arrays.values():
            a.setflags(write=False)

    @cached_property
    def digest(self) -> str:
        """sha256 (64 hex digits) over the canonical bytes: the header JSON, then each array's name,
        dtype (the key's own, not a file's), shape and little-endian data."""
        h = hashlib.sha256()
        header = {"method": self.method, "shape": list(self.shape), "block_size": self.block_size,
                  "options": self.options}
        h.update(json.dumps(header, sort_keys=True, separators=(",", ":")).encode())
        for name in sorted(self.arrays):
            a = self.arrays[name]
            h.update(f"\0{name}\0{a.dtype.name}\0{list(a.shape)}\0".encode())
            h.update(_le_bytes(a))
        return h.hexdigest()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Key) and self.digest == other.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    def __repr__(self) -> str:
        bs = "" if self.block_size is None else f", block_size={self.block_size}"
        return (f"Key(method={self.method!r}, shape={self.shape}{bs}, "
                f"fingerprint={fingerprint(self)!r})")

    __str__ = __repr__


def keygen(method: str, seed: int | np.random.Generator | None = None, shape: tuple[int, int] = (32, 32),
           block_size: int | None = 4, **options: Any) -> Key:
    """Draw a random key for ``method``.

    Args:
        method: ``"PE"``, ``"EtC"``, ``"LE"``, ``"ELE"`` (``pihlib.METHODS``) or ``"PE-IIR"``.
        seed: a non-negative int, a ``numpy.random.Generator`` (drawn from), or None (fresh
            entropy). The same int gives the same key on every platform numpy's PCG64 runs on.
        shape: (H, W) of the images the key is for: positive ints, H*W <= 4096*4096.
        block_size: B, for EtC, LE and ELE: a positive int dividing H and W; ignored by PE and PE-IIR.
        **options: ``channel_maps="authors-aliased"`` (PE, EtC) reproduces the authors' defective
            channel step, which duplicates channels: such a key is lossy and cannot be unscrambled.
            ``inverted=<count>`` (PE-IIR, required): how many of the 3*H*W values are inverted,
            0 <= count <= 3*H*W.

    Returns:
        Key: the arrays are the method's (see ``Key``): PE an H x W channel code and a 3 x H x W
        inversion mask; EtC per-block codes for H*W/B^2 blocks and their order; LE one permutation
        of the 6*B^2 four-bit values of a block; ELE one for every block and the blocks' order.

    Raises:
        PihError: an unknown method or option, a bad shape, block size, option value or seed.

    References:
        The methods' sources are cited in ``pihlib.methods``; the paper: Madono et al., "Scrambling
        Parameter Generation to Improve Perceptual Information Hiding", IS&T Electronic Imaging.
    """
    m = get_method(method)
    shape = tuple(shape)
    block_size = block_size if m.blocks else None
    check_geometry(m, shape, block_size)
    options = check_options(m, shape, options)
    return Key(method, shape, block_size, m.draw(rng_of(seed), shape, block_size, options), options)


def rng_of(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A random generator from a seed: a non-negative integer, a Generator (used as it is), or None
    (fresh entropy). ``PihError`` for anything else."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0):
        raise PihError(f"seed must be a non-negative integer, a numpy Generator or None, got {seed!r}")
    return np.random.default_rng(seed)


def fingerprint(key: Key) -> str:
    """A short stable hash of the key: the only form in which a key is ever displayed.

    Args:
        key: a ``Key``.

    Returns:
        str: the first 16 hex digits of ``key.digest`` (sha256 of the key's canonical bytes), the same
        for equal keys on every platform, and unchanged by saving and loading.

    Raises:
        PihError: ``key`` is not a ``Key``.
    """
    if not isinstance(key, Key):
        raise PihError(f"fingerprint() takes a pihlib Key, not {type(key).__name__}")
    return key.digest[:FINGERPRINT_CHARS]


def _le_bytes(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()


def _stored_dtype(dtype: np.dtype, largest: int) -> np.dtype:
    """The dtype a key file stores an array in: bool as it is, integers in the smallest unsigned type
    that holds ``largest``."""
    return np.dtype(bool) if dtype.kind == "b" else np.min_scalar_type(largest)


def _json_text(method: str, shape: tuple[int, int], block_size: int | None, options: dict[str, Any],
               arrays: dict[str, tuple[str, list[int], str]], digest: str) -> str:
    """The key file's text; ``arrays``: name -> (stored dtype name, shape, base64 data)."""
    doc = {"format": FORMAT, "version": VERSION, "method": method, "shape": list(shape),
           "block_size": block_size, "options": options, "sha256": digest,
           "arrays": {name: {"dtype": dt, "shape": dims, "data": data}
                      for name, (dt, dims, data) in arrays.items()}}
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def key_to_json(key: Key) -> str:
    """The key file's text for ``key`` (see the module docstring)."""
    arrays = {}
    for name, a in sorted(key.arrays.items()):
        stored = a.astype(_stored_dtype(a.dtype, int(a.max()) if a.size else 0), copy=False)
        arrays[name] = (stored.dtype.name, list(a.shape), base64.b64encode(_le_bytes(stored)).decode("ascii"))
    return _json_text(key.method, key.shape, key.block_size, key.options, arrays, key.digest)


def key_file_bytes(method: str, shape: tuple[int, int], block_size: int | None = None, **options: Any) -> int:
    """The size of the file ``save_key`` writes for a key of this method and geometry, without drawing
    one (what ``MAX_KEY_BYTES`` is checked against).

    Exact for every key: an array's stored dtype follows from its largest value, which is its bound
    less one for a permutation, and any value of a bool or uint8-sized array needs one byte.

    Args:
        method: ``"PE"``, ``"EtC"``, ``"LE"``, ``"ELE"`` or ``"PE-IIR"``.
        shape: (H, W), as for ``keygen``.
        block_size: B for EtC, LE and ELE (ignored by PE and PE-IIR), as for ``keygen``.
        **options: as for ``keygen`` (PE-IIR needs ``inverted``).

    Returns:
        int: the file's size in bytes.

    Raises:
        PihError: what ``keygen`` would refuse: an unknown method or option, a bad shape, block size
            or option value.
    """
    m = get_method(method)
    shape = tuple(shape)
    block_size = block_size if m.blocks else None
    check_geometry(m, shape, block_size)
    options = check_options(m, shape, options)
    arrays, data = {}, 0
    for name, (dims, bound, dtype) in sorted(m.arrays(shape, block_size).items()):
        stored = _stored_dtype(np.dtype(dtype), bound - 1)
        arrays[name] = (stored.name, list(dims), "")
        data += 4 * ((math.prod(dims) * stored.itemsize + 2) // 3)  # base64
    return len(_json_text(method, shape, block_size, options, arrays, "0" * 64)) + data


def _field(doc: dict, name: str, kind: type | tuple[type, ...], where: str):
    """``doc[name]``, which must be of ``kind`` (a bool is never an int here)."""
    if name not in doc:
        raise PihError(f"{where} is damaged: it has no {name!r}")
    value = doc[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise PihError(f"{where} is damaged: {name!r} is {type(value).__name__}, not "
                       + " or ".join(k.__name__ for k in kinds))
    return value


def _int_list(value: list, name: str, where: str, length: int | None = None) -> list[int]:
    if (length is not None and len(value) != length) or \
            not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        want = f"{length} " if length is not None else ""
        raise PihError(f"{where} is damaged: {name!r} must be a list of {want}non-negative integers")
    return value


def key_from_json(text: str, where: str = "key file") -> Key:
    """A key from its JSON text: every field's type checked first, then the key's content (by its
    method) and its checksum. Any mismatch is a ``PihError`` that names the file."""
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise PihError(f"{where} is damaged: not valid JSON ({type(e).__name__})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise PihError(f"{where} is not a pihlib key file (no 'format': '{FORMAT}')")
    if doc.get("version") != VERSION:
        raise PihError(f"{where} has key format version {doc.get('version')!r}; "
                       f"this pihlib reads version {VERSION}")
    method = _field(doc, "method", str, where)
    shape = _int_list(_field(doc, "shape", list, where), "shape", where, 2)
    block_size = _field(doc, "block_size", (int, type(None)), where)
    options = _field(doc, "options", dict, where)
    stored = _field(doc, "sha256", str, where)
    arrays = {}
    for name, spec in _field(doc, "arrays", dict, where).items():
        at = f"array {name!r}"
        if not isinstance(spec, dict):
            raise PihError(f"{where} is damaged: {at} is {type(spec).__name__}, not an object")
        dtype_name = _field(spec, "dtype", str, f"{where}, {at},")
        dims = _int_list(_field(spec, "shape", list, f"{where}, {at},"), f"{name}.shape", where)
        data = _field(spec, "data", str, f"{where}, {at},")
        try:
            dtype = np.dtype(dtype_name)
            if dtype.kind not in "biu":
                raise TypeError(f"dtype {dtype_name}")
            raw = base64.b64decode(data, validate=True)
            arrays[name] = np.frombuffer(raw, dtype=dtype.newbyteorder("<")).reshape(dims)  # Key copies it
        except (TypeError, ValueError, binascii.Error) as e:
            raise PihError(f"{where} is damaged: {at}: {type(e).__name__}: {e}") from None
    try:
        key = Key(method, tuple(shape), block_size, arrays, options)
    except PihError as e:
        raise PihError(f"{where} is damaged or tampered with: {e}") from None
    except (TypeError, ValueError, IndexError, KeyError, AttributeError) as e:
        raise PihError(f"{where} is damaged or tampered with: {type(e).__name__}") from None
    if key.digest != stored:
        raise PihError(f"{where} is damaged or tampered with: its checksum does not match its content")
    return key


def save_key(key: Key, path: str | os.PathLike) -> Path:
    """Write ``key`` to ``path`` as a key file (format: the module docstring), atomically (through a
    temporary file in the same folder), readable by its owner only (mode 0600).

    Args:
        key: a ``Key``; its arrays are stored in the smallest dtypes that hold their values, so the
            file of the largest key ``keygen`` makes stays under ``MAX_KEY_BYTES`` and loads back.
        path: the file to write (its folder is created); an existing file is replaced.

    Returns:
        Path: ``path``, the file written.

    Raises:
        PihError: ``key`` is not a ``Key``.
        OSError: the file cannot be written (the message names ``path``).
    """
    if not isinstance(key, Key):
        raise PihError(f"save_key() takes a pihlib Key, not {type(key).__name__}")
    return atomic_write_bytes(path, key_to_json(key).encode(), mode=0o600)


def load_key(path: str | os.PathLike) -> Key:
    """Read a key file written by ``save_key`` (any version-1 file, in whatever integer dtypes its
    arrays are stored), checking its format, field types, content and checksum.

    Args:
        path: the key file.

    Returns:
        Key: equal to the key that was saved (same digest and fingerprint), its arrays in the
        method's dtypes whatever dtypes the file stores them in.

    Raises:
        PihError: the file does not exist, is a folder or not a regular file, cannot be read, is
            larger than ``MAX_KEY_BYTES`` (1 GiB), is not UTF-8 JSON, is not a pihlib key file or
            has another format version; a field is missing or of the wrong type; an array cannot be
            decoded to its shape; the content is not a valid key of its method (``Key``) or does not
            match its ``sha256``.
    """
    path = Path(path)
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise PihError(f"key file {path} is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block or never end
            raise PihError(f"key file {path} is not a regular file")
        if info.st_size > MAX_KEY_BYTES:
            raise PihError(f"key file {path} is {info.st_size:,} bytes, too large for a key")
        data = path.read_bytes()
    except FileNotFoundError:
        raise PihError(f"key file {path} does not exist") from None
    except OSError as e:
        raise PihError(f"key file {path} cannot be read: {e.strerror or type(e).__name__}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PihError(f"key file {path} is damaged: not UTF-8 text") from None
    return key_from_json(text, where=f"key file {path}")
