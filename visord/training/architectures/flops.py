"""Forward FLOPs per image of a Keras model, counted layer by layer.

What is counted: the multiply-adds of the layers that hold a kernel, 2 FLOPs
per multiply-add (the convention of papers and of `fvcore`'s x2):

- Conv2D (grouped too), DepthwiseConv2D, SeparableConv2D (both its
  depthwise and pointwise steps): output positions x kernel size;
- Dense: kernel size x the positions it is applied at (1 after Flatten).

Not counted: bias additions, activations, BatchNormalization (foldable into the
preceding convolution at export), pooling, rescaling and other element-wise
layers: together a few per cent of a CNN's work. Nested models (a
keras.applications backbone inside a functional model) are walked recursively.
"""

from __future__ import annotations

import math

import keras

KERNELS: dict[type, tuple[str, ...]] = {
    keras.layers.Conv2D: ("kernel",),
    keras.layers.DepthwiseConv2D: ("kernel",),
    keras.layers.SeparableConv2D: ("depthwise_kernel", "pointwise_kernel"),
    keras.layers.Dense: ("kernel",),
}


def layer_flops(layer: keras.layers.Layer) -> int:
    """2 x multiply-adds of one layer for one image; 0 for layers without a counted kernel."""
    if isinstance(layer, keras.Model):
        return count_flops(layer)
    names = next((names for kind, names in KERNELS.items() if isinstance(layer, kind)), None)
    if names is None:
        return 0
    positions = math.prod(layer.output.shape[1:-1])
    return 2 * positions * sum(math.prod(getattr(layer, name).shape) for name in names)


def count_flops(model: keras.Model) -> int:
    """Forward FLOPs per image (1 multiply-add = 2 FLOPs) of a built functional or Sequential
    model."""
    return sum(layer_flops(layer) for layer in model.layers)
