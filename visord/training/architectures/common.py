"""Pieces every builder shares: the raw-pixel input, rescaling, the softmax head, argument
checks."""

from __future__ import annotations

import keras

INPUT_NAME = "pixels"
# Keras's default 0.99 needs hundreds of steps before the moving statistics used at
# validation and inference fit; a few-thousand-image dataset trained from scratch has
# tens of steps per epoch, so models trained here from scratch use 0.9.
FROM_SCRATCH_BN_MOMENTUM = 0.9


def pixel_input(input_shape: tuple[int, int, int]) -> keras.KerasTensor:
    """The model input: float32 pixels 0..255, NHWC, RGB (or grey when channels is 1)."""
    return keras.Input(shape=input_shape, dtype="float32", name=INPUT_NAME)


def to_unit_range(x: keras.KerasTensor) -> keras.KerasTensor:
    """0..255 -> 0..1, inside the model so the exported graph takes raw pixels."""
    return keras.layers.Rescaling(1.0 / 255.0, name="rescale")(x)


def softmax_head(x: keras.KerasTensor, num_classes: int, dropout: float) -> keras.KerasTensor:
    """Optional dropout, then a Dense softmax layer named "predictions"."""
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)


def set_batchnorm_momentum(net: keras.Model, momentum: float = FROM_SCRATCH_BN_MOMENTUM) -> None:
    """Sets the moving-statistics momentum of every BatchNormalization layer of `net` (before
    compile)."""
    for layer in net._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum


def check_positive(argument: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"`{argument}` must be > 0. Received `{argument}={value!r}`")


def check_rate(argument: str, value: float) -> None:
    if not 0 <= value < 1:
        raise ValueError(f"`{argument}` must be in [0, 1). Received `{argument}={value!r}`")


# Hidden-layer activations a config (and so a search space) may name: Keras's own names.
ACTIVATIONS = ("relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "tanh", "sigmoid")


def check_activation(argument: str, value: str) -> None:
    if value not in ACTIVATIONS:
        raise ValueError(
            f"`{argument}` must be one of {', '.join(ACTIVATIONS)}. Received `{argument}={value!r}`"
        )


def check_min_size(architecture: str, input_shape: tuple[int, int, int], minimum: int) -> None:
    if min(input_shape[:2]) < minimum:
        raise ValueError(
            f"{architecture} needs inputs of at least {minimum}x{minimum} pixels. Received "
            f"`input_shape={input_shape}`"
        )
