"""Training runs end to end: the run folder, its report, losses, optimizers, bad names."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import keras
import numpy as np
import pytest
from sklearn import metrics

from visord.contract.predictions import read_predictions
from visord.testing.quadrants import tiny_config
from visord.training.data import make_dataset, scan_folder, stratified_split
from visord.training.objectives import LOSSES, OPTIMIZERS, build_optimizer
from visord.training.train import train

RUN_FILES = {
    "model.keras",
    "config.yaml",
    "labels.json",
    "data.json",
    "history.csv",
    "curves.png",
    "report.json",
    "confusion_matrix.json",
    "confusion_matrix.png",
    "validation_predictions.json",
}


@pytest.fixture(scope="module")
def run(quadrants, tmp_path_factory):
    config = tiny_config(
        quadrants, tmp_path_factory.mktemp("runs"), {"augmentation.zoom_range": 0.1, "epochs": 3}
    )
    return config, train(config, verbose=0)


def test_run_folder_has_every_file(run):
    _, result = run
    assert {p.name for p in result.folder.iterdir()} == RUN_FILES
    assert json.loads((result.folder / "labels.json").read_text()) == [
        "bottom_left",
        "bottom_right",
        "top_left",
        "top_right",
    ]
    data = json.loads((result.folder / "data.json").read_text())
    assert data["validation"] == {name: 10 for name in data["validation"]} and data["skipped"] == []
    with open(result.folder / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 and {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(rows[0])


def test_report_matches_a_recomputation(run):
    config, result = run
    model = keras.models.load_model(result.folder / "model.keras")
    _, validation = stratified_split(
        scan_folder(config.data.path), config.data.validation_split, config.seed
    )
    pixels = np.concatenate(
        [x for x, _ in make_dataset(validation, config.data, 7, training=False, seed=0)]
    )
    predicted = model.predict(pixels, verbose=0).argmax(axis=-1)
    report = json.loads((result.folder / "report.json").read_text())
    assert report["samples"] == len(validation.paths)
    assert report["accuracy"] == pytest.approx(metrics.accuracy_score(validation.labels, predicted))
    assert (
        report["confusion_matrix"]
        == metrics.confusion_matrix(validation.labels, predicted, labels=range(4)).tolist()
    )
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        validation.labels, predicted, labels=range(4), zero_division=0
    )
    for k, name in enumerate(report["classes"]):
        row = report["per_class"][name]
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx(
            (precision[k], recall[k], f1[k])
        )
        assert row["support"] == support[k]
    # the label page's mistakes view: each validation image with its label and the scores
    predictions = read_predictions(result.folder / "validation_predictions.json")
    assert [image.path for image in predictions.images] == [
        Path(path).relative_to(config.data.path).as_posix() for path in validation.paths
    ]
    assert [predictions.classes.index(image.label) for image in predictions.images] == list(
        validation.labels
    )
    assert [image.answer for image in predictions.images] == list(predicted)


def test_saved_model_is_the_inference_core(run):
    _, result = run
    model = keras.models.load_model(result.folder / "model.keras")
    names = {type(layer).__name__ for layer in model._flatten_layers()}
    assert not any(name.startswith("Random") for name in names), names
    assert model.input_shape == (None, 32, 32, 3)


def test_loss_goes_down_and_learns(run):
    _, result = run
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert result.report["accuracy"] > 0.5  # 4 balanced classes: chance is 0.25


@pytest.mark.parametrize(
    "loss",
    [
        {"name": "categorical_crossentropy", "label_smoothing": 0.1},
        {"name": "mse"},
        {"name": "sparse_categorical_crossentropy"},
    ],
)
def test_each_loss_trains(quadrants, tmp_path, loss):
    config = tiny_config(
        quadrants, tmp_path, {"loss": loss, "epochs": 3, "optimizer.learning_rate": 0.003}
    )
    result = train(config, verbose=0)
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert 0 <= result.report["accuracy"] <= 1


@pytest.mark.parametrize("name", ["adam", "adamw", "rmsprop", "sgd"])
def test_each_optimizer_trains(quadrants, tmp_path, name):
    changes = {
        "optimizer.name": name,
        "optimizer.nesterov": name == "sgd",
        "optimizer.learning_rate": 0.01 if name == "sgd" else 0.002,
        "class_weight": "balanced",
        "epochs": 2,
    }
    result = train(tiny_config(quadrants, tmp_path, changes), verbose=0)
    assert result.history["loss"][-1] < result.history["loss"][0]


def test_optimizer_options_reach_keras():
    from visord.training.config import OptimizerConfig

    sgd = build_optimizer(OptimizerConfig(name="sgd", momentum=0.8, nesterov=True))
    assert (
        isinstance(sgd, keras.optimizers.SGD)
        and sgd.nesterov
        and sgd.momentum == pytest.approx(0.8)
    )
    adamw = build_optimizer(OptimizerConfig(name="adamw", weight_decay=0.01), initial=0.02)
    assert adamw.weight_decay == pytest.approx(0.01)
    assert float(adamw.learning_rate) == pytest.approx(0.02)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"architecture": "resnet9000"}, "Unknown architecture 'resnet9000'. Valid: dnn, "),
        ({"loss.name": "hinge"}, "Unknown loss 'hinge'. Valid: " + ", ".join(LOSSES.names())),
        (
            {"optimizer.name": "lion"},
            "Unknown optimizer 'lion'. Valid: " + ", ".join(OPTIMIZERS.names()),
        ),
        ({"loss.label_smoothing": 0.1}, "does not take label_smoothing"),
        ({"fine_tune.layers": 3, "fine_tune.epochs": 1}, "has no backbone"),
    ],
)
def test_bad_names_give_clear_messages(quadrants, tmp_path, changes, message):
    with pytest.raises(ValueError, match=message.replace("(", "\\(")):
        train(tiny_config(quadrants, tmp_path, changes), verbose=0)


def test_separate_validation_folder_and_grayscale(quadrants, tmp_path):
    from visord.testing.quadrants import write_quadrant_folder

    validation = write_quadrant_folder(tmp_path / "val", per_class=3, seed=9)
    config = tiny_config(
        quadrants,
        tmp_path / "runs",
        {"data.validation_path": str(validation), "data.color_mode": "grayscale", "epochs": 1},
    )
    result = train(config, verbose=0)
    assert result.report["samples"] == 12
    assert result.model.input_shape == (None, 32, 32, 1)


def test_same_seed_same_model(quadrants, tmp_path):
    first = train(tiny_config(quadrants, tmp_path / "a", {"epochs": 1}), verbose=0)
    second = train(tiny_config(quadrants, tmp_path / "b", {"epochs": 1}), verbose=0)
    assert first.history["loss"] == pytest.approx(second.history["loss"], rel=1e-4)
