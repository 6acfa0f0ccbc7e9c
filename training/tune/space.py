"""The search space in Optuna's terms, and the training config of one trial.

Owns turning a parameter (choices or range) into an Optuna suggestion,
enumerating a grid's combinations, and laying a trial's parameters (dotted
training keys) over the base config to get the `TrainConfig` it trains.
"""

from __future__ import annotations

import copy
import itertools
import math
from typing import Any

import optuna

from training.config import TrainConfig, parse_config, set_key
from training.tune.settings import Choices, Range

Space = dict[str, Choices | Range]


def suggest(trial: optuna.Trial, key: str, param: Choices | Range) -> Any:
    """One parameter's value for this trial."""
    if isinstance(param, Choices):
        return trial.suggest_categorical(key, param.choices)
    if param.kind == "int":
        step = int(param.step or 1)
        return trial.suggest_int(key, int(param.low), int(param.high), step=step, log=param.log)
    return trial.suggest_float(key, float(param.low), float(param.high), step=param.step, log=param.log)


def sample(trial: optuna.Trial, space: Space) -> dict[str, Any]:
    """Every parameter's value for this trial, in the space's order."""
    return {key: suggest(trial, key, param) for key, param in space.items()}


def values_of(param: Choices | Range) -> list[Any]:
    """An enumerable parameter's values (choices, or an int range by its step)."""
    if isinstance(param, Choices):
        return list(param.choices)
    return list(range(int(param.low), int(param.high) + 1, int(param.step or 1)))


def grid(space: Space) -> list[dict[str, Any]]:
    """Every combination, the first key varying slowest."""
    keys = list(space)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(values_of(space[k]) for k in keys))]


def grid_size(space: Space) -> int:
    return math.prod(len(values_of(param)) for param in space.values())


def trial_config(base_raw: dict[str, Any], params: dict[str, Any], source: str = "trial") -> TrainConfig:
    """The base config with the trial's parameters set; ConfigError for a combination that does not validate."""
    raw = copy.deepcopy(base_raw)
    for key, value in params.items():
        set_key(raw, key, value)
    return parse_config(raw, source)
