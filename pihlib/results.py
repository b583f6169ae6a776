"""Expensive results, cached with their provenance under ``results/<preset>/``.

``cached(preset, name, params, compute)`` returns the stored result when its parameter hash matches
(and ``force`` is off), else runs ``compute()`` and writes the result atomically beside a record of
what produced it: the parameters and their hash, the data source and its sha256, each pretrained
asset's source and sha256, the device, the versions, the git commit and the wall time. Committed
results re-render without recomputing and without a GPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from ._io import atomic_write_bytes

ROOT = Path(os.environ.get("PIH_RESULTS", Path(__file__).resolve().parents[1] / "results"))
VERSIONED = ("pihlib", "torch", "torchvision", "numpy", "lpips", "piq")


def params_hash(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def _git_commit() -> str:
    try:
        here = Path(__file__).resolve().parents[1]
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)results"],  # the code's state, not the results'
                               cwd=here, capture_output=True, text=True, timeout=10).stdout.strip()
        return (commit or "unknown") + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def device_name(device: torch.device | str | None = None) -> str:
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def environment() -> dict[str, Any]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {"versions": versions, "device": device_name(), "git_commit": _git_commit(),
            "host": platform.node()}


def cached(preset: str, name: str, params: dict, compute: Callable[[], dict], *,
           data: dict | None = None, assets: list[str] | None = None, force: bool = False) -> dict:
    """The record ``{"result", "params", "provenance"}`` for ``name``, computed only if needed.

    ``compute()`` returns a JSON-serialisable result. ``data`` is the data source record, ``assets``
    the names of the pretrained assets the computation used.
    """
    path = ROOT / preset / f"{name}.json"
    digest = params_hash(params)
    if path.exists() and not force:
        try:
            record = json.loads(path.read_text())
            if record["provenance"]["params_sha256"] == digest:
                record["provenance"]["reused"] = True
                return record
        except (json.JSONDecodeError, KeyError):
            pass  # damaged: compute again
    from . import assets as asset_module

    start = time.perf_counter()
    result = compute()
    wall = time.perf_counter() - start
    provenance = {
        "preset": preset, "name": name, "params_sha256": digest, "data": data,
        "assets": {a: {k: v for k, v in asset_module.provenance(a).items()
                       if k in ("source", "where", "member", "raw_sha256")} for a in assets or []},
        "wall_time_s": round(wall, 1),
        "computed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **environment(),
    }
    record = {"result": result, "params": params, "provenance": provenance}
    atomic_write_bytes(path, (json.dumps(record, indent=1, default=str) + "\n").encode())
    return record


def provenance_markdown(record: dict) -> str:
    """A compact provenance box for a notebook: where this result came from."""
    p = record["provenance"]
    lines = [f"**Provenance** of `{p['name']}` (preset `{p['preset']}`"
             + (", reused from the committed results" if p.get("reused") else "") + ")", "",
             "| | |", "|---|---|"]
    if p.get("data"):
        d = p["data"]
        lossless = "lossless" if d.get("lossless") else "LOSSY (JPEG)"
        lines.append(f"| data | CIFAR-10 {d.get('split')} ({d.get('kind')}, {d.get('count')} images, "
                     f"{lossless}), sha256 `{str(d.get('sha256'))[:16]}…` |")
    for name, a in p.get("assets", {}).items():
        where = a.get("where", "")
        lines.append(f"| weights: {name} | {a.get('source')} {where}, "
                     f"sha256 `{a.get('raw_sha256', '')[:16]}…` |")
    v = p["versions"]
    lines += [f"| device | {p['device']} |",
              "| versions | " + ", ".join(f"{k} {v[k]}" for k in v) + " |",
              f"| code | git {p['git_commit']} |",
              f"| computed | {p['computed_at']} in {p['wall_time_s']} s; "
              f"parameters sha256 `{p['params_sha256'][:16]}…` |"]
    return "\n".join(lines)
