"""The real trial evaluator: train on hold-out or k-fold splits and score each fold.

Owns a trial's training: the splits (the config's own validation split, or
stratified k-fold over `data.path`; scanned once per data folder and reused
by every trial of the process), one `fit_on_sets` per fold with callbacks that
report each epoch's validation score to the pruner and stop at the first
non-finite loss, and the fold's score from `model.evaluate` (so early
stopping's restored weights are what is scored). A `keep` callback is handed
each fold's fitted model with its scores, for a caller that keeps the best
model rather than training it again (`visord train --search`). Imports
TensorFlow.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from visord.training.config import DataConfig, TrainConfig
from visord.training.data import ImageSet, load_splits, scan_folder
from visord.training.train import Fitted, fit_on_sets
from visord.training.tune.folds import stratified_folds
from visord.training.tune.settings import TuneConfig
from visord.training.tune.worker import Evaluation, Evaluator, Reporter

Split = tuple[ImageSet, ImageSet]
# Takes a fold's fitted model and its scores (val_loss, val_accuracy).
Keep = Callable[[Fitted, dict[str, float]], None]


class NonFiniteLoss(ArithmeticError):
    """Training diverged: the loss became NaN or infinite."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises NonFiniteLoss at the first batch whose loss is NaN or infinite."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            raise NonFiniteLoss(f"loss became {loss} at epoch {self.epoch + 1}, batch {batch + 1}")


class ReportEpochs(keras.callbacks.Callback):
    """Hands each epoch's validation score to the trial's reporter (which may prune)."""

    def __init__(self, reporter: Reporter, fold: int, metric: str) -> None:
        super().__init__()
        self.reporter, self.fold, self.metric = reporter, fold, metric

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = float((logs or {}).get(self.metric, math.nan))
        if math.isfinite(value):
            self.reporter(self.fold, epoch, value)


@functools.lru_cache(maxsize=8)
def _holdout(
    path: Path, validation_path: Path | None, share: float, fewest: int, seed: int
) -> Split:
    data = DataConfig(
        path=path, validation_path=validation_path, validation_split=share, min_per_class=fewest
    )
    return load_splits(data, seed)


@functools.lru_cache(maxsize=8)
def _scan(path: Path) -> ImageSet:
    return scan_folder(path)


def splits_for(config: TrainConfig, cv: int) -> list[Split]:
    """The (train, validation) sets of each fold: one for hold-out, k for k-fold."""
    data = config.data
    if cv == 1:
        split = (data.path, data.validation_path, data.validation_split, data.min_per_class)
        return [_holdout(*split, config.seed)]
    images = _scan(data.path)
    return [
        (images.subset(t), images.subset(v))
        for t, v in stratified_folds(images.labels, cv, config.seed)
    ]


def fold_scores(
    config: TrainConfig,
    split: Split,
    fold: int,
    metric: str,
    reporter: Reporter,
    keep: Keep | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, float]:
    """Trains on one fold (its `minutes` on `clock`); its validation loss and accuracy (also
    handed to `keep` with the fitted model)."""
    keras.backend.clear_session()  # trials in one process must not pile up graphs
    callbacks = [StopOnNonFiniteLoss(), ReportEpochs(reporter, fold, metric)]
    fitted = fit_on_sets(config, *split, verbose=0, callbacks=callbacks, clock=clock)
    scores = fitted.model.evaluate(fitted.validation, return_dict=True, verbose=0)
    result = {"val_loss": float(scores["loss"]), "val_accuracy": float(scores["accuracy"])}
    if keep is not None:
        keep(fitted, result)
    return result


def evaluate_config(
    config: TrainConfig,
    reporter: Reporter,
    cv: int,
    metric: str,
    keep: Keep | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Evaluation:
    """Mean of the folds' `metric`, with every fold's loss and accuracy."""
    folds = [
        fold_scores(config, split, k, metric, reporter, keep, clock)
        for k, split in enumerate(splits_for(config, cv))
    ]
    details = {name: [fold[name] for fold in folds] for name in ("val_accuracy", "val_loss")}
    return Evaluation(float(np.mean(details[metric])), details[metric], details)


def evaluator_for(tune: TuneConfig) -> Evaluator:
    """The evaluator a search's workers use."""
    return functools.partial(evaluate_config, cv=tune.settings.cv, metric=tune.settings.metric)
