"""SqueezeNet 1.1 ("squeezenet"): Fire modules, no dense layer, a 1x1 convolution as classifier."""

from __future__ import annotations

import keras

from training.architectures.common import check_rate, pixel_input, to_unit_range
from training.architectures.registry import register

# Fire modules as (index, squeeze channels, expand channels per branch); "pool" marks a max-pool.
LAYOUT: tuple[tuple[int, int, int] | str, ...] = (
    "pool", (2, 16, 64), (3, 16, 64), "pool", (4, 32, 128), (5, 32, 128), "pool",
    (6, 48, 192), (7, 48, 192), (8, 64, 256), (9, 64, 256),
)


# torchvision's initialisation: He for the feature convolutions, a small normal for the classifier.
FEATURE_INIT = "he_uniform"


def fire(x: keras.KerasTensor, squeeze: int, expand: int, name: str) -> keras.KerasTensor:
    """1x1 squeeze conv (relu) feeding a 1x1 and a 3x3 expand conv (relu), concatenated on channels."""
    x = keras.layers.Conv2D(squeeze, 1, activation="relu", kernel_initializer=FEATURE_INIT, name=f"{name}_squeeze")(x)
    left = keras.layers.Conv2D(expand, 1, activation="relu", kernel_initializer=FEATURE_INIT,
                                 name=f"{name}_expand1x1")(x)
    right = keras.layers.Conv2D(expand, 3, padding="same", activation="relu", kernel_initializer=FEATURE_INIT,
                                  name=f"{name}_expand3x3")(x)
    return keras.layers.Concatenate(name=f"{name}_concat")([left, right])


@register("squeezenet")
def squeezenet(input_shape: tuple[int, int, int], num_classes: int, *, dropout: float = 0.5) -> keras.Model:
    """SqueezeNet 1.1 (Fire modules, conv classifier): few parameters, from scratch.

    conv1 3x3/2 64 relu, max-pool 3/2, fire2-3, max-pool, fire4-5, max-pool,
    fire6-9, Dropout, conv10 1x1 num_classes (linear), GlobalAveragePooling2D,
    Softmax. Convolutions and pools pad "same", so 32x32 inputs work.
    """
    check_rate("dropout", dropout)
    inputs = pixel_input(input_shape)
    conv1 = keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu", kernel_initializer=FEATURE_INIT,
                                name="conv1")
    x = conv1(to_unit_range(inputs))
    pools = 0
    for step in LAYOUT:
        if step == "pool":
            pools += 1
            x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{pools}")(x)
        else:
            index, squeeze, expand = step
            x = fire(x, squeeze, expand, f"fire{index}")
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    classifier_init = keras.initializers.RandomNormal(stddev=0.01)
    # The paper's conv10 has a ReLU; trained from scratch on a few thousand images it dies at once
    # (every class score 0, loss stuck at ln N), so visord's conv10 is linear: its outputs are logits.
    x = keras.layers.Conv2D(num_classes, 1, kernel_initializer=classifier_init, name="conv10")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Softmax(name="predictions")(x)
    return keras.Model(inputs, outputs, name="squeezenet")
