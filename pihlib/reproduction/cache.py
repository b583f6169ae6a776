"""Expensive results, cached with their provenance under ``results/<preset>/``.

``cached(preset, name, params, compute, code=MODULE)`` returns the stored record when both its
parameters and the digest of the code it depends on match (and ``force`` is off), else runs
``compute()`` and writes the result atomically beside a record of what produced it: the parameters
and their hash, the code digest, the data source and its sha256, each pretrained asset's source and
sha256, the device, the versions, the git commit (marked if the modules the result depends on differ
from it) and the wall time. Committed results re-render without recomputing and without a GPU.

The code digest (``code_digest``) covers the whole source files of the modules a result depends on:
the module that computes it and every pihlib module that module imports, directly or through others,
found by reading the imports (``code_modules``; the modules that only store records, ``BOOKKEEPING``,
are left out). Like a showyourwork rule, whose inputs are whole files: any edit of such a file, a
comment included, counts. That is why the code that reads records (claims, tables, verdicts,
``pihlib/reproduction/*.py``) lives apart from the code that computes them
(``pihlib/reproduction/compute/``), which never imports it. A result whose parameters match but whose
digest does not was computed by older code: ``cached`` computes it again, ``load`` marks it ``stale``
(for results that cannot be recomputed here, such as GPU runs, shown with that mark).

Each record carries ``content_sha256``, a digest of its own content (result, parameters, provenance)
written with it: a record edited by hand or damaged since is never used as it is (``load`` refuses it
with one line, ``lookup`` treats it as missing, so ``cached`` computes it again). The digest is not a
signature: it catches corruption and hand edits, not someone who recomputes it after an edit. A
record computed from other data (its data sha256 differs from the data given now) is not reused.

Results live in ``$PIH_RESULTS`` if set, else in the ``results/`` folder of the project checkout
pihlib runs from; an installed pihlib without a checkout must be given ``PIH_RESULTS``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from .._io import atomic_write_bytes
from ..errors import PihError
from ..runtime import is_main_process
from . import codegraph, provenance


def results_root() -> Path:
    """``$PIH_RESULTS``, else the checkout's ``results/``; never a folder inside site-packages."""
    if os.environ.get("PIH_RESULTS"):
        return Path(os.environ["PIH_RESULTS"])
    if (provenance.CHECKOUT / "pyproject.toml").exists() and (provenance.CHECKOUT / "notebooks").is_dir():
        return provenance.CHECKOUT / "results"
    raise PihError("pihlib is not running from its project checkout: set PIH_RESULTS to the folder "
                   "where results should be cached")


def params_hash(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


# Modules that store records and describe where they came from: they cannot change a result's
# numbers, so a result's code digest neither covers nor follows them.
BOOKKEEPING = ("pihlib.reproduction.cache", "pihlib.reproduction.provenance", "pihlib.reproduction.codegraph")


def code_modules(roots: str | Iterable[str]) -> list[str]:
    """The modules a result computed by ``roots`` (a module name, or several) depends on: the roots
    and every pihlib module they import, directly or through others (``codegraph.closure``), but the
    ``BOOKKEEPING`` ones."""
    return codegraph.closure([roots] if isinstance(roots, str) else roots, stop=BOOKKEEPING)


@cache
def _module_digest(module: str) -> str:
    path = codegraph.source_path(module)
    if path is None:
        raise PihError(f"no Python source for module {module!r}")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def module_paths(modules: Iterable[str]) -> list[str]:
    """The source files of ``modules``, relative to the checkout where they lie in it."""
    out = []
    for m in sorted(set(modules)):
        origin = codegraph.source_path(m).resolve()
        out.append(str(origin.relative_to(provenance.CHECKOUT)) if origin.is_relative_to(provenance.CHECKOUT)
                   else str(origin))
    return out


def code_digest(modules: Iterable[str]) -> str:
    """sha256 over the whole source files of ``modules`` (each named), in sorted order."""
    h = hashlib.sha256()
    for m in sorted(set(modules)):
        h.update(f"{m}:{_module_digest(m)}\n".encode())
    return h.hexdigest()


def content_digest(record: dict) -> str:
    """sha256 of a record's content as JSON (keys sorted), leaving out the digest itself and the
    marks ``load`` adds."""
    prov = {k: v for k, v in record["provenance"].items() if k not in ("content_sha256", "reused", "stale")}
    body = {**record, "provenance": prov}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def load(preset: str, name: str, code: str | Iterable[str] = ()) -> dict | None:
    """The stored record of ``name`` (marked ``reused``, and ``stale`` if its code digest differs
    from that of the code ``code`` names, ``code_modules(code)``), whatever its parameters; None if
    there is none or it cannot be read. A record whose content does not match its ``content_sha256``
    (edited or damaged since it was written) is refused with a ``PihError`` naming the file."""
    path = results_root() / preset / f"{name}.json"
    try:
        record = json.loads(path.read_text())
        p = record["provenance"]
        if not isinstance(record.get("params"), dict) or not isinstance(p, dict):
            return None
        if p.get("content_sha256") != content_digest(record):
            raise PihError(f"{path} was edited or damaged after it was written (its content no longer "
                           "matches its content_sha256): compute it again, or restore it (git checkout)")
        p["reused"] = True
        p["stale"] = p.get("code_sha256") != code_digest(code_modules(code))
        return record
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError, KeyError, TypeError, AttributeError):
        return None


def lookup(preset: str, name: str, params: dict, code: str | Iterable[str] = (),
           data: dict | None = None) -> dict | None:
    """The stored record of ``name`` if it was computed with ``params`` from ``data`` (its sha256) by
    this code, and is intact; else None."""
    try:
        record = load(preset, name, code)
    except PihError:
        return None  # edited or damaged: computed again
    if record is None:
        return None
    p = record["provenance"]
    same_data = data is None or (p.get("data") or {}).get("sha256") == data.get("sha256")
    if p.get("params_sha256") == params_hash(params) and not p["stale"] and same_data:
        return record
    return None


def cached(preset: str, name: str, params: dict, compute: Callable[[], dict], *,
           code: str | Iterable[str] = (), data: dict | None = None, assets: list[str] | None = None,
           force: bool = False) -> dict:
    """The record ``{"result", "params", "provenance"}`` for ``name``, computed only if needed.

    ``compute()`` returns a JSON-serialisable result; ``code`` names the module that computes it (or
    several): the record's code digest covers them and everything they import (``code_modules``);
    ``data`` is the data source record, ``assets`` the names of the pretrained assets it used. In a
    process group (``torchrun``) only rank 0 writes the record.
    """
    if not force and (record := lookup(preset, name, params, code, data)) is not None:
        return record
    from .. import assets as asset_module

    modules = code_modules(code)
    start = time.perf_counter()
    result = compute()
    wall = time.perf_counter() - start
    prov = {
        "preset": preset, "name": name, "params_sha256": params_hash(params),
        "code_sha256": code_digest(modules), "code_modules": modules, "data": data,
        "assets": {a: {k: v for k, v in asset_module.provenance(a).items()
                       if k in ("source", "where", "member", "raw_sha256")} for a in assets or []},
        "wall_time_s": round(wall, 1),
        "computed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **provenance.environment(module_paths(modules) if modules else None, codegraph.third_party(modules)),
    }
    record = json.loads(json.dumps({"result": result, "params": params, "provenance": prov}, default=str))
    record["provenance"]["content_sha256"] = content_digest(record)
    if not is_main_process():  # one run shared by several processes: rank 0 writes its record
        return record
    text = json.dumps(record, indent=1) + "\n"
    atomic_write_bytes(results_root() / preset / f"{name}.json", text.encode())
    return record
