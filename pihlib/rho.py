"""The PIH score rho (paper Eq. 1): the mean LPIPS between plain images and their scrambled versions.

    rho(P) = 1/M sum_i LPIPS(x_i, f(x_i; P))

Scoring many keys over one image set is the hot path of the key search, so a ``PIHScorer`` computes
the plain images' LPIPS features once and reuses them for every key.

Conventions: ``"authors"`` (the default of the reproduction) feeds [0, 1] images to LPIPS as they are,
as the paper's authors did, although LPIPS expects [-1, 1]; ``"lpips"`` is the documented use. Every
place that shows rho says which.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from .errors import PihError
from .images import check_batch
from .keys import Key
from .metrics import CONVENTIONS, LPIPS, RHO_CONVENTION
from .scramblers import scramble


class PIHScorer:
    """rho of any number of keys over one fixed set of images (uint8 N x 3 x H x W).

    ``model``: an ``LPIPS`` metric to use (shared between scorers); by default one is built for
    ``net`` and ``convention``.
    """

    def __init__(self, images: torch.Tensor, convention: str = RHO_CONVENTION, net: str = "alex",
                 batch_size: int = 500, progress: bool = True, model: LPIPS | None = None):
        if convention not in CONVENTIONS:
            raise PihError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise PihError(f"batch_size must be a positive integer, got {batch_size!r}")
        images, _ = check_batch(images)
        if images.dtype != torch.uint8 or len(images) == 0:
            raise PihError(f"rho needs uint8 images N x 3 x H x W (N >= 1), got {images.dtype} "
                           f"{tuple(images.shape)}")
        self.images, self.convention, self.batch_size = images, convention, batch_size
        self.progress = progress
        if model is not None and (model.convention, model.net) != (convention, net):
            raise PihError(f"the LPIPS model given is {model.net}/{model.convention}, "
                           f"not {net}/{convention}")
        self.lpips = model or LPIPS(net=net, convention=convention)
        self._plain: list | None = None

    def _starts(self) -> range:
        return range(0, len(self.images), self.batch_size)

    def plain_features(self) -> list:
        """The plain images' LPIPS reference terms, one entry a batch, computed once."""
        if self._plain is None:
            self._plain = [self.lpips.reference(self.images[i:i + self.batch_size]) for i in self._starts()]
        return self._plain

    def per_image(self, key: Key) -> torch.Tensor:
        """LPIPS(x_i, f(x_i; key)) for every image."""
        out = []
        for i, plain in zip(self._starts(), self.plain_features(), strict=True):
            out.append(self.lpips.distance(plain, scramble(self.images[i:i + self.batch_size], key)))
        return torch.cat(out)

    def score(self, keys: Key | Sequence[Key]) -> torch.Tensor:
        """rho of each key (float64, on the images' device)."""
        keys = [keys] if isinstance(keys, Key) else list(keys)
        if not keys:
            raise PihError("rho needs at least one key")
        bar = tqdm(keys, desc=f"rho ({self.convention})", unit="key",
                   disable=not self.progress or len(keys) < 2, leave=False)
        return torch.stack([self.per_image(k).double().mean() for k in bar])


def rho(images: torch.Tensor, keys: Key | Sequence[Key], convention: str = RHO_CONVENTION,
        net: str = "alex", batch_size: int = 500, progress: bool = True) -> torch.Tensor:
    """One PIH score per key: mean LPIPS(x, f(x; key)) over ``images`` (paper Eq. 1)."""
    return PIHScorer(images, convention, net, batch_size, progress).score(keys)
