"""Quadrant images: noisy pictures whose bright square sits in the quadrant the class names. Easy to
learn in seconds, so training, export and quantization tests run on real files without a data set.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

QUADRANT_CLASSES = ("bottom_left", "bottom_right", "top_left", "top_right")


def quadrant_image(rng: np.random.Generator, label: int, size: int = 32) -> np.ndarray:
    """A noisy BGR image whose bright square sits in the quadrant named by `label`: easy to
    learn."""
    image = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
    half = size // 2
    row, col = {0: (half, 0), 1: (half, half), 2: (0, 0), 3: (0, half)}[label]
    image[row + 2 : row + half - 2, col + 2 : col + half - 2] = rng.integers(
        180, 255, 3, dtype=np.uint8
    )
    return image


def write_quadrant_folder(
    root: Path, per_class: int, size: int = 32, seed: int = 0, classes=QUADRANT_CLASSES
) -> Path:
    import cv2

    rng = np.random.default_rng(seed)
    for name in classes:
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            cv2.imwrite(
                str(folder / f"{index:03d}.png"),
                quadrant_image(rng, QUADRANT_CLASSES.index(name), size),
            )
    return root


def tiny_raw(data: Path, output: Path) -> dict:
    """The raw training config of a seconds-long run on the quadrant folder."""
    return {
        "name": "tiny",
        "data": {"path": str(data), "image_size": [32, 32], "validation_split": 0.25},
        "architecture": "dnn",
        "architecture_options": {"filters": 8, "dense_units": 16},
        "epochs": 2,
        "batch_size": 16,
        "output_dir": str(output),
    }


def tiny_config(data: Path, output: Path, changes: dict | None = None):
    """A TrainConfig for seconds-long runs on the quadrant folder."""
    from visord.training.config import parse_config, set_key

    raw = tiny_raw(data, output)
    for key, value in (changes or {}).items():
        set_key(raw, key, value)
    return parse_config(raw)


@contextmanager
def eager_training() -> Iterator[None]:
    """TensorFlow's functions run eagerly inside: for tests that train a backbone for a few steps,
    where tracing the training graph costs far more than the steps (a MobileNetV2 transfer
    model's train step: about a minute of CPU to trace, seconds to run eagerly). What is trained
    is the same; only how TensorFlow runs each step changes."""
    import tensorflow as tf

    tf.config.run_functions_eagerly(True)
    try:
        with warnings.catch_warnings():  # tf.data's functions are traced still, as they should be
            warnings.filterwarnings("ignore", "Even though the `tf.config.experimental_run_func")
            yield
    finally:
        tf.config.run_functions_eagerly(False)
