"""What pihlib's command lines share: every failure is one line on stderr and an exit status, and
output files are checked before any work is done and appear all at once.

Exit status: 0 done; 2 bad input (a ``PihError``, an OS error on a named path, too little memory);
3 a time budget spent with work left (``BudgetExhausted``); 130 interrupted (Ctrl-C), finished work kept.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import PihError

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error raised as a ``PihError`` (one line, status 2)."""

    def error(self, message: str) -> None:
        raise PihError(message)


def os_error_text(e: OSError) -> str:
    """An OS error as a short sentence that names the path."""
    what = e.strerror or type(e).__name__
    return f"{e.filename}: {what}" if e.filename else str(e) or what


def run_command(prog: str, body: Callable[[], int | None]) -> int:
    """Run a command's ``body`` and turn every failure into one line on stderr and its exit status."""

    def say(text: str) -> None:
        print(f"{prog}: " + " ".join(text.split()), file=sys.stderr)

    try:
        return body() or 0
    except KeyboardInterrupt:
        say("interrupted; work already finished is kept")
        return EXIT_INTERRUPTED
    except PihError as e:
        status = getattr(e, "exit_status", EXIT_BAD_INPUT)
        say(str(e) if status != EXIT_BAD_INPUT else f"error: {e}")
        return status
    except OSError as e:
        say(f"error: {os_error_text(e)}")
        return EXIT_BAD_INPUT
    except MemoryError:
        say("error: not enough memory for this input")
        return EXIT_BAD_INPUT


def check_output_file(path: str | os.PathLike, force: bool) -> Path:
    """Check, before any work, that a file can be written at ``path``: it is not a folder, it does not
    exist unless ``force``, and its folder takes a new file (probed with a temporary one)."""
    path = Path(path)
    if path.is_dir():
        raise PihError(f"output {path} is a folder; name a file")
    if path.exists() and not force:
        raise PihError(f"output {path} exists; add --force to replace it")
    if path.exists() and not path.is_file():
        raise PihError(f"output {path} is not a regular file")
    _probe_folder(path.parent)
    return path


def _probe_folder(folder: Path) -> None:
    """The nearest existing ancestor of ``folder`` must be a folder in which files can be made."""
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise PihError(f"cannot write under {existing}: it is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".pih-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise PihError(f"cannot write in {existing}: {e.strerror or type(e).__name__}") from None


def write_files_together(folder: str | os.PathLike, files: dict[str, bytes], force: bool,
                         inputs: Sequence[Path] = ()) -> None:
    """Write ``files`` (name -> bytes) into ``folder`` all or none: every name is checked first (no
    existing file unless ``force``, never a folder, never one of ``inputs``), every file is written
    into a temporary folder beside ``folder``, and only then are they moved in. If a move fails, the
    files already moved are taken back out."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise PihError(f"output {folder} exists and is not a folder")
    resolved_inputs = {p.resolve() for p in inputs}
    for name in files:
        target = folder / name
        if target.resolve() in resolved_inputs:
            raise PihError(f"output {target} would overwrite its input")
        if target.is_dir() or (target.exists() and not target.is_file()):
            raise PihError(f"output {target} exists and is not a file")
        if target.exists() and not force:
            raise PihError(f"output {target} exists; add --force to replace it")
    _probe_folder(folder.parent if not folder.exists() else folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.pih-"))
    moved: list[Path] = []
    try:
        for name, data in files.items():
            with open(staging / name, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        for name in files:
            target = folder / name
            existed = target.exists()
            os.replace(staging / name, target)
            if not existed:
                moved.append(target)
    except BaseException:
        for target in moved:
            target.unlink(missing_ok=True)
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
