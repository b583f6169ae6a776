"""What pihlib's command lines share: every failure is one line on stderr and an exit status, and
output files are checked before any work is done and appear all at once.

Exit status: 0 done; 2 bad input (a ``PihError``, an OS error on a named path, too little memory);
3 a time budget spent with work left (``BudgetExhausted``); 130 interrupted (Ctrl-C), finished work kept.
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
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


def _kind(mode: int) -> str:
    """What a file that is not a regular file is, in words."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "of an unknown kind"


def check_regular_file(path: str | os.PathLike, what: str = "input") -> os.stat_result:
    """``path`` must be a regular file that can be opened for reading (a FIFO would block, a device
    never end): else one line naming it and why."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise PihError(f"{what} {path} does not exist"
                       f"{' (a link to nothing)' if path.is_symlink() else ''}") from None
    except OSError as e:
        raise PihError(f"{what} {path} cannot be read: {e.strerror or type(e).__name__}") from None
    if not stat.S_ISREG(info.st_mode):
        raise PihError(f"{what} {path} is not a regular file ({_kind(info.st_mode)})")
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise PihError(f"{what} {path} cannot be read: {e.strerror or type(e).__name__}") from None
    return info


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


class Inputs:
    """A command's input paths (files and folders), to tell whether an output would overwrite one:
    the same path once links are resolved, the same file through a hard link, or a file inside an
    input folder."""

    def __init__(self, paths: Iterable[str | os.PathLike] = ()):
        self.files: dict[Path, Path] = {}  # resolved path -> the path as given
        self.ids: dict[tuple[int, int], Path] = {}  # (device, inode) -> the path as given
        self.folders: list[tuple[Path, Path]] = []
        for item in map(Path, paths):
            if item.is_dir():
                self.folders.append((item.resolve(), item))
                continue
            self.files[item.resolve()] = item
            if (ident := _identity(item)) is not None:
                self.ids[ident] = item

    def refuse(self, output: Path) -> None:
        """One line naming ``output`` and the input it would overwrite, if it is one; an output inside
        an input folder is refused too, existing or new (a new file there changes the input)."""
        resolved = output.resolve()
        for folder, given in self.folders:
            if resolved.is_relative_to(folder):
                raise PihError(f"output {output} lies inside the input folder {given}; "
                               "pih never writes over its own inputs")
        if not os.path.lexists(output):
            return
        ident = _identity(output)
        given = self.files.get(resolved) or (self.ids.get(ident) if ident else None)
        if given is not None:
            same = os.path.abspath(output) == os.path.abspath(given)
            how = "" if same else " (the same file through a link)"
            raise PihError(f"output {output} would overwrite its input {given}{how}")
        if ident is None or output.stat().st_nlink < 2 or not self.folders:
            return
        for folder, given in self.folders:  # a hard link to a file somewhere in an input folder
            for root, _, names in os.walk(folder):
                for name in names:
                    if _identity(Path(root, name)) == ident:
                        inside = given / Path(root, name).relative_to(folder)
                        raise PihError(f"output {output} would overwrite its input {inside} "
                                       "(the same file through a link)")


def check_output_file(path: str | os.PathLike, force: bool, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Check, before any work, that a file can be written at ``path``: it is not a folder, not one of
    ``inputs`` (files or folders; see ``Inputs``), it does not exist unless ``force``, and its folder
    takes a new file (probed with a temporary one)."""
    path = Path(path)
    if path.is_dir():
        raise PihError(f"output {path} is a folder; name a file")
    Inputs(inputs).refuse(path)
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


def check_files_together(folder: str | os.PathLike, names: Iterable[str], force: bool,
                         inputs: Iterable[str | os.PathLike] = ()) -> None:
    """Check, before any work, that ``names`` can be written into ``folder`` (see
    ``write_files_together``); nothing is written."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise PihError(f"output {folder} exists and is not a folder")
    given = Inputs(inputs)
    for name in names:
        target = folder / name
        given.refuse(target)
        if target.is_dir() or (target.exists() and not target.is_file()):
            raise PihError(f"output {target} exists and is not a file")
        if os.path.lexists(target) and not force:
            raise PihError(f"output {target} exists; add --force to replace it")
    _probe_folder(folder.parent if not folder.exists() else folder)


def _top_new_folder(folder: Path) -> Path | None:
    """The highest of ``folder`` and its ancestors that does not exist yet (None if it exists)."""
    if folder.exists():
        return None
    top = folder
    while not top.parent.exists() and top.parent != top:
        top = top.parent
    return top


def write_files_together(folder: str | os.PathLike, files: dict[str, bytes], force: bool,
                         inputs: Sequence[str | os.PathLike] = ()) -> None:
    """Write ``files`` (name -> bytes) into ``folder`` all or none.

    Every name is checked first (``check_files_together``: no existing file unless ``force``, never
    a folder, never one of ``inputs``). Every file is written into a staging folder inside
    ``folder`` (so on its file system: a mount point works), then moved in; an old file it replaces
    is first kept in the staging folder (a hard link, else moved there). If any step fails, or
    Ctrl-C comes, the new files are taken out and the old ones put back, so ``folder`` holds what it
    held before; the staging folder is removed either way. Errors name the user's paths."""
    folder = Path(folder)
    check_files_together(folder, files, force, inputs)
    new_top = _top_new_folder(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=folder, prefix=".pih-staging-"))
    except OSError as e:
        if new_top is not None:
            shutil.rmtree(new_top, ignore_errors=True)
        raise PihError(f"cannot write in {folder}: {e.strerror or type(e).__name__}") from None
    new, old = staging / "new", staging / "old"
    saved: dict[str, Path] = {}  # name -> the old file, kept in the staging folder
    placed: list[str] = []
    target = folder
    try:
        new.mkdir()
        old.mkdir()
        for name, data in files.items():
            target = folder / name
            with open(new / name, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        for name in files:
            target = folder / name
            if os.path.lexists(target):
                try:
                    os.link(target, old / name, follow_symlinks=False)  # the old file stays in place
                except OSError:
                    os.replace(target, old / name)
                saved[name] = old / name
            os.replace(new / name, target)
            placed.append(name)
    except BaseException as e:
        lost = _put_back(folder, saved, placed)
        if lost:  # the old files could not all go back: keep them, and say where
            raise PihError(f"cannot write {target}: {_reason(e)}; {len(lost)} old file(s) could not be "
                           f"put back and are kept in {old}") from None
        if new_top is not None:
            shutil.rmtree(new_top, ignore_errors=True)
        else:
            shutil.rmtree(staging, ignore_errors=True)
        if isinstance(e, OSError):
            raise PihError(f"cannot write {target}: {_reason(e)}; nothing was written or replaced") from None
        raise
    # every output is in place: the staging folder goes even if Ctrl-C comes now (then reported after)
    interrupted = False
    while True:
        try:
            shutil.rmtree(staging, ignore_errors=True)
            break
        except KeyboardInterrupt:
            interrupted = True
    if interrupted:
        raise KeyboardInterrupt


def _reason(e: BaseException) -> str:
    return (e.strerror if isinstance(e, OSError) else None) or type(e).__name__


def _put_back(folder: Path, saved: dict[str, Path], placed: list[str]) -> list[str]:
    """Undo a partial ``write_files_together``: the new files out, the old ones back. Returns the
    names whose old file could not be put back."""
    lost = []
    for name in placed:
        if name not in saved:
            try:
                (folder / name).unlink()
            except OSError:
                pass
    for name, aside in saved.items():
        target = folder / name
        try:
            if os.path.lexists(target) and os.path.samestat(os.lstat(aside), os.lstat(target)):
                continue  # the old file is still in place (kept by a hard link; never replaced)
            os.replace(aside, target)
        except OSError:
            lost.append(name)
    return lost
