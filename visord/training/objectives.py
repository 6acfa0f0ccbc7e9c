"""Losses and optimizers, looked up by name.

Owns the two registries behind the `loss.name` and `optimizer.name` config
keys, what each loss needs from the labels (integers or one-hot), and the
distillation loss and its accuracy (`visord.training.distill` feeds them).
The learning-rate schedules are `visord.training.budget`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
from keras import ops

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


def distillation_loss(
    hard: Any,
    soft: Any,
    student: Any,
    temperature: float,
    alpha: float,
    label_smoothing: float = 0.0,
) -> Any:
    """Per-image alpha * CE(hard, student) + (1 - alpha) * T^2 * KL(teacher_T || student_T).

    `hard` is one-hot, `soft` the teacher's probabilities, `student` the student's probabilities;
    x_T = softmax(log x / T): the heads end in a softmax, so log-probabilities stand in for logits
    (they differ by a constant per image, which softmax ignores). T^2 keeps the soft term's
    gradients the size of the hard term's whatever T is (Hinton et al., 2015). An image whose
    `soft` row is all zeros (a validation image: no teacher targets) scores on `hard` alone.
    """
    hard_term = keras.losses.categorical_crossentropy(
        hard, student, label_smoothing=label_smoothing
    )
    epsilon = keras.backend.epsilon()  # a probability that underflowed to 0 has no logarithm
    teacher_log = ops.log_softmax(ops.log(ops.clip(soft, epsilon, 1.0)) / temperature, axis=-1)
    student_log = ops.log_softmax(ops.log(ops.clip(student, epsilon, 1.0)) / temperature, axis=-1)
    divergence = ops.sum(ops.exp(teacher_log) * (teacher_log - student_log), axis=-1)
    mixed = alpha * hard_term + (1.0 - alpha) * temperature**2 * divergence
    return ops.where(ops.sum(soft, axis=-1) > 0, mixed, hard_term)


def split_targets(y_true: Any, y_pred: Any) -> tuple[Any, Any]:
    """(hard one-hot, soft) halves of a distillation target row `[hard | soft]`."""
    classes = ops.shape(y_pred)[-1]
    return y_true[..., :classes], y_true[..., classes:]


class DistillationLoss(keras.losses.Loss):
    """`distillation_loss` on targets `[one-hot | teacher probabilities]` (2 x classes wide)."""

    def __init__(
        self,
        temperature: float,
        alpha: float,
        label_smoothing: float = 0.0,
        name: str = "distillation",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.temperature = temperature
        self.alpha = alpha
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        hard, soft = split_targets(y_true, y_pred)
        return distillation_loss(
            hard, soft, y_pred, self.temperature, self.alpha, self.label_smoothing
        )

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "temperature": self.temperature,
            "alpha": self.alpha,
            "label_smoothing": self.label_smoothing,
        }


def hard_accuracy() -> keras.metrics.Metric:
    """Accuracy on the hard half of distillation targets, named as the plain runs' accuracy."""

    def accuracy(y_true, y_pred):
        hard, _ = split_targets(y_true, y_pred)
        return keras.metrics.categorical_accuracy(hard, y_pred)

    return keras.metrics.MeanMetricWrapper(accuracy, name="accuracy")


OptimizerBuilder = Callable[[OptimizerConfig, float], keras.optimizers.Optimizer]
OPTIMIZERS: Registry[OptimizerBuilder] = Registry("optimizer")
OPTIMIZERS.add("adam", lambda c, lr: keras.optimizers.Adam(lr))
OPTIMIZERS.add("adamw", lambda c, lr: keras.optimizers.AdamW(lr, weight_decay=c.weight_decay))
OPTIMIZERS.add("rmsprop", lambda c, lr: keras.optimizers.RMSprop(lr, momentum=c.momentum))
OPTIMIZERS.add(
    "sgd", lambda c, lr: keras.optimizers.SGD(lr, momentum=c.momentum, nesterov=c.nesterov)
)


def build_optimizer(
    config: OptimizerConfig, initial: float | None = None
) -> keras.optimizers.Optimizer:
    """The configured optimizer at its initial rate (`initial` overrides it: the fine-tuning
    phase); `visord.training.budget.Budget` sets the rate of every step from the schedule."""
    return OPTIMIZERS.get(config.name)(config, config.learning_rate if initial is None else initial)
