"""The classic small CNN ("dnn"): one convolution, one pooling, one hidden dense layer."""

from __future__ import annotations

import keras

from visord.training.architectures.common import (
    check_activation,
    check_positive,
    check_rate,
    pixel_input,
    softmax_head,
    to_unit_range,
)
from visord.training.architectures.registry import register


@register("dnn")
def dnn(
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    filters: int = 32,
    dense_units: int = 128,
    dropout: float = 0.0,
    activation: str = "relu",
) -> keras.Model:
    """Classic small CNN (conv 3x3, max-pool, dense): small grey or colour inputs such as digits.

    Conv2D(filters, 3x3) -> MaxPooling2D(2x2) -> Flatten -> Dense(dense_units) -> Dropout(dropout)
    when > 0 -> Dense(num_classes, softmax); both hidden layers use `activation` (relu by default).
    """
    check_positive("filters", filters)
    check_positive("dense_units", dense_units)
    check_rate("dropout", dropout)
    check_activation("activation", activation)
    inputs = pixel_input(input_shape)
    x = to_unit_range(inputs)
    x = keras.layers.Conv2D(filters, 3, activation=activation, name="conv")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(dense_units, activation=activation, name="dense")(x)
    return keras.Model(inputs, softmax_head(x, num_classes, dropout), name="dnn")
