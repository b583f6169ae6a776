"""Attacks on the scramblers: what an adversary recovers of a key, or of the images, when one key
scrambles a whole data set (as the paper's scheme does).

- ``unitmaps``: the known-plaintext attack on every method (``known_plaintext``) and the
  ciphertext-only attacks on PE and LE (``pe_ciphertext_only``, ``le_ciphertext_only``), which
  recover a key's map of units from pairs, or from what natural images share;
- ``jigsaw``: the ciphertext-only attacks on the block-moving methods, EtC (``etc_ciphertext_only``,
  a jigsaw puzzle solved over many images) and ELE (``ele_ciphertext_only``; ``ele_high_halves``:
  the plain images at 4-bit depth);
- ``learned``: key-free attacks on one image: the feature reconstruction attack (``fr_attack``) and
  an inverse transformation network trained with the attacker's own keys (``train_itn``,
  ``itn_attack``).

Each module's docstring gives its sources and measured numbers; ``benchmarks/bench_attacks.py``,
``benchmarks/bench_jigsaw.py`` and ``benchmarks/bench_learned.py`` measure them again.
"""

from . import jigsaw, learned, unitmaps
from .jigsaw import *  # noqa: F403
from .learned import *  # noqa: F403
from .unitmaps import *  # noqa: F403

__all__ = [*unitmaps.__all__, *jigsaw.__all__, *learned.__all__]
