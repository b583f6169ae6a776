"""Ciphertext-only attacks that need no key at all: a key-free feature reconstruction (FR-Attack) and a
learned inverse transformation network (ITN-Attack).

The adversary holds images scrambled with a key it does not know, and knows the method. Two attacks
that Sirichotedumrong and Kiya (2020) evaluate against PE, EtC, LE and ELE (with a brute-force and a
GAN-based one), as this project builds them:

- FR-Attack (``fr_attack``): a scrambler's inversions (v -> 255 - v, or 15 - v for LE's 4-bit halves)
  and its channel shuffles leave some features of each unit unchanged: how far a value is from mid-grey
  (``|v - 127.5|``), and its mean over a pixel's channels. From them alone, with no key and from one
  image, a greyscale image is rebuilt: the plain luminance folded onto its dark side (a value and its
  negative become the smaller of the two). Where the method keeps pixels in place (PE, and LE's blocks)
  it is the plain image's shape and edges; where it moves blocks (EtC, ELE) each block's content comes
  back but in the wrong place (``pihlib.attacks`` has no block-moving attack yet);
- ITN-Attack (``train_itn``, ``itn_attack``): the adversary scrambles plain images of its own with many
  keys of its own, of the same method, and trains a small convolutional network to map scrambled images
  back to plain ones; the network then undoes what no key of the method changes, and is applied to
  images scrambled with the target key, which it has never seen.

Measured on real CIFAR-10 (``benchmarks/bench_learned.py``; see each function for the numbers).

References:
    W. Sirichotedumrong, H. Kiya, "Visual Security Evaluation of Learnable Image Encryption Methods
    against Ciphertext-only Attacks", APSIPA ASC 2020, arXiv:2010.06198 (FR-Attack, ITN-Attack and
    GAN-Attack against LE, ELE, PE and EtC).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import PihError
from ..images import as_uint8
from ..keys import Key, keygen, rng_of
from ..methods import METHODS, check_geometry, get_method
from ..scramblers import scramble

__all__ = ["ITN", "fr_attack", "itn_attack", "train_itn"]

MID_GREY = 127.5  # the centre of the negative-positive transform v -> 255 - v
NIBBLE_MID = 7.5  # the same for a 4-bit half, v -> 15 - v
UNIFORM_NIBBLE_DISTANCE = 4.0  # mean |v - 7.5| of a 4-bit value drawn uniformly (a low half, roughly)
CHUNK = 1024  # images a forward pass of ``itn_attack`` takes at once


def _method_geometry(method: str, shape: tuple[int, int], block_size: int | None) -> int | None:
    """The block size ``method`` uses at ``shape`` (None for PE), checked; ``PihError`` otherwise."""
    if method not in METHODS:
        raise PihError(f"learned attacks take the methods {', '.join(METHODS)}, got {method!r}")
    m = get_method(method)
    b = block_size if m.blocks else None
    check_geometry(m, shape, b)
    return b


def _images(x: torch.Tensor, what: str) -> torch.Tensor:
    """uint8 N x 3 x H x W (N >= 1) from uint8 or float 8-bit levels; ``PihError`` for anything else."""
    u8, _, _ = as_uint8(x, what)  # one image comes back as a batch of one
    if len(u8) == 0:
        raise PihError(f"{what} are an empty batch: give at least one image")
    return u8


# ---------------------------------------------------------------------------------------------------
# FR-Attack: key-free features
# ---------------------------------------------------------------------------------------------------


def _block_sum(a: torch.Tensor, b: int) -> torch.Tensor:
    """int N x H x W -> N x H x W: each B x B block's sum, spread over the block (exact integers, so
    that the result does not depend on the order of the block's values)."""
    n, h, w = a.shape
    m = a.reshape(n, h // b, b, w // b, b).sum((2, 4), keepdim=True)
    return m.expand(n, h // b, b, w // b, b).reshape(n, h, w)


def _bright_blocks(total: torch.Tensor, b: int) -> torch.Tensor:
    """bool N x H x W: the pixels of blocks on their bright side, whose channel sums ``total`` (int,
    0..765) average above 382.5; a block exactly at it is bright when its sorted sums are larger,
    at their first difference, than its negative's (so that a block and its negative agree)."""
    n, h, w = total.shape
    mid = 765 * b * b
    s2 = 2 * _block_sum(total, b)
    v = total.reshape(n, h // b, b, w // b, b).permute(0, 1, 3, 2, 4).reshape(n, h // b, w // b, b * b)
    a = torch.sort(v, -1).values
    d = a - (765 - a.flip(-1))  # the block's sorted sums minus its negative's
    first = torch.gather(d, -1, (d != 0).to(torch.uint8).argmax(-1, keepdim=True)).squeeze(-1)
    tie = first.reshape(n, h // b, 1, w // b, 1).expand(n, h // b, b, w // b, b).reshape(n, h, w) > 0
    return (s2 > mid) | ((s2 == mid) & tie)


def fr_attack(scrambled: torch.Tensor, method: str, block_size: int = 4) -> torch.Tensor:
    """Feature reconstruction: a greyscale image rebuilt, without the key, from what the method's
    inversions and channel shuffles leave unchanged.

    Each method's unknowns and the features they leave (per image; nothing is learned):

    - PE: every value may be inverted and every pixel's channels shuffled; each value folded to its
      dark side, ``min(v, 255 - v)``, and averaged over the pixel's channels, is key-free: the output is
      the mean of the plain pixel's folded channels (the plain luminance folded at mid-grey);
    - EtC: a whole block is inverted or not, its channels shuffled, rotated, flipped and moved; the
      mean over channels of each pixel is kept, and the block is put on its dark side (inverted when its
      mean is above 127.5): each block's plain content, but rotated or flipped and in the wrong place;
    - LE, ELE: a block's 6B^2 four-bit halves are permuted and some inverted (15 - v); the block's mean
      of ``|v - 7.5|`` over its halves is key-free, and estimates how far the block's mean is from
      mid-grey (the low halves, close to uniform, add about 4 to every block): each block gets
      ``127.5 - 16 (2 d - 4)``, clipped to 0..127.5, where ``d`` is that mean. LE keeps blocks in
      place; ELE moves them.

    Measured on the first 200 CIFAR-10 test images (``benchmarks/bench_learned.py``; median over images of the
    Pearson correlation with the plain image's luminance Y, ITU-R BT.601 weights): PE: 0.99 with the
    folded luminance ``127.5 - |Y - 127.5|``, 0.85 between their gradient magnitudes (the scrambled
    image's luminance: -0.09), 0.46 in absolute value with Y itself (the scrambled image's: 0.04); LE:
    0.71 with the folded luminance, 0.87 between 8 x 8 block thumbnails (the scrambled image's: -0.03);
    EtC and ELE: -0.03 and -0.04, as the blocks stay where the key moved them.

    Args:
        scrambled: scrambled images, uint8 (0..255) or float 8-bit levels in [0, 1], N x 3 x H x W
            (N >= 1) or one image 3 x H x W, on any device.
        method: ``"PE"``, ``"EtC"``, ``"LE"`` or ``"ELE"``, the method that scrambled them.
        block_size: B, the key's block size (it divides H and W), for EtC, LE and ELE; ignored by PE.

    Returns:
        torch.Tensor: uint8 N x 3 x H x W (three equal channels: a greyscale image, grey levels
        0..255, in practice 0..128 as every value is put on its dark side), on ``scrambled``'s device;
        N x 3 x H x W even for one image.

    Raises:
        PihError: ``scrambled`` is not images (a tensor N x 3 x H x W or 3 x H x W, uint8 or float
            8-bit levels, N >= 1); ``method`` is not one of the four; ``block_size`` does not divide H
            and W or is not a positive integer.

    References:
        W. Sirichotedumrong, H. Kiya, "Visual Security Evaluation of Learnable Image Encryption
        Methods against Ciphertext-only Attacks", APSIPA ASC 2020, arXiv:2010.06198 (FR-Attack).
    """
    y = _images(scrambled, "scrambled images")
    n, _, h, w = y.shape
    b = _method_geometry(method, (h, w), block_size)
    v = y.to(torch.int32)
    if method == "PE":
        grey = torch.minimum(v, 255 - v).sum(1) / 3
    elif method == "EtC":
        total = v.sum(1)  # 0..765, the pixel's channel sum
        grey = torch.where(_bright_blocks(total, b), 765 - total, total) / 3
    else:  # twice |v - 7.5| of both halves, summed over the block: 12 B^2 halves in all
        d2 = ((2 * (v >> 4) - 15).abs() + (2 * (v & 15) - 15).abs()).sum(1)
        d = _block_sum(d2, b) / (2 * 6 * b * b)  # the mean |v - 7.5| of the block's halves
        grey = (MID_GREY - 16 * (2 * d - UNIFORM_NIBBLE_DISTANCE)).clamp(0, MID_GREY)
    return grey.round().to(torch.uint8).unsqueeze(1).expand(n, 3, h, w).contiguous()


# ---------------------------------------------------------------------------------------------------
# ITN-Attack: a network trained on the adversary's own keys
# ---------------------------------------------------------------------------------------------------


class ITN(nn.Module):
    """A small inverse transformation network: scrambled images -> plain images, for one method.

    Two paths, merged: three 3 x 3 convolutions at full resolution, and a block path (a convolution of
    kernel and stride P, the method's block size, or 4 for PE; two 3 x 3 convolutions; nearest
    upsampling back), which sees each block as a whole, as LE and ELE permute within blocks. The input
    is the image (values / 255) and, for LE and ELE, its 4-bit halves (/ 15) as six more channels.
    (Adding the ``fr_attack`` features as a fourth channel was tried, and did no better.)
    ``width`` channels (32: about 0.1 M parameters). Trained by ``train_itn``; applied by
    ``itn_attack``.

    Args:
        method: ``"PE"``, ``"EtC"``, ``"LE"`` or ``"ELE"``.
        shape: (H, W) of the images.
        block_size: B for EtC, LE and ELE (it divides H and W); ignored by PE.
        width: channels of the full-resolution path (the block path has twice as many), >= 1.

    Raises:
        PihError: an unknown method, a shape or block size the method cannot take, a bad width.
    """

    def __init__(self, method: str, shape: tuple[int, int] = (32, 32), block_size: int | None = 4,
                 width: int = 32):
        super().__init__()
        shape = (int(shape[0]), int(shape[1]))
        self.method = method
        self.shape = shape
        self.block_size = _method_geometry(method, shape, block_size)
        if not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise PihError(f"width must be a positive integer, got {width!r}")
        self.patch = self.block_size or (4 if shape[0] % 4 == 0 and shape[1] % 4 == 0 else 1)
        cin = 9 if method in ("LE", "ELE") else 3
        c, p = width, self.patch
        self.full = nn.Sequential(nn.Conv2d(cin, c, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(c, c, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(c, c, 3, padding=1), nn.ReLU())
        self.blocks = nn.Sequential(nn.Conv2d(cin, 2 * c, p, stride=p), nn.ReLU(),
                                    nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.ReLU(),
                                    nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.Conv2d(3 * c, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, 3, 1))

    def features(self, y: torch.Tensor) -> torch.Tensor:
        """uint8 N x 3 x H x W -> float32 N x C x H x W, the network's input: the image / 255, and for LE
        and ELE its 4-bit halves / 15 (C = 3, or 9 for LE and ELE)."""
        f = y.float() / 255
        if self.method in ("LE", "ELE"):
            f = torch.cat([f, (y >> 4).float() / 15, (y & 15).float() / 15], 1)
        return f

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        """``features`` N x C x H x W -> plain image estimates, float32 N x 3 x H x W in [0, 1]."""
        a = self.full(f)
        b = F.interpolate(self.blocks(f), scale_factor=self.patch, mode="nearest")
        return torch.sigmoid(self.head(torch.cat([a, b], 1)))


def _keys_of(keys: int | Sequence[Key], method: str, shape: tuple[int, int], block_size: int | None,
             rng: np.random.Generator) -> list[Key]:
    if isinstance(keys, int | np.integer) and not isinstance(keys, bool):
        if keys < 1:
            raise PihError(f"keys must be at least 1, got {keys}")
        return [keygen(method, seed=rng, shape=shape, block_size=block_size or 4) for _ in range(int(keys))]
    if isinstance(keys, Key):
        keys = [keys]
    if not isinstance(keys, Sequence) or not keys or not all(isinstance(k, Key) for k in keys):
        raise PihError("keys must be a positive count or a non-empty sequence of pihlib Keys")
    for k in keys:
        if k.method != method or k.shape != shape or (block_size and k.block_size != block_size):
            raise PihError(f"every key must be a {method} key for {shape[0]}x{shape[1]} images"
                           + (f" with blocks of {block_size}" if block_size else "")
                           + f", got {k!r}")
    return list(keys)


def _scramble_each(x: torch.Tensor, keys: list[Key], which: torch.Tensor) -> torch.Tensor:
    """Image i scrambled with ``keys[which[i]]`` (one ``scramble`` call per key used)."""
    out = torch.empty_like(x)
    for k in torch.unique(which).tolist():
        sel = (which == k).nonzero().squeeze(1)
        out[sel] = scramble(x[sel], keys[k])
    return out


def train_itn(plain: torch.Tensor, method: str, keys: int | Sequence[Key] = 256, epochs: int = 10,
              seed: int = 0, device: str | torch.device | None = None, block_size: int = 4,
              batch_size: int = 64, lr: float = 2e-3, width: int = 32, steps: int | None = None) -> ITN:
    """Train an inverse transformation network on the adversary's own images and keys (ITN-Attack).

    Every epoch, each plain image is scrambled with one of ``keys`` drawn at random (a fresh draw every
    epoch), and the network (``ITN``) learns to map the scrambled image back, by Adam on the L1
    distance. Trained on many keys, it can only learn what every key of the method leaves alike: it
    does not learn a key, and is meant for images scrambled with a key it has not seen.

    Measured on real CIFAR-10 (``benchmarks/bench_learned.py``): see ``itn_attack``.

    Args:
        plain: the adversary's plain images, uint8 (0..255) or float 8-bit levels in [0, 1],
            N x 3 x H x W (N >= 1), on any device.
        method: ``"PE"``, ``"EtC"``, ``"LE"`` or ``"ELE"``, the target's method.
        keys: how many random keys of ``method`` to draw (from ``seed``; >= 1), or the keys themselves
            (a non-empty sequence of ``Key`` of ``method`` for H x W images).
        epochs: passes over ``plain``, >= 1.
        seed: a non-negative int: the keys, their assignment to images, the batches and the network's
            initial weights.
        device: where to train ("cpu", "cuda", a ``torch.device``); None: ``plain``'s device.
        block_size: B, the method's block size (it divides H and W), for EtC, LE and ELE; ignored by PE.
        batch_size: images a step, >= 1.
        lr: Adam's learning rate, > 0.
        width: the network's width (see ``ITN``).
        steps: if given (>= 1), stop after this many steps (across epochs), whatever ``epochs`` says.

    Returns:
        ITN: the trained network, in eval mode, on ``device``; its ``method``, ``shape`` and
        ``block_size`` say which images it takes.

    Raises:
        PihError: ``plain`` is not images (as ``fr_attack``'s ``scrambled``); ``method`` is not one
            of the four, or cannot take their size with ``block_size``; ``keys`` is neither a positive
            count nor keys of the method and size; ``epochs``, ``batch_size``, ``steps``, ``lr``,
            ``width`` or ``seed`` out of range.

    References:
        W. Sirichotedumrong, H. Kiya, "Visual Security Evaluation of Learnable Image Encryption
        Methods against Ciphertext-only Attacks", APSIPA ASC 2020, arXiv:2010.06198 (ITN-Attack).
    """
    x = _images(plain, "plain images")
    shape = (int(x.shape[2]), int(x.shape[3]))
    b = _method_geometry(method, shape, block_size)
    for name, v in (("epochs", epochs), ("batch_size", batch_size), ("steps", steps)):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise PihError(f"{name} must be a positive integer, got {v!r}")
    if not lr > 0:
        raise PihError(f"lr must be positive, got {lr!r}")
    rng = rng_of(seed)
    key_list = _keys_of(keys, method, shape, b, rng)
    device = torch.device(device) if device is not None else x.device
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(rng.integers(2**62)))
        model = ITN(method, shape, b, width).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    total = steps if steps is not None else epochs * -(-len(x) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=0.15)
    x = x.to(device)
    model.train()
    done = 0
    while done < total:
        which = torch.randint(len(key_list), (len(x),), generator=gen).to(device)
        y = _scramble_each(x, key_list, which)
        order = torch.randperm(len(x), generator=gen).to(device)
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            loss = F.l1_loss(model(model.features(y[idx])), x[idx].float() / 255)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            done += 1
            if done == total:
                break
    return model.eval()


@torch.no_grad()
def itn_attack(model: ITN, scrambled: torch.Tensor) -> torch.Tensor:
    """Apply a trained inverse transformation network (``train_itn``) to scrambled images.

    Measured on real CIFAR-10 (``benchmarks/bench_learned.py``): trained on the 2000 training images,
    4 epochs, 256 keys of its own (2 CPU threads: 1.5 to 3.5 minutes), applied to 200 test images
    scrambled with another key; median SSIM (grey) / LPIPS (alex) against the plain images, beside the
    scrambled images themselves (identity), a constant mid-grey image and ``fr_attack``:

    - PE: ITN 0.216 / 0.268; identity 0.070 / 0.385, mid-grey 0.104 / 0.588, FR 0.296 / 0.198;
    - EtC: ITN 0.112 / 0.512; identity 0.016 / 0.211, mid-grey 0.104 / 0.588, FR 0.035 / 0.284;
    - LE: ITN 0.172 / 0.429; identity 0.065 / 0.416, mid-grey 0.104 / 0.588, FR 0.157 / 0.271;
    - ELE: ITN 0.109 / 0.504; identity 0.017 / 0.419, mid-grey 0.104 / 0.588, FR 0.056 / 0.255.

    Only PE's ITN beats the identity on both metrics (and the constant image); LE's beats it on SSIM
    only; EtC's and ELE's SSIM is that of a constant image, and their LPIPS worse than the scrambled
    images' (EtC's blocks keep natural statistics). The key-free FR-Attack does better than this ITN on
    PE and LE.

    Args:
        model: an ``ITN`` trained for the images' method and size.
        scrambled: scrambled images, uint8 (0..255) or float 8-bit levels in [0, 1], N x 3 x H x W
            (N >= 1) or one image 3 x H x W, on any device; (H, W) = ``model.shape``.

    Returns:
        torch.Tensor: the reconstructions, uint8 N x 3 x H x W (N x 3 x H x W even for one image), on
        ``scrambled``'s device; computed on ``model``'s device, ``CHUNK`` images at a time.

    Raises:
        PihError: ``model`` is not an ``ITN``; ``scrambled`` is not images, or of another size than
            ``model.shape``.

    References:
        W. Sirichotedumrong, H. Kiya, "Visual Security Evaluation of Learnable Image Encryption
        Methods against Ciphertext-only Attacks", APSIPA ASC 2020, arXiv:2010.06198 (ITN-Attack).
    """
    if not isinstance(model, ITN):
        raise PihError(f"itn_attack takes an ITN (from train_itn), got {type(model).__name__}")
    y = _images(scrambled, "scrambled images")
    if tuple(y.shape[2:]) != model.shape:
        raise PihError(f"images are {y.shape[2]}x{y.shape[3]} but the network was trained on "
                       f"{model.shape[0]}x{model.shape[1]}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = torch.empty_like(y)
    for i in range(0, len(y), CHUNK):
        part = y[i:i + CHUNK].to(device)
        out[i:i + CHUNK] = (model(model.features(part)) * 255).round().to(torch.uint8).to(y.device)
    model.train(was_training)
    return out
