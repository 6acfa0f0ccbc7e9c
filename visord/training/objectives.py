"""Losses, optimizers and learning-rate schedules, looked up by name.

Owns the two registries behind the `loss.name` and `optimizer.name` config
keys, and what each loss needs from the labels (integers or one-hot).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras

from visord.contract.registry import Registry
from visord.training.config import LossConfig, OptimizerConfig


@dataclass(frozen=True)
class LossSpec:
    """How to build a loss and which labels it wants."""

    build: Callable[[float], keras.losses.Loss]
    one_hot: bool
    smoothing: bool

    def accuracy(self) -> keras.metrics.Metric:
        if self.one_hot:
            return keras.metrics.CategoricalAccuracy(name="accuracy")
        return keras.metrics.SparseCategoricalAccuracy(name="accuracy")


LOSSES: Registry[LossSpec] = Registry("loss")
LOSSES.add(
    "categorical_crossentropy",
    LossSpec(
        lambda s: keras.losses.CategoricalCrossentropy(label_smoothing=s),
        one_hot=True,
        smoothing=True,
    ),
)
LOSSES.add(
    "sparse_categorical_crossentropy",
    LossSpec(
        lambda s: keras.losses.SparseCategoricalCrossentropy(), one_hot=False, smoothing=False
    ),
)
LOSSES.add(
    "mse", LossSpec(lambda s: keras.losses.MeanSquaredError(), one_hot=True, smoothing=False)
)


def loss_spec(config: LossConfig) -> LossSpec:
    """The registered loss, checked against its options."""
    spec = LOSSES.get(config.name)
    if config.label_smoothing and not spec.smoothing:
        raise ValueError(
            f"loss '{config.name}' does not take label_smoothing (received "
            f"{config.label_smoothing}); "
            "use categorical_crossentropy for label smoothing"
        )
    return spec


LearningRate = float | keras.optimizers.schedules.LearningRateSchedule
OptimizerBuilder = Callable[[OptimizerConfig, LearningRate], keras.optimizers.Optimizer]
OPTIMIZERS: Registry[OptimizerBuilder] = Registry("optimizer")
OPTIMIZERS.add("adam", lambda c, lr: keras.optimizers.Adam(lr))
OPTIMIZERS.add("adamw", lambda c, lr: keras.optimizers.AdamW(lr, weight_decay=c.weight_decay))
OPTIMIZERS.add("rmsprop", lambda c, lr: keras.optimizers.RMSprop(lr, momentum=c.momentum))
OPTIMIZERS.add(
    "sgd", lambda c, lr: keras.optimizers.SGD(lr, momentum=c.momentum, nesterov=c.nesterov)
)


def learning_rate(
    config: OptimizerConfig, steps_per_epoch: int, epochs: int, initial: float
) -> LearningRate:
    """A constant rate or a schedule over the whole run, stepped per batch."""
    schedule = config.schedule
    if schedule.name == "constant":
        return initial
    total = max(1, steps_per_epoch * epochs)
    if schedule.name == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(
            initial,
            decay_steps=max(1, int(schedule.decay_epochs * steps_per_epoch)),
            decay_rate=schedule.decay_rate,
        )
    warmup = min(total - 1, int(schedule.warmup_epochs * steps_per_epoch))
    if warmup:
        return keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=total - warmup, warmup_target=initial, warmup_steps=warmup
        )
    return keras.optimizers.schedules.CosineDecay(initial, decay_steps=total)


def build_optimizer(
    config: OptimizerConfig, steps_per_epoch: int, epochs: int, initial: float | None = None
) -> keras.optimizers.Optimizer:
    """The configured optimizer; `initial` overrides the learning rate (fine-tuning phase)."""
    builder = OPTIMIZERS.get(config.name)
    rate = learning_rate(
        config, steps_per_epoch, epochs, config.learning_rate if initial is None else initial
    )
    return builder(config, rate)
