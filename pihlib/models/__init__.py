"""Adaptation networks (before the classifier) and classifiers for scrambled images."""

from .adaptation import BlockAdapter, LEAdapter, adapter_for
from .classifiers import FastNet, PyramidNetShakeDrop

__all__ = ["BlockAdapter", "FastNet", "LEAdapter", "PyramidNetShakeDrop", "adapter_for"]
