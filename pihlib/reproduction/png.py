"""Images as PNG text, the form the reproduction's records hold them in (lossless, and a few hundred
bytes for a CIFAR-10 image where nested lists take kilobytes)."""

from __future__ import annotations

import base64
import io

import numpy as np
import torch
from PIL import Image


def png_base64(image: torch.Tensor) -> str:
    """One image, uint8 3 x H x W (any device), as the base64 text of a lossless PNG."""
    buf = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).cpu().numpy()).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def decode_png(text: str) -> np.ndarray:
    """``png_base64``'s text back to the image: uint8, H x W x 3."""
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(text))).convert("RGB"))
