"""Reading a tune config file: the settings, the base training config under them, the space checked
against that config, and `--set` overrides applied first. Every error names its key path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from visord.training.config import (
    ConfigError,
    apply_overrides,
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
        raise ConfigError(f"{source}: give a training config as base: FILE and/or train: {{...}}")
    raw = {}
    if settings.base is not None:
        raw = load_config(folder / settings.base).model_dump(mode="json")
    return deep_merge(raw, settings.train)


def load_tune_config(path: Path, overrides: list[str] | None = None) -> TuneConfig:
    """Reads and checks a tune config; `overrides` are `key=value` strings (`trials=10`,
    `train.epochs=3`)."""
    source = str(path)
    settings = parse_settings(apply_overrides(read_mapping(path), overrides or []), source)
    base_raw = _base_raw(settings, Path(path).parent, source)
    base = parse_config(base_raw, f"{source}: train")
    check_space(settings, base_raw, base, source)
    output = settings.output_dir or Path("tunes") / settings.name
    return TuneConfig(settings, base_raw, base, source, output)
