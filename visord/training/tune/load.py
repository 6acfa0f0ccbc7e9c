"""Reading a tune config file: the settings, the base training config under them, the space checked
against that config, and `--set` overrides applied first. Every error names its key path, and the
command-line option instead of the file for a value the command line gave.

A `--set` key under `space.` names one searched training key, dots and all
(`space.optimizer.name=[adam, sgd]` is the parameter `optimizer.name`), or one field of a range
already in the space (`space.optimizer.learning_rate.high=0.1`); a key under `train.` is a dotted
training key laid over the base config.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from visord.training.config import (
    Override,
    TrainingConfigError,
    apply_overrides,
    as_overrides,
    load_config,
    parse_config,
    read_mapping,
)
from visord.training.tune.keys import check_space
from visord.training.tune.settings import TuneConfig, TuneSettings, parse_settings


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
        raise TrainingConfigError(
            f"{source}: give a training config as base: FILE and/or train: {{...}}"
        )
    raw = {}
    if settings.base is not None:
        raw = load_config(folder / settings.base).model_dump(mode="json")
    return deep_merge(raw, settings.train)


def space_override(override: Override, space: Any) -> Override:
    """An override of `space.A.B.C` as the path (space, "A.B.C"), or (space, "A.B", "C") when
    A.B is a range already in the space (C one of its fields: low, high, log, step, type)."""
    if override.path[0] != "space" or len(override.path) < 3:
        return override
    rest = override.path[1:]
    inner, field = ".".join(rest[:-1]), rest[-1]
    if isinstance(space, dict) and isinstance(space.get(inner), dict):
        return Override(("space", inner, field), override.value, override.origin)
    return Override(("space", ".".join(rest)), override.value, override.origin)


def load_tune_config(path: Path, overrides: Sequence[str | Override] | None = None) -> TuneConfig:
    """Reads and checks a tune config; `overrides` are `key=value` strings (`trials=10`,
    `train.epochs=3`, `space.batch_size=[16, 32]`)."""
    source = str(path)
    raw = read_mapping(path)
    parsed = [space_override(o, raw.get("space")) for o in as_overrides(overrides or [])]
    settings = parse_settings(apply_overrides(raw, parsed), source, parsed)
    base_raw = _base_raw(settings, Path(path).parent, source)
    train_overrides = [inner for o in parsed if (inner := o.within("train")) is not None]
    base = parse_config(base_raw, f"{source}: train", train_overrides)
    check_space(settings, base_raw, base, source, parsed)
    output = settings.output_dir or Path("tunes") / settings.name
    return TuneConfig(settings, base_raw, base, source, output, tuple(parsed))
