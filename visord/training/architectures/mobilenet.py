"""MobileNet v1 ("mobilenet"): a stem convolution and depthwise separable blocks, trained from
scratch."""

from __future__ import annotations

import keras

from visord.training.architectures.common import (
    FROM_SCRATCH_BN_MOMENTUM,
    check_min_size,
    check_positive,
    check_rate,
    pixel_input,
    softmax_head,
    to_unit_range,
)
from visord.training.architectures.registry import register

# (pointwise channels, depthwise stride) of the 13 blocks of MobileNet v1.
BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)
MIN_CHANNELS = 8
OUTPUT_STRIDES = (1, 2, 4, 8, 16, 32)


def width(channels: int, alpha: float) -> int:
    return max(MIN_CHANNELS, int(channels * alpha))


def conv_bn_relu(
    x: keras.KerasTensor, channels: int, kernel: int, strides: int, name: str
) -> keras.KerasTensor:
    x = keras.layers.Conv2D(
        channels, kernel, strides=strides, padding="same", use_bias=False, name=name
    )(x)
    x = keras.layers.BatchNormalization(momentum=FROM_SCRATCH_BN_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def separable_block(
    x: keras.KerasTensor, channels: int, strides: int, index: int
) -> keras.KerasTensor:
    """DepthwiseConv2D 3x3 + BN + ReLU, then 1x1 Conv2D + BN + ReLU."""
    name = f"block{index}"
    x = keras.layers.DepthwiseConv2D(
        3, strides=strides, padding="same", use_bias=False, name=f"{name}_dw"
    )(x)
    x = keras.layers.BatchNormalization(momentum=FROM_SCRATCH_BN_MOMENTUM, name=f"{name}_dw_bn")(x)
    x = keras.layers.ReLU(name=f"{name}_dw_relu")(x)
    return conv_bn_relu(x, channels, 1, 1, f"{name}_pw")


@register("mobilenet")
def mobilenet(
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    alpha: float = 1.0,
    blocks: int = 13,
    dropout: float = 1e-3,
    output_stride: int = 32,
) -> keras.Model:
    """MobileNet v1 (depthwise separable convs; width `alpha`, first `blocks` of 13): small, fast,
    from scratch.

    Stem Conv2D 3x3/2 (32*alpha) + BN + ReLU, then the first `blocks` of the 13
    depthwise separable blocks (64, 128/2, 128, 256/2, 256, 512/2, 5x512,
    1024/2, 1024; channels int(c*alpha), at least 8), GlobalAveragePooling2D,
    Dropout, Dense softmax. Fewer blocks suit small inputs and small budgets;
    inputs must be at least 32x32. `output_stride` (a power of two, 1 to 32) caps the
    downsampling: once the stem and blocks have shrunk the input that many times, later
    strides are 1, so a 32x32 input keeps 4x4 features at `output_stride=8` instead of
    ending at 1x1 (the CIFAR adaptation of ImageNet networks).
    """
    check_positive("alpha", alpha)
    check_rate("dropout", dropout)
    if not isinstance(blocks, int) or not 1 <= blocks <= len(BLOCKS):
        raise ValueError(
            f"`blocks` must be an int from 1 to {len(BLOCKS)}. Received `blocks={blocks!r}`"
        )
    if output_stride not in OUTPUT_STRIDES:
        raise ValueError(
            f"`output_stride` must be one of {', '.join(map(str, OUTPUT_STRIDES))}. Received "
            f"`output_stride={output_stride!r}`"
        )
    check_min_size("mobilenet", input_shape, 32)
    inputs = pixel_input(input_shape)
    stride = min(2, output_stride)
    x = conv_bn_relu(to_unit_range(inputs), width(32, alpha), 3, stride, "stem")
    for index, (channels, strides) in enumerate(BLOCKS[:blocks], start=1):
        strides = strides if stride * strides <= output_stride else 1
        stride *= strides
        x = separable_block(x, width(channels, alpha), strides, index)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, softmax_head(x, num_classes, dropout), name="mobilenet")
