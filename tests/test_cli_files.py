"""What ``pih`` does with the files it is given and the files it writes.

No command writes over one of its own inputs (the same path, a symbolic or a hard link to it); the
outputs of ``scramble``/``unscramble`` appear all or none, and with ``--force`` the files they replace
come back when any step fails; the staging folder lies on the output's file system and errors name
the user's paths; an input that is not a regular file, cannot be read, or that Pillow refuses in any
way is one line naming it. Each case checks the exit status, the one line, and the bytes on disk.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

import pihlib
from pihlib.cli import main

from .conftest import write_pngs


@pytest.fixture
def pngs(tmp_path, cifar_images):
    return write_pngs(tmp_path / "plain", cifar_images[:6])


@pytest.fixture
def key(tmp_path):
    path = tmp_path / "le.key"
    pihlib.save_key(pihlib.keygen("LE", seed=3), path)
    return path


NAMES = [f"img{i:02d}.png" for i in range(6)]


def fails(capsys, *argv, match: str, status: int = 2) -> str:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == status, (out, err)
    assert len(lines) == 1 and lines[0].startswith("pih: "), err
    assert match in lines[0], lines[0]
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every entry of ``folder``, hidden ones too (a staging folder left behind would show)."""
    return {p.name: p.read_bytes() if p.is_file() else b"<folder>" for p in folder.iterdir()}


def old_outputs(out: Path) -> dict[str, bytes]:
    out.mkdir()
    for i, name in enumerate(NAMES):
        (out / name).write_bytes(f"old output {i}".encode())
    (out / "notes.txt").write_text("not an output")
    return snapshot(out)


# 1. No command writes over one of its own inputs ----------------------------------------------------

@pytest.mark.parametrize("command", ["scramble", "unscramble"])
@pytest.mark.parametrize("link", ["same path", "symlink", "hard link"])
def test_scramble_never_writes_over_an_input_image(tmp_path, pngs, key, capsys, command, link):
    out = tmp_path / "out"
    out.mkdir()
    before = snapshot(pngs)
    if link == "same path":
        out = pngs
    elif link == "symlink":
        (out / "img02.png").symlink_to(pngs / "img02.png")
    else:
        os.link(pngs / "img02.png", out / "img02.png")
    outside = snapshot(out)
    line = fails(capsys, command, key, pngs, "-o", out, "--force", match="would overwrite its input")
    assert str(out / ("img00.png" if link == "same path" else "img02.png")) in line
    assert str(pngs / ("img00.png" if link == "same path" else "img02.png")) in line
    assert ("through a link" in line) == (link != "same path")
    assert snapshot(pngs) == before and snapshot(out) == outside


@pytest.mark.parametrize("link", ["same path", "symlink", "hard link"])
def test_scramble_never_writes_over_its_key(tmp_path, pngs, key, capsys, link):
    out = tmp_path / "out"
    out.mkdir()
    if link == "same path":  # the key lies in OUTDIR under the name of an output
        key = Path(shutil.move(key, out / "img04.png"))
    elif link == "symlink":
        (out / "img04.png").symlink_to(key)
    else:
        os.link(key, out / "img04.png")
    before = key.read_bytes()
    line = fails(capsys, "scramble", key, pngs, "-o", out, "--force", match="would overwrite its input")
    assert str(out / "img04.png") in line and str(key) in line
    assert key.read_bytes() == before and pihlib.load_key(key).method == "LE"
    assert sorted(p.name for p in out.iterdir()) == ["img04.png"]


def _fake_search(calls):
    def search(images, method, **kwargs):
        calls.append(len(images))
        return types.SimpleNamespace(key=pihlib.keygen(method, seed=1), score=0.5, as_dict=dict)
    return search


@pytest.mark.parametrize("link", ["same path", "symlink", "hard link"])
def test_keysearch_never_writes_over_its_data(tmp_path, capsys, cifar_npz, monkeypatch, link):
    calls = []
    monkeypatch.setattr(pihlib.cli, "search", _fake_search(calls))
    own = tmp_path / "own.npz"
    shutil.copyfile(cifar_npz, own)
    digest = pihlib._io.sha256_file(own)
    target = own
    if link == "symlink":
        (target := tmp_path / "best.key").symlink_to(own)
    elif link == "hard link":
        os.link(own, target := tmp_path / "best.key")
    common = ["keysearch", "LE", "--images", own, "--count", 8, "--trials", 2, "--force", "-o"]
    line = fails(capsys, *common, target, match="would overwrite its input")
    assert str(target) in line and str(own) in line
    assert not calls and pihlib._io.sha256_file(own) == digest
    # an existing file that is not an input is replaced, as --force asks
    (tmp_path / "other.key").write_text("an older key")
    assert main([str(a) for a in common] + [str(tmp_path / "other.key")]) == 0
    assert calls == [8] and pihlib.load_key(tmp_path / "other.key").method == "LE"
    assert pihlib._io.sha256_file(own) == digest


def test_keysearch_never_writes_into_its_image_folder(tmp_path, capsys, cifar_images, monkeypatch):
    calls = []
    monkeypatch.setattr(pihlib.cli, "search", _fake_search(calls))
    source = tmp_path / "cifar"
    for i, cls in enumerate(pihlib.CIFAR10_CLASSES):
        (source / cls).mkdir(parents=True)
        Image.fromarray(cifar_images[i].permute(1, 2, 0).numpy()).save(source / cls / "0.png")
    before = (source / "cat" / "0.png").read_bytes()
    common = ["keysearch", "PE", "--images", source, "--trials", 2, "--force", "-o"]
    fails(capsys, *common, source / "cat" / "0.png", match=f"lies inside the input folder {source}")
    os.link(source / "cat" / "0.png", tmp_path / "best.key")
    line = fails(capsys, *common, tmp_path / "best.key", match="(the same file through a link)")
    assert str(source / "cat" / "0.png") in line
    assert not calls and (source / "cat" / "0.png").read_bytes() == before
    for new in (source / "new.key", source / "cat" / "new.key"):  # a new file there changes the data set
        fails(capsys, "keysearch", "PE", "--images", source, "--trials", 2, "-o", new,
              match=f"lies inside the input folder {source}")
        assert not new.exists()


def test_ctrl_c_after_every_output_is_in_place_leaves_no_staging_folder(tmp_path, capsys, monkeypatch):
    """Ctrl-C while the staging folder is being removed: the outputs are all new, the staging folder is
    gone, and the interruption is reported (exit 130)."""
    import shutil

    from pihlib import _cli

    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_bytes(b"old a")
    real, calls = shutil.rmtree, []

    def interrupted_once(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real(path, *args, **kwargs)

    monkeypatch.setattr(_cli.shutil, "rmtree", interrupted_once)
    with pytest.raises(KeyboardInterrupt):
        _cli.write_files_together(out, {"a.png": b"new a", "b.png": b"new b"}, force=True)
    assert (out / "a.png").read_bytes() == b"new a" and (out / "b.png").read_bytes() == b"new b"
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]


# 2. With --force, the files replaced come back when any step fails ----------------------------------

def _fail_on(monkeypatch, call: int, exc: BaseException, links: bool = True):
    """``os.replace`` raises ``exc`` on its ``call``-th call; without ``links``, ``os.link`` always
    fails (a file system without hard links)."""
    real = os.replace
    calls = []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == call:
            raise exc
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    if not links:
        def no_link(*a, **k):
            raise OSError(errno.EPERM, "Operation not permitted")
        monkeypatch.setattr(os, "link", no_link)
    return calls


@pytest.mark.parametrize("links", [True, False])
@pytest.mark.parametrize("call", [1, 4, 6])
def test_a_forced_write_that_fails_midway_puts_the_old_files_back(tmp_path, pngs, key, capsys,
                                                                  monkeypatch, call, links):
    out = tmp_path / "out"
    before = old_outputs(out)
    _fail_on(monkeypatch, call, OSError(errno.EIO, "Input/output error", "x"), links)
    line = fails(capsys, "scramble", key, pngs, "-o", out, "--force", match="Input/output error")
    assert snapshot(out) == before  # every old file's bytes, nothing new, no staging folder left
    assert str(out / "img0") in line and "pih-staging" not in line


def test_ctrl_c_during_a_forced_write_puts_the_old_files_back(tmp_path, pngs, key, capsys, monkeypatch):
    out = tmp_path / "out"
    before = old_outputs(out)
    (out / "img00.png").unlink()  # one output is new: it must go again
    del before["img00.png"]
    _fail_on(monkeypatch, 5, KeyboardInterrupt(), links=False)
    fails(capsys, "scramble", key, pngs, "-o", out, "--force", match="interrupted", status=130)
    assert snapshot(out) == before


def test_old_files_that_cannot_be_put_back_are_kept_and_named(tmp_path, pngs, key, capsys, monkeypatch):
    """Should putting an old file back fail too, it is left in the staging folder, and the line says
    where (never deleted)."""
    out = tmp_path / "out"
    old_outputs(out)
    real = os.replace
    calls = []

    def replace(src, dst):  # the first move works (img00.png set aside), every later one fails
        calls.append(dst)
        if len(calls) > 1:
            raise OSError(errno.EIO, "Input/output error", str(src))
        return real(src, dst)

    _fail_on(monkeypatch, 0, OSError(), links=False)  # and no hard links: the old file is moved aside
    monkeypatch.setattr(os, "replace", replace)
    line = fails(capsys, "scramble", key, pngs, "-o", out, "--force", match="1 old file(s) could not be put")
    kept = Path(line.split(" are kept in ")[1]) / "img00.png"
    assert kept.read_bytes() == b"old output 0" and not (out / "img00.png").exists()


def test_an_output_that_cannot_be_replaced_leaves_every_old_file(tmp_path, pngs, key, capsys):
    """A real failure: an immutable file (chattr +i, as root on a file system that has it)."""
    out = tmp_path / "out"
    before = old_outputs(out)
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", out / "img03.png"],
                                                        capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (not root, or the file system lacks it)")
    try:
        line = fails(capsys, "scramble", key, pngs, "-o", out, "--force", match="Operation not permitted")
    finally:
        subprocess.run(["chattr", "-i", out / "img03.png"], check=True)
    assert snapshot(out) == before
    assert f"cannot write {out / 'img03.png'}" in line


def test_a_forced_write_that_succeeds_leaves_no_staging_files(tmp_path, pngs, key, capsys):
    out = tmp_path / "out"
    old_outputs(out)
    os.link(out / "img01.png", tmp_path / "kept.png")  # another name of an old output
    assert main(["scramble", str(key), str(pngs), "-o", str(out), "--force"]) == 0
    assert sorted(snapshot(out)) == sorted([*NAMES, "notes.txt"])
    assert all((out / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for n in NAMES)
    assert (tmp_path / "kept.png").read_bytes() == b"old output 1"  # replaced, not written through


# 3. The staging folder lies on the output's file system; errors name the user's paths --------------

def _mount_point(monkeypatch, mount: Path):
    """Pretend that ``mount`` is a mount point: a rename or link across it fails with EXDEV."""
    def inside(p) -> bool:
        p = Path(os.path.abspath(p))
        return p == mount or mount in p.parents

    for name in ("replace", "rename", "link"):
        real = getattr(os, name)

        def across(src, dst, *a, real=real, **k):
            if inside(src) != inside(dst):
                raise OSError(errno.EXDEV, "Invalid cross-device link", str(src), None, str(dst))
            return real(src, dst, *a, **k)

        monkeypatch.setattr(os, name, across)


def test_output_folder_on_another_file_system(tmp_path, pngs, key, capsys, monkeypatch):
    out = tmp_path / "mnt"
    out.mkdir()
    _mount_point(monkeypatch, out)
    assert main(["scramble", str(key), str(pngs), "-o", str(out)]) == 0
    assert main(["unscramble", str(key), str(out), "-o", str(out / "back")]) == 0
    assert main(["scramble", str(key), str(pngs), "-o", str(out), "--force"]) == 0
    assert main(["keygen", "PE", "-o", str(out / "pe.key")]) == 0
    assert sorted(snapshot(out)) == sorted([*NAMES, "back", "pe.key"])
    assert sorted(snapshot(out / "back")) == NAMES


def test_errors_name_the_users_paths_not_temporary_ones(tmp_path, pngs, key, capsys, monkeypatch):
    out = tmp_path / "out"
    before = old_outputs(out)

    def refuse(src, dst, *a, **k):
        raise OSError(errno.EXDEV, "Invalid cross-device link", str(src), None, str(dst))

    monkeypatch.setattr(os, "replace", refuse)
    line = fails(capsys, "scramble", key, pngs, "-o", out, "--force", match="Invalid cross-device link")
    assert f"cannot write {out / 'img00.png'}" in line and "staging" not in line
    assert snapshot(out) == before
    line = fails(capsys, "keygen", "LE", "-o", tmp_path / "new.key", match="Invalid cross-device link")
    assert str(tmp_path / "new.key") in line and ".tmp" not in line
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# 4. Inputs that are not regular files, or cannot be read --------------------------------------------

@contextlib.contextmanager
def unblocking(fifo: Path):
    """Should a reader open ``fifo`` after all, open its other end so that the test fails, not hangs."""
    stop = threading.Event()

    def writer():
        while not stop.wait(0.05):
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def test_fifos_sockets_and_devices_are_refused_by_name(tmp_path, pngs, key, capsys):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    sock_path = tmp_path / "s.png"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    try:
        with unblocking(fifo):
            what = f"{fifo} is not a regular file (a FIFO)"
            fails(capsys, "scramble", key, fifo, "-o", tmp_path / "o1", match=what)
            fails(capsys, "metric", "psnr", pngs / "img00.png", fifo, match=what)
            fails(capsys, "metric", "niqe", fifo, match=what)
            os.mkfifo(pngs / "zz.png")  # in a folder too: never skipped in silence
            with unblocking(pngs / "zz.png"):
                fails(capsys, "scramble", key, pngs, "-o", tmp_path / "o2",
                      match="zz.png is not a regular file (a FIFO)")
            (pngs / "zz.png").unlink()
            fails(capsys, "keysearch", "LE", "--images", fifo, "--trials", 2, "-o", tmp_path / "k",
                  match=f"CIFAR-10 source {fifo} is not a regular file (a FIFO)")
        fails(capsys, "scramble", key, sock_path, "-o", tmp_path / "o3",
              match=f"{sock_path} is not a regular file (a socket)")
    finally:
        sock.close()
    if Path("/dev/null").exists():
        fails(capsys, "scramble", key, "/dev/null", "-o", tmp_path / "o4",
              match="/dev/null is not a regular file (a character device)")
    (tmp_path / "gone.png").symlink_to(tmp_path / "nowhere.png")
    fails(capsys, "scramble", key, tmp_path / "gone.png", "-o", tmp_path / "o5",
          match="gone.png does not exist (a link to nothing)")
    fails(capsys, "scramble", key, tmp_path / "nothing.png", "-o", tmp_path / "o5", match="does not exist")
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 6)) and not (tmp_path / "k").exists()


def test_unreadable_inputs_are_refused_by_name(tmp_path, pngs, key, capsys, monkeypatch, cifar_npz):
    locked = pngs / "img03.png"
    npz = tmp_path / "locked.npz"
    shutil.copyfile(cifar_npz, npz)
    if os.geteuid() != 0:
        locked.chmod(0)
        npz.chmod(0)
    else:  # root reads any file: refuse the opening as the kernel would for another user
        real = open

        def guarded(file, *a, **k):
            if isinstance(file, str | os.PathLike) and Path(file) in (locked, npz):
                raise PermissionError(errno.EACCES, "Permission denied", str(file))
            return real(file, *a, **k)

        monkeypatch.setattr("builtins.open", guarded)
    what = f"{locked} cannot be read: Permission denied"
    fails(capsys, "scramble", key, pngs, "-o", tmp_path / "out", match=what)
    fails(capsys, "metric", "psnr", pngs, pngs, match=what)
    fails(capsys, "keysearch", "LE", "--images", npz, "--trials", 2, "-o", tmp_path / "k",
          match=f"CIFAR-10 source {npz} cannot be read: Permission denied")
    assert not (tmp_path / "out").exists() and not (tmp_path / "k").exists()


# 5. Whatever Pillow raises while reading is one line naming the file --------------------------------

def test_png_chunks_that_inflate_past_pillows_limit(tmp_path, pngs, key, capsys):
    with Image.open(pngs / "img00.png") as im:
        image = im.copy()
    big = PngImagePlugin.MAX_TEXT_CHUNK + 1
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "a" * big, zip=True)  # a zTXt chunk of about 1 kB that inflates to 1 MB
    image.save(tmp_path / "text.png", pnginfo=text)
    image.save(tmp_path / "icc.png", icc_profile=b"\0" * big)  # likewise an iCCP chunk
    for bomb in (tmp_path / "text.png", tmp_path / "icc.png"):
        assert bomb.stat().st_size < 4096  # small on disk
        with pytest.raises(ValueError, match="Decompressed data too large"):
            Image.open(bomb)
        match = f"{bomb} is not a readable image (ValueError: Decompressed data too large"
        fails(capsys, "scramble", key, bomb, "-o", tmp_path / "out", match=match)
        fails(capsys, "metric", "psnr", bomb, pngs / "img00.png", match=match)
        fails(capsys, "metric", "brisque", bomb, match=match)
    shutil.copy(tmp_path / "text.png", pngs / "zz.png")
    fails(capsys, "scramble", key, pngs, "-o", tmp_path / "out", match="zz.png is not a readable image")
    assert not (tmp_path / "out").exists()


def test_any_error_pillow_raises_is_one_line(tmp_path, pngs, key, capsys, monkeypatch):
    for exc in (ValueError("odd"), SyntaxError("broken PNG file"), Image.DecompressionBombError("big"),
                EOFError(), IndexError("list index out of range")):
        def broken(*a, exc=exc, **k):
            raise exc
        monkeypatch.setattr(Image, "open", broken)
        fails(capsys, "scramble", key, pngs / "img01.png", "-o", tmp_path / "out",
              match=f"img01.png is not a readable image ({type(exc).__name__}")
    assert not (tmp_path / "out").exists()


# 6. Ctrl-C while pih is still importing -------------------------------------------------------------

def test_ctrl_c_while_pih_imports_is_one_line(tmp_path):
    """The console script (pihlib_entry, outside the package) imports the command inside its
    guard: Ctrl-C while torch is being imported is the one "interrupted" line, exit 130."""
    pih = Path(sys.executable).parent / "pih"
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}  # each import says so on stderr as it ends
    proc = subprocess.Popen([pih, "keygen", "LE", "-o", tmp_path / "k"], stderr=subprocess.PIPE,
                            text=True, env=env)
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen.append(line)
        if not line or line.split("|")[-1].strip().startswith("torch"):  # torch is being imported
            break
    proc.send_signal(signal.SIGINT)
    err = proc.stderr.read()
    proc.wait(timeout=60)
    lines = [x for x in err.splitlines() if not x.startswith("import time:")]
    assert not (tmp_path / "k").exists()
    assert proc.returncode == 130 and lines == ["pih: interrupted; work already finished is kept"], err
