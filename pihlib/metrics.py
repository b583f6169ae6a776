"""The paper's nine image metrics, in one registry with one batched call.

``metric(name, **options)`` returns a callable ``m(x, y=None)`` on uint8 or [0, 1] float tensors
N x 3 x H x W, computed on the tensors' device, one value per image (FID: one value for the two sets).
Full-reference metrics compare the reference ``x`` with the distorted ``y``; no-reference metrics score
``y`` when it is given (the distorted image, so a notebook can call every metric as ``m(plain,
scrambled)``), else ``x``. Each metric's ``info`` says whether it needs a reference, which direction
means more hiding, and what input size it needs. Pretrained parts come from ``pihlib.assets``.

The nine metrics are those of the paper's metric study (Madono, Tanaka, Onishi, Ogawa, "Scrambling
Parameter Generation to Improve Perceptual Information Hiding", IS&T Electronic Imaging; Fig. 3).
Against the official values in shared/iqa-reference (the original MATLAB / reference code on the
TID2013 pairs I04 and I08; tests/test_metrics.py): LPIPS within 1e-3 (measured 5e-5), PSNR within
0.006 dB, SSIM within 6e-5, BRISQUE within 1e-5 on I04 and 0.17 on I08, NIQE within 1e-6 on I04 and
0.02 on I08, PIQE within 0.006. Each metric class names its source.
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
    """What the registry knows of a metric, without loading it (``metric_info``, ``Metric.info``).

    Attributes:
        name: the registry name (``metric_names()``).
        reference: True for a full-reference metric, called as ``m(reference, distorted)``.
        higher_hides_more: True when a higher value means more perceptual information hiding (a
            larger distance, or a worse no-reference quality score); False for PSNR and SSIM.
        per_image: True for one value per image; False for FID (one value for two sets).
        input_size: what image size the metric needs, and what pihlib does about it, in words.
        assets: the pretrained files it loads (names in ``pihlib.assets``), e.g. ``("alexnet",)``.
    """

    name: str
    reference: bool  # needs a reference image
    higher_hides_more: bool  # which direction means more perceptual information hiding
    per_image: bool  # False: one value for two sets of images (FID)
    input_size: str  # what the metric needs, and what pihlib does about it
    assets: tuple[str, ...] = ()


def _batches(n: int, size: int, desc: str):
    starts = range(0, n, size)
    # None: tqdm draws the bar only on a terminal (not into logs, CI output or executed notebooks)
    return tqdm(starts, desc=desc, disable=True if len(starts) < 8 else None, leave=False)


class Metric:
    """A metric: ``m(x, y=None)`` -> tensor of one value per image (FID: a 0-d tensor).

    Made by ``metric(name)``; subclasses implement ``score`` (no-reference) or ``compare``
    (full-reference), and ``prepare``/``compare_prepared`` where work on the reference can be reused.

    Attributes:
        info: the metric's ``MetricInfo``.
    """

    info: MetricInfo

    def __call__(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """One value per image of ``x`` (and ``y``); an empty batch gives an empty result.

        Computed on the images' device, without gradients for the deep metrics.

        Args:
            x: images N x 3 x H x W (RGB), uint8 (0..255) or float in [0, 1] (float64, float32,
                float16 or bfloat16; no NaN), on any device. For a full-reference metric, the
                reference (plain) images; for a no-reference metric, the images scored when ``y``
                is None.
            y: images of the same shape, dtype rules and device as ``x`` (FID: any number of images
                of the same H x W): the distorted (scrambled) images. Needed by full-reference
                metrics; a no-reference metric scores ``y`` instead of ``x`` when it is given.

        Returns:
            torch.Tensor: for a per-image metric, shape (N,), float32, on ``x``'s device (empty
            for N = 0); for FID, a 0-d float64 tensor. Units and range per metric: see the metric's
            class (MSE on the 0-255 scale, PSNR in dB, SSIM in [-1, 1], BRISQUE/NIQE/PIQE quality
            scores, LPIPS >= 0, ...). ``info.higher_hides_more`` says which direction means more
            hiding.

        Raises:
            PihError: ``x`` or ``y`` is not an image batch (see ``pihlib.images.check_batch``:
                type, N x 3 x H x W shape, dtype, NaN, range); ``x`` and ``y`` differ in shape (FID:
                in image size); a full-reference metric called without ``y``; FID with an empty set
                or fewer than 2 images in a set; images smaller than the metric needs (``info.input_size``:
                SSIM 11 x 11, LPIPS-alex 32 x 32, LPIPS-vgg 16 x 16, BRISQUE 16 x 16).
        """
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
        comparing many distorted versions with one set of plain images.

        Args:
            x: reference images N x 3 x H x W, uint8 or float in [0, 1], as for ``__call__``.

        Returns:
            Callable[[torch.Tensor], torch.Tensor]: ``compare(y)``, which takes distorted images
            of ``x``'s shape (FID: of its image size) and returns what ``m(x, y)`` returns (shape
            (N,) float32; FID 0-d float64). For a no-reference metric it is ``m(y)``.

        Raises:
            PihError: for a full-reference metric, ``x`` is not an image batch (see
                ``pihlib.images.check_batch``), is too small for LPIPS, or (FID) holds fewer than 2
                images (a no-reference metric checks nothing here). The returned callable raises
                ``PihError`` as ``__call__`` does for ``y``: not an image batch, a shape other than
                ``x``'s (FID: another image size), too small for the metric.
        """
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
        """Subclass hook: the work on checked reference images (float32 [0, 1] N x 3 x H x W) that
        ``compare_prepared`` reuses; by default ``x`` itself."""
        return x

    def compare_prepared(self, state, y: torch.Tensor) -> torch.Tensor:
        """Subclass hook: ``compare`` of the prepared reference ``state`` with checked images ``y``."""
        return self.compare(state, y)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """Subclass hook (no-reference metrics): one score per checked image, float32 [0, 1]
        N x 3 x H x W with N >= 1 -> shape (N,)."""
        raise NotImplementedError

    def compare(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Subclass hook (full-reference metrics): checked reference ``x`` and distorted ``y``,
        float32 [0, 1] N x 3 x H x W with N >= 1 -> shape (N,) (FID: 0-d)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<metric {self.info.name}>"


# Pixel metrics --------------------------------------------------------------------------------------

class MSE(Metric):
    """Mean squared error on the 0-255 scale, as the authors computed it: the mean over the three
    channels and all pixels of (255 x - 255 y)^2. float32 (N,), in [0, 65025]; 0 for identical
    images; higher means more hiding. Float inputs are not rounded to 8-bit levels first."""

    info = MetricInfo("mse", True, True, True, "any size; on the 0-255 scale, as the authors computed it")

    def compare(self, x, y):
        return ((x - y) * 255).pow(2).flatten(1).mean(1)


class PSNR(Metric):
    """Peak signal-to-noise ratio in dB, peak 255, over the three channels, of the images rounded to
    8-bit levels: 10 log10(255^2 / MSE). float32 (N,); ``inf`` for identical images; lower means
    more hiding. Matches the official values in shared/iqa-reference (given to 0.01 dB) within
    0.006 dB (tests/test_metrics.py)."""

    info = MetricInfo("psnr", True, False, True, "any size; over the three channels, peak 255")

    def compare(self, x, y):
        mse = ((torch.round(x * 255) - torch.round(y * 255)) ** 2).flatten(1).mean(1)
        return 10 * torch.log10(255**2 / mse)


class SSIM(Metric):
    """SSIM (Wang et al. 2004; Gaussian 11x11, sigma 1.5) by ``piq``, without MATLAB's downsampling.

    ``channels="grey"`` (default) compares MATLAB-``rgb2gray`` images, which reproduces the official
    values in shared/iqa-reference; ``channels="rgb"`` averages the three channels' SSIM.
    Single-scale SSIM, as the paper's metric study used (not MS-SSIM, Wang, Simoncelli, Bovik,
    Asilomar 2003). Values float32 (N,) in [-1, 1], 1 for identical images; lower means more hiding.
    With ``channels="grey"`` it matches the official values (given to 1e-4) within 6e-5
    (tests/test_metrics.py).

    Args:
        channels: ``"grey"`` (8-bit grey levels as MATLAB's ``rgb2gray``, then scaled to [0, 1]) or
            ``"rgb"``.

    Raises:
        PihError: ``channels`` is neither; when called, images smaller than 11 x 11.

    References:
        Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image Quality Assessment: From Error
        Visibility to Structural Similarity", IEEE TIP 13(4), 2004, doi:10.1109/TIP.2003.819861.
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
    and 0.16 (I08, see tests/test_metrics.py).

    Scores lie on about the 0-100 scale of the official release (the SVR can go beyond it); a
    higher score (worse quality) counts as more hiding. The tests hold it to the official MATLAB
    values within 1e-5 on I04 and 0.17 on I08. Loads the ``brisque`` asset when built.

    Raises:
        PihError: when called, images smaller than 16 x 16.

    References:
        A. Mittal, A. K. Moorthy, A. C. Bovik, "No-Reference Image Quality Assessment in the Spatial
        Domain", IEEE TIP 21(12), 2012, doi:10.1109/TIP.2012.2214050.
    """

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

    Scores are non-negative (a distance to the pristine model); a higher score (worse quality)
    counts as more hiding. Matches the official MATLAB values within 1e-6 on I04 (float32 precision)
    and 0.02 on I08 (tests/test_metrics.py). Loads the ``niqe`` asset when built.

    References:
        A. Mittal, R. Soundararajan, A. C. Bovik, "Making a 'Completely Blind' Image Quality
        Analyzer", IEEE Signal Processing Letters 20(3), 2013, doi:10.1109/LSP.2012.2227726.
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
    image) scores 100, as MATLAB's formula gives.

    A higher score (worse quality) counts as more hiding. Images whose sides are not multiples of 16
    are padded symmetrically, as MATLAB does. Matches MATLAB's official values (given to 0.01)
    within 0.006 (tests/test_metrics.py).

    References:
        Venkatanath N., Praneeth D., Maruthi Chandrasekhar Bh., S. S. Channappayya, S. S. Medasani,
        "Blind Image Quality Evaluation Using Perception Based Features", Twenty First National
        Conference on Communications (NCC), 2015, doi:10.1109/NCC.2015.7084843.
    """

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

    Values float32 (N,), >= 0 (0 for identical images; typically below 1); higher means more hiding.
    Equals the ``lpips`` package's value within 1e-5 for both conventions, and matches the official
    values in shared/iqa-reference within 1e-3 (measured 5e-5) (tests/test_metrics.py).

    Args:
        net: the backbone, ``"alex"`` (AlexNet; images at least 32 x 32) or ``"vgg"`` (VGG16; at
            least 16 x 16). Its weights are the verified ``alexnet``/``vgg16`` assets.
        convention: ``"lpips"`` (inputs mapped to [-1, 1]) or ``"authors"`` (inputs in [0, 1]).

    Raises:
        PihError: ``net`` or ``convention`` is not one of those; the backbone asset lacks layers;
            when called, images smaller than the backbone needs.

    References:
        R. Zhang, P. Isola, A. A. Efros, E. Shechtman, O. Wang, "The Unreasonable Effectiveness of
        Deep Features as a Perceptual Metric", CVPR 2018, arXiv:1801.03924.
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
        in a single pass in channels-last layout (which makes the convolutions faster on CPU).
        ``x`` is not checked here (``__call__`` does that); the model moves to ``x``'s device.

        Args:
            x: images N x 3 x H x W, uint8 (0..255) or float in [0, 1], on any device.

        Returns:
            list[torch.Tensor]: five float32 feature maps N x C_l x H_l x W_l (AlexNet: C = 64,
            192, 384, 256, 256; VGG16: 64, 128, 256, 512, 512), made in inference mode.

        Raises:
            PihError: images smaller than 32 x 32 (alex) or 16 x 16 (vgg).
        """
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
        number of comparisons.

        Args:
            x: reference images N x 3 x H x W, uint8 or float in [0, 1] (not checked here).

        Returns:
            list[tuple[torch.Tensor, torch.Tensor]]: per layer, float32 (N H_l W_l) x C_l and (N,),
            on ``x``'s device; the ``reference`` argument of ``distance``.

        Raises:
            PihError: images smaller than the backbone needs.
        """
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
        ``lpips`` package (to float rounding), without forming v or the difference.

        Args:
            reference: ``reference(x)`` of N reference images.
            y: N distorted images of the reference images' H x W, uint8 or float in [0, 1] (not
                checked here).

        Returns:
            torch.Tensor: LPIPS, float32 of shape (N,), >= 0, on ``y``'s device.

        Raises:
            PihError: images smaller than the backbone needs.
        """
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
    relu3_3 and relu4_3 of the mean absolute feature difference.

    Values float32 (N,), >= 0 (0 for identical images); higher means more hiding. No official values
    to calibrate against (the authors' script is the definition). Loads the ``vgg16`` asset.

    Args:
        size: the side images are resized to, in pixels (224, as the authors did).
        batch_size: images per forward pass.

    References:
        J. Johnson, A. Alahi, L. Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and
        Super-Resolution", ECCV 2016, arXiv:1603.08155; VGG16: K. Simonyan, A. Zisserman, "Very Deep
        Convolutional Networks for Large-Scale Image Recognition", ICLR 2015, arXiv:1409.1556.
    """

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
    like).

    ``m(x, y)`` returns a 0-d float64 tensor, >= 0 up to round-off; higher means more hiding.
    Bit-identity of the Inception weights with pytorch-fid's is not confirmed (shared/docs/
    paper-notes.md); the Fréchet distance itself agrees with the closed form within 1e-9
    (tests/test_metrics.py). Loads the ``inception`` asset.

    Args:
        batch_size: images per forward pass.

    Raises:
        PihError: when called, a set with fewer than 2 images.

    References:
        M. Heusel, H. Ramsauer, T. Unterthiner, B. Nessler, S. Hochreiter, "GANs Trained by a Two
        Time-Scale Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017, arXiv:1706.08500.
    """

    info = MetricInfo("fid", True, True, False, "resized to 299x299 (bilinear)", ("inception",))

    def __init__(self, batch_size: int = 100):
        self.batch_size = batch_size
        with warnings.catch_warnings():  # torch.jit.load is deprecated; this network ships as TorchScript
            warnings.simplefilter("ignore", FutureWarning)
            self.model = torch.jit.load(str(assets.resolve("inception")), map_location="cpu").eval()

    def activations(self, x: torch.Tensor) -> torch.Tensor:
        """Inception pool3 features of images.

        Args:
            x: float images N x 3 x H x W in [0, 1] (not checked here), on any device.

        Returns:
            torch.Tensor: float64 N x 2048 on ``x``'s device.
        """
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
    eigendecompositions instead of a general matrix square root (pytorch-fid's ``sqrtm``).

    Args:
        a: feature rows M x D (M >= 2), any float dtype (computed in float64).
        b: feature rows K x D (K >= 2), on ``a``'s device.

    Returns:
        torch.Tensor: the Fréchet distance, a 0-d float64 tensor, >= 0 up to round-off (negative
        eigenvalues from round-off are clamped to 0). Agrees with the closed form (a general matrix
        square root) within 1e-9 (tests/test_metrics.py).

    References:
        M. Heusel et al., NeurIPS 2017, arXiv:1706.08500 (FID); D. C. Dowson, B. V. Landau, "The
        Fréchet Distance between Multivariate Normal Distributions", J. Multivariate Analysis, 1982.
    """
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
    """The registry's metric names, in the paper's order.

    Returns:
        list[str]: ``["mse", "psnr", "ssim", "brisque", "niqe", "piqe", "vgg", "fid", "lpips"]``
        (a new list each call).
    """
    return list(REGISTRY)


def metric_info(name: str) -> MetricInfo:
    """What the registry knows of metric ``name``, without loading it.

    Args:
        name: a registry name (``metric_names()``), e.g. ``"lpips"``.

    Returns:
        MetricInfo: the class-level info (for LPIPS: that of the default ``net="alex"``).

    Raises:
        PihError: ``name`` is not in the registry; the message lists the names.
    """
    if name not in REGISTRY:
        raise PihError(f"unknown metric {name!r}; choose from {', '.join(REGISTRY)}")
    return REGISTRY[name].info


def metric(name: str, **options) -> Metric:
    """The metric ``name`` (see ``metric_names()``), built with ``options`` (e.g. ``net="vgg"``).

    Building loads the metric's pretrained weights (``info.assets``) once; the returned object can be
    called any number of times, on any device.

    Args:
        name: ``"mse"``, ``"psnr"``, ``"ssim"``, ``"brisque"``, ``"niqe"``, ``"piqe"``, ``"vgg"``,
            ``"fid"`` or ``"lpips"``.
        **options: keyword arguments of the metric's class: ``ssim``: ``channels`` ("grey" or
            "rgb"); ``lpips``: ``net`` ("alex" or "vgg"), ``convention`` ("lpips" or "authors");
            ``vgg``: ``size``, ``batch_size``; ``fid``: ``batch_size``. The others take none.

    Returns:
        Metric: a callable ``m(x, y=None)`` returning one float32 value per image, shape (N,) (FID:
        a 0-d float64 tensor); see ``Metric.__call__`` for the inputs and ``m.info`` for the
        direction and input size.

    Raises:
        PihError: ``name`` is not in the registry; an option the metric does not take; a bad option
            value (e.g. ``net="squeeze"``); a pretrained asset that cannot be had or fails its check.

    Example::

        lp = pihlib.metric("lpips")              # standard LPIPS-alex
        d = lp(plain, pihlib.scramble(plain, key))  # float32 (N,)
    """
    if name not in REGISTRY:
        raise PihError(f"unknown metric {name!r}; choose from {', '.join(REGISTRY)}")
    try:
        return REGISTRY[name](**options)
    except TypeError as e:
        raise PihError(f"bad options for metric {name}: {e}") from None
