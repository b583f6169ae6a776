"""How many keys each method has, and what keeping the best of N of them gives away."""

from __future__ import annotations

import math

from .errors import PihError
from .scramblers import REGISTRY


def _log2_factorial(n: int) -> float:
    return math.lgamma(n + 1) / math.log(2)


def _log2_binomial(n: int, k: int) -> float:
    return _log2_factorial(n) - _log2_factorial(k) - _log2_factorial(n - k)


def key_space_bits(method: str, shape: tuple[int, int] = (32, 32), block_size: int = 4,
                   **options) -> dict[str, float]:
    """log2 of the number of keys (``nominal``) and of distinct scrambles they give (``effective``).

    The two differ for EtC only: 4 rotations x 3 flips give 12 codes but only the 8 symmetries of a
    square (a 180-degree rotation is both flips), so each block has 8 x 6 distinct transforms.
    """
    if method not in REGISTRY:
        raise PihError(f"unknown scrambling method {method!r}")
    h, w = shape
    values = 3 * h * w
    blocks = (h // block_size) * (w // block_size)
    if method == "PE":
        bits = values + h * w * math.log2(6)
        return {"nominal": bits, "effective": bits}
    if method == "PE-IIR":
        bits = _log2_binomial(values, options.get("inverted", values // 2))
        return {"nominal": bits, "effective": bits}
    if method == "LE":
        bits = _log2_factorial(6 * block_size**2)
        return {"nominal": bits, "effective": bits}
    if method == "ELE":
        bits = blocks * _log2_factorial(6 * block_size**2) + _log2_factorial(blocks)
        return {"nominal": bits, "effective": bits}
    common = _log2_binomial(blocks, blocks // 2) + _log2_factorial(blocks)
    return {"nominal": common + blocks * math.log2(4 * 3 * 6),
            "effective": common + blocks * math.log2(8 * 6)}


def selection_cost_bits(trials: int) -> float:
    """Keeping the best of N keys tells an attacker at most log2(N) bits about the key."""
    return math.log2(trials)
