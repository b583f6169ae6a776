"""How many keys each method has, and what keeping the best of N of them gives away."""

from __future__ import annotations

import math
from typing import Any

from .methods import get_method


def key_space_bits(method: str, shape: tuple[int, int] = (32, 32), block_size: int = 4,
                   **options: Any) -> dict[str, float]:
    """log2 of the number of keys (``nominal``) and of distinct scrambles they give (``effective``).

    Each method's count is its registry entry's ``key_space`` (``pihlib.methods``): PE 2^(3HW) x 6^(HW);
    PE-IIR C(3HW, inverted); EtC C(n, n/2) x n! x (4 x 3 x 6)^n for n blocks; LE (6B^2)!;
    ELE ((6B^2)!)^n x n!. The two differ for EtC only: 4 rotations x 3 flips give 12 codes but only the
    8 symmetries of a square (a 180-degree rotation is both flips), so each block has 8 x 6 distinct
    transforms.

    Args:
        method: ``"PE"``, ``"EtC"``, ``"LE"``, ``"ELE"`` or ``"PE-IIR"``.
        shape: (H, W) of the images.
        block_size: B (EtC, LE, ELE; ignored by PE and PE-IIR); the blocks counted are
            (H // B) x (W // B), nothing else is checked.
        **options: ``inverted=<count>`` for PE-IIR (default 3HW // 2); other options do not change
            the count.

    Returns:
        dict[str, float]: ``{"nominal": bits, "effective": bits}``, each >= 0.

    Raises:
        PihError: an unknown method.

    References:
        Madono, Tanaka, Onishi, Ogawa, "Scrambling Parameter Generation to Improve Perceptual
        Information Hiding", IS&T Electronic Imaging (the key spaces its Algorithm 1 searches); the
        methods' sources are cited in ``pihlib.methods``.
    """
    nominal, effective = get_method(method).key_space(tuple(shape), block_size, options)
    return {"nominal": nominal, "effective": effective}


def selection_cost_bits(trials: int) -> float:
    """Keeping the best of N keys tells an attacker at most log2(N) bits about the key."""
    return math.log2(trials)
