"""No-reference quality metrics built on natural-scene statistics: BRISQUE, NIQE and PIQE.

Written from the original MATLAB releases (Mittal et al. 2012 and 2013, Venkatanath et al. 2015),
batched in torch (float64) on the images' device. Each takes float images in [0, 1], N x 3 x H x W,
converts them to 8-bit grey as MATLAB's ``rgb2gray`` does, and returns one score per image; higher
means worse quality for all three. Differences from MATLAB that remain: ``imresize`` is torch's
antialiased bicubic (same kernel, other border handling).

These are the low-level parts; ``pihlib.metric("brisque" | "niqe" | "piqe")`` checks the input,
batches it and loads the models. Inputs here are not checked: pass what each function says.
Agreement with the official MATLAB values (tests/test_metrics.py): BRISQUE within 1e-5 on TID2013's
I04 and 0.17 on I08, NIQE within 1e-6 on I04 and 0.02 on I08, PIQE within 0.006.

References:
- A. Mittal, A. K. Moorthy, A. C. Bovik, "No-Reference Image Quality Assessment in the Spatial
  Domain", IEEE TIP 21(12), 2012, doi:10.1109/TIP.2012.2214050 (BRISQUE).
- A. Mittal, R. Soundararajan, A. C. Bovik, "Making a 'Completely Blind' Image Quality Analyzer",
  IEEE Signal Processing Letters 20(3), 2013, doi:10.1109/LSP.2012.2227726 (NIQE).
- Venkatanath N. et al., "Blind Image Quality Evaluation Using Perception Based Features", NCC 2015,
  doi:10.1109/NCC.2015.7084843 (PIQE).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

RGB2GRAY = (0.298936021293775, 0.587043074451121, 0.114020904255103)  # MATLAB rgb2gray
_GAM = np.arange(0.2, 10.0 + 0.0005, 0.001)  # the shape-parameter grid of the MATLAB code


def grey255(x: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W in [0, 1] -> N x 1 x H x W float64 grey levels 0..255, rounded like MATLAB.

    Args:
        x: RGB images N x 3 x H x W, float in [0, 1] (any float dtype), on any device.

    Returns:
        torch.Tensor: float64 N x 1 x H x W holding integers 0..255: MATLAB ``rgb2gray`` of
        ``round(255 x)``, rounded.
    """
    x = torch.round(x.double() * 255)
    w = torch.tensor(RGB2GRAY, dtype=torch.float64, device=x.device).view(1, 3, 1, 1)
    return torch.round((x * w).sum(1, keepdim=True))


def gaussian_window(device: torch.device, size: int = 7, sigma: float = 7 / 6) -> torch.Tensor:
    """The normalised 2-D Gaussian window of the MSCN computation (MATLAB ``fspecial('gaussian')``).

    Args:
        device: where the window is made.
        size: its side in pixels (7 in BRISQUE and PIQE).
        sigma: its standard deviation in pixels (7/6).

    Returns:
        torch.Tensor: float64 1 x 1 x size x size, summing to 1.
    """
    r = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    g = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return (g / g.sum()).view(1, 1, size, size)


def mscn(img: torch.Tensor, window: torch.Tensor, padding: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean-subtracted contrast-normalised coefficients and the local deviation (C = 1).

    Args:
        img: grey images N x 1 x H x W, float64, levels 0..255.
        window: the weighting window, float64 1 x 1 k x k (k odd).
        padding: ``"zeros"`` (MATLAB ``filter2(..., 'same')``, BRISQUE) or anything else for
            replicated borders (MATLAB ``imfilter(..., 'replicate')``, NIQE and PIQE).

    Returns:
        tuple[torch.Tensor, torch.Tensor]: the MSCN coefficients (I - mu) / (sigma + 1) and the
        local standard deviation sigma, both float64 N x 1 x H x W.
    """
    pad = window.shape[-1] // 2
    if padding == "zeros":  # MATLAB filter2(..., 'same')
        blur = lambda t: F.conv2d(t, window, padding=pad)  # noqa: E731
    else:  # MATLAB imfilter(..., 'replicate')
        blur = lambda t: F.conv2d(F.pad(t, (pad,) * 4, mode="replicate"), window)  # noqa: E731
    mu = blur(img)
    sigma = torch.sqrt((blur(img * img) - mu * mu).abs())
    return (img - mu) / (sigma + 1), sigma


def _cubic(x: np.ndarray) -> np.ndarray:  # MATLAB's bicubic kernel (a = -0.5)
    x = np.abs(x)
    return np.where(x <= 1, 1.5 * x**3 - 2.5 * x**2 + 1,
                    np.where(x <= 2, -0.5 * x**3 + 2.5 * x**2 - 4 * x + 2, 0.0))


# MATLAB imresize(I, 0.5) with antialiasing: output o sits at input 2o + 0.5, so every output pixel
# uses the same 8 taps (at distances 3.5 .. 3.5), and the borders are mirrored with the edge repeated.
_HALF_TAPS = _cubic(0.5 * (np.arange(8) - 3.5))
_HALF_TAPS = _HALF_TAPS / _HALF_TAPS.sum()


def imresize_half(img: torch.Tensor) -> torch.Tensor:
    """MATLAB's ``imresize(img, 0.5)`` (bicubic, antialiased), exactly, for even or odd sides.

    Args:
        img: images N x C x H x W (float; H and W at least 4), on any device.

    Returns:
        torch.Tensor: N x C x ceil(H/2) x ceil(W/2), ``img``'s dtype and device.
    """
    taps = torch.as_tensor(_HALF_TAPS, dtype=img.dtype, device=img.device)
    for dim in (-2, -1):
        n = img.shape[dim]
        out = (n + 1) // 2
        right = 2 * out + 4 - n  # taps reach input 2*(out-1) + 4
        img = torch.cat([img.narrow(dim, 0, 3).flip(dim), img,
                         img.narrow(dim, n - right, right).flip(dim)], dim)
        windows = img.unfold(dim if dim == -1 else img.dim() - 2, 8, 2)
        img = (windows * taps).sum(-1)
    return img


def _lookup(values: torch.Tensor, table: np.ndarray, squared: bool) -> torch.Tensor:
    t = torch.as_tensor(table, device=values.device)
    d = values[..., None] - t
    idx = (d * d if squared else d.abs()).argmin(-1)
    return torch.as_tensor(_GAM, device=values.device)[idx]


def _gamma(t: torch.Tensor) -> torch.Tensor:
    return torch.exp(torch.lgamma(t))


_G = np.array([math.gamma(v) for v in np.concatenate([1 / _GAM, 2 / _GAM, 3 / _GAM])]).reshape(3, -1)
_R_GGD = _G[0] * _G[2] / _G[1] ** 2  # estimateggdparam
_R_AGGD = _G[1] ** 2 / (_G[0] * _G[2])  # estimateaggdparam


def fit_ggd(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised Gaussian fit over the last dimension: (shape alpha, variance sigma^2).

    Moment matching on the MATLAB code's grid of shapes 0.2..10 in steps of 0.001.

    Args:
        x: samples ... x M, float64.

    Returns:
        tuple[torch.Tensor, torch.Tensor]: alpha and sigma^2, float64 of shape ``x.shape[:-1]``.
    """
    var = (x * x).mean(-1)
    rho = var / x.abs().mean(-1) ** 2
    return _lookup(rho, _R_GGD, squared=False), var


def fit_aggd(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Asymmetric generalised Gaussian fit over the last dimension: (alpha, left std, right std).

    Args:
        x: samples ... x M, float64.

    Returns:
        tuple[torch.Tensor, torch.Tensor, torch.Tensor]: alpha (on the grid 0.2..10), the left and
        the right standard deviation, float64 of shape ``x.shape[:-1]``; ``nan`` where ``x`` has no
        negative or no positive values.
    """
    neg, pos = x < 0, x > 0
    left = torch.sqrt((x * x * neg).sum(-1) / neg.sum(-1))
    right = torch.sqrt((x * x * pos).sum(-1) / pos.sum(-1))
    g = left / right
    r = x.abs().mean(-1) ** 2 / (x * x).mean(-1)
    rnorm = r * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    return _lookup(rnorm, _R_AGGD, squared=True), left, right


# BRISQUE --------------------------------------------------------------------------------------------

BRISQUE_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))


def brisque_features(img: torch.Tensor) -> torch.Tensor:
    """The 36 BRISQUE features (2 scales x 18) of grey images N x 1 x H x W (0..255), N x 36 float64.

    A feature is ``nan`` where its fit is undefined: an image without texture (flat, or flat regions
    and sharp steps) has no spread of MSCN coefficients, or no negative or no positive neighbour
    products, and the generalised Gaussian fits need both.

    Args:
        img: grey images N x 1 x H x W, float64, levels 0..255 (``grey255``); H and W at least 8
            (the second scale is half the size).

    Returns:
        torch.Tensor: float64 N x 36, per scale: the GGD shape and variance of the MSCN
        coefficients, then for each of the four neighbour directions the AGGD shape, mean, left and
        right variance.

    References:
        Mittal, Moorthy, Bovik, IEEE TIP 2012, doi:10.1109/TIP.2012.2214050, Sec. III.
    """
    window = gaussian_window(img.device)
    feats = []
    for _ in range(2):
        s, _sigma = mscn(img, window, "zeros")
        flat = s.flatten(1)
        alpha, var = fit_ggd(flat)
        feats += [alpha, var]
        for shift in BRISQUE_SHIFTS:
            pair = (s * torch.roll(s, shift, dims=(-2, -1))).flatten(1)
            a, left, right = fit_aggd(pair)
            const = torch.sqrt(_gamma(1 / a)) / torch.sqrt(_gamma(3 / a))
            mean = (right - left) * (_gamma(2 / a) / _gamma(1 / a)) * const
            feats += [a, mean, left**2, right**2]
        img = imresize_half(img)
    return torch.stack(feats, dim=1)


def _significant(x: torch.Tensor, digits: int) -> torch.Tensor:
    """``x`` rounded to ``digits`` significant decimal digits (what C's ``%g`` prints for 6)."""
    exponent = torch.floor(torch.log10(x.abs().clamp_min(1e-300)))
    scale = 10.0 ** (digits - 1 - exponent)
    return torch.where(x == 0, x, torch.round(x * scale) / scale)


def brisque_score(features: torch.Tensor, model: dict[str, np.ndarray]) -> torch.Tensor:
    """The LIVE epsilon-SVR (RBF) on features scaled to [-1, 1] by the model's ranges.

    The official release (``brisquescore.m``) hands the features to libsvm through text files: MATLAB
    writes them with ``%f`` (6 decimals) and ``svm-scale`` writes the scaled ones with ``%g`` (6
    significant digits). Both roundings are kept: with them the official value of TID2013's I04 is
    reproduced to 3e-7, without them to 4e-4. An image whose features are undefined (``nan``: see
    ``brisque_features``) scores ``nan``; the other images are unaffected.

    Args:
        features: float64 N x 36 (``brisque_features``).
        model: the ``brisque`` asset (``pihlib.assets.load_arrays("brisque")``): ``ranges``,
            ``support_vectors``, ``coef``, ``gamma``, ``rho``.

    Returns:
        torch.Tensor: float64 of shape (N,), on ``features``' device: the quality score, on about
        the 0-100 scale (higher: worse quality); ``nan`` for undefined features.
    """
    dev = features.device
    defined = torch.isfinite(features).all(1)
    features = torch.round(torch.where(defined[:, None], features, 0.0) * 1e6) / 1e6
    ranges = torch.as_tensor(model["ranges"], device=dev)
    lo, hi = ranges[0]
    scaled = _significant(lo + (hi - lo) * (features - ranges[1:, 0]) / (ranges[1:, 1] - ranges[1:, 0]), 6)
    sv = torch.as_tensor(model["support_vectors"], device=dev)
    k = torch.exp(-float(model["gamma"]) * torch.cdist(scaled, sv) ** 2)
    score = k @ torch.as_tensor(model["coef"], device=dev) - float(model["rho"])
    return torch.where(defined, score, torch.nan)


# NIQE -----------------------------------------------------------------------------------------------

NIQE_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))
NIQE_PATCH = 96


def _niqe_patch_features(s: torch.Tensor) -> torch.Tensor:
    """18 features of each MSCN patch; s is N x P x h x w (shifts wrap within a patch)."""
    flat = s.flatten(2)
    a, left, right = fit_aggd(flat)
    scale = torch.sqrt(_gamma(1 / a) / _gamma(3 / a))
    feats = [a, (left + right) * scale / 2]
    for shift in NIQE_SHIFTS:
        pair = (s * torch.roll(s, shift, dims=(-2, -1))).flatten(2)
        a, left, right = fit_aggd(pair)
        scale = torch.sqrt(_gamma(1 / a) / _gamma(3 / a))
        bl, br = left * scale, right * scale
        feats += [a, (br - bl) * (_gamma(2 / a) / _gamma(1 / a)), bl, br]
    return torch.stack(feats, dim=-1)


def _patches(t: torch.Tensor, p: int) -> torch.Tensor:
    n, _, h, w = t.shape
    return t[:, 0].reshape(n, h // p, p, w // p, p).transpose(2, 3).reshape(n, -1, p, p)


def niqe_score(img: torch.Tensor, model: dict[str, np.ndarray]) -> torch.Tensor:
    """NIQE of grey images N x 1 x H x W (0..255), each side at least 96 px (the patch size).

    As in the original MATLAB code (``nanmean``/``nancov`` over the patches), a patch whose features
    are undefined (a patch without texture) is left out of the image's mean and covariance; an image
    with fewer than two patches left scores ``nan``, and the other images are unaffected.

    The image is cropped to whole 96 x 96 patches; a 96 x 96 image has one patch and scores ``nan``.
    ``pihlib.metric("niqe")`` upsamples smaller images to a shorter side of 192 first.

    Args:
        img: grey images N x 1 x H x W, float64, levels 0..255 (``grey255``), H and W >= 96 (a
            smaller side leaves no patch, and torch raises a ``RuntimeError``).
        model: the ``niqe`` asset (``pihlib.assets.load_arrays("niqe")``): ``window``, ``mu``,
            ``cov`` of the pristine model.

    Returns:
        torch.Tensor: float64 of shape (N,), on ``img``'s device: the distance to the pristine
        model, >= 0 (higher: worse quality); ``nan`` where fewer than two patches are defined.
    """
    dev = img.device
    n, _, h, w = img.shape
    img = img[:, :, : h // NIQE_PATCH * NIQE_PATCH, : w // NIQE_PATCH * NIQE_PATCH]
    window = torch.as_tensor(model["window"], device=dev).view(1, 1, 7, 7)
    feats = []
    for scale in (1, 2):
        s, _ = mscn(img, window, "replicate")
        feats.append(_niqe_patch_features(_patches(s, NIQE_PATCH // scale)))
        img = imresize_half(img)
    feat = torch.cat(feats, dim=-1)  # N x P x 36
    valid = torch.isfinite(feat).all(-1, keepdim=True)  # N x P x 1
    count = valid.sum(1)  # N x 1
    defined = count.squeeze(1) >= 2
    feat = torch.where(valid, feat, 0.0)
    mu = feat.sum(1) / count.clamp_min(1)
    centred = torch.where(valid, feat - mu[:, None], 0.0)
    cov = centred.transpose(1, 2) @ centred / (count[:, :, None] - 1).clamp_min(1)
    mu_p = torch.as_tensor(model["mu"], device=dev)
    cov_p = torch.as_tensor(model["cov"], device=dev)
    inv = torch.linalg.pinv((cov_p + cov) / 2)
    d = (mu_p - mu)[:, None]
    score = torch.sqrt((d @ inv @ d.transpose(1, 2)).flatten())
    return torch.where(defined, score, torch.nan)


# PIQE -----------------------------------------------------------------------------------------------

PIQE_BLOCK, PIQE_ACTIVITY, PIQE_IMPAIRED, PIQE_SEGMENT = 16, 0.1, 0.1, 6


def _symmetric_index(size: int, length: int, device: torch.device) -> torch.Tensor:
    """Indices 0..size-1 extended to ``length`` by mirroring, as MATLAB's ``padarray(..., 'symmetric',
    'post')``: 0, 1, ..., size-1, size-1, ..., 0, 0, 1, ..."""
    i = torch.arange(length, device=device) % (2 * size)
    return torch.where(i < size, i, 2 * size - 1 - i)


def piqe_score(img: torch.Tensor) -> torch.Tensor:
    """PIQE (0..100) of grey images N x 1 x H x W (0..255), as MATLAB's ``piqe``.

    Sides that are not multiples of 16 are padded symmetrically, as MATLAB does.

    Args:
        img: grey images N x 1 x H x W, float64, levels 0..255 (``grey255``), any size.

    Returns:
        torch.Tensor: float64 of shape (N,) in [0, 100], on ``img``'s device (higher: worse
        quality); 100 for an image without active blocks (a flat image). Matches MATLAB's official
        values within 0.006 (tests/test_metrics.py).

    References:
        Venkatanath N. et al., NCC 2015, doi:10.1109/NCC.2015.7084843.
    """
    b = PIQE_BLOCK
    n, _, h, w = img.shape
    ph, pw = (-h) % b, (-w) % b
    if ph or pw:  # MATLAB pads with 'symmetric' (mirrored again and again past a side shorter than the pad)
        img = img.index_select(-2, _symmetric_index(h, h + ph, img.device))
        img = img.index_select(-1, _symmetric_index(w, w + pw, img.device))
    peak = img.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1)
    img = torch.round(255 * img / peak)
    norm, _ = mscn(img, gaussian_window(img.device), "replicate")
    blocks = _patches(norm, b)  # N x B x 16 x 16
    var = blocks.flatten(2).var(-1)  # unbiased, as MATLAB's var
    active = var > PIQE_ACTIVITY
    # noticeable artifacts: a 6-pixel segment of any block edge with almost no variation
    edges = torch.stack([blocks[..., 0, :], blocks[..., :, -1], blocks[..., -1, :], blocks[..., :, 0]], -2)
    segment_std = edges.unfold(-1, PIQE_SEGMENT, 1).std(-1)
    impaired = (segment_std < PIQE_IMPAIRED).flatten(2).any(-1)
    # noise: the two centre columns against the surround. MATLAB deletes the centre columns one
    # after the other, so its second deletion removes the column after them: we do the same, and
    # reproduce MATLAB's values (the official ones in shared/iqa-reference) to 0.01.
    c1 = b // 2 - 1
    centre = blocks[..., :, c1:c1 + 2].flatten(2).std(-1)
    surround = torch.cat([blocks[..., :, :c1], blocks[..., :, c1 + 1:c1 + 2], blocks[..., :, c1 + 3:]],
                         -1).flatten(2).std(-1)
    ratio = torch.nan_to_num(centre / surround, nan=0.0)
    sigma = var.sqrt()
    beta = (sigma - ratio).abs() / torch.maximum(sigma, ratio)
    noisy = sigma > 2 * beta
    score = active * (impaired * (1 - var) + noisy * var)
    return (score.sum(1) + 1) / (active.sum(1) + 1) * 100
