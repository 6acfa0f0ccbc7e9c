"""`visord evaluate MODEL DATA`: the run report of any Keras model on any image folder.

Owns finding a model and its labels (a run folder, or a .keras file with a
labels.json beside it) and reading its input size and colour mode from the
model itself, so the folder is preprocessed exactly as in training.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from visord.training.config import DataConfig
from visord.training.data import DataError, ImageSet, make_dataset, scan_folder
from visord.training.report import compute_report
from visord.training.train import predict_labels


def locate_model(path: Path) -> tuple[Path, Path | None]:
    """(model file, labels file or None) for a run folder or a model file."""
    path = Path(path)
    model_file = path / "model.keras" if path.is_dir() else path
    if not model_file.is_file():
        raise FileNotFoundError(
            f"no Keras model at '{model_file}' (expected a run folder or a .keras file)"
        )
    labels = model_file.parent / "labels.json"
    return model_file, labels if labels.is_file() else None


def evaluate(model_path: Path, data: Path, batch_size: int = 64) -> dict:
    """Accuracy, per-class scores and confusion matrix of a model on a class-per-folder tree.

    The folder may hold a subset of the model's classes; a class the model does not know is an
    error.
    """
    model_file, labels_file = locate_model(model_path)
    model = keras.models.load_model(model_file)
    height, width, channels = model.input_shape[1:]
    images = scan_folder(data)
    labels = json.loads(labels_file.read_text()) if labels_file else list(images.classes)
    unknown = sorted(set(images.classes) - set(labels))
    if unknown:
        raise DataError(
            f"'{data}' has classes {unknown} that the model does not know; its labels are {labels}"
        )
    remapped = np.array([labels.index(images.classes[k]) for k in images.labels], dtype=np.int32)
    images = ImageSet(tuple(labels), images.paths, remapped, images.skipped)
    config = DataConfig(
        path=Path(data),
        image_size=(height, width),
        color_mode="grayscale" if channels == 1 else "rgb",
    )
    truth, probabilities = predict_labels(
        model, make_dataset(images, config, batch_size, training=False, seed=0)
    )
    return compute_report(truth, probabilities.argmax(axis=-1), labels)
