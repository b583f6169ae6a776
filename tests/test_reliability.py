"""A hostile user's cases: no key or file is lost, no output is partial, every bad input is one line.

Command-line cases run the real ``pih`` (its ``main``, or the console script where a signal is sent)
on real CIFAR-10 PNGs and check the exit status, that stderr is exactly one line, and that no output
appeared (or that the file already there is unchanged).
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

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


def fails(capsys, *argv, match: str, status: int = 2) -> str:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == status, (out, err)
    assert len(lines) == 1 and lines[0].startswith("pih: "), err
    assert match in lines[0], lines[0]
    return lines[0]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png(path: Path, width: int, height: int, depth: int = 8, rows: bytes | None = None) -> Path:
    """A truecolour PNG made by hand: any header, with ``rows`` (or none at all) as its data."""
    header = struct.pack(">IIBBBBB", width, height, depth, 2, 0, 0, 0)
    body = _chunk(b"IHDR", header) + (_chunk(b"IDAT", zlib.compress(rows)) if rows is not None else b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body + _chunk(b"IEND", b""))
    return path


# Data loss ------------------------------------------------------------------------------------------

def test_keygen_never_replaces_a_file_without_force(tmp_path, capsys):
    target = tmp_path / "my.key"
    pihlib.save_key(pihlib.keygen("PE", seed=1), target)
    before = target.read_bytes()
    fails(capsys, "keygen", "LE", "-o", target, match="exists; add --force")
    assert target.read_bytes() == before
    notes = tmp_path / "notes.txt"
    notes.write_text("precious")
    fails(capsys, "keygen", "LE", "-o", notes, match="exists; add --force")
    assert notes.read_text() == "precious"
    assert main(["keygen", "LE", "--seed", "2", "-o", str(target), "--force"]) == 0
    assert pihlib.load_key(target).method == "LE"


def test_keysearch_checks_its_output_before_searching(tmp_path, capsys, cifar_npz, monkeypatch):
    searched = []
    monkeypatch.setattr(pihlib.cli, "search", lambda *a, **k: searched.append(1))
    target = tmp_path / "best.key"
    target.write_text("an older key")
    common = ["keysearch", "LE", "--images", cifar_npz, "--count", 8, "--trials", 2]
    fails(capsys, *common, "-o", target, match="exists; add --force")
    (tmp_path / "file").write_text("x")
    fails(capsys, *common, "-o", tmp_path / "file" / "best.key", match="it is a file, not a folder")
    fails(capsys, *common, "-o", tmp_path, match="is a folder")
    assert not searched and target.read_text() == "an older key"


def test_scrambled_outputs_appear_all_or_none(tmp_path, pngs, key, capsys):
    out = tmp_path / "out"
    (out / "img03.png").mkdir(parents=True)  # a folder named like one of the outputs
    fails(capsys, "scramble", key, pngs, "-o", out, match="img03.png exists and is not a file")
    assert sorted(p.name for p in out.iterdir()) == ["img03.png"]
    (out / "img03.png").rmdir()
    (out / "img01.png").write_bytes(b"mine")
    fails(capsys, "scramble", key, pngs, "-o", out, match="img01.png exists; add --force")
    assert sorted(p.name for p in out.iterdir()) == ["img01.png"]
    assert (out / "img01.png").read_bytes() == b"mine"
    assert main(["scramble", str(key), str(pngs), "-o", str(out), "--force"]) == 0
    assert len(list(out.iterdir())) == 6 and (out / "img01.png").read_bytes() != b"mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_a_write_that_fails_midway_leaves_nothing(tmp_path, pngs, key, capsys, monkeypatch):
    real = os.replace
    calls = []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 4:
            raise OSError(28, "No space left on device", str(dst))
        return real(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    fails(capsys, "scramble", key, pngs, "-o", tmp_path / "out", match="No space left on device")
    assert not (tmp_path / "out").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("kept")
    calls.clear()
    fails(capsys, "scramble", key, pngs, "-o", tmp_path / "mine", match="No space left on device")
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_inputs_that_would_not_come_back_exactly_are_refused(tmp_path, key, capsys, cifar_images):
    rgb = cifar_images[0].permute(1, 2, 0).numpy()
    wide = rgb.astype(">u2") * 257
    rows = b"".join(b"\0" + wide[r].tobytes() for r in range(32))
    deep = write_png(tmp_path / "deep.png", 32, 32, depth=16, rows=rows)
    with Image.open(deep) as im:  # Pillow would read it as 8-bit RGB: the silent conversion
        assert im.mode == "RGB"
    fails(capsys, "scramble", key, deep, "-o", tmp_path / "o1", match="16-bit samples")
    clear = tmp_path / "clear.png"
    Image.fromarray(rgb).save(clear, transparency=(0, 0, 0))
    fails(capsys, "scramble", key, clear, "-o", tmp_path / "o2", match="transparent colour (tRNS)")
    moving = tmp_path / "moving.png"
    Image.fromarray(rgb).save(moving, save_all=True, append_images=[Image.fromarray(255 - rgb)])
    fails(capsys, "scramble", key, moving, "-o", tmp_path / "o3", match="animated (2 frames)")
    assert not any((tmp_path / o).exists() for o in ("o1", "o2", "o3"))


# One line and status 2, never a traceback -----------------------------------------------------------

@pytest.mark.parametrize("argv, match", [
    (["keygen", "LE", "--seed", "-1"], "seed must be a non-negative integer"),
    (["keygen", "LE", "--seed", "1.5"], "invalid int value: '1.5'"),
    (["keygen", "PE", "--shape", "100000x100000"], "too large"),
    (["keygen", "PE", "--shape", "0x32"], "two positive integers"),
    (["keysearch", "LE", "--images", "NPZ", "--trials", "2", "--count", "4", "--seed", "-3"],
     "seed must be a non-negative integer"),
])
def test_bad_numbers(tmp_path, capsys, cifar_npz, argv, match):
    argv = [str(cifar_npz) if a == "NPZ" else a for a in argv]
    fails(capsys, *argv, "-o", tmp_path / "k", match=match)
    assert not (tmp_path / "k").exists()


def test_bad_seeds_in_the_library():
    for seed in (-1, 1.5, "7", True):
        with pytest.raises(pihlib.PihError, match="seed must be a non-negative integer"):
            pihlib.keygen("LE", seed=seed)
    with pytest.raises(pihlib.PihError, match="seed must be"):
        list(pihlib.keysearch.candidate_keys("LE", 2, seed=-5))


def test_decompression_bomb(tmp_path, key, capsys):
    bomb = write_png(tmp_path / "bomb.png", 100000, 100000)
    fails(capsys, "scramble", key, bomb, "-o", tmp_path / "out", match="claims 100000x100000 pixels")
    fails(capsys, "metric", "niqe", bomb, match="claims 100000x100000 pixels")
    assert not (tmp_path / "out").exists()


def test_bad_output_paths(tmp_path, pngs, key, capsys):
    (tmp_path / "file").write_text("x")
    fails(capsys, "keygen", "LE", "-o", tmp_path, match="is a folder; name a file")
    fails(capsys, "keygen", "LE", "-o", tmp_path / "file" / "k.key", match="it is a file, not a folder")
    fails(capsys, "scramble", key, pngs, "-o", tmp_path / "file" / "out", match="it is a file, not a folder")
    fails(capsys, "scramble", key, pngs, "-o", tmp_path / "file", match="exists and is not a folder")
    if Path("/proc/self").exists():  # a special file system that takes no new files
        fails(capsys, "keygen", "LE", "-o", "/proc/pih-test.key", match="cannot write in /proc")
        fails(capsys, "scramble", key, pngs, "-o", "/proc/pih-out", match="cannot write in /proc")
    assert (tmp_path / "file").read_text() == "x"


def test_bad_key_paths(tmp_path, pngs, capsys):
    (tmp_path / "file").write_text("x")
    fails(capsys, "fingerprint", tmp_path / "file" / "k.key", match="cannot be read: Not a directory")
    fifo = tmp_path / "pipe.key"
    os.mkfifo(fifo)
    fails(capsys, "scramble", fifo, pngs, "-o", tmp_path / "out", match="is not a regular file")  # no hang
    fails(capsys, "fingerprint", tmp_path, match="is a folder, not a file")
    if os.geteuid() != 0:  # root reads any file
        locked = tmp_path / "locked.key"
        pihlib.save_key(pihlib.keygen("LE"), locked)
        locked.chmod(0)
        fails(capsys, "fingerprint", locked, match="cannot be read: Permission denied")


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.update(arrays=[]), "'arrays' is list, not dict"),
    (lambda d: d.update(shape="32x32"), "'shape' is str, not list"),
    (lambda d: d.update(shape=[32, "32"]), "'shape' must be a list of 2 non-negative integers"),
    (lambda d: d.update(shape=[32, 32, 3]), "'shape' must be a list of 2"),
    (lambda d: d.update(options=[]), "'options' is list, not dict"),
    (lambda d: d.update(method=5), "'method' is int, not str"),
    (lambda d: d.update(block_size="4"), "'block_size' is str, not int or NoneType"),
    (lambda d: d.update(block_size=True), "'block_size' is bool"),
    (lambda d: d.update(sha256=None), "'sha256' is NoneType, not str"),
    (lambda d: d.pop("arrays"), "it has no 'arrays'"),
    (lambda d: d["arrays"].update(perm="abc"), "array 'perm' is str, not an object"),
    (lambda d: d["arrays"]["perm"].update(shape=[-1]), "must be a list of non-negative integers"),
    (lambda d: d["arrays"]["perm"].update(shape=[1000]), "cannot reshape"),
    (lambda d: d["arrays"]["perm"].update(dtype="float64"), "dtype float64"),
    (lambda d: d["arrays"]["perm"].update(dtype="no-such-type"), "data type"),
    (lambda d: d["arrays"]["perm"].update(data=7), "'data' is int, not str"),
    (lambda d: d["arrays"].update(extra=d["arrays"]["perm"]), "damaged or tampered"),
])
def test_key_files_with_fields_of_the_wrong_type_or_nesting(tmp_path, pngs, key, capsys, edit, match):
    doc = json.loads(key.read_text())
    edit(doc)
    key.write_text(json.dumps(doc))
    fails(capsys, "scramble", key, pngs, "-o", tmp_path / "out", match=match)
    with pytest.raises(pihlib.PihError):
        pihlib.load_key(key)
    assert not (tmp_path / "out").exists()


def test_interrupting_a_key_search(tmp_path, cifar_npz):
    """Ctrl-C during a key search: status 130, one line, the scores so far kept for a resume."""
    pih = Path(sys.executable).parent / "pih"
    env = {**os.environ, "PIH_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen([pih, "keysearch", "PE", "--images", cifar_npz, "--count", "200", "--trials",
                             "1000", "-o", tmp_path / "best.key"], stderr=subprocess.PIPE, text=True,
                            env=env)
    scores = tmp_path / "cache" / "scores"
    deadline = time.monotonic() + 120
    while not (scores.exists() and any(scores.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.2)  # until the first key is scored (after the imports)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["pih: interrupted; work already finished is kept"]
    assert not (tmp_path / "best.key").exists() and any(scores.iterdir())


# Silently wrong results ------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=3 * 16 * 16, max_size=3 * 16 * 16), st.sampled_from(["PE", "EtC", "LE", "ELE"]))
def test_float_contract(data, method):
    """k / 255 floats round-trip bit for bit; k * (1/255) floats (one ulp off) come back as k / 255;
    anything further off is refused."""
    key = pihlib.keygen(method, seed=0, shape=(16, 16))
    u = torch.frombuffer(bytearray(data), dtype=torch.uint8).view(1, 3, 16, 16)
    divided = u.float() / 255  # ToTensor
    assert torch.equal(pihlib.unscramble(pihlib.scramble(divided, key), key), divided)
    assert torch.equal(pihlib.scramble(divided, key), pihlib.scramble(u, key).float() / 255)
    multiplied = u.float() * (1 / 255)  # torchvision's ToDtype(scale=True)
    back = pihlib.unscramble(pihlib.scramble(multiplied, key), key)
    assert torch.equal(back, divided)
    assert ((back - multiplied).abs() <= torch.finfo(torch.float32).eps).all()
    off = divided + 0.01 / 255
    off[divided == 1] -= 0.02 / 255
    with pytest.raises(pihlib.PihError, match="must be 8-bit levels"):
        pihlib.scramble(off, key)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_images_scramble_exactly(dtype, cifar_images):
    """Every half-precision value still names its 8-bit level: made as (u / 255).to(dtype) or by
    torchvision's ToDtype(dtype, scale=True), the images scramble as their uint8 levels do, come back
    in their dtype, and round-trip bit for bit."""
    from torchvision.transforms import v2

    key = pihlib.keygen("ELE", seed=3)
    levels = torch.arange(256, dtype=torch.uint8).repeat(12)[: 3 * 32 * 32].view(1, 3, 32, 32)
    u = torch.cat([cifar_images[:4], levels])
    for x in ((u / 255).to(dtype), v2.ToDtype(dtype, scale=True)(u)):
        y = pihlib.scramble(x, key)
        assert y.dtype == dtype
        assert torch.equal(y, (pihlib.scramble(u, key) / 255).to(dtype))
        assert torch.equal(pihlib.unscramble(y, key), x)
    off = (u / 255).to(dtype).float() + 0.6 / 255  # a value between two levels: refused, dtype named
    with pytest.raises(pihlib.PihError, match="must be 8-bit levels"):
        pihlib.scramble(off.clamp(0, 1).to(torch.float16), key)


def test_a_float_dtype_too_coarse_for_8_bit_levels_is_refused_by_name(cifar_images):
    with pytest.raises(pihlib.PihError, match="float8_e5m2 cannot hold 8-bit levels"):
        pihlib.scramble((cifar_images[:2] / 255).to(torch.float8_e5m2), pihlib.keygen("PE", seed=0))


def test_nan_and_empty_batches(cifar_images):
    key = pihlib.keygen("ELE", seed=1)
    x = cifar_images[:2].float() / 255
    x[0, 1, 2, 3] = float("nan")
    with pytest.raises(pihlib.PihError, match="NaN"):
        pihlib.scramble(x, key)
    with pytest.raises(pihlib.PihError, match="NaN"):
        pihlib.metric("psnr")(x, x)
    for empty in (torch.empty(0, 3, 32, 32, dtype=torch.uint8), torch.empty(0, 3, 32, 32)):
        for f in (pihlib.scramble, pihlib.unscramble):
            out = f(empty, key)
            assert out.shape == empty.shape and out.dtype == empty.dtype
        assert pihlib.metric("psnr")(empty, empty).shape == (0,)
        assert pihlib.metric("brisque")(empty).shape == (0,)
    with pytest.raises(pihlib.PihError, match="rho needs at least one key"):
        pihlib.rho(cifar_images[:2], [])


def test_metric_folders_pair_by_file_name(tmp_path, pngs, capsys):
    other = tmp_path / "other"
    other.mkdir()
    for p in pngs.iterdir():
        (other / p.name).write_bytes(p.read_bytes())
    assert main(["metric", "mse", str(pngs), str(other)]) == 0
    assert float(capsys.readouterr().out) == 0
    (other / "img02.png").rename(other / "zz.png")
    fails(capsys, "metric", "mse", pngs, other, match="img02.png is in")
    (other / "zz.png").rename(other / "img02.png")
    (other / "extra.png").write_bytes((pngs / "img00.png").read_bytes())
    fails(capsys, "metric", "mse", pngs, other, match="extra.png is in")
