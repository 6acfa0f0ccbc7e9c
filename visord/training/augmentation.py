"""Training-time augmentation as Keras random preprocessing layers.

Owns the mapping from ImageDataGenerator's parameters to Keras 3 layers. The
pipeline runs in the tf.data input pipeline, in front of the model, never
inside it: a random layer inside the exported model would not convert to ONNX,
and called without an explicit `training=False` it would switch BatchNorm and
Dropout of every later layer into training mode.

Mapping (ImageDataGenerator -> Keras layer):
- rotation_range (degrees) -> RandomRotation(factor=degrees / 360)
- width/height_shift_range (share) -> RandomTranslation(height_factor, width_factor)
- shear_range (degrees) -> RandomShear(x_factor=tan(angle)), the displacement per unit height
- zoom_range z -> RandomZoom((-z, z)), zooming in or out by up to z
- horizontal_flip / vertical_flip -> RandomFlip
- brightness b -> RandomBrightness(b, value_range=(0, 255)): adds up to b of full scale.
  (ImageDataGenerator's brightness_range multiplied instead; adding is what Keras offers.)
"""

from __future__ import annotations

import math

import keras

from visord.training.config import AugmentationConfig


def _geometric_layers(config: AugmentationConfig, seed: int) -> list[keras.layers.Layer]:
    fill = {"fill_mode": config.fill_mode}
    layers: list[keras.layers.Layer] = []
    if config.rotation_range:
        layers.append(keras.layers.RandomRotation(config.rotation_range / 360.0, seed=seed, **fill))
    if config.width_shift_range or config.height_shift_range:
        layers.append(
            keras.layers.RandomTranslation(
                config.height_shift_range, config.width_shift_range, seed=seed + 1, **fill
            )
        )
    if config.shear_range:
        layers.append(
            keras.layers.RandomShear(
                x_factor=math.tan(math.radians(config.shear_range)), seed=seed + 2, **fill
            )
        )
    if config.zoom_range:
        layers.append(
            keras.layers.RandomZoom((-config.zoom_range, config.zoom_range), seed=seed + 3, **fill)
        )
    return layers


def _photometric_layers(config: AugmentationConfig, seed: int) -> list[keras.layers.Layer]:
    layers: list[keras.layers.Layer] = []
    mode = (
        "horizontal_and_vertical"
        if config.horizontal_flip and config.vertical_flip
        else (
            "horizontal" if config.horizontal_flip else "vertical" if config.vertical_flip else None
        )
    )
    if mode:
        layers.append(keras.layers.RandomFlip(mode, seed=seed + 4))
    if config.brightness:
        layers.append(
            keras.layers.RandomBrightness(
                config.brightness, value_range=(0.0, 255.0), seed=seed + 5
            )
        )
    return layers


def build_augmentation(config: AugmentationConfig, seed: int) -> keras.Sequential | None:
    """The augmentation pipeline, or None when every parameter is off."""
    layers = _geometric_layers(config, seed) + _photometric_layers(config, seed)
    return keras.Sequential(layers, name="augmentation") if layers else None
