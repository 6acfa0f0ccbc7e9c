"""Augmentation changes training inputs, leaves inference inputs and the exported model
untouched."""

from __future__ import annotations

import numpy as np
import pytest

from visord.training.augmentation import build_augmentation
from visord.training.config import AugmentationConfig, DataConfig
from visord.training.data import make_dataset, scan_folder

EVERYTHING = AugmentationConfig(
    rotation_range=30,
    width_shift_range=0.2,
    height_shift_range=0.2,
    shear_range=20,
    zoom_range=0.2,
    horizontal_flip=True,
    brightness=0.2,
    fill_mode="reflect",
)


def test_no_parameters_no_pipeline():
    assert build_augmentation(AugmentationConfig(), seed=0) is None


@pytest.mark.parametrize(
    ("setting", "layer"),
    [
        ({"rotation_range": 20}, "RandomRotation"),
        ({"width_shift_range": 0.1}, "RandomTranslation"),
        ({"shear_range": 10}, "RandomShear"),
        ({"zoom_range": 0.1}, "RandomZoom"),
        ({"horizontal_flip": True}, "RandomFlip"),
        ({"brightness": 0.3}, "RandomBrightness"),
    ],
)
def test_each_parameter_maps_to_its_layer(setting, layer):
    pipeline = build_augmentation(AugmentationConfig(**setting), seed=0)
    assert [type(item).__name__ for item in pipeline.layers] == [layer]


def test_rotation_and_shear_are_converted_from_degrees():
    pipeline = build_augmentation(AugmentationConfig(rotation_range=36, shear_range=45), seed=0)
    rotation, shear = pipeline.layers
    assert rotation.factor == pytest.approx((-0.1, 0.1))
    assert shear.x_factor == pytest.approx((-1.0, 1.0))


def _sorted_image_sums(dataset) -> np.ndarray:
    batch, _ = next(iter(dataset))
    return np.sort(batch.numpy().reshape(len(batch), -1).sum(axis=1))


def test_training_inputs_change_inference_inputs_do_not(quadrants):
    images = scan_folder(quadrants)
    config = DataConfig(path=quadrants, image_size=(32, 32))
    pipeline = build_augmentation(EVERYTHING, seed=0)
    everyone = len(images.paths)
    inference = make_dataset(
        images, config, everyone, training=False, seed=0, augmentation=pipeline
    )
    shuffled = make_dataset(images, config, everyone, training=True, seed=0)
    augmented = make_dataset(images, config, everyone, training=True, seed=0, augmentation=pipeline)
    # The same images whatever the order; augmentation alters them, inference ignores it.
    np.testing.assert_allclose(
        _sorted_image_sums(inference), _sorted_image_sums(shuffled), rtol=1e-6
    )
    assert not np.allclose(_sorted_image_sums(inference), _sorted_image_sums(augmented), rtol=1e-3)


def test_pipeline_is_identity_outside_training():
    pipeline = build_augmentation(EVERYTHING, seed=0)
    batch = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(pipeline(batch, training=False)), batch)
    assert not np.allclose(np.asarray(pipeline(batch, training=True)), batch)
