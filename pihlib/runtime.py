"""Where pihlib keeps its files and which device it computes on: one place for both."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch
import torch.distributed as dist

from .errors import PihError


def cache_root() -> Path:
    """Where pihlib keeps downloads and caches: ``$PIH_CACHE``, else ``~/.cache/pihlib``."""
    return Path(os.environ.get("PIH_CACHE", Path.home() / ".cache" / "pihlib"))


def default_device(device: torch.device | str | None = None) -> torch.device:
    """``device`` as a torch.device; None: CUDA when there is one, else the CPU. A device this machine
    does not have, or a name torch does not know, is a ``PihError`` naming it."""
    if not device:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise PihError(f"unknown device {device!r}: use cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise PihError(f"device {device!r} asked for, but this machine has no CUDA GPU: use cpu")
        if dev.index is not None and dev.index >= count:
            raise PihError(f"device {device!r} asked for, but this machine has {count} CUDA GPU(s)")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise PihError(f"device {device!r} asked for, but MPS is not available here: use cpu")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise PihError(f"device {device!r} is not supported: use cpu, cuda, cuda:N or mps")
    return dev


def device_name(device: torch.device | str | None = None) -> str:
    """A readable name of the device, for provenance: the GPU's model, or the CPU and its threads."""
    device = default_device(device)
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    threads = torch.get_num_threads()
    return f"cpu: {platform.processor() or platform.machine()}, {threads} thread{'s' * (threads != 1)}"


# One training run over several processes (``torchrun``): each process takes its share of every batch.
# These helpers read the process group when there is one, and say "one process, rank 0" otherwise.

def init_distributed(device: torch.device | str | None = None) -> tuple[int, int]:
    """Join the process group that ``torchrun`` describes (``WORLD_SIZE`` > 1 in the environment:
    NCCL when ``device`` is a GPU, one per process, else gloo), once; returns (rank, world size),
    (0, 1) without one."""
    text = os.environ.get("WORLD_SIZE", "1")
    if not text.isdigit() or int(text) < 1:
        raise PihError(f"WORLD_SIZE must be a positive integer (torchrun sets it), got {text!r}")
    world = int(text)
    if world > 1 and not dist.is_initialized():
        cuda = default_device(device).type == "cuda"
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if cuda else "gloo")
    return rank(), world_size()


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank (0 without a process group): rank 0 alone writes records and checkpoints."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main_process() -> bool:
    return rank() == 0
