"""`visord evaluate MODEL DATA`: the run report of any Keras model on any image folder.

Owns finding a model and its labels (a run folder, or a .keras file with a
labels.json beside it) and reading its input size and colour mode from the
model itself, so the folder is preprocessed exactly as in training; and the
classical baselines beside the figure, fitted on the run's own training split.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from visord.training.config import DataConfig, TrainingConfigError, load_config
from visord.training.data import DataError, ImageSet, load_splits, make_dataset, scan_folder
from visord.training.report import compute_report
from visord.training.train import predict_labels, split_baselines


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


def evaluate(model_path: Path, data: Path, batch_size: int = 64, baselines: bool = True) -> dict:
    """Accuracy, per-class scores and confusion matrix of a model on a class-per-folder tree, and
    (`baselines`) the classical baselines fitted on the run's training split scored on the same
    images.

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
    report = compute_report(truth, probabilities.argmax(axis=-1), labels)
    if baselines:
        report["baselines"], note = training_baselines(model_file, images)
        if note:
            report["baselines_note"] = note
    return report


def training_baselines(model_file: Path, images: ImageSet) -> tuple[list[dict], str | None]:
    """The classical baselines fitted on the run's own training split (from the config.yaml
    beside the model) and scored on `images`; none, and why, when that split cannot be had."""
    config_file = model_file.parent / "config.yaml"
    if not config_file.is_file():
        return [], f"no baselines: no config.yaml beside {model_file} names its training data"
    try:
        config = load_config(config_file)
        train_set, _ = load_splits(config.data, config.seed)
    except (TrainingConfigError, DataError) as error:
        first = str(error).splitlines()[0]
        return [], f"no baselines: the run's training data cannot be read ({first})"
    if train_set.classes != images.classes:
        return [], (
            f"no baselines: the run's training data now has classes {list(train_set.classes)}, "
            f"the model {list(images.classes)}"
        )
    found = split_baselines(train_set, images, config.data, config.seed)
    return [baseline.as_dict() for baseline in found], None
