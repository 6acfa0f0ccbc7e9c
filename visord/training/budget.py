"""A training phase's budget: how many optimizer steps, by when, and the learning rate at each.

Owns the learning-rate schedules (constant, cosine with a linear warm-up, exponential) as a
function of the step and the phase's total steps, and `Budget`, the callback that drives them: it
sets the optimizer's rate before every batch, stops the phase when its steps are done or its
deadline has passed, and, when the phase has a deadline, refits its total steps to the time left
after each epoch (measured, not guessed), so the schedule ends when the time does. `PlateauStop`
is early stopping that watches only the part of the schedule where a plateau means the model has
learnt what it can. It also says why a phase stopped and judges a finished run: still learning
when it stopped (underfit), or not.

A run's budget is `steps` (optimizer steps of phase 1, whatever the folder's size) or, for old
configs, `epochs` passes over the training set; `minutes` caps the whole run's wall-clock time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras

from visord.training.config import OptimizerConfig, ScheduleConfig

STOPPED_STEPS = "steps"  # every step of the budget ran
STOPPED_TIME = "time"  # the deadline came first
STOPPED_PLATEAU = "plateau"  # early stopping: validation stopped improving
STOPPED_EPOCHS = "epochs"  # the last epoch ended (no step budget)

# A run "still learning": validation accuracy rose by more than this over the last quarter of its
# epochs, and training accuracy is at or below validation accuracy.
STILL_RISING = 0.005
TAIL_SHARE = 0.25
UNTIL_DEADLINE = 100_000  # epochs asked of Keras when only the deadline ends a phase
# Early stopping watches a cosine schedule from this share of its steps on: before it the rate is
# high and validation loss stalls while the annealing that follows still gains: stopped there, a
# long run ends below a shorter run of the same config.
PLATEAU_FROM_COSINE = 0.5


def rate_at(
    schedule: ScheduleConfig, initial: float, step: int, total: int, steps_per_epoch: int
) -> float:
    """The learning rate before optimizer step `step` (0-based) of a phase of `total` steps."""
    if schedule.name == "constant":
        return initial
    if schedule.name == "exponential":
        every = max(1.0, schedule.decay_epochs * steps_per_epoch)
        return initial * schedule.decay_rate ** (step / every)
    total = max(1, total)
    warmup = min(total - 1, int(schedule.warmup_epochs * steps_per_epoch))
    if step < warmup:
        return initial * step / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return initial * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class PhasePlan:
    """What one phase may spend: steps (None: as many as `epochs` passes give) and a deadline on
    `clock` (None: no time limit)."""

    steps: int | None
    deadline: float | None = None


class Budget(keras.callbacks.Callback):
    """Sets the learning rate batch by batch and stops the phase at its budget (one `fit`; a
    later `fit` starts it again).

    The phase's total steps are the plan's `steps`; without them, Keras's epochs x batches an
    epoch, or, with a deadline, as many as fit. With a `deadline` the total is refitted after
    every epoch to the steps that still fit at the last epoch's pace (its batches and its
    validation together; the phase's first step, which builds the graph, left out), never above
    the plan's `steps`. `stopped` says why the phase ended.
    """

    def __init__(
        self,
        optimizer: OptimizerConfig,
        initial: float,
        plan: PhasePlan = PhasePlan(None),
        *,
        steps_per_epoch: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.schedule, self.initial = optimizer.schedule, initial
        self.cap, self.deadline = plan.steps, plan.deadline
        self.given_steps_per_epoch, self.clock = steps_per_epoch, clock

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.steps_per_epoch = self.given_steps_per_epoch or self.params.get("steps") or 1
        self.step = 0
        self.total = self.cap or (self.params.get("epochs") or 1) * self.steps_per_epoch
        self.by_time = False  # the total is what the deadline allows, not the plan's steps
        self.stopped: str | None = None
        self.epoch_started, self.epoch_first_step = self.clock(), 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch_started, self.epoch_first_step = self.clock(), self.step

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.model.optimizer.learning_rate = self.rate()

    def rate(self) -> float:
        """The learning rate of the next step."""
        return rate_at(self.schedule, self.initial, self.step, self.total, self.steps_per_epoch)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.step += 1
        if self.step == 1:  # the pace is measured from here: the first step traces the graph
            self.epoch_started, self.epoch_first_step = self.clock(), 1
        if self.step >= self.total:
            self._stop(self._reason())
        elif self.deadline is not None and self.clock() >= self.deadline:
            self._stop(STOPPED_TIME)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.deadline is None or self.stopped or self.step == self.epoch_first_step:
            return
        now = self.clock()
        pace = (now - self.epoch_started) / (self.step - self.epoch_first_step)
        fits = self.step + int(max(0.0, self.deadline - now) / pace)
        self.by_time = self.cap is None or fits < self.cap
        self.total = max(self.step, fits if self.by_time else self.cap)
        if self.step >= self.total:
            self._stop(STOPPED_TIME)

    def progress(self) -> float:
        """The share of the phase's total steps run."""
        return self.step / max(1, self.total)

    def _reason(self) -> str:
        if self.by_time:
            return STOPPED_TIME
        return STOPPED_STEPS if self.cap is not None else STOPPED_EPOCHS

    def _stop(self, reason: str) -> None:
        self.stopped = reason
        self.model.stop_training = True


class PlateauStop(keras.callbacks.EarlyStopping):
    """Early stopping on validation loss (best weights restored) that starts watching once the
    `budget`'s phase is PLATEAU_FROM_COSINE through a cosine schedule (from the start for the
    others, whose rate does not fall to an end)."""

    def __init__(self, budget: Budget, **settings) -> None:
        super().__init__(monitor="val_loss", restore_best_weights=True, **settings)
        self.budget = budget
        self.watch_from = PLATEAU_FROM_COSINE if budget.schedule.name == "cosine" else 0.0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.budget.progress() >= self.watch_from:
            super().on_epoch_end(epoch, logs)


def epochs_for(plan: PhasePlan, steps_per_epoch: int, epochs: int) -> int:
    """The epochs to ask `fit` for: enough for the plan's steps; without steps, `epochs`, or as
    many as time allows when there is a deadline (the Budget stops the phase)."""
    if plan.steps is not None:
        return math.ceil(plan.steps / steps_per_epoch)
    return UNTIL_DEADLINE if plan.deadline is not None else epochs


def still_learning(history: dict[str, Sequence[float]]) -> str | None:
    """Why a run that ended looks underfit (validation accuracy still rising over the last
    quarter of its epochs, training accuracy at or below validation), or None."""
    validation, training = history.get("val_accuracy"), history.get("accuracy")
    if not validation or not training or len(validation) < 4:
        return None
    tail = max(1, round(len(validation) * TAIL_SHARE))
    before, recent = max(validation[:-tail]), max(validation[-tail:])
    rise = recent - before
    if rise <= STILL_RISING or training[-1] > validation[-1]:
        return None
    return (
        f"validation accuracy rose {rise * 100:.1f} points over the last {tail} of "
        f"{len(validation)} epochs, and training accuracy ({training[-1]:.3f}) is at or below "
        f"it ({validation[-1]:.3f})"
    )


def underfit_advice(reason: str, stopped: str | None, minutes: float | None, steps: int) -> str:
    """The report's line for an underfit run: what was seen, and the budget to try next (twice
    the minutes when time ended it, else twice the steps it ran)."""
    more = (
        f"--minutes {2 * minutes:g}"
        if stopped == STOPPED_TIME and minutes
        else f"--steps {2 * steps}"
    )
    return (
        f"UNDERFIT: the run ended still learning: {reason}. It can learn more from this data: "
        f"give it a larger budget ({more}), or search one with --search 15m"
    )


def plan_phases(
    *,
    steps: int | None,
    epochs: int,
    minutes: float | None,
    fine_tune_steps: int,
    steps_per_epoch: int,
    started: float,
) -> tuple[PhasePlan, PhasePlan]:
    """The plans of phase 1 and of the fine-tuning phase (0 steps: none). `minutes` is shared
    between them in proportion to their nominal steps (phase 1's `steps`, else `epochs` passes);
    a phase that ends early leaves its time to the next."""
    first = steps or epochs * steps_per_epoch
    if minutes is None:
        return PhasePlan(steps), PhasePlan(fine_tune_steps)
    seconds = minutes * 60.0
    share = first / (first + fine_tune_steps)
    return (
        PhasePlan(steps, started + seconds * share),
        PhasePlan(fine_tune_steps, started + seconds),
    )
