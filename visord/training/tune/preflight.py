"""Checks of a search space that need the registries (and so TensorFlow), before any trial.

Owns refusing, up front and naming the key, what would otherwise fail every
trial: an unknown architecture, loss or optimizer name among the choices, and
an `architecture_options.X` that an architecture the search can pick does not
take. (Combinations that only fail together, such as label smoothing with a
loss that has none, are left to fail as trials, with their reason.)
"""

from __future__ import annotations

from typing import Any

from visord.training.architectures.registry import ARCHITECTURES, options_of
from visord.training.config import Problem, TrainingConfigError
from visord.training.objectives import LOSSES, OPTIMIZERS
from visord.training.tune.params import Choices
from visord.training.tune.settings import TuneConfig

_NAMED = {"architecture": ARCHITECTURES, "loss.name": LOSSES, "optimizer.name": OPTIMIZERS}
_OPTION_PREFIX = "architecture_options."


def _problem(tune: TuneConfig, key: str, message: str) -> Problem:
    """A problem with space.KEY, blamed on the file or the `--set` option that gave it."""
    where = tune.where("space", key)
    return Problem(where, f"space.{key}", message, where != tune.source)


def _choices(tune: TuneConfig, key: str) -> list[Any]:
    param = tune.settings.space.get(key)
    return list(param.choices) if isinstance(param, Choices) else []


def _check_names(tune: TuneConfig) -> None:
    for key, registry in _NAMED.items():
        for name in _choices(tune, key):
            try:
                registry.get(name)
            except ValueError as error:  # "Unknown optimizer 'lion'. Valid: adam, ..."
                raise TrainingConfigError(_problem(tune, key, str(error))) from None


def _check_options(tune: TuneConfig) -> None:
    searched = [
        key.removeprefix(_OPTION_PREFIX)
        for key in tune.settings.space
        if key.startswith(_OPTION_PREFIX)
    ]
    for name in _choices(tune, "architecture") or [tune.base.architecture]:
        known = options_of(ARCHITECTURES.get(name))
        for option in searched:
            if option not in known:
                raise TrainingConfigError(
                    _problem(
                        tune,
                        f"{_OPTION_PREFIX}{option}",
                        f"architecture '{name}' has no option '{option}'; its options: "
                        f"{', '.join(known) or '(none)'}",
                    )
                )


def preflight(tune: TuneConfig) -> None:
    """Raises TrainingConfigError naming the space key whose values no trial could train."""
    _check_names(tune)
    _check_options(tune)
