"""pihlib: the reproducible companion to "Scrambling Parameter Generation to Improve Perceptual
Information Hiding" (Madono et al.).

Public API::

    key = pihlib.keygen("LE", seed=0)           # pihlib.METHODS, or "PE-IIR" (inverted=<count>)
    y = pihlib.scramble(x, key)                  # uint8 (or [0,1] float) N x 3 x H x W, any device
    x2 = pihlib.unscramble(y, key)               # == x, bit for bit
    pihlib.save_key(key, "k.json"); pihlib.load_key("k.json"); pihlib.fingerprint(key)
    data = pihlib.load_cifar10("train")          # images, labels, classes and a provenance record
    lp = pihlib.metric("lpips")                  # pihlib.metric_names(): the paper's nine metrics
    pihlib.rho(data.images, [key])               # the PIH score (paper Eq. 1), authors' convention
"""

from .data import CIFAR10_CLASSES, DataSource, ImageSet, load_cifar10
from .errors import PihError
from .keys import Key, fingerprint, load_key, save_key
from .metrics import metric, metric_info, metric_names
from .rho import PIHScorer, rho
from .scramblers import METHODS, keygen, scramble, unscramble

__version__ = "0.1.0"

__all__ = [
    "CIFAR10_CLASSES", "DataSource", "ImageSet", "Key", "METHODS", "PIHScorer", "PihError",
    "fingerprint", "keygen", "load_cifar10", "load_key", "metric", "metric_info", "metric_names", "rho",
    "save_key", "scramble", "unscramble",
]
