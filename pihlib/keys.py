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


def key_from_json(text: str, where: str = "key file") -> Key:
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PihError(f"{where} is damaged: not valid JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise PihError(f"{where} is not a pihlib key file (no 'format': '{FORMAT}')")
    if doc.get("version") != VERSION:
        raise PihError(f"{where} has key format version {doc.get('version')!r}; "
                       f"this pihlib reads version {VERSION}")
    try:
        arrays = {}
        for name, spec in doc["arrays"].items():
            dtype = np.dtype(spec["dtype"]).newbyteorder("<")
            raw = base64.b64decode(spec["data"], validate=True)
            arrays[name] = np.frombuffer(raw, dtype=dtype).reshape(spec["shape"]).astype(
                dtype.newbyteorder("="))
        method, shape, block_size = doc["method"], doc["shape"], doc["block_size"]
        options, stored = doc["options"], doc["sha256"]
    except (KeyError, TypeError, ValueError, binascii.Error) as e:
        raise PihError(f"{where} is damaged: {type(e).__name__}: {e}") from None
    try:
        key = Key(method, tuple(shape), block_size, arrays, options)
    except PihError as e:
        raise PihError(f"{where} is damaged or tampered with: {e}") from None
    if key.digest != stored:
        raise PihError(f"{where} is damaged or tampered with: its checksum does not match its content")
    return key


def save_key(key: Key, path: str | os.PathLike) -> Path:
    """Write ``key`` to ``path`` atomically, readable by its owner only (mode 0600)."""
    if not isinstance(key, Key):
        raise PihError(f"save_key() takes a pihlib Key, not {type(key).__name__}")
    return atomic_write_bytes(path, key_to_json(key).encode(), mode=0o600)


def load_key(path: str | os.PathLike) -> Key:
    """Read a key file, checking its format, checksum and structure."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PihError(f"key file {path} does not exist") from None
    except IsADirectoryError:
        raise PihError(f"key file {path} is a folder, not a file") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PihError(f"key file {path} is damaged: not UTF-8 text") from None
    return key_from_json(text, where=f"key file {path}")
