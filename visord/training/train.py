"""One training run: a config in, a run folder out.

Owns the order of a run: seed everything, read and split the data, build the
architecture, train (two phases for transfer models; on a teacher's soft labels too when the
config has `distill`, see `visord.training.distill`), evaluate on the validation set, and write
the run folder:

    model.keras          the inference model (raw 0..255 pixels in, probabilities out; no
                         augmentation)
    config.yaml          the config as resolved (defaults and overrides filled in)
    labels.json          class names in output order
    data.json            image counts per split and class, skipped files, the data set's
                         name and fingerprint (what export records in the manifest), and for
                         a distilled run the teacher, T and alpha ("distilled")
    history.csv          loss and accuracy per epoch, both phases
    curves.png           the same as charts
    report.json          accuracy, per-class precision/recall/F1, confusion matrix
    confusion_matrix.json / confusion_matrix.png
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from visord.contract.predictions import PREDICTIONS_FILE, predictions_json
from visord.training import architectures, distill
from visord.training.augmentation import build_augmentation
from visord.training.baselines import Baseline, fit_baselines, pixel_side, read_images
from visord.training.budget import (
    STOPPED_PLATEAU,
    Budget,
    PhasePlan,
    PlateauStop,
    epochs_for,
    plan_phases,
    still_learning,
    underfit_advice,
)
from visord.training.config import DataConfig, TrainConfig, dump_config
from visord.training.data import (
    ImageSet,
    class_weights,
    dataset_summary,
    load_splits,
    make_dataset,
)
from visord.training.finetune import backbone_of, freeze_backbone, unfreeze_top
from visord.training.objectives import (
    DistillationLoss,
    LossSpec,
    build_optimizer,
    hard_accuracy,
    loss_spec,
)
from visord.training.report import (
    compute_report,
    format_report,
    plot_history,
    save_report,
    write_history_csv,
)

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    folder: Path
    model: keras.Model
    report: dict
    history: dict[str, list[float]]


@dataclass
class Fitted:
    """A trained model, its history, the validation pipeline it was scored on (hard labels),
    and what it was distilled from (None for a plain run)."""

    model: keras.Model
    history: dict[str, list[float]]
    validation: tf.data.Dataset
    distilled: dict | None = None
    phases: list[dict] = field(default_factory=list)  # steps run and why each phase stopped


def create_run_folder(output_dir: Path, name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(1000):
        folder = Path(output_dir) / (f"{name}-{stamp}" + (f"-{attempt}" if attempt else ""))
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a new run folder under {output_dir}")


def predict_labels(model: keras.Model, dataset: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """True labels and predicted probabilities for a batched (pixels, labels) dataset."""
    truths, probabilities = [], []
    for images, labels in dataset:
        probabilities.append(model.predict_on_batch(images))
        truths.append(
            labels.numpy() if labels.shape.rank == 1 else np.argmax(labels.numpy(), axis=-1)
        )
    return np.concatenate(truths), np.concatenate(probabilities)


def _fit(
    model,
    config: TrainConfig,
    spec: LossSpec,
    train_ds,
    val_ds,
    weights,
    plan: PhasePlan,
    rate: float,
    *,
    epochs: int,
    steps_per_epoch: int,
    initial_epoch: int,
    verbose: int,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    clock: Callable[[], float] = time.monotonic,
) -> tuple[dict, dict]:
    """One phase: compiles at initial rate `rate`, trains within `plan` (the Budget runs the
    schedule and stops the phase), and returns its history and {steps, stopped}."""
    loss, metrics = _objective(config, spec)
    model.compile(build_optimizer(config.optimizer, rate), loss, metrics=metrics)
    budget = Budget(config.optimizer, rate, plan, steps_per_epoch=steps_per_epoch, clock=clock)
    callbacks = [budget, *extra_callbacks]
    if config.early_stopping.enabled:
        stopping = config.early_stopping
        callbacks.append(
            PlateauStop(budget, patience=stopping.patience, min_delta=stopping.min_delta)
        )
    history = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=initial_epoch + epochs_for(plan, steps_per_epoch, epochs),
        initial_epoch=initial_epoch,
        steps_per_epoch=config.steps_per_epoch,
        class_weight=weights,
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,  # make_dataset shuffles the training set; fit cannot shuffle a tf.data set
    ).history
    # the Budget names every end of its own; any other end is early stopping's
    return history, {"steps": budget.step, "stopped": budget.stopped or STOPPED_PLATEAU}


def steps_per_epoch(config: TrainConfig, train: ImageSet) -> int:
    """Optimizer steps in one pass over `train` (or the config's cap on them)."""
    return config.steps_per_epoch or math.ceil(len(train.paths) / config.batch_size)


def _freezes_backbone(config: TrainConfig) -> bool:
    if config.freeze_backbone == "auto":
        return config.architecture_options.get("weights") is not None
    return config.freeze_backbone


def build_model(config: TrainConfig, num_classes: int) -> keras.Model:
    channels = 1 if config.data.color_mode == "grayscale" else 3
    shape = (*config.data.image_size, channels)
    return architectures.create_model(
        config.architecture, shape, num_classes, **config.architecture_options
    )


def _objective(config: TrainConfig, spec: LossSpec) -> tuple[keras.losses.Loss, list]:
    """The loss and metrics a run compiles: the configured loss, or distillation's."""
    smoothing = config.loss.label_smoothing
    if config.distill is None:
        return spec.build(smoothing), [spec.accuracy()]
    loss = DistillationLoss(config.distill.temperature, config.distill.alpha, smoothing)
    return loss, [hard_accuracy()]


def fit_on_sets(
    config: TrainConfig,
    train_set: ImageSet,
    val_set: ImageSet,
    *,
    verbose: int = 1,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    clock: Callable[[], float] = time.monotonic,
) -> Fitted:
    """Seeds, builds and trains a model on the given image sets (both phases); writes nothing.

    `train` uses it on the config's own split; `visord tune` on cross-validation folds,
    with `callbacks` that report each epoch to the search. The config's `minutes` are read on
    `clock` (a search's own clock, which its tests run fast).
    """
    spec = loss_spec(config.loss)
    # The teacher predicts before the seed is set: loading it draws initial weights, and the
    # student must start from the same weights and data order as a plain run with this seed.
    soft = (
        distill.soft_targets(config.distill, train_set, config.batch_size)
        if config.distill
        else None
    )
    keras.utils.set_random_seed(config.seed)
    model = build_model(config, len(train_set.classes))
    fine = config.fine_tune
    if fine.layers and fine.epochs and backbone_of(model) is None:
        raise ValueError(
            f"fine_tune is set but architecture '{config.architecture}' has no backbone to "
            "fine-tune"
        )
    augmentation = build_augmentation(config.augmentation, config.seed)
    weights = class_weights(train_set, config.class_weight)
    val_ds = make_dataset(
        val_set,
        config.data,
        config.batch_size,
        training=False,
        seed=config.seed,
        one_hot=spec.one_hot,
    )
    if soft is None:
        train_ds = make_dataset(
            train_set,
            config.data,
            config.batch_size,
            training=True,
            seed=config.seed,
            augmentation=augmentation,
            one_hot=spec.one_hot,
        )
        fit_val_ds = val_ds
    else:  # targets [one-hot | teacher probabilities]; class weights ride in the dataset
        train_ds = distill.training_dataset(
            train_set, soft.probabilities, config, augmentation=augmentation, weights=weights
        )
        fit_val_ds = distill.validation_dataset(val_ds, len(train_set.classes))
        weights = None
    steps = steps_per_epoch(config, train_set)
    fine_steps = fine.epochs * steps if fine.layers and fine.epochs else 0
    first_plan, fine_plan = plan_phases(
        steps=config.steps,
        epochs=config.epochs,
        minutes=config.minutes,
        fine_tune_steps=fine_steps,
        steps_per_epoch=steps,
        started=clock(),
    )

    if _freezes_backbone(config):
        freeze_backbone(model)
    fit = {
        "extra_callbacks": callbacks,
        "steps_per_epoch": steps,
        "verbose": verbose,
        "clock": clock,
    }
    sets = (model, config, spec, train_ds, fit_val_ds, weights)
    history, phase = _fit(
        *sets,
        first_plan,
        config.optimizer.learning_rate,
        epochs=config.epochs,
        initial_epoch=0,
        **fit,
    )
    phases = [phase]
    if fine_steps:
        opened = unfreeze_top(model, fine.layers)
        log.info(
            "fine-tuning %d backbone layers at learning rate %g", len(opened), fine.learning_rate
        )
        more, phase = _fit(
            *sets,
            fine_plan,
            fine.learning_rate,
            epochs=fine.epochs,
            initial_epoch=len(history["loss"]),
            **fit,
        )
        history = {key: history[key] + more.get(key, []) for key in history}
        phases.append(phase)
    if soft is not None:
        # Compiled as a plain run is: model.keras names no distillation loss, and evaluating on
        # the (hard-label) validation pipeline works as for any run.
        model.compile(
            model.optimizer,
            spec.build(config.loss.label_smoothing),
            metrics=[spec.accuracy()],
        )
    return Fitted(
        model,
        history,
        val_ds,
        soft.record if soft is not None else None,
        phases=phases,
    )


def train(config: TrainConfig, verbose: int = 1, report: bool | None = None) -> RunResult:
    """Trains a model as `config` says, judges it against classical baselines on the same split,
    and writes its run folder. `verbose` is Keras's progress; `report` prints the report and the
    folder (default: when there is progress)."""
    loss_spec(config.loss)  # a bad loss name or option fails before the data is read
    if config.distill is not None:
        distill.open_teacher(config.distill)  # so does a teacher that is not a run folder
    train_set, val_set = load_splits(config.data, config.seed)
    fitted = fit_on_sets(config, train_set, val_set, verbose=verbose)
    baselines = split_baselines(train_set, val_set, config.data, config.seed)
    folder = create_run_folder(config.output_dir, config.name)
    shown = bool(verbose) if report is None else report
    return write_run(folder, config, fitted, (train_set, val_set), baselines, shown)


def write_run(
    folder: Path,
    config: TrainConfig,
    fitted: Fitted,
    split: tuple[ImageSet, ImageSet],
    baselines: Sequence[Baseline],
    report: bool = True,
) -> RunResult:
    """Scores a fitted model on its validation set beside the classical `baselines` of the same
    split, and writes the run folder (`report`: and prints the report and the folder): `train`'s
    last step, and `visord train --search`'s for the best trial's model."""
    train_set, val_set = split
    truth, probabilities = predict_labels(fitted.model, fitted.validation)
    scores = compute_report(truth, probabilities.argmax(axis=-1), list(train_set.classes))
    scores["training"] = training_summary(config, fitted)
    scores["baselines"] = [b.as_dict() for b in baselines]
    _write_run(folder, config, fitted, scores, split)
    predictions = predictions_json(
        config.data.validation_path or config.data.path,
        train_set.classes,
        val_set.paths,
        truth,
        probabilities,
    )
    (folder / PREDICTIONS_FILE).write_text(predictions)
    if report:
        print(format_report(scores))
        print(f"run folder: {folder}")
    return RunResult(folder, fitted.model, scores, fitted.history)


def training_summary(config: TrainConfig, fitted: Fitted) -> dict:
    """What the run spent and how it ended: each phase's steps and why it stopped, the epochs,
    and whether it ended still learning (`underfit`: the reason and the advice, else None)."""
    last = fitted.phases[-1]["stopped"] if fitted.phases else None
    reason = still_learning(fitted.history) if last != STOPPED_PLATEAU else None
    return {
        "phases": fitted.phases,
        "epochs": len(fitted.history.get("loss", [])),
        "minutes_budget": config.minutes,
        "underfit": (
            underfit_advice(reason, last, config.minutes, fitted.phases[0]["steps"])
            if reason
            else None
        ),
    }


def split_baselines(
    train_set: ImageSet, val_set: ImageSet, data: DataConfig, seed: int
) -> list[Baseline]:
    """The classical baselines fitted on the training images and scored on the validation
    images; none (with a warning) when OpenCV cannot read an image TensorFlow could."""
    side, grey = pixel_side(data.image_size), data.color_mode == "grayscale"
    try:
        train_pixels = read_images(train_set.paths, side, grey)
        val_pixels = read_images(val_set.paths, side, grey)
    except ValueError as error:
        log.warning("no classical baselines: %s", error)
        return []
    return fit_baselines((train_pixels, train_set.labels), (val_pixels, val_set.labels), seed)


def _write_run(
    folder: Path, config, fitted: Fitted, report, split: tuple[ImageSet, ImageSet]
) -> None:
    train_set, val_set = split
    fitted.model.save(folder / "model.keras")
    (folder / "config.yaml").write_text(dump_config(config))
    (folder / "labels.json").write_text(json.dumps(list(train_set.classes)))
    data = {
        "train": train_set.counts(),
        "validation": val_set.counts(),
        "skipped": sorted(set(train_set.skipped) | set(val_set.skipped)),
        "dataset": dataset_summary(config.data, train_set, val_set),
    }
    if fitted.distilled is not None:
        data["distilled"] = fitted.distilled
    (folder / "data.json").write_text(json.dumps(data, indent=2))
    write_history_csv(fitted.history, folder / "history.csv")
    plot_history(fitted.history, folder / "curves.png")
    save_report(report, folder)
