"""The PIH score rho (paper Eq. 1): the mean LPIPS between plain images and their scrambled versions.

    rho(P) = 1/M sum_i LPIPS(x_i, f(x_i; P))

Scoring many keys over one image set is the hot path of the key search, so a ``PIHScorer`` computes
the plain images' LPIPS features once and reuses them for every key.

Conventions: ``"authors"`` (the default of the reproduction) feeds [0, 1] images to LPIPS as they are,
as the paper's authors did, although LPIPS expects [-1, 1]; ``"lpips"`` is the documented use. Every
place that shows rho says which.

References: Madono, Tanaka, Onishi, Ogawa, "Scrambling Parameter Generation to Improve Perceptual
Information Hiding", IS&T Electronic Imaging (Eq. 1, Algorithm 1); LPIPS: Zhang et al., CVPR 2018,
arXiv:1801.03924.
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

    The plain images' LPIPS features are computed on the first ``score`` and kept (about the size of
    the images' first-layer feature maps), so each further key costs one scramble and one LPIPS pass
    over the scrambled images. Work runs on the images' device.

    Args:
        images: the plain images, uint8 N x 3 x H x W (RGB, levels 0..255, N >= 1), on any device;
            H and W at least 32 (``net="alex"``) or 16 (``"vgg"``), and the size the keys were
            made for.
        convention: ``"authors"`` (default: [0, 1] images fed to LPIPS as they are, as the paper's
            numbers were computed) or ``"lpips"`` (LPIPS's own [-1, 1] input).
        net: the LPIPS backbone, ``"alex"`` (the paper's) or ``"vgg"``.
        batch_size: images per LPIPS pass (a positive int); trades memory for speed only.
        progress: show a progress bar over keys (when scoring two or more).
        model: an ``LPIPS`` metric of this ``net`` and ``convention`` to reuse; None builds one.

    Raises:
        PihError: ``convention`` or ``net`` is unknown; ``batch_size`` is not a positive int;
            ``images`` is not a uint8 N x 3 x H x W batch with N >= 1; ``model`` is of another net or
            convention; the LPIPS weights cannot be had.

    References:
        Madono et al., "Scrambling Parameter Generation to Improve Perceptual Information Hiding",
        IS&T Electronic Imaging, Eq. 1; Zhang et al., CVPR 2018, arXiv:1801.03924 (LPIPS).
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
        """The plain images' LPIPS reference terms, one entry a batch, computed once.

        Returns:
            list: per batch of ``batch_size`` images, ``LPIPS.reference`` of that batch (float32
            tensors on the images' device), kept for later calls.

        Raises:
            PihError: images smaller than the LPIPS backbone needs.
        """
        if self._plain is None:
            self._plain = [self.lpips.reference(self.images[i:i + self.batch_size]) for i in self._starts()]
        return self._plain

    def per_image(self, key: Key) -> torch.Tensor:
        """LPIPS(x_i, f(x_i; key)) for every image.

        Args:
            key: a ``pihlib.Key`` made for the images' H x W.

        Returns:
            torch.Tensor: float32 of shape (N,), >= 0, on the images' device.

        Raises:
            PihError: ``key`` is not a Key, or was made for another image size; images smaller
                than the LPIPS backbone needs.
        """
        out = []
        for i, plain in zip(self._starts(), self.plain_features(), strict=True):
            out.append(self.lpips.distance(plain, scramble(self.images[i:i + self.batch_size], key)))
        return torch.cat(out)

    def score(self, keys: Key | Sequence[Key]) -> torch.Tensor:
        """rho of each key (float64, on the images' device).

        Args:
            keys: one ``pihlib.Key`` or a sequence of K >= 1 keys, each made for the images' H x W.

        Returns:
            torch.Tensor: float64 of shape (K,) (shape (1,) for a single key), on the images'
            device: the mean over the N images of LPIPS(x_i, f(x_i; key)), >= 0.

        Raises:
            PihError: no keys; a key that is not a Key or was made for another image size;
                images smaller than the LPIPS backbone needs.
        """
        keys = [keys] if isinstance(keys, Key) else list(keys)
        if not keys:
            raise PihError("rho needs at least one key")
        bar = tqdm(keys, desc=f"rho ({self.convention})", unit="key",
                   disable=not self.progress or len(keys) < 2, leave=False)
        return torch.stack([self.per_image(k).double().mean() for k in bar])


def rho(images: torch.Tensor, keys: Key | Sequence[Key], convention: str = RHO_CONVENTION,
        net: str = "alex", batch_size: int = 500, progress: bool = True) -> torch.Tensor:
    """One PIH score per key: mean LPIPS(x, f(x; key)) over ``images`` (paper Eq. 1).

        rho(P) = 1/M sum_i LPIPS(x_i, f(x_i; P))

    A higher rho means the key hides more. The paper's PIH values (about 0.15-0.34, Table 2) are
    rho in the ``"authors"`` convention with LPIPS-alex; the same keys score differently in the
    ``"lpips"`` convention, so always report which. For many keys over one image set, a
    ``PIHScorer`` (or the key search's cached scorer) reuses the plain images' features.

    Args:
        images: the plain images, uint8 N x 3 x H x W (RGB, levels 0..255, N >= 1), on any device
            (rho is computed there); H and W at least 32 for ``net="alex"`` (16 for ``"vgg"``) and
            the size the keys were made for. Float images are refused: pass uint8.
        keys: one ``pihlib.Key`` or a sequence of K >= 1 keys.
        convention: ``"authors"`` (default; [0, 1] images fed to LPIPS as they are, as the paper's
            authors did) or ``"lpips"`` (LPIPS's documented [-1, 1] input).
        net: the LPIPS backbone, ``"alex"`` (the paper's) or ``"vgg"``.
        batch_size: images per LPIPS pass (a positive int); memory only, not the result.
        progress: show a progress bar over keys (when there are two or more).

    Returns:
        torch.Tensor: float64 of shape (K,), one rho per key in the order given (shape (1,) for a
        single ``Key``, not 0-d), on the images' device; each >= 0 (unitless LPIPS distance).

    Raises:
        PihError: ``images`` is not a uint8 N x 3 x H x W batch with N >= 1, or is smaller than the
            backbone needs; ``convention``, ``net`` or ``batch_size`` is invalid; ``keys`` is empty;
            a key is not a ``Key`` or was made for another image size; the LPIPS weights cannot be
            had.

    References:
        Madono, Tanaka, Onishi, Ogawa, "Scrambling Parameter Generation to Improve Perceptual
        Information Hiding", IS&T Electronic Imaging, Eq. 1; R. Zhang et al., "The Unreasonable
        Effectiveness of Deep Features as a Perceptual Metric", CVPR 2018, arXiv:1801.03924.

    Example::

        key = pihlib.keygen("LE", seed=0)
        pihlib.rho(data.images[:1000], [key])   # float64 tensor of shape (1,)
    """
    return PIHScorer(images, convention, net, batch_size, progress).score(keys)
