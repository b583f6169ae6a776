"""rho of each key, cached on disk: an interrupted key search resumes without scoring a key twice.

Entries are keyed by the key's fingerprint and a hash of the image set (and the LPIPS network and
convention), written atomically after every key, and carry a check; the cache holds fingerprints
and scores only, never key material. Several processes may share one cache file: each write takes
a lock (``<file>.lock``) and merges its entries with those on disk, so none is lost.

What the check protects against: corruption and hand edits of a score, and entries copied from
another image set, network or convention. It is an unkeyed digest stored beside the score, not a
signature: whoever edits a score and recomputes its check is trusted.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from pathlib import Path

import torch

from ._io import atomic_write_bytes
from .errors import PihError
from .keys import Key, fingerprint
from .metrics import RHO_CONVENTION
from .rho import PIHScorer
from .runtime import cache_root


def images_hash(images: torch.Tensor) -> str:
    """sha256 of a uint8 image set: its shape and bytes.

    Args:
        images: a tensor (uint8 N x 3 x H x W for image sets; not checked), on any device (copied to
            the CPU to hash).

    Returns:
        str: 64 lowercase hex digits of sha256(str(shape) + the C-contiguous bytes).
    """
    h = hashlib.sha256(str(tuple(images.shape)).encode())
    h.update(images.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class ScoreCache:
    """rho of keys over one image set, stored in one JSON file as {fingerprint: {"rho", "check"}}.

    ``check`` is a digest of the fingerprint, the image set, the network, the convention and the score:
    an entry whose check does not match (an edited score, one copied from another image set, an older
    format) is ignored and recomputed, never trusted.

    The file is ``<folder>/<images_sha256[:24]>-<net>-<convention>.json``; a missing or damaged file
    reads as empty. Writes are atomic and merged under a lock (``<file>.lock``) with what other
    processes wrote.

    Args:
        images_sha256: ``images_hash`` of the image set the scores are over (64 hex digits).
        net: the LPIPS backbone (``"alex"`` or ``"vgg"``).
        convention: the LPIPS input convention (``"authors"`` or ``"lpips"``).
        folder: where the file lives; None: ``cache_root() / "scores"`` (created on the first write).

    Attributes:
        path: the cache file (``pathlib.Path``).
        entries: ``{fingerprint: {"rho": float, "check": str}}`` of the entries whose check holds.

    Raises:
        PihError: something other than a file (a folder) stands at the cache file's path.
    """

    def __init__(self, images_sha256: str, net: str, convention: str,
                 folder: str | os.PathLike | None = None):
        name = f"{images_sha256[:24]}-{net}-{convention}.json"
        self.path = Path(folder or cache_root() / "scores") / name
        self.meta = {"images_sha256": images_sha256, "net": net, "convention": convention}
        if self.path.exists() and not self.path.is_file():
            raise PihError(f"the score cache {self.path} is not a file (a folder or other entry is in its "
                           "place): move it away")
        self.entries: dict[str, dict] = self._stored()  # fingerprint -> {"rho", "check"}

    def _stored(self) -> dict[str, dict]:
        """The entries on disk whose check holds; a damaged cache is ignored (and rewritten), never
        trusted."""
        entries = {}
        try:
            stored = json.loads(self.path.read_text())["scores"] if self.path.is_file() else {}
            for fp, entry in stored.items():
                if entry["check"] == self._check(str(fp), float(entry["rho"])):
                    entries[str(fp)] = {"rho": float(entry["rho"]), "check": entry["check"]}
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return {}
        return entries

    def _check(self, fp: str, score: float) -> str:
        doc = {**self.meta, "fingerprint": fp, "rho": repr(float(score))}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()

    @property
    def scores(self) -> dict[str, float]:
        """``{fingerprint: rho}`` of every trusted entry (a new dict)."""
        return {fp: e["rho"] for fp, e in self.entries.items()}

    def get(self, fp: str) -> float | None:
        """The stored rho of the key with fingerprint ``fp``.

        Args:
            fp: a key's ``pihlib.fingerprint``.

        Returns:
            float | None: its rho, or None when it is not stored (or its check failed).
        """
        entry = self.entries.get(fp)
        return None if entry is None else entry["rho"]

    def put(self, fp: str, score: float) -> None:
        """Store ``score``, merged under a lock with what other processes stored meanwhile.

        Creates the folder if needed and rewrites the file atomically (entries only: fingerprints
        and scores, never key material).

        Args:
            fp: the key's ``pihlib.fingerprint``.
            score: its rho (a float).

        Raises:
            PihError: the cache file or its lock cannot be written (permissions, a full disk, a
                folder in the way); the message names the file.
        """
        self.entries[fp] = {"rho": score, "check": self._check(fp, score)}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                self.entries = {**self._stored(), **self.entries}
                atomic_write_bytes(self.path, json.dumps({**self.meta, "scores": self.entries}).encode())
        except OSError as e:
            raise PihError(f"cannot write the score cache {self.path}: {e.strerror or e}") from None


class CachedScorer:
    """A ``PIHScorer`` with the on-disk score cache in front of it.

    ``scorer(key)`` returns the key's rho (paper Eq. 1) from the cache when it is stored there,
    else scores it and stores it.

    Args:
        images: the plain images, uint8 N x 3 x H x W (N >= 1, H and W at least 32 for LPIPS-alex),
            on any device.
        convention: ``"authors"`` (default) or ``"lpips"``, the LPIPS input convention.
        net: the LPIPS backbone, ``"alex"`` or ``"vgg"``.
        cache: True (the cache under ``cache_root()/scores``), a folder for it, or False (none).
        scorer: a ``PIHScorer`` over these ``images`` to reuse (its net and convention must be
            ``net`` and ``convention``: the cache is keyed by these arguments, not checked against
            it); None builds one.

    Attributes:
        images_sha256: ``images_hash(images)``.
        cache: the ``ScoreCache``, or None without a cache.
        evaluations: keys actually scored (not served from the cache) so far.

    Raises:
        PihError: as ``PIHScorer`` (images, convention, net); the cache file's path is taken by a
            folder.
    """

    def __init__(self, images: torch.Tensor, convention: str = RHO_CONVENTION, net: str = "alex",
                 cache: bool | str | os.PathLike = True, scorer: PIHScorer | None = None):
        self.scorer = scorer or PIHScorer(images, convention, net, progress=False)
        self.images_sha256 = images_hash(images)
        folder = None if cache is True else cache
        self.cache = ScoreCache(self.images_sha256, net, convention, folder) if cache is not False else None
        self.evaluations = 0  # keys actually scored (not served from the cache)

    def __call__(self, key: Key) -> float:
        """rho of one key, from the cache when stored there.

        Args:
            key: a ``pihlib.Key`` made for the images' H x W.

        Returns:
            float: rho (unitless, >= 0), a Python float.

        Raises:
            PihError: ``key`` is not a Key, or was made for another image size; the cache cannot
                be written.
        """
        fp = fingerprint(key)
        if self.cache is not None and (hit := self.cache.get(fp)) is not None:
            return hit
        score = float(self.scorer.score(key)[0])
        self.evaluations += 1
        if self.cache is not None:
            self.cache.put(fp, score)
        return score

