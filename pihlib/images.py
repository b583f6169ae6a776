"""The one check of an image batch that every entry point runs: what pihlib takes as images.

A batch is a ``torch.Tensor`` N x 3 x H x W (one image, 3 x H x W, where ``single_ok``), uint8 or
float in [0, 1] without NaN, on any device. The float contract, the same for the scramblers and the
metrics: any floating dtype whose rounding keeps the 8-bit levels apart (float64, float32, float16,
bfloat16); a float value stands for the 8-bit level ``round(x * 255)`` when it lies within
``level_tolerance(dtype)`` of it, which is under half a level for every admitted dtype. The
scramblers need every value to stand for a level (their output is ``k / 255`` in the input's
dtype); the metrics take any value in [0, 1]. A dtype too coarse for that (float8) is refused by
name.
"""

from __future__ import annotations

import torch

from .errors import PihError

#: In units of one 8-bit level (1/255): the slack for a value k / 255 computed in float32 or float64.
FLOAT_TOLERANCE = 1e-3


def level_tolerance(dtype: torch.dtype) -> float:
    """How far (in units of 1/255) a float image of ``dtype`` may lie from the nearest k/255.

    Storing k/255 rounds it to the dtype's grid, whose spacing below 1 is at most ``eps / 2``: the
    error is at most ``255 * eps / 4`` levels (float16: 0.062, bfloat16: 0.498), plus
    ``FLOAT_TOLERANCE`` for the arithmetic that made the value.

    Args:
        dtype: a floating ``torch.dtype`` (float64, float32, float16, bfloat16, ...).

    Returns:
        float: the tolerance in units of one 8-bit level (1/255), in (0, 0.5): 0.001 for float64 and
        float32 (to float precision), about 0.063 for float16 and 0.499 for bfloat16.

    Raises:
        PihError: for a dtype whose tolerance would reach half a level (the float8 types), where a
            value no longer names one level; the message names the dtype.
    """
    tol = 255 * torch.finfo(dtype).eps / 4 + FLOAT_TOLERANCE
    if tol >= 0.5:
        raise PihError(f"float images of dtype {dtype} cannot hold 8-bit levels (their rounding error "
                       f"reaches half a level): use float32, float16, bfloat16 or uint8")
    return tol


def check_batch(x: torch.Tensor, what: str = "images", single_ok: bool = False) -> tuple[torch.Tensor, bool]:
    """``x`` as N x 3 x H x W, and whether it was one 3 x H x W image; a clear error for anything else.

    The one check of an image batch (see the module docstring): it neither copies nor converts.

    Args:
        x: the images, a ``torch.Tensor`` N x 3 x H x W (RGB, N >= 0, any H and W, any device), or
            one image 3 x H x W where ``single_ok``. dtype uint8 (levels 0..255), or a float dtype
            that holds 8-bit levels apart (float64, float32, float16, bfloat16) with values in
            [0, 1] and no NaN.
        what: how the messages name ``x`` (e.g. ``"x"``, ``"reference images"``).
        single_ok: accept one image 3 x H x W as well.

    Returns:
        tuple[torch.Tensor, bool]: ``x`` itself with a batch dimension (a view: N x 3 x H x W, its
        dtype and device unchanged), and True when ``x`` was one 3 x H x W image.

    Raises:
        PihError: ``x`` is not a tensor; its shape is not N x 3 x H x W (or 3 x H x W); its dtype
            is neither uint8 nor floating, or a float dtype too coarse for 8-bit levels (float8);
            a float ``x`` holds NaN or values outside [0, 1].
    """
    shape = "N x 3 x H x W" + (" (or 3 x H x W)" if single_ok else "")
    if not isinstance(x, torch.Tensor):
        raise PihError(f"{what} must be a torch.Tensor {shape}, got {type(x).__name__}")
    single = single_ok and x.dim() == 3
    if single:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[1] != 3:
        raise PihError(f"{what} must be {shape}, got shape {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x, single
    if not x.is_floating_point():
        raise PihError(f"{what} must be uint8, or float in [0, 1]; got dtype {x.dtype}")
    level_tolerance(x.dtype)
    if x.numel() and torch.isnan(x).any():
        raise PihError(f"{what} contain NaN")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise PihError(f"float {what} must lie in [0, 1]")
    return x, single


def as_unit(x: torch.Tensor, what: str = "images") -> torch.Tensor:
    """A checked batch as float32 in [0, 1].

    Args:
        x: images N x 3 x H x W, uint8 (0..255) or float in [0, 1]; see ``check_batch``.
        what: how error messages name ``x``.

    Returns:
        torch.Tensor: float32 N x 3 x H x W in [0, 1] on ``x``'s device (uint8 divided by 255).

    Raises:
        PihError: as ``check_batch`` (wrong type, shape, dtype, NaN or range).
    """
    x, _ = check_batch(x, what)
    return x.float() / 255 if x.dtype == torch.uint8 else x.float()


def as_uint8(x: torch.Tensor, what: str = "images") -> tuple[torch.Tensor, bool, bool]:
    """A checked batch (or one image) as uint8 N x 3 x H x W, exactly: each float value must lie within
    ``level_tolerance(dtype)``/255 of a multiple of 1/255.

    Args:
        x: images N x 3 x H x W or one image 3 x H x W, uint8 (0..255) or float 8-bit levels k/255
            (as ``ToTensor`` gives) in [0, 1]; see ``check_batch``.
        what: how error messages name ``x``.

    Returns:
        tuple[torch.Tensor, bool, bool]: the images as uint8 N x 3 x H x W on ``x``'s device (a
        float value v becomes ``round(255 v)``; uint8 input is returned as it is), whether ``x``
        was one 3 x H x W image, and whether ``x`` was float.

    Raises:
        PihError: as ``check_batch``; and a float value that lies more than
            ``level_tolerance(dtype)``/255 from every k/255 (not an 8-bit level).
    """
    x, single = check_batch(x, what, single_ok=True)
    if x.dtype == torch.uint8:
        return x, single, False
    scaled = x.float() * 255
    q = torch.round(scaled)
    tol = level_tolerance(x.dtype)
    if scaled.numel() and (off := (scaled - q).abs().max().item()) > tol:
        raise PihError(f"float {what} ({x.dtype}) must be 8-bit levels k/255 (as ToTensor or "
                       f"ToDtype(scale=True) give) to scramble exactly; these are off by up to "
                       f"{off:.3g}/255, more than the {tol:.3g}/255 that {x.dtype}'s rounding explains")
    return q.to(torch.uint8), single, True
