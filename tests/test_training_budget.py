"""A training run's budget: the schedule fitted to it, a phase stopped at its steps or its deadline,
the underfit verdict, and `visord train --minutes` / `--steps` end to end."""

from __future__ import annotations

import json
import math

import keras
import numpy as np
import pytest

from visord.testing.quadrants import tiny_config
from visord.training.budget import (
    STOPPED_EPOCHS,
    STOPPED_STEPS,
    STOPPED_TIME,
    Budget,
    PhasePlan,
    PlateauStop,
    plan_phases,
    rate_at,
    still_learning,
)
from visord.training.config import OptimizerConfig, ScheduleConfig
from visord.training.train import train


@pytest.mark.parametrize(
    "schedule",
    [
        {"name": "cosine"},
        {"name": "cosine", "warmup_epochs": 1},
        {"name": "exponential", "decay_epochs": 1},
    ],
)
def test_schedules_decay_over_the_phase(schedule):
    config = ScheduleConfig(**schedule)
    rates = [rate_at(config, 0.1, step, 40, 10) for step in range(40)]
    assert max(rates) <= 0.1 + 1e-9 and rates[-1] < rates[12] < 0.1
    if schedule["name"] == "cosine":
        assert rates[-1] < 0.001  # the schedule ends where the budget does
    if schedule.get("warmup_epochs"):
        assert rates[0] == 0 and rates[5] == pytest.approx(0.05)


def test_constant_rate_and_phase_plans():
    assert rate_at(ScheduleConfig(name="constant"), 0.01, 999, 10, 5) == 0.01
    first, fine = plan_phases(
        steps=300, epochs=10, minutes=2.0, fine_tune_steps=100, steps_per_epoch=10, started=50.0
    )
    assert first == PhasePlan(300, 50.0 + 90.0) and fine == PhasePlan(100, 50.0 + 120.0)
    first, fine = plan_phases(
        steps=None, epochs=4, minutes=None, fine_tune_steps=0, steps_per_epoch=10, started=0.0
    )
    assert first == PhasePlan(None) and fine == PhasePlan(0)


class FakeClock:
    """One second a training step: the time is the steps the budget has counted."""

    def __init__(self) -> None:
        self.budget: Budget | None = None

    def __call__(self) -> float:
        return float(self.budget.step) if self.budget is not None else 0.0


def _fit(budget: Budget, epochs: int) -> dict:
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(48, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    return model.fit(
        x, y, batch_size=16, epochs=epochs, callbacks=[budget], verbose=0, shuffle=False
    ).history  # 3 steps an epoch


def test_a_phase_stops_at_its_steps_mid_epoch():
    budget = Budget(OptimizerConfig(learning_rate=0.1), 0.1, PhasePlan(7), steps_per_epoch=3)
    history = _fit(budget, epochs=3)
    assert budget.step == 7 and budget.stopped == STOPPED_STEPS and len(history["loss"]) == 3


def test_without_steps_a_phase_runs_its_epochs():
    budget = Budget(OptimizerConfig(learning_rate=0.1), 0.1, steps_per_epoch=3)
    _fit(budget, epochs=2)
    assert budget.step == 6 and budget.stopped == STOPPED_EPOCHS


def test_a_deadline_stops_the_phase_and_the_schedule_is_fitted_to_it():
    clock = FakeClock()
    optimizer = OptimizerConfig(learning_rate=0.1, schedule={"name": "cosine"})
    budget = Budget(optimizer, 0.1, PhasePlan(100, deadline=10.5), steps_per_epoch=3, clock=clock)
    clock.budget = budget
    rates = []
    keras_callback = keras.callbacks.LambdaCallback(
        on_train_batch_begin=lambda batch, logs: rates.append(budget.rate())
    )
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(48, 4)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    model.fit(
        x,
        (x[:, 0] > 0).astype("int32"),
        batch_size=16,
        epochs=40,
        callbacks=[budget, keras_callback],
        verbose=0,
    )
    # 1 s a step: after the first epoch 3 steps took 3 s, so 7 more fit before 10.5 s.
    assert budget.stopped == STOPPED_TIME and budget.step == 10 and budget.total == 10
    assert rates[2] > 0.09 and rates[-1] < 0.01  # the cosine ends with the time, not at step 100


@pytest.mark.parametrize(("schedule", "stops_at"), [("cosine", 6), ("constant", 2)])
def test_early_stopping_watches_a_cosine_schedule_from_half_way(schedule, stops_at):
    """Validation loss flat from the first epoch, patience 2, 10 epochs of 3 steps: plain early
    stopping ends the phase at epoch 3; in a cosine schedule the watch starts at step 15 (epoch
    5, index 4), so the phase ends two epochs after it."""
    optimizer = OptimizerConfig(learning_rate=0.1, schedule={"name": schedule})
    budget = Budget(optimizer, 0.1, PhasePlan(30), steps_per_epoch=3)
    stop = PlateauStop(budget, patience=2)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.stop_training = False  # as fit() sets it
    stop.set_model(model)
    budget.set_model(model)
    budget.params = {"steps": 3, "epochs": 10}
    budget.on_train_begin()
    stop.on_train_begin()
    for epoch in range(10):
        budget.step = 3 * (epoch + 1)
        stop.on_epoch_end(epoch, {"val_loss": 1.0})
        if model.stop_training:
            break
    assert model.stop_training and epoch == stops_at


@pytest.mark.parametrize(
    ("validation", "training", "underfit"),
    [
        (
            [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93],
            [0.4, 0.5, 0.6, 0.7, 0.7, 0.8, 0.85, 0.9],
            True,
        ),
        (
            [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93],
            [0.5, 0.6, 0.7, 0.8, 0.9, 0.9, 0.95, 0.99],
            False,
        ),
        (
            [0.5, 0.8, 0.9, 0.93, 0.93, 0.93, 0.93, 0.93],
            [0.4, 0.5, 0.6, 0.7, 0.7, 0.8, 0.85, 0.9],
            False,
        ),
        ([0.5, 0.6], [0.4, 0.5], False),  # too few epochs to say
    ],
    ids=["still-rising", "training-above-validation", "flat-at-the-end", "two-epochs"],
)
def test_still_learning(validation, training, underfit):
    reason = still_learning({"val_accuracy": validation, "accuracy": training})
    assert (reason is not None) == underfit
    if underfit:
        assert "rose 8.0 points over the last 2 of 8 epochs" in reason


def test_minutes_budget_stops_on_time(quadrants, tmp_path):
    config = tiny_config(
        quadrants, tmp_path, {"epochs": 10_000, "minutes": 0.05, "steps_per_epoch": 2}
    )
    result = train(config, verbose=0)
    report = json.loads((result.folder / "report.json").read_text())
    (phase,) = report["training"]["phases"]
    assert phase["stopped"] == STOPPED_TIME and 0 < phase["steps"] < 20_000
    assert report["training"]["minutes_budget"] == 0.05


def test_steps_budget_replaces_epochs(quadrants, tmp_path):
    result = train(tiny_config(quadrants, tmp_path, {"epochs": 50, "steps": 9}), verbose=0)
    training = result.report["training"]
    assert training["phases"] == [{"steps": 9, "stopped": STOPPED_STEPS}]
    images = sum(json.loads((result.folder / "data.json").read_text())["train"].values())
    assert training["epochs"] == math.ceil(9 / math.ceil(images / 16)) < 50


def test_the_underfit_line_asks_for_twice_the_budget_that_ended_the_run():
    from visord.training.budget import underfit_advice

    by_steps = underfit_advice("still rising", STOPPED_STEPS, None, steps=120)
    assert by_steps.startswith("UNDERFIT: the run ended still learning: still rising")
    assert "--steps 240" in by_steps and "\n" not in by_steps
    assert "--minutes 10" in underfit_advice("still rising", STOPPED_TIME, 5.0, steps=120)
