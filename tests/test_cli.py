from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pihlib
from pihlib.cli import main

from .conftest import SHARED, write_pngs


@pytest.fixture
def pngs(tmp_path, cifar_images):
    """40 real CIFAR-10 test images as PNG files."""
    return write_pngs(tmp_path / "plain", cifar_images[:40])


def read(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def fails(capsys, *argv, match):
    code, out, err = run(capsys, *argv)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pih: error:"), err
    assert match in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("method", ["PE", "EtC", "LE", "ELE"])
def test_keygen_scramble_unscramble_end_to_end(tmp_path, pngs, capsys, method, monkeypatch):
    key = tmp_path / "secret.key"
    code, out, _ = run(capsys, "keygen", method, "--seed", 7, "-o", key)
    assert code == 0 and stat.S_IMODE(os.stat(key).st_mode) == 0o600
    fp = pihlib.fingerprint(pihlib.load_key(key))
    assert fp in out
    assert run(capsys, "fingerprint", key)[1].strip() == fp

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, _, err = run(capsys, "scramble", key, pngs, "-o", tmp_path / "s")
    assert code == 0 and "writing" in err  # 40 files on a terminal: a progress bar
    monkeypatch.undo()
    names = sorted(p.name for p in pngs.iterdir())
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == names
    for name in names:
        assert (read(tmp_path / "s" / name) != read(pngs / name)).mean() > 0.4

    assert run(capsys, "unscramble", key, tmp_path / "s", "-o", tmp_path / "u")[0] == 0
    for name in names:
        np.testing.assert_array_equal(read(tmp_path / "u" / name), read(pngs / name))


def test_cli_output_matches_the_library(tmp_path, pngs, capsys):
    key = tmp_path / "k"
    run(capsys, "keygen", "ELE", "--seed", 1, "--block-size", "8", "-o", key)
    run(capsys, "scramble", key, pngs / "img03.png", pngs / "img05.png", "-o", tmp_path / "s")
    x = np.stack([read(pngs / "img03.png"), read(pngs / "img05.png")])
    import torch
    want = pihlib.scramble(torch.from_numpy(x).permute(0, 3, 1, 2), pihlib.load_key(key))
    got = np.stack([read(tmp_path / "s" / "img03.png"), read(tmp_path / "s" / "img05.png")])
    np.testing.assert_array_equal(got, want.permute(0, 2, 3, 1).numpy())


def test_keygen_options(tmp_path, capsys):
    assert run(capsys, "keygen", "PE-IIR", "--inverted", 614, "--seed", 1, "-o", tmp_path / "k")[0] == 0
    key = pihlib.load_key(tmp_path / "k")
    assert key.options == {"inverted": 614} and int(key.arrays["invert"].sum()) == 614
    assert run(capsys, "keygen", "EtC", "--shape", "64x96", "--block-size", 8, "-o", tmp_path / "e")[0] == 0
    key = pihlib.load_key(tmp_path / "e")
    assert key.shape == (64, 96) and key.block_size == 8 and key.arrays["invert"].sum() == 48


def test_bad_keygen_requests(tmp_path, capsys):
    fails(capsys, "keygen", "XOR", "-o", tmp_path / "k", match="invalid choice: 'XOR'")
    fails(capsys, "keygen", "LE", "--shape", "30x30", "-o", tmp_path / "k",
          match="block size 4 does not divide the image size 30x30")
    fails(capsys, "keygen", "LE", "--shape", "big", "-o", tmp_path / "k", match="--shape must look like")
    fails(capsys, "keygen", "PE-IIR", "-o", tmp_path / "k", match="inverted")
    assert not (tmp_path / "k").exists()


@pytest.fixture
def key(tmp_path, capsys):
    path = tmp_path / "le.key"
    assert run(capsys, "keygen", "LE", "--seed", 3, "-o", path)[0] == 0
    return path


def _no_outputs(out_dir: Path) -> bool:
    return not out_dir.exists() or not any(out_dir.iterdir())


def test_image_of_the_wrong_size(tmp_path, pngs, key, capsys, monkeypatch):
    Image.new("RGB", (64, 48)).save(pngs / "zz_big.png")
    fails(capsys, "scramble", key, pngs, "-o", tmp_path / "out",
          match="zz_big.png is 48x64 but the key was made for 32x32 images")
    assert _no_outputs(tmp_path / "out")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # on a terminal the bar closes first
    assert run(capsys, "scramble", key, pngs, "-o", tmp_path / "out")[2].rstrip().endswith(
        "zz_big.png is 48x64 but the key was made for 32x32 images")


def test_block_size_that_does_not_divide_the_image(tmp_path, capsys):
    path = tmp_path / "odd.png"
    Image.new("RGB", (30, 30)).save(path)
    key = tmp_path / "k"
    run(capsys, "keygen", "ELE", "--seed", 1, "-o", key)
    fails(capsys, "scramble", key, path, "-o", tmp_path / "out", match="is 30x30 but the key was made")


def test_non_image_files(tmp_path, pngs, key, capsys):
    (pngs / "zz_notes.png").write_text("this is not a picture")
    fails(capsys, "scramble", key, pngs, "-o", tmp_path / "out", match="zz_notes.png is not a readable image")
    assert _no_outputs(tmp_path / "out")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    fails(capsys, "scramble", key, pngs / "img00.png", text, "-o", tmp_path / "out2",
          match="notes.txt is not a readable image")
    assert _no_outputs(tmp_path / "out2")
    jpeg = tmp_path / "photo.jpg"
    Image.new("RGB", (32, 32)).save(jpeg)
    fails(capsys, "scramble", key, jpeg, "-o", tmp_path / "out3", match="PNG only")
    grey = tmp_path / "grey.png"
    Image.new("L", (32, 32)).save(grey)
    fails(capsys, "scramble", key, grey, "-o", tmp_path / "out4", match="is a L image")


def test_damaged_tampered_and_relabelled_keys(tmp_path, pngs, key, capsys):
    good = key.read_text()
    key.write_text(good[: len(good) // 2])
    fails(capsys, "scramble", key, pngs, "-o", tmp_path / "o1", match="damaged")
    doc = json.loads(good)
    doc["arrays"]["perm"]["data"] = doc["arrays"]["perm"]["data"][::-1]
    key.write_text(json.dumps(doc))
    fails(capsys, "scramble", key, pngs, "-o", tmp_path / "o2", match="damaged or tampered")
    doc = json.loads(good)
    doc["method"] = "ELE"  # an LE key presented as another method's
    key.write_text(json.dumps(doc))
    fails(capsys, "unscramble", key, pngs, "-o", tmp_path / "o3", match="damaged or tampered")
    fails(capsys, "fingerprint", tmp_path / "missing.key", match="does not exist")
    assert all(_no_outputs(tmp_path / o) for o in ("o1", "o2", "o3"))


def test_lossy_authors_key_cannot_unscramble(tmp_path, pngs, capsys):
    key = tmp_path / "k"
    run(capsys, "keygen", "EtC", "--channel-maps", "authors-aliased", "-o", key)
    assert run(capsys, "scramble", key, pngs, "-o", tmp_path / "s")[0] == 0
    fails(capsys, "unscramble", key, tmp_path / "s", "-o", tmp_path / "u", match="cannot be unscrambled")
    assert _no_outputs(tmp_path / "u")


def test_output_never_overwrites_inputs(tmp_path, pngs, key, capsys):
    fails(capsys, "scramble", key, pngs, "-o", pngs, match="would overwrite its input")
    other = tmp_path / "other"
    other.mkdir()
    (other / "img00.png").write_bytes((pngs / "img00.png").read_bytes())
    fails(capsys, "scramble", key, pngs, other, "-o", tmp_path / "out", match="share the file name img00.png")
    fails(capsys, "scramble", key, tmp_path / "nothing", "-o", tmp_path / "out", match="does not exist")


def test_console_script(tmp_path):
    pih = Path(sys.executable).parent / "pih"
    assert pih.exists(), "the pih console script is not installed"
    ok = subprocess.run([pih, "keygen", "LE", "-o", tmp_path / "k"], capture_output=True, text=True)
    assert ok.returncode == 0 and "LE key" in ok.stdout
    bad = subprocess.run([pih, "keygen", "AES", "-o", tmp_path / "k2"], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


IQA = SHARED / "iqa-reference"


def test_metric_command(capsys):
    code, out, _ = run(capsys, "metric", "lpips", IQA / "I04_ref.png", IQA / "I04_dist.png")
    assert code == 0 and abs(float(out) - 0.2572) < 1e-3
    code, out, _ = run(capsys, "metric", "piqe", IQA / "I08_dist.png")
    assert code == 0 and abs(float(out) - 41.15) < 0.01
    code, out, _ = run(capsys, "metric", "lpips", "--convention", "authors", "--net", "vgg",
                       IQA / "I04_ref.png", IQA / "I04_dist.png")
    assert code == 0 and 0 < float(out) < 1


def test_metric_command_on_folders(tmp_path, pngs, capsys):
    key = tmp_path / "k"
    run(capsys, "keygen", "PE", "--seed", 0, "-o", key)
    run(capsys, "scramble", key, pngs, "-o", tmp_path / "s")
    code, out, _ = run(capsys, "metric", "psnr", pngs, tmp_path / "s")  # mean over the 40 pairs
    assert code == 0 and 5 < float(out) < 15


def test_bad_metric_commands(tmp_path, capsys):
    ref, dist = IQA / "I04_ref.png", IQA / "I04_dist.png"
    fails(capsys, "metric", "fsim", ref, dist, match="invalid choice: 'fsim'")
    fails(capsys, "metric", "niqe", ref, dist, match="niqe takes one image, got 2")
    fails(capsys, "metric", "psnr", ref, match="psnr takes REF and DIST, got 1")
    fails(capsys, "metric", "psnr", "--net", "vgg", ref, dist, match="apply to lpips only")
    fails(capsys, "metric", "fid", ref, dist, match="give two folders of PNG files")
    text = tmp_path / "x.png"
    text.write_text("no image")
    fails(capsys, "metric", "mse", ref, text, match="x.png is not a readable image")


def test_metric_undefined_for_an_image_without_texture(tmp_path, capsys):
    """NIQE and BRISQUE of a flat image: one line naming the file and why, exit 2 (no traceback)."""
    from PIL import Image

    for size in (32, 96):
        flat = tmp_path / f"flat{size}.png"
        Image.new("RGB", (size, size), (128, 128, 128)).save(flat)
        for name in ("niqe", "brisque"):
            fails(capsys, "metric", name, flat, match=f"{name} is undefined for flat{size}.png: its natural")
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.new("RGB", (32, 32)).save(folder / "black.png")
    Image.open(IQA / "I04_dist.png").convert("RGB").resize((32, 32)).save(folder / "photo.png")
    fails(capsys, "metric", "niqe", folder, match="niqe is undefined for black.png:")


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"pih (pihlib) {pihlib.__version__}"


def test_a_block_size_for_a_method_without_blocks_is_refused(tmp_path, capsys):
    for method in ("PE", "PE-IIR"):
        assert main(["keygen", method, "--block-size", "8", "-o", str(tmp_path / "k.json")]) == 2
        err = capsys.readouterr().err.strip()
        assert err == f"pih: error: {method} scrambles single pixels and takes no --block-size"
    assert not (tmp_path / "k.json").exists()
    assert main(["keysearch", "PE", "--images", str(tmp_path), "--block-size", "8", "-o",
                 str(tmp_path / "k.json")]) == 2  # refused before the images are read
    assert "takes no --block-size" in capsys.readouterr().err
