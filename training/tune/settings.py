"""The tune configuration: one YAML file validated into typed objects.

Owns the schema of `config/tune-*.yaml` and resolving it into a `TuneConfig`:
the base training config (a `base:` file and/or an inline `train:` mapping),
the search space (a list is a categorical choice; `{low, high, log, step}` a
range), the sampler, the evaluation (`cv`, `metric`), pruning, storage and
output folder. Every error names its key path, like the training config's.
Imports neither TensorFlow nor Optuna.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from training.config import (
    ConfigError, TrainConfig, apply_overrides, format_validation_error, load_config, parse_config, read_mapping,
)

Scalar = str | bool | int | float | None
METRICS = {"val_accuracy": "maximize", "val_loss": "minimize"}
_TAG_IN_PATH = re.compile(r"\.(?:choices|range)(?=[.:\[])")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Choices(_Strict):
    """A categorical parameter: one of the listed values (YAML scalars)."""

    choices: list[Any] = Field(min_length=1, description="The values to try.")

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: Any) -> Any:
        return {"choices": value} if isinstance(value, list) else value

    @field_validator("choices")
    @classmethod
    def _scalars(cls, values: list[Any]) -> list[Scalar]:
        for value in values:
            if not isinstance(value, Scalar):
                raise ValueError(f"values must be text, numbers, booleans or null, received {value!r}")
        typed = [(type(v).__name__, repr(v)) for v in values]  # 1 and True are different choices
        repeated = sorted({text for kind, text in typed if typed.count((kind, text)) > 1})
        if repeated:
            raise ValueError(f"values repeat: {', '.join(repeated)}")
        return values


class Range(_Strict):
    """A numeric range: ints when low, high (and step) are ints, else floats; `log` samples log-uniformly."""

    low: int | float = Field(description="Smallest value.")
    high: int | float = Field(description="Largest value.")
    log: bool = Field(False, description="Sample on a log scale (low must be > 0).")
    step: int | float | None = Field(None, gt=0, description="Spacing of the values (not with log).")
    type: Literal["int", "float"] | None = Field(None, description="Force int or float; inferred when absent.")

    @property
    def kind(self) -> str:
        if self.type:
            return self.type
        numbers = (self.low, self.high) if self.step is None else (self.low, self.high, self.step)
        return "int" if all(isinstance(n, int) for n in numbers) else "float"

    @model_validator(mode="after")
    def _consistent(self) -> Range:
        if not self.low < self.high:
            raise ValueError(f"low must be below high, received low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, received low={self.low}")
        if self.log and self.step is not None:
            raise ValueError("give either log or step, not both")
        if self.step is not None and self.step > self.high - self.low:
            raise ValueError(f"step={self.step} is wider than the range {self.low}..{self.high}")
        if self.kind == "int" and not all(float(n).is_integer() for n in (self.low, self.high, self.step or 1)):
            raise ValueError(
                f"type int needs whole numbers, received low={self.low}, high={self.high}, step={self.step}"
            )
        return self


def _param_tag(value: Any) -> str:
    if isinstance(value, (list, Choices)) or (isinstance(value, dict) and "choices" in value):
        return "choices"
    return "range"


Param = Annotated[
    Annotated[Choices, Tag("choices")] | Annotated[Range, Tag("range")], Discriminator(_param_tag)
]


class SamplerSettings(_Strict):
    name: str = Field("tpe", description="grid (every combination), random or tpe.")
    seed: int | None = Field(None, description="Seed: the same seed repeats the same parameters (one worker).")
    startup_trials: int = Field(10, ge=1, description="TPE: random trials before the model-based ones.")

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        from training.tune.samplers import SAMPLERS

        SAMPLERS.get(name)  # raises "Unknown sampler 'x'. Valid: grid, random, tpe"
        return name


class PruningSettings(_Strict):
    enabled: bool = Field(True, description="Stop trials whose per-epoch score is below the median of earlier ones.")
    startup_trials: int = Field(5, ge=0, description="Complete trials before any pruning.")
    warmup_epochs: int = Field(1, ge=0, description="Epochs of the first fold before a trial may be pruned.")


class TuneSettings(_Strict):
    name: str = Field("search", pattern=r"^[A-Za-z0-9_.-]+$", description="Study name (also in the storage).")
    base: Path | None = Field(None, description="Training config file, relative to this file.")
    train: dict[str, Any] = Field(default_factory=dict, description="Training keys laid over the base config.")
    space: dict[str, Param] = Field(min_length=1, description="Dotted training key -> list of values or range.")
    sampler: SamplerSettings = Field(default_factory=SamplerSettings)
    trials: int | None = Field(None, ge=1, description="Trials in the study; default: the grid's size, else 20.")
    cv: int = Field(1, ge=1, description="1 = hold-out (the config's validation split); k >= 2 = stratified k-fold.")
    metric: Literal["val_accuracy", "val_loss"] = Field("val_accuracy", description="What the search optimizes.")
    pruning: PruningSettings = Field(default_factory=PruningSettings)
    storage: str | None = Field(None, description="Optuna RDB URL or journal file; default OUTPUT/journal.log.")
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

    @property
    def storage(self) -> str | None:
        return self.settings.storage

    @property
    def budget(self) -> int:
        from training.tune.space import grid_size

        if self.settings.sampler.name == "grid":
            return min(self.settings.trials or grid_size(self.settings.space), grid_size(self.settings.space))
        return self.settings.trials or 20


def parse_settings(raw: dict[str, Any], source: str) -> TuneSettings:
    try:
        return TuneSettings.model_validate(raw)
    except ValidationError as error:
        # the union's tags ("choices", "range") are not keys the user wrote: leave them out of the path
        raise ConfigError(_TAG_IN_PATH.sub("", format_validation_error(error, source))) from None


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` laid onto a copy of `base`, section by section."""
    merged = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _base_raw(settings: TuneSettings, folder: Path, source: str) -> dict[str, Any]:
    if settings.base is None and not settings.train:
        raise ConfigError(f"{source}: give a training config as base: FILE and/or train: {{...}}")
    raw = {}
    if settings.base is not None:
        raw = load_config(folder / settings.base).model_dump(mode="json")
    return deep_merge(raw, settings.train)


def load_tune_config(path: Path, overrides: list[str] | None = None) -> TuneConfig:
    """Reads and checks a tune config; `overrides` are `key=value` strings (`trials=10`, `train.epochs=3`)."""
    from training.tune.keys import check_space

    source = str(path)
    settings = parse_settings(apply_overrides(read_mapping(path), overrides or []), source)
    base_raw = _base_raw(settings, Path(path).parent, source)
    base = parse_config(base_raw, f"{source}: train")
    check_space(settings, base_raw, base, source)
    output = settings.output_dir or Path("tunes") / settings.name
    return TuneConfig(settings, base_raw, base, source, output)
