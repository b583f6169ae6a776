"""The scrambling key: a small, typed, self-describing object, its file format and its fingerprint.

A key holds the method name, the image shape it was drawn for, the block size (None for PE), the
method's options and a few numpy arrays. Every ``Key`` is checked when it is made (by ``keygen`` or
from a file), so an invalid key cannot exist. Keys are secrets: ``repr`` and ``str`` show only the
fingerprint, and key files are written with mode 0600.

Key file format (version 1): a JSON object
``{"format": "pihlib.key", "version": 1, "method", "shape", "block_size", "options",
"arrays": {name: {"dtype", "shape", "data": base64 of the little-endian bytes}}, "sha256"}``
where ``sha256`` is the digest of the key's canonical bytes (see ``Key.digest``); a file whose
content does not match it is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_write_bytes
from .errors import PihError

FORMAT = "pihlib.key"
VERSION = 1
FINGERPRINT_CHARS = 16
MAX_KEY_BYTES = 1 << 30  # a key for the largest image pihlib takes is well under this


@dataclass(frozen=True, eq=False, repr=False)
class Key:
    """A scrambling key. Make one with ``pihlib.keygen``; read one with ``pihlib.load_key``."""

    method: str
    shape: tuple[int, int]
    block_size: int | None
    arrays: dict[str, np.ndarray]
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from .scramblers import check_key  # the methods know what a valid key of theirs holds

        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        check_key(self)
        for a in self.arrays.values():
            a.setflags(write=False)

    @cached_property
    def digest(self) -> str:
        """sha256 over the canonical bytes: header JSON, then each array's name, dtype, shape, data."""
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


def fingerprint(key: Key) -> str:
    """A short stable hash of the key: the only form in which a key is ever displayed."""
    if not isinstance(key, Key):
        raise PihError(f"fingerprint() takes a pihlib Key, not {type(key).__name__}")
    return key.digest[:FINGERPRINT_CHARS]


def _le_bytes(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()


def key_to_json(key: Key) -> str:
    arrays = {name: {"dtype": a.dtype.name, "shape": list(a.shape),
                     "data": base64.b64encode(_le_bytes(a)).decode("ascii")}
              for name, a in sorted(key.arrays.items())}
    doc = {"format": FORMAT, "version": VERSION, "method": key.method, "shape": list(key.shape),
           "block_size": key.block_size, "options": key.options, "arrays": arrays,
           "sha256": key.digest}
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


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
            arrays[name] = np.frombuffer(raw, dtype=dtype.newbyteorder("<")).reshape(dims).astype(dtype)
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
    """Write ``key`` to ``path`` atomically, readable by its owner only (mode 0600)."""
    if not isinstance(key, Key):
        raise PihError(f"save_key() takes a pihlib Key, not {type(key).__name__}")
    return atomic_write_bytes(path, key_to_json(key).encode(), mode=0o600)


def load_key(path: str | os.PathLike) -> Key:
    """Read a key file, checking its format, field types, content and checksum."""
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
