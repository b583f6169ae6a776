"""Where pihlib keeps its files and which device it computes on: one place for both."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def cache_root() -> Path:
    """Where pihlib keeps downloads and caches: ``$PIH_CACHE``, else ``~/.cache/pihlib``."""
    return Path(os.environ.get("PIH_CACHE", Path.home() / ".cache" / "pihlib"))


def default_device(device: torch.device | str | None = None) -> torch.device:
    """``device`` as a torch.device; None: CUDA when there is one, else the CPU."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def device_name(device: torch.device | str | None = None) -> str:
    """A readable name of the device, for provenance: the GPU's model, or the CPU and its threads."""
    device = default_device(device)
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
