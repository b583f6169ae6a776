"""The paper's nine image metrics, in one registry with one batched call.

``metric(name, **options)`` returns a callable ``m(x, y=None)`` on uint8 or [0, 1] float tensors
N x 3 x H x W, computed on the tensors' device, one value per image (FID: one value for the two sets).
Full-reference metrics compare the reference ``x`` with the distorted ``y``; no-reference metrics score
``y`` when it is given (the distorted image, so a notebook can call every metric as ``m(plain,
scrambled)``), else ``x``. Each metric's ``info`` says whether it needs a reference, which direction
means more hiding, and what input size it needs. Pretrained parts come from ``pihlib.assets``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import assets, nr_iqa
from .errors import PihError
from .images import as_unit

# LPIPS's input convention, owned here: "lpips" (its own: [0, 1] images scaled to [-1, 1]) is the
# default of metric("lpips"); rho (paper Eq. 1) defaults to "authors" ([0, 1] images fed as they are),
# which is how the authors' code computed every rho the paper reports.
LPIPS_CONVENTION = "lpips"
RHO_CONVENTION = "authors"
CONVENTIONS = (LPIPS_CONVENTION, RHO_CONVENTION)
BATCH = 256


@dataclass(frozen=True)
class MetricInfo:
    name: str
    reference: bool  # needs a reference image
    higher_hides_more: bool  # which direction means more perceptual information hiding
    per_image: bool  # False: one value for two sets of images (FID)
    input_size: str  # what the metric needs, and what pihlib does about it
    assets: tuple[str, ...] = ()


def _batches(n: int, size: int, desc: str):
    starts = range(0, n, size)
    return tqdm(starts, desc=desc, disable=len(starts) < 8, leave=False)


class Metric:
    """A metric: ``m(x, y=None)`` -> tensor of one value per image (FID: a 0-d tensor)."""

    info: MetricInfo

    def __call__(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """One value per image of ``x`` (and ``y``); an empty batch gives an empty result."""
        x = as_unit(x, "x")
        if y is not None:
            y = as_unit(y, "y")
            if self.info.per_image and x.shape != y.shape:
                raise PihError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
            if not self.info.per_image and x.shape[1:] != y.shape[1:]:
                raise PihError(f"x and y must hold images of one size, got {tuple(x.shape[1:])} "
                               f"and {tuple(y.shape[1:])}")
        if self.info.reference and y is None:
            raise PihError(f"{self.info.name} compares two images: call it as m(reference, distorted)")
        if not len(x) or (y is not None and not len(y)):
            if not self.info.per_image:
                raise PihError(f"{self.info.name} compares two sets of images: both must hold images")
            return torch.empty(0, device=x.device)
        if not self.info.reference:
            return self.score(y if y is not None else x)
        return self.compare(x, y)

    def against(self, x: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """``m.against(x)(y) == m(x, y)``, with the work on the reference ``x`` done once: for
        comparing many distorted versions with one set of plain images."""
        if not self.info.reference:
            return lambda y: self(y)
        state = self.prepare(as_unit(x, "x"))
        shape = tuple(x.shape)

        def compare(y: torch.Tensor) -> torch.Tensor:
            y = as_unit(y, "y")
            if self.info.per_image and tuple(y.shape) != shape:
                raise PihError(f"x and y must have the same shape, got {shape} and {tuple(y.shape)}")
            if not self.info.per_image and tuple(y.shape[1:]) != shape[1:]:
                raise PihError(f"x and y must hold images of one size, got {shape[1:]} "
                               f"and {tuple(y.shape[1:])}")
            return self.compare_prepared(state, y)

        return compare

    def prepare(self, x: torch.Tensor):
        return x

    def compare_prepared(self, state, y: torch.Tensor) -> torch.Tensor:
        return self.compare(state, y)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def compare(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<metric {self.info.name}>"


# Pixel metrics --------------------------------------------------------------------------------------

class MSE(Metric):
    info = MetricInfo("mse", True, True, True, "any size; on the 0-255 scale, as the authors computed it")

    def compare(self, x, y):
        return ((x - y) * 255).pow(2).flatten(1).mean(1)


class PSNR(Metric):
    info = MetricInfo("psnr", True, False, True, "any size; over the three channels, peak 255")

    def compare(self, x, y):
        mse = ((torch.round(x * 255) - torch.round(y * 255)) ** 2).flatten(1).mean(1)
        return 10 * torch.log10(255**2 / mse)


class SSIM(Metric):
    """SSIM (Wang et al. 2004; Gaussian 11x11, sigma 1.5) by ``piq``, without MATLAB's downsampling.

    ``channels="grey"`` (default) compares MATLAB-``rgb2gray`` images, which reproduces the official
    values in shared/iqa-reference; ``channels="rgb"`` averages the three channels' SSIM.
    """

    info = MetricInfo("ssim", True, False, True, "at least 11x11 (the Gaussian window)")

    def __init__(self, channels: str = "grey"):
        if channels not in ("grey", "rgb"):
            raise PihError(f"ssim channels must be 'grey' or 'rgb', got {channels!r}")
        self.channels = channels

    def compare(self, x, y):
        import piq

        if min(x.shape[-2:]) < 11:
            raise PihError(f"ssim needs images of at least 11x11, got {x.shape[-2]}x{x.shape[-1]}")
        if self.channels == "grey":
            x, y = nr_iqa.grey255(x).float() / 255, nr_iqa.grey255(y).float() / 255
        return piq.ssim(x, y, data_range=1.0, reduction="none", downsample=False)


# No-reference metrics (natural-scene statistics) ------------------------------------------------------

NIQE_SIZE = 192
# why BRISQUE and NIQE give nan for an image: what the command line says about it
UNDEFINED = ("its natural-scene statistics are undefined for an image without texture (flat, or only "
             "flat regions and sharp steps)")


class BRISQUE(Metric):
    """BRISQUE (Mittal et al. 2012, doi:10.1109/TIP.2012.2214050) with the official LIVE model; runs on
    32x32 (its second scale is then 16x16). Scores, float32 N, lower means better quality; ``nan``
    for an image without texture (flat, or flat regions and sharp steps), whose statistics are
    undefined (``UNDEFINED``). Agrees with the official values in shared/iqa-reference to 3e-7 (I04)
    and 0.16 (I08, see tests/test_metrics.py)."""

    info = MetricInfo("brisque", False, True, True, "any size of at least 16x16", ("brisque",))

    def __init__(self):
        self.model = assets.load_arrays("brisque")

    def score(self, x):
        if min(x.shape[-2:]) < 16:
            raise PihError(f"brisque needs images of at least 16x16, got {x.shape[-2]}x{x.shape[-1]}")
        return torch.cat([nr_iqa.brisque_score(nr_iqa.brisque_features(nr_iqa.grey255(x[i:i + BATCH])),
                                               self.model).float()
                          for i in _batches(len(x), BATCH, "brisque")])


class NIQE(Metric):
    """NIQE (Mittal et al. 2013, doi:10.1109/LSP.2012.2227726) with the original pristine model (96x96
    patches at two scales). Scores, float32 N, lower means better quality.

    Images with a side under 192 px are first upsampled (bicubic, on the 8-bit grey image, rounded back
    to 8-bit levels) so that the shorter side is 192: a CIFAR image becomes 192x192, four patches, the
    fewest that give NIQE a patch covariance with some spread. Patches without texture are left out, as
    in the original code; an image with fewer than two patches left (a flat image) scores ``nan``
    (``UNDEFINED``), at every size.
    """

    info = MetricInfo("niqe", False, True, True,
                      f"patches of 96x96: images with a side under {NIQE_SIZE} px are upsampled "
                      f"(bicubic, 8-bit) so the shorter side is {NIQE_SIZE}", ("niqe",))

    def __init__(self):
        self.model = assets.load_arrays("niqe")

    def score(self, x):
        out = []
        for i in _batches(len(x), BATCH, "niqe"):
            g = nr_iqa.grey255(x[i:i + BATCH])
            h, w = g.shape[-2:]
            if min(h, w) < NIQE_SIZE:
                f = NIQE_SIZE / min(h, w)
                # back to 8-bit levels, as an upsampled 8-bit image holds: a flat image stays flat
                # (its NIQE undefined) instead of scoring the interpolation's rounding noise
                g = F.interpolate(g, size=(round(h * f), round(w * f)), mode="bicubic",
                                  align_corners=False).clamp(0, 255).round()
            out.append(nr_iqa.niqe_score(g, self.model).float())
        return torch.cat(out)


class PIQE(Metric):
    """PIQE (Venkatanath et al. 2015, doi:10.1109/NCC.2015.7084843) as MATLAB's ``piqe``: scores 0..100,
    float32 N, lower means better quality. Defined for every image: one without active blocks (a flat
    image) scores 100, as MATLAB's formula gives."""

    info = MetricInfo("piqe", False, True, True, "16x16 blocks; other sizes are padded symmetrically")

    def score(self, x):
        return torch.cat([nr_iqa.piqe_score(nr_iqa.grey255(x[i:i + BATCH])).float()
                          for i in _batches(len(x), BATCH, "piqe")])


# Deep features --------------------------------------------------------------------------------------

def _load_features(module: torch.nn.Module, asset: str) -> None:
    """Load the verified backbone weights into ``module`` (torchvision ``features`` numbering)."""
    state = {k.removeprefix("features."): torch.from_numpy(v) for k, v in assets.load_arrays(asset).items()}
    wanted = module.state_dict()
    missing = sorted(set(wanted) - set(state))
    if missing:
        raise PihError(f"{asset} weights lack {', '.join(missing)}")
    module.load_state_dict({k: state[k] for k in wanted})  # a truncated network takes a prefix


class LPIPS(Metric):
    """LPIPS (Zhang et al. 2018) of the ``lpips`` package, v0.1 linear layers, verified backbone.

    ``convention="lpips"`` (default) is standard LPIPS: [0, 1] images scaled to [-1, 1] as the official
    implementation expects. ``convention="authors"`` feeds [0, 1] images as they are, as the paper's
    authors did (see the book's Deviations page). ``net`` is ``"alex"`` or ``"vgg"``.
    """

    info = MetricInfo("lpips", True, True, True, "at least 32x32 (alex) / 16x16 (vgg)", ("alexnet",))

    def __init__(self, net: str = "alex", convention: str = LPIPS_CONVENTION):
        import lpips

        if net not in ("alex", "vgg"):
            raise PihError(f"lpips net must be 'alex' or 'vgg', got {net!r}")
        if convention not in CONVENTIONS:
            raise PihError(f"lpips convention must be one of {CONVENTIONS}, got {convention!r}")
        self.net, self.convention = net, convention
        asset = "alexnet" if net == "alex" else "vgg16"
        self.min_size = 32 if net == "alex" else 16  # smaller maps vanish in the backbone's pooling
        self.info = MetricInfo("lpips", True, True, True, f"at least {self.min_size}x{self.min_size}",
                               (asset,))
        with warnings.catch_warnings():  # lpips asks torchvision for `pretrained=False`, deprecated
            warnings.simplefilter("ignore")
            self.model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False).eval()
        self.slices = [self.model.net.slice1, self.model.net.slice2, self.model.net.slice3,
                       self.model.net.slice4, self.model.net.slice5]
        features = torch.nn.Sequential()
        for s in self.slices:
            for name, layer in s.named_children():
                features.add_module(name, layer)
        _load_features(features, asset)
        self.model.requires_grad_(False)

    def _backbone(self, h: torch.Tensor) -> list[torch.Tensor]:
        """The backbone's five outputs, with two exact shortcuts for small maps: convolutions run as
        matrix products (see ``_dense``), and a max-pool whose window covers the whole map is a max."""
        outs = []
        for s in self.slices:
            for layer in s:
                dense = self._dense(layer, h) if isinstance(layer, torch.nn.Conv2d) else None
                if dense is not None:
                    matrix, bias, shape = dense
                    h = torch.addmm(bias, h.reshape(len(h), -1), matrix).view(len(h), *shape)
                elif isinstance(layer, torch.nn.MaxPool2d) and layer.padding == 0 \
                        and h.shape[-2] == h.shape[-1] == layer.kernel_size:  # one window: the whole map
                    h = h.amax((2, 3), keepdim=True)
                else:
                    h = layer(h)
            outs.append(h)
        return outs

    def _dense(self, conv: torch.nn.Conv2d, h: torch.Tensor):
        """On a map of at most 3 x 3 (AlexNet's conv2-5 on 32 x 32 images) a convolution is a small
        linear map of the whole flattened input: one matrix product, without the work on padding.
        Its matrix is the layer's response to each input unit, built once per input shape."""
        c, height, width = h.shape[1:]
        if height * width > 9:
            return None
        cache = self.__dict__.setdefault("_dense_cache", {})
        key = (id(conv), c, height, width, h.device, h.dtype)
        if key not in cache:
            with torch.inference_mode():
                probe = torch.eye(c * height * width, device=h.device, dtype=h.dtype)
                response = F.conv2d(probe.view(-1, c, height, width), conv.weight, None, conv.stride,
                                    conv.padding, conv.dilation, conv.groups)
                shape = response.shape[1:]
                bias = conv.bias[:, None, None].expand(shape).reshape(-1)
                cache[key] = (response.reshape(len(probe), -1).contiguous(), bias.contiguous(), shape)
        return cache[key]

    def raw_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The backbone's outputs for images (uint8, or float in [0, 1]), one tensor a layer.

        The input convention and LPIPS's own scaling layer are one affine map per channel, applied
        in a single pass in channels-last layout (which makes the convolutions faster on CPU)."""
        if min(x.shape[-2:]) < self.min_size:
            raise PihError(f"lpips ({self.net}) needs images of at least {self.min_size}x{self.min_size}, "
                           f"got {x.shape[-2]}x{x.shape[-1]}")
        self._to(x.device)
        a, b = self._input_map[x.dtype == torch.uint8]
        with torch.inference_mode():  # one pass from N x C x H x W (any dtype) to channels-last float
            n, c, height, width = x.shape
            h = torch.empty((n, height, width, c), device=x.device)
            torch.addcmul(b, x.permute(0, 2, 3, 1), a, out=h)
            return self._backbone(h.permute(0, 3, 1, 2))

    def _to(self, device: torch.device) -> None:
        if getattr(self, "_device", None) == device:
            return
        self.model.to(device)
        self._device = device
        shift = self.model.scaling_layer.shift.flatten()
        scale = self.model.scaling_layer.scale.flatten()
        a = (2.0 if self.convention == "lpips" else 1.0) / scale  # maps [0, 1] to the network's input
        b = ((-1.0 if self.convention == "lpips" else 0.0) - shift) / scale
        self._input_map = {False: (a, b), True: (a / 255, b)}  # float [0, 1] or uint8 input
        # per layer: the linear layer's weights w beside a column of ones, to get sum_c w_c f_c^2
        # and sum_c f_c^2 in one product
        self._w = [lin.model[-1].weight.flatten() for lin in self.model.lins]
        self._w1 = [torch.stack([w, torch.ones_like(w)], 1) for w in self._w]

    @staticmethod
    def _rows(f: torch.Tensor) -> torch.Tensor:
        """N x C x H x W -> (N*H*W) x C: one row a position (a view for channels-last tensors)."""
        return f.permute(0, 2, 3, 1).reshape(-1, f.shape[1])

    def reference(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """What LPIPS needs of the reference images, per layer: w * unit features (one row a
        position), and the mean over positions of sum_c w_c unit_c^2. Computed once, it serves any
        number of comparisons."""
        import lpips

        with torch.inference_mode():
            out = []
            for f, w in zip(self.raw_features(x), self._w, strict=True):
                unit = self._rows(lpips.normalize_tensor(f))
                wu = unit * w
                out.append((wu, (wu * unit).sum(1).view(len(x), -1).mean(1)))
            return out

    def distance(self, reference: list[tuple[torch.Tensor, torch.Tensor]], y: torch.Tensor) -> torch.Tensor:
        """LPIPS between the reference images and ``y``, one value per image.

        Per layer, with unit features u (reference) and v = f / (|f| + eps) (``y``) and the linear
        layer's weights w: mean over positions of sum_c w_c (u_c - v_c)^2, expanded as
        sum w u^2 + sum w f^2 / (|f| + eps)^2 - 2 sum (w u) f / (|f| + eps). The same value as the
        ``lpips`` package (to float rounding), without forming v or the difference."""
        with torch.inference_mode():
            total = 0
            for (wu, wuu), f, w1 in zip(reference, self.raw_features(y), self._w1, strict=True):
                rows = self._rows(f)
                sums = (rows * rows) @ w1  # sum_c w_c f_c^2, sum_c f_c^2
                inv = 1 / (sums[:, 1].sqrt() + 1e-10)
                cross = torch.linalg.vecdot(wu, rows)
                total = total + wuu + (sums[:, 0] * inv * inv - 2 * cross * inv).view(len(y), -1).mean(1)
            return total.clamp_min(0)  # LPIPS >= 0; the expansion can round to -1e-8

    def compare(self, x, y):
        return self.compare_prepared(self.prepare(x), y)

    def prepare(self, x):
        return [self.reference(x[i:i + BATCH]) for i in range(0, len(x), BATCH)]

    def compare_prepared(self, state, y):
        return torch.cat([self.distance(ref, y[i * BATCH:(i + 1) * BATCH]) for i, ref in enumerate(state)])


IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
VGG_LAYERS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22}


class VGGDistance(Metric):
    """Feature-space distance of Johnson et al. (2016) in VGG16, as the authors computed it:
    images resized to 224x224 (bilinear), ImageNet-normalised; the sum over relu1_2, relu2_2,
    relu3_3 and relu4_3 of the mean absolute feature difference."""

    info = MetricInfo("vgg", True, True, True, "resized to 224x224 (bilinear)", ("vgg16",))

    def __init__(self, size: int = 224, batch_size: int = 64):
        import torchvision

        self.size, self.batch_size = size, batch_size
        self.model = torchvision.models.vgg16(weights=None).features[: max(VGG_LAYERS.values()) + 1]
        _load_features(self.model, "vgg16")
        self.model.eval().requires_grad_(False)

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        self.model.to(x.device)
        mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
        h = (F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False) - mean) / std
        out = []
        for i, layer in enumerate(self.model):
            h = layer(h)
            if i in VGG_LAYERS.values():
                out.append(h)
        return out

    def compare(self, x, y):
        out = []
        with torch.inference_mode():
            for i in _batches(len(x), self.batch_size, "vgg"):
                fx, fy = self._features(x[i:i + self.batch_size]), self._features(y[i:i + self.batch_size])
                out.append(sum((a - b).abs().mean((1, 2, 3)) for a, b in zip(fx, fy, strict=True)))
        return torch.cat(out)


class FID(Metric):
    """Fréchet Inception distance between two sets (Heusel et al. 2017): pool3 features (2048-d) of
    the TorchScript port of the 2015-12-05 TF Inception, images resized to 299x299 (bilinear) and
    scaled as (v - 128) / 128 on the 0-255 scale. Needs two sets of at least 2 images each; with
    fewer images than 2048 the covariances are singular and FID is biased high (compare like with
    like)."""

    info = MetricInfo("fid", True, True, False, "resized to 299x299 (bilinear)", ("inception",))

    def __init__(self, batch_size: int = 100):
        self.batch_size = batch_size
        with warnings.catch_warnings():  # torch.jit.load is deprecated; this network ships as TorchScript
            warnings.simplefilter("ignore", FutureWarning)
            self.model = torch.jit.load(str(assets.resolve("inception")), map_location="cpu").eval()

    def activations(self, x: torch.Tensor) -> torch.Tensor:
        self.model.to(x.device)
        out = []
        with torch.inference_mode():
            for i in _batches(len(x), self.batch_size, "fid"):
                b = F.interpolate(x[i:i + self.batch_size] * 255, size=(299, 299), mode="bilinear",
                                  align_corners=False)
                out.append(self.model((b - 128) / 128).flatten(1).double())
        return torch.cat(out)

    def compare(self, x, y):
        return self.compare_prepared(self.prepare(x), y)

    def prepare(self, x):
        if len(x) < 2:
            raise PihError("fid needs at least 2 images in each set")
        return self.activations(x)

    def compare_prepared(self, state, y):
        if len(y) < 2:
            raise PihError("fid needs at least 2 images in each set")
        return frechet_distance(state, self.activations(y))


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """||mu_a - mu_b||^2 + tr(C_a) + tr(C_b) - 2 tr((C_a C_b)^(1/2)) of two sets of feature rows.

    tr((C_a C_b)^(1/2)) is computed as the sum of the square roots of the eigenvalues of the symmetric
    C_a^(1/2) C_b C_a^(1/2), which has the same eigenvalues as C_a C_b: two symmetric
    eigendecompositions instead of a general matrix square root (pytorch-fid's ``sqrtm``)."""
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = torch.cov(a.T), torch.cov(b.T)
    w, v = torch.linalg.eigh(ca)
    root_a = (v * w.clamp_min(0).sqrt()) @ v.T
    m = root_a @ cb @ root_a
    trace_sqrt = torch.linalg.eigvalsh((m + m.T) / 2).clamp_min(0).sqrt().sum()
    return ((mu_a - mu_b) ** 2).sum() + ca.trace() + cb.trace() - 2 * trace_sqrt


# The registry ---------------------------------------------------------------------------------------

REGISTRY: dict[str, Callable[..., Metric]] = {
    "mse": MSE, "psnr": PSNR, "ssim": SSIM, "brisque": BRISQUE, "niqe": NIQE, "piqe": PIQE,
    "vgg": VGGDistance, "fid": FID, "lpips": LPIPS,
}


def metric_names() -> list[str]:
    """The registry's metric names, in the paper's order."""
    return list(REGISTRY)


def metric_info(name: str) -> MetricInfo:
    """What the registry knows of metric ``name``, without loading it."""
    if name not in REGISTRY:
        raise PihError(f"unknown metric {name!r}; choose from {', '.join(REGISTRY)}")
    return REGISTRY[name].info


def metric(name: str, **options) -> Metric:
    """The metric ``name`` (see ``metric_names()``), built with ``options`` (e.g. ``net="vgg"``)."""
    if name not in REGISTRY:
        raise PihError(f"unknown metric {name!r}; choose from {', '.join(REGISTRY)}")
    try:
        return REGISTRY[name](**options)
    except TypeError as e:
        raise PihError(f"bad options for metric {name}: {e}") from None
