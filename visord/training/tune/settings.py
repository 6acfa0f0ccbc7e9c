"""The tune configuration's schema: one YAML file's sections as typed objects.

Owns the schema of `config/tune-*.yaml` and resolving it into a `TuneConfig`:
the base training config (a `base:` file and/or an inline `train:` mapping),
the search space (a list is a categorical choice; `{low, high, log, step}` a
range), the sampler, the evaluation (`cv`, `metric`), pruning, storage and
output folder. Every error names its key path, like the training config's.
Imports neither TensorFlow nor Optuna.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    ValidationError,
    field_validator,
)

from visord.training.config import (
    Override,
    Problem,
    TrainConfig,
    TrainingConfigError,
    blame,
    validation_problems,
)
from visord.training.tune.params import Param, Strict, grid_size
from visord.training.tune.samplers import SAMPLERS

METRICS = {"val_accuracy": "maximize", "val_loss": "minimize"}
# A parameter's list is the `choices` field of Choices: not a key the user wrote.
_CHOICES_FIELD = re.compile(r"\.choices(?=[.\[]|$)")


class SamplerSettings(Strict):
    name: str = Field("tpe", description="grid (every combination), random or tpe.")
    seed: int | None = Field(
        None, description="Seed: the same seed repeats the same parameters (one worker)."
    )
    startup_trials: int = Field(
        10, ge=1, description="TPE: random trials before the model-based ones."
    )

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        SAMPLERS.get(name)  # raises "Unknown sampler 'x'. Valid: grid, random, tpe"
        return name


class PruningSettings(Strict):
    enabled: bool = Field(
        True, description="Stop trials whose per-epoch score is below the median of earlier ones."
    )
    startup_trials: int = Field(5, ge=0, description="Complete trials before any pruning.")
    warmup_epochs: int = Field(
        1, ge=0, description="Epochs of the first fold before a trial may be pruned."
    )


class TuneSettings(Strict):
    name: str = Field(
        "search", pattern=r"^[A-Za-z0-9_.-]+$", description="Study name (also in the storage)."
    )
    base: Path | None = Field(None, description="Training config file, relative to this file.")
    train: dict[str, Any] = Field(
        default_factory=dict, description="Training keys laid over the base config."
    )
    space: dict[str, Param] = Field(
        min_length=1, description="Dotted training key -> list of values or range."
    )
    sampler: SamplerSettings = Field(default_factory=SamplerSettings)
    trials: int | None = Field(
        None, ge=1, description="Trials in the study; default: the grid's size, else 20."
    )
    cv: int = Field(
        1,
        ge=1,
        description="1 = hold-out (the config's validation split); k >= 2 = stratified k-fold.",
    )
    metric: Literal["val_accuracy", "val_loss"] = Field(
        "val_accuracy", description="What the search optimizes."
    )
    pruning: PruningSettings = Field(default_factory=PruningSettings)
    storage: str | None = Field(
        None, description="Optuna RDB URL or journal file; default OUTPUT/journal.log."
    )
    output_dir: Path | None = Field(None, description="Study folder; default tunes/NAME.")

    @property
    def direction(self) -> str:
        return METRICS[self.metric]


@dataclass
class TuneConfig:
    """A validated search: its settings, the base training config, and where it lives."""

    settings: TuneSettings
    base_raw: dict[str, Any]
    base: TrainConfig
    source: str
    output_dir: Path
    overrides: tuple[Override, ...] = ()
    # How a trial's parameters are set into the base config (`visord.training.tune.space.Expand`);
    # None: each parameter is a dotted training key, as in a tune file's space.
    expand: Callable[[dict[str, Any], dict[str, Any]], None] | None = None

    def where(self, *path: str) -> str:
        """Where the value at `path` came from: the command-line option that set it, else the
        file."""
        culprit = blame(path, self.overrides)
        return culprit.origin if culprit else self.source

    @property
    def storage(self) -> str | None:
        return self.settings.storage

    @property
    def budget(self) -> int:
        if self.settings.sampler.name == "grid":
            return min(
                self.settings.trials or grid_size(self.settings.space),
                grid_size(self.settings.space),
            )
        return self.settings.trials or 20


def parse_settings(
    raw: dict[str, Any], source: str, overrides: Sequence[Override] = ()
) -> TuneSettings:
    """Validates a tune file's mapping (with `overrides` applied); TrainingConfigError with one line
    per bad key otherwise."""
    try:
        return TuneSettings.model_validate(raw)
    except ValidationError as error:
        problems = [
            Problem(p.where, _CHOICES_FIELD.sub("", p.key), p.message, p.command_line)
            for p in validation_problems(error, source, TuneSettings, overrides)
        ]
        raise TrainingConfigError(problems) from None
