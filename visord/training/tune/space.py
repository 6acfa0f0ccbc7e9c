"""The search space in Optuna's terms, and the training config of one trial.

Owns turning a parameter (choices or range) into an Optuna suggestion, and laying a trial's
parameters over the base config to get the `TrainConfig` it trains: each parameter a dotted
training key (a tune file's space), or as an `Expand` function says (a search whose parameters set
several keys at once, such as `visord train --search`'s augmentation strength).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import optuna

from visord.training.config import TrainConfig, parse_config, set_key
from visord.training.tune.params import Choices, Range, Space


def suggest(trial: optuna.Trial, key: str, param: Choices | Range) -> Any:
    """One parameter's value for this trial."""
    if isinstance(param, Choices):
        return trial.suggest_categorical(key, param.choices)
    if param.kind == "int":
        step = int(param.step or 1)
        return trial.suggest_int(key, int(param.low), int(param.high), step=step, log=param.log)
    return trial.suggest_float(
        key, float(param.low), float(param.high), step=param.step, log=param.log
    )


def sample(trial: optuna.Trial, space: Space) -> dict[str, Any]:
    """Every parameter's value for this trial, in the space's order."""
    return {key: suggest(trial, key, param) for key, param in space.items()}


# Sets a trial's parameters into a copy of the base config's raw mapping (in place).
Expand = Callable[[dict[str, Any], dict[str, Any]], None]


def set_keys(raw: dict[str, Any], params: dict[str, Any]) -> None:
    """The plain expansion: every parameter is a dotted training key."""
    for key, value in params.items():
        set_key(raw, key, value)


def trial_config(
    base_raw: dict[str, Any],
    params: dict[str, Any],
    source: str = "trial",
    expand: Expand | None = None,
) -> TrainConfig:
    """The base config with the trial's parameters set (by `expand`, else as dotted keys);
    TrainingConfigError for a combination that does not validate."""
    raw = copy.deepcopy(base_raw)
    (expand or set_keys)(raw, params)
    return parse_config(raw, source)
