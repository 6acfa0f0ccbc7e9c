"""SqueezeNet 1.1 ("squeezenet"): Fire modules, no dense layer, a 1x1 convolution as classifier."""

from __future__ import annotations

import keras

from visord.training.architectures.common import (
    FROM_SCRATCH_BN_MOMENTUM,
    check_rate,
    pixel_input,
    to_unit_range,
)
from visord.training.architectures.registry import register

# Fire modules as (index, squeeze channels, expand channels per branch); "pool" marks a max-pool.
LAYOUT: tuple[tuple[int, int, int] | str, ...] = (
    "pool",
    (2, 16, 64),
    (3, 16, 64),
    "pool",
    (4, 32, 128),
    (5, 32, 128),
    "pool",
    (6, 48, 192),
    (7, 48, 192),
    (8, 64, 256),
    (9, 64, 256),
)
# torchvision's initialisation: He for the feature convolutions, a small normal for the classifier.
FEATURE_INIT = "he_uniform"


def conv_relu(
    x: keras.KerasTensor, filters: int, kernel: int, name: str, batch_norm: bool, strides: int = 1
) -> keras.KerasTensor:
    """Conv2D ("same" padding) + ReLU, with BatchNormalization between them when `batch_norm`."""
    x = keras.layers.Conv2D(
        filters,
        kernel,
        strides=strides,
        padding="same",
        use_bias=not batch_norm,
        kernel_initializer=FEATURE_INIT,
        name=name,
    )(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(momentum=FROM_SCRATCH_BN_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def fire(
    x: keras.KerasTensor, squeeze: int, expand: int, name: str, batch_norm: bool
) -> keras.KerasTensor:
    """1x1 squeeze conv (relu) feeding a 1x1 and a 3x3 expand conv (relu), concatenated on
    channels."""
    x = conv_relu(x, squeeze, 1, f"{name}_squeeze", batch_norm)
    left = conv_relu(x, expand, 1, f"{name}_expand1x1", batch_norm)
    right = conv_relu(x, expand, 3, f"{name}_expand3x3", batch_norm)
    return keras.layers.Concatenate(name=f"{name}_concat")([left, right])


@register("squeezenet")
def squeezenet(
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    dropout: float = 0.5,
    batch_norm: bool = True,
) -> keras.Model:
    """SqueezeNet 1.1 (Fire modules, conv classifier): few parameters, from scratch.

    conv1 3x3/2 64 relu, max-pool 3/2, fire2-3, max-pool, fire4-5, max-pool,
    fire6-9, Dropout, conv10 1x1 num_classes (linear), GlobalAveragePooling2D,
    Softmax. Convolutions and pools pad "same", so 32x32 inputs work.
    `batch_norm` (default on) puts BatchNormalization before every ReLU: without it,
    training from scratch on a few thousand images kills the ReLUs within an epoch
    (measured on the demo scenes: 97% of fire9's outputs 0, accuracy at chance).
    It folds into the convolutions at export, so inference costs the same.
    `batch_norm=False` is the paper's network, but for conv10's ReLU: visord's conv10
    is linear, as a ReLU there dies at once from scratch (loss stuck at ln N).
    """
    check_rate("dropout", dropout)
    inputs = pixel_input(input_shape)
    x = conv_relu(to_unit_range(inputs), 64, 3, "conv1", batch_norm, strides=2)
    pools = 0
    for step in LAYOUT:
        if step == "pool":
            pools += 1
            x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{pools}")(x)
        else:
            index, squeeze, expand = step
            x = fire(x, squeeze, expand, f"fire{index}", batch_norm)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    classifier_init = keras.initializers.RandomNormal(stddev=0.01)
    x = keras.layers.Conv2D(num_classes, 1, kernel_initializer=classifier_init, name="conv10")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Softmax(name="predictions")(x)
    return keras.Model(inputs, outputs, name="squeezenet")
