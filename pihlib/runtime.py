"""Where pihlib keeps its files and which device it computes on: one place for both."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch
import torch.distributed as dist

from .errors import PihError


def cache_root() -> Path:
    """Where pihlib keeps downloads and caches: ``$PIH_CACHE``, else ``~/.cache/pihlib``.

    The folder is neither created nor checked here; whoever writes into it creates what it needs
    (``cifar10/`` for the official download, ``scores/`` for the score cache, the assets' files).

    Returns:
        pathlib.Path: the cache folder (``$PIH_CACHE`` as given, not resolved).
    """
    return Path(os.environ.get("PIH_CACHE", Path.home() / ".cache" / "pihlib"))


def default_device(device: torch.device | str | None = None) -> torch.device:
    """``device`` as a torch.device; None: CUDA when there is one, else the CPU.

    Args:
        device: a ``torch.device`` or a name (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``); None
            or ``""`` picks the default (the current CUDA device when CUDA is available, else the CPU).

    Returns:
        torch.device: the device (checked to exist on this machine).

    Raises:
        PihError: a name torch does not know; a CUDA device on a machine without CUDA, or an index
            beyond its GPUs; MPS where it is not available; any other device type (only cpu, cuda
            and mps are supported). The message names the device asked for.
    """
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
    """A readable name of the device, for provenance: the GPU's model, or the CPU and its threads.

    Args:
        device: as for ``default_device`` (None: the default device).

    Returns:
        str: ``"cuda: <GPU model>"``, or ``"cpu: <processor>, <n> threads"`` (torch's thread count);
        any other device type (mps) is described as the CPU.

    Raises:
        PihError: as ``default_device`` (an unknown or absent device).
    """
    device = default_device(device)
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    threads = torch.get_num_threads()
    return f"cpu: {platform.processor() or platform.machine()}, {threads} thread{'s' * (threads != 1)}"


# One training run over several processes (``torchrun``): each process takes its share of every batch.
# These helpers read the process group when there is one, and say "one process, rank 0" otherwise.

def init_distributed(device: torch.device | str | None = None) -> tuple[int, int]:
    """Join the process group that ``torchrun`` describes (``WORLD_SIZE`` > 1 in the environment:
    NCCL when ``device`` is a GPU, one per process, else gloo), once.

    On CUDA each process takes the GPU ``LOCAL_RANK`` (``torch.cuda.set_device``). A second call,
    or a call with ``WORLD_SIZE`` unset or 1, joins nothing.

    Args:
        device: the device the run computes on, as for ``default_device``: it picks the backend.

    Returns:
        tuple[int, int]: (this process's rank, the number of processes); (0, 1) without a process
        group.

    Raises:
        PihError: ``WORLD_SIZE`` is not a positive integer; or, with ``WORLD_SIZE`` > 1, ``device``
            is unknown or absent (see ``default_device``).
    """
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
    """The number of processes in the run.

    Returns:
        int: the process group's size, or 1 without one.
    """
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank (0 without a process group): rank 0 alone writes records and checkpoints.

    Returns:
        int: the rank in the process group, 0..world_size() - 1; 0 without one.
    """
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main_process() -> bool:
    """Whether this process is rank 0 (always True without a process group).

    Returns:
        bool: ``rank() == 0``.
    """
    return rank() == 0
