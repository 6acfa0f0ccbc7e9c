"""Checks that a search space fits the training config, before any trial runs.

Owns two checks, both TensorFlow-free: every searched key exists in the
training config's schema (walking the pydantic models; free-form mappings such
as `architecture_options` take any sub-key), and every value a parameter can
take (each choice, each end of a range) validates when set into the base
config. A grid search also refuses continuous ranges here.
"""

from __future__ import annotations

import copy
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from visord.training.config import (
    Override,
    Problem,
    TrainConfig,
    TrainingConfigError,
    blame,
    did_you_mean,
    parse_config,
    set_key,
)
from visord.training.tune.params import Choices, Range
from visord.training.tune.settings import TuneSettings


def _is_section(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _section(annotation: Any) -> type[BaseModel] | None:
    """The section a field holds: its model, also when it is optional (`distill`), else None."""
    if _is_section(annotation):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        sections = [arg for arg in typing.get_args(annotation) if _is_section(arg)]
        return sections[0] if len(sections) == 1 else None
    return None


def _takes_mapping(annotation: Any) -> bool:
    if typing.get_origin(annotation) is dict:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_takes_mapping(arg) for arg in typing.get_args(annotation))
    return False


def check_key(key: str) -> None:
    """Raises ValueError unless `key` (dotted) names a value of the training config."""
    model: type[BaseModel] = TrainConfig
    parts = key.split(".")
    for index, part in enumerate(parts):
        where = ".".join(parts[:index]) or "the training config"
        if part not in model.model_fields:
            raise ValueError(
                f"'{part}' is not a key of {where}; {did_you_mean(part, list(model.model_fields))}"
            )
        annotation, rest = model.model_fields[part].annotation, parts[index + 1 :]
        section = _section(annotation)
        if section and rest:
            model = section
            continue
        if section:
            raise ValueError(
                f"'{key}' is a section; search one of its keys: {', '.join(section.model_fields)}"
            )
        if rest and not (_takes_mapping(annotation) and len(rest) == 1):
            raise ValueError(f"'{'.'.join(parts[: index + 1])}' is a value, not a section")
        return


def candidate_values(param: Choices | Range) -> list[Any]:
    """The values worth validating: every choice, or both ends of a range."""
    if isinstance(param, Choices):
        return list(param.choices)
    cast = int if param.kind == "int" else float
    return [cast(param.low), cast(param.high)]


def _where(key: str, source: str, overrides: Sequence[Override]) -> tuple[str, bool]:
    """The file, or the command-line option that set space.KEY; and whether it was the latter."""
    culprit = blame(("space", key), overrides)
    return (culprit.origin, True) if culprit else (source, False)


def check_value(
    base_raw: dict[str, Any],
    key: str,
    value: Any,
    source: str,
    overrides: Sequence[Override] = (),
) -> None:
    """Raises TrainingConfigError when the base config with `key` set to `value` does not
    validate."""
    raw = copy.deepcopy(base_raw)
    set_key(raw, key, value)
    where, command_line = _where(key, source, overrides)
    try:
        parse_config(raw, f"{where}: space.{key}={value!r} gives an invalid training config")
    except TrainingConfigError as error:
        raise TrainingConfigError(
            [Problem(p.where, p.key, p.message, command_line) for p in error.problems]
        ) from None


def check_grid(settings: TuneSettings, source: str, overrides: Sequence[Override] = ()) -> None:
    """A grid needs every parameter enumerable: a list, or an int range without log."""
    for key, param in settings.space.items():
        if isinstance(param, Range) and (param.kind == "float" or param.log):
            where, command_line = _where(key, source, overrides)
            raise TrainingConfigError(
                Problem(
                    where,
                    f"space.{key}",
                    "the grid sampler needs values it can enumerate, received the continuous "
                    f"range {param.model_dump(exclude_none=True)}; give the values as a list, "
                    "e.g. [0.0001, 0.001, 0.01]",
                    command_line,
                )
            )


def check_space(
    settings: TuneSettings,
    base_raw: dict[str, Any],
    base: TrainConfig,
    source: str,
    overrides: Sequence[Override] = (),
) -> None:
    """Every key exists, every value validates; grids are enumerable; k-fold has one data folder.

    Each error names the file, or the `--set` option that gave the key.
    """
    for key, param in settings.space.items():
        try:
            check_key(key)
        except ValueError as error:
            where, command_line = _where(key, source, overrides)
            raise TrainingConfigError(
                Problem(where, f"space.{key}", f"unknown training key: {error}", command_line)
            ) from None
        for value in candidate_values(param):
            check_value(base_raw, key, value, source, overrides)
    if settings.sampler.name == "grid":
        check_grid(settings, source, overrides)
    if settings.cv > 1 and base.data.validation_path is not None:
        raise TrainingConfigError(
            f"{source}: cv: {settings.cv} makes folds of data.path; remove data.validation_path "
            "from the training config, or use cv: 1 to validate on that folder"
        )
