"""Adaptation networks (before the classifier) and classifiers for scrambled images."""

from .adaptation import BlockAdapter, LEAdapter, adapter_for
from .classifiers import AirbenchNet, FastNet, PyramidNetShakeDrop, ResNet18

__all__ = ["AirbenchNet", "BlockAdapter", "FastNet", "LEAdapter", "PyramidNetShakeDrop", "ResNet18",
           "adapter_for"]
