"""The training configuration: one YAML file validated into typed objects.

Owns the schema of `config/train-*.yaml`, loading it with command-line overrides (`--set
key=value` and the flags that stand for keys), and turning validation errors into one line per
bad key that names where the value came from (the file, or the option the user typed) and the key
path, with a did-you-mean for a misspelt key. `visord.training.tune` reports its errors the same
way. Imports no TensorFlow, so `visord train --help` and config errors stay instant.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration: where it came from, its key path, and what is wrong.

    `where` is the config file (or the section of it) or, for a value given on the command line,
    the option as the user typed it (`--set optimizer.name=sgd`, `--epochs 0`).
    """

    where: str
    key: str
    message: str
    command_line: bool = False

    def __str__(self) -> str:
        return ": ".join(part for part in (self.where, self.key, self.message) if part)


class TrainingConfigError(ValueError):
    """A training or tune configuration that cannot be used: one line per problem, each naming
    where the value came from and its key path."""

    def __init__(self, problems: str | Problem | Sequence[Problem], command_line: bool = False):
        if isinstance(problems, str):
            problems = [Problem("", "", problems, command_line)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @property
    def command_line(self) -> bool:
        """True when every problem is in a value the command line gave (a usage error)."""
        return all(problem.command_line for problem in self.problems)


@dataclass(frozen=True)
class Override:
    """A config value given on the command line: its key path, the value, and the option the user
    typed (named in errors instead of the config file)."""

    path: tuple[str, ...]
    value: Any
    origin: str

    @property
    def key(self) -> str:
        return ".".join(self.path)

    def within(self, section: str) -> Override | None:
        """The same override relative to `section` (`train.epochs` -> `epochs`), or None."""
        if len(self.path) > 1 and self.path[0] == section:
            return Override(self.path[1:], self.value, self.origin)
        return None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    path: Path = Field(description="Folder with one sub-folder of images per class.")
    image_size: tuple[int, int] = Field(
        (96, 96), description="(height, width) images are resized to."
    )
    color_mode: Literal["rgb", "grayscale"] = Field("rgb", description="Channels fed to the model.")
    validation_split: float = Field(
        0.2,
        ge=0.0,
        lt=1.0,
        description="Share of each class held out (stratified) when no validation_path.",
    )
    validation_path: Path | None = Field(
        None, description="Separate validation folder, same class folders."
    )
    cache: bool = Field(True, description="Keep decoded images in memory after the first epoch.")
    min_per_class: int = Field(
        10,
        ge=1,
        description="Refuse to train when a class has fewer images: a model cannot learn it, and "
        "its validation figure would mean nothing.",
    )
    name: str | None = Field(
        None,
        description="The data set's name in the exported manifest; default: the folder's name.",
    )

    @field_validator("image_size")
    @classmethod
    def _positive_size(cls, value: tuple[int, int]) -> tuple[int, int]:
        if min(value) < 8:
            raise ValueError(f"must be at least 8x8 pixels, received {list(value)}")
        return value


class AugmentationConfig(_Strict):
    """ImageDataGenerator's familiar parameters, applied as Keras random layers in training only."""

    rotation_range: float = Field(0.0, ge=0, le=180, description="Maximum rotation in degrees.")
    width_shift_range: float = Field(
        0.0, ge=0, lt=1, description="Maximum horizontal shift, share of width."
    )
    height_shift_range: float = Field(
        0.0, ge=0, lt=1, description="Maximum vertical shift, share of height."
    )
    shear_range: float = Field(0.0, ge=0, lt=80, description="Maximum shear angle in degrees.")
    zoom_range: float = Field(0.0, ge=0, lt=1, description="Zoom in or out by up to this share.")
    horizontal_flip: bool = Field(False, description="Mirror left-right at random.")
    vertical_flip: bool = Field(False, description="Mirror top-bottom at random.")
    brightness: float = Field(
        0.0, ge=0, le=1, description="Add up to this share of full scale to brightness."
    )
    fill_mode: Literal["nearest", "reflect", "wrap", "constant"] = Field(
        "nearest", description="How pixels outside the image are filled."
    )


class LossConfig(_Strict):
    name: str = Field(
        "sparse_categorical_crossentropy", description="See `visord train --list-losses`."
    )
    label_smoothing: float = Field(
        0.0, ge=0, lt=1, description="Label smoothing (cross-entropy losses)."
    )


class ScheduleConfig(_Strict):
    name: Literal["constant", "cosine", "exponential"] = Field(
        "constant", description="Learning-rate schedule."
    )
    decay_rate: float = Field(0.5, gt=0, le=1, description="Exponential: factor per decay_epochs.")
    decay_epochs: float = Field(5.0, gt=0, description="Exponential: epochs per decay step.")
    warmup_epochs: float = Field(0.0, ge=0, description="Cosine: linear warm-up length.")


class OptimizerConfig(_Strict):
    name: str = Field("adam", description="See `visord train --list-optimizers`.")
    learning_rate: float = Field(1e-3, gt=0, description="Initial learning rate.")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD and RMSprop momentum.")
    nesterov: bool = Field(False, description="SGD: Nesterov momentum.")
    weight_decay: float = Field(1e-4, ge=0, description="AdamW decoupled weight decay.")
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)


class EarlyStoppingConfig(_Strict):
    enabled: bool = Field(
        False,
        description="Stop when val_loss stops improving (watched from half-way through a cosine "
        "schedule; best weights restored).",
    )
    patience: int = Field(5, ge=1, description="Epochs without improvement before stopping.")
    min_delta: float = Field(0.0, ge=0, description="Smallest change that counts as improvement.")


class FineTuneConfig(_Strict):
    """Phase 2 of transfer learning: unfreeze the top of the backbone at a lower learning rate."""

    layers: int = Field(
        0,
        ge=0,
        description="Top backbone layers to unfreeze (BatchNorm stays frozen); 0 = no phase 2.",
    )
    epochs: int = Field(0, ge=0, description="Epochs of phase 2.")
    learning_rate: float = Field(1e-5, gt=0, description="Learning rate of phase 2.")


# The losses whose hard-label term is cross-entropy: the ones distillation can stand in for.
CROSS_ENTROPY_LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy")


class DistillConfig(_Strict):
    """Knowledge distillation: the student learns from a trained teacher's probabilities as well
    as from the hard labels (`visord.training.distill`).

    The teacher's folder is checked when training starts, not here: the run folder keeps this
    section in its config.yaml, and `visord export` must load that config where the teacher is
    gone or the path means something else.
    """

    teacher: Path = Field(
        description="The teacher's run folder (model.keras, labels.json, config.yaml); its "
        "classes must be the student's, in the same order."
    )
    temperature: float = Field(
        4.0, gt=0, description="T: both distributions are softened as softmax(log p / T)."
    )
    alpha: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Weight of the hard-label cross-entropy; 1 - alpha weighs "
        "T^2 * KL(teacher_T || student_T).",
    )


class TrainConfig(_Strict):
    name: str = Field("model", pattern=r"^[A-Za-z0-9_.-]+$", description="Run and model name.")
    data: DataConfig
    architecture: str = Field("dnn", description="See `visord train --list-architectures`.")
    architecture_options: dict[str, Any] = Field(
        default_factory=dict, description="Keyword options of the builder."
    )
    augmentation: AugmentationConfig = Field(default_factory=AugmentationConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    batch_size: int = Field(32, ge=1, description="Images per training step.")
    epochs: int = Field(
        10,
        ge=1,
        description="Passes over the training set (phase 1 for transfer models), when `steps` "
        "is not set.",
    )
    steps: int | None = Field(
        None,
        ge=1,
        description="Optimizer steps of phase 1: the training budget, whatever the folder's size "
        "(the learning-rate schedule runs over exactly these steps); replaces `epochs`.",
    )
    minutes: float | None = Field(
        None,
        gt=0,
        description="Wall-clock budget of the whole training (both phases): the run stops when "
        "it is spent, and the schedule is fitted to the steps that fit, measured as it runs.",
    )
    steps_per_epoch: int | None = Field(
        None, ge=1, description="Cap on steps per epoch (smoke runs)."
    )
    early_stopping: EarlyStoppingConfig = Field(default_factory=EarlyStoppingConfig)
    freeze_backbone: bool | Literal["auto"] = Field(
        "auto",
        description="Phase 1 trains only the head of a transfer model; auto = when it has "
        "pretrained weights.",
    )
    fine_tune: FineTuneConfig = Field(default_factory=FineTuneConfig)
    class_weight: Literal["none", "balanced"] | dict[str, float] = Field(
        "none",
        description="'balanced' weighs classes by inverse frequency; or a weight per class name.",
    )
    distill: DistillConfig | None = Field(
        None, description="Learn from a teacher run's soft labels too; None = plain training."
    )
    seed: int = Field(
        1337, description="Seed for splits, shuffling, augmentation and initialisation."
    )
    output_dir: Path = Field(Path("runs"), description="Run folders are created under it.")

    @field_validator("distill")
    @classmethod
    def _cross_entropy(cls, value: DistillConfig | None, info: ValidationInfo):
        loss = info.data.get("loss")
        if value is not None and loss is not None and loss.name not in CROSS_ENTROPY_LOSSES:
            raise ValueError(
                f"distillation replaces a cross-entropy loss, but loss.name is '{loss.name}'; "
                f"use {' or '.join(CROSS_ENTROPY_LOSSES)}"
            )
        return value

    @model_serializer(mode="wrap")
    def _without_plain_distill(self, handler):
        # A plain run dumps no `distill: null`: its config.yaml, and the fingerprint a tune study
        # keeps of its base config, stay as they were before distillation existed.
        data = handler(self)
        if self.distill is None:
            data.pop("distill", None)
        return data


def _members(annotation: Any) -> list[Any]:
    """The alternatives of a union type (Annotated members kept, None left out); else [it]."""
    if typing.get_origin(annotation) is typing.Annotated:
        inner = typing.get_args(annotation)[0]
        if typing.get_origin(inner) in (typing.Union, types.UnionType):
            return _members(inner)
        return [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [
            m for arg in typing.get_args(annotation) if arg is not type(None) for m in _members(arg)
        ]
    return [annotation]


def _bare(annotation: Any) -> Any:
    return (
        typing.get_args(annotation)[0]
        if typing.get_origin(annotation) is typing.Annotated
        else annotation
    )


def _tag(annotation: Any) -> str | None:
    if typing.get_origin(annotation) is not typing.Annotated:
        return None
    return next((m.tag for m in annotation.__metadata__ if isinstance(m, Tag)), None)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _walk(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> tuple[list[Any], Any]:
    """The parts of a pydantic error location a user wrote (without the labels pydantic adds for
    the members of a union), and the model the last part belongs to (None when unknown)."""
    shown: list[Any] = []
    annotation: Any = model
    parent: Any = None
    for part in loc:
        members = _members(annotation) if annotation is not None else []
        if len(members) > 1:  # pydantic names the union member tried: not a key of the user's
            chosen = [m for m in members if _tag(m) == part]
            models = [_bare(m) for m in members if _is_model(_bare(m))]
            annotation = _bare(chosen[0]) if chosen else (models[0] if len(models) == 1 else None)
            continue
        bare = _bare(members[0]) if members else None
        shown.append(part)
        parent = bare if _is_model(bare) else None
        if parent is not None and isinstance(part, str) and part in parent.model_fields:
            annotation = parent.model_fields[part].annotation
        elif typing.get_origin(bare) is dict:
            annotation = typing.get_args(bare)[1]
        else:
            annotation = None
    return shown, parent


def _dotted(parts: Sequence[Any]) -> str:
    return ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in parts).replace(
        ".[", "["
    )


def did_you_mean(key: str, known: Sequence[str]) -> str:
    """'did you mean X?' for the known key closest to a misspelt one, else the known keys."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(known)}"


def blame(path: Sequence[Any], overrides: Sequence[Override]) -> Override | None:
    """The command-line override a problem at `path` comes from: the last one that set this key, a
    key inside it, or the section holding it; None when the value came from the file."""
    path = tuple(str(p) for p in path)
    for override in reversed(overrides):
        common = min(len(path), len(override.path))
        if common and path[:common] == override.path[:common]:
            return override
    return None


def validation_problems(
    error: ValidationError,
    source: str,
    model: type[BaseModel] | None = None,
    overrides: Sequence[Override] = (),
) -> list[Problem]:
    """One Problem per bad key (messages of one key joined), each blamed on the file `source` or
    on the command-line option its value came from; a misspelt key gets a did-you-mean."""
    grouped: dict[tuple[str, str], Problem] = {}
    for item in error.errors():
        loc = tuple(item["loc"])
        shown, parent = _walk(model, loc)
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden" and parent is not None:
            message = f"unknown key; {did_you_mean(str(shown[-1]), list(parent.model_fields))}"
        culprit = blame(shown, overrides)
        where = culprit.origin if culprit else source
        key = _dotted(shown)
        if (where, key) in grouped:
            earlier = grouped[(where, key)]
            message = f"{earlier.message}; {message}"
        grouped[(where, key)] = Problem(where, key, message, culprit is not None)
    return list(grouped.values())


def parse_config(
    raw: dict[str, Any], source: str = "<config>", overrides: Sequence[Override] = ()
) -> TrainConfig:
    """Validates a mapping; a TrainingConfigError lists every problem with its key path, blaming
    the `overrides` (already applied to `raw`) for the values they set."""
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as error:
        raise TrainingConfigError(
            validation_problems(error, source, TrainConfig, overrides)
        ) from None


def set_path(raw: dict[str, Any], path: Sequence[str], value: Any, origin: str = "") -> None:
    """Sets `raw[path[0]][path[1]]... = value`, creating sections."""
    node = raw
    *parents, leaf = path
    for index, part in enumerate(parents):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            section = ".".join(path[: index + 1])
            raise TrainingConfigError(
                Problem(
                    origin,
                    ".".join(path),
                    f"{section} is a value ({child!r}), not a section with keys",
                    bool(origin),
                )
            )
        node = child
    node[leaf] = value


def set_key(raw: dict[str, Any], key: str, value: Any) -> None:
    """Sets a dotted key (`optimizer.learning_rate`) in a nested mapping, creating sections."""
    set_path(raw, key.split("."), value)


def parse_override(item: str) -> Override:
    """`a.b.c=value` (the value read as YAML) as typed after `--set`."""
    key, sep, text = item.partition("=")
    origin = f"--set {item}"
    if not sep or not key or "" in key.split("."):
        raise TrainingConfigError(
            f"{origin}: expected KEY=VALUE with a dotted key, e.g. "
            "--set optimizer.learning_rate=0.01",
            command_line=True,
        )
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or "cannot be read"
        raise TrainingConfigError(
            f"{origin}: the value is not valid YAML ({problem})", command_line=True
        ) from None
    return Override(tuple(key.split(".")), value, origin)


def as_overrides(items: Sequence[str | Override]) -> list[Override]:
    """`--set` strings parsed; Override objects (from flags such as `--epochs`) kept as they are."""
    return [item if isinstance(item, Override) else parse_override(item) for item in items]


# A budget given on the command line replaces the file's: `--minutes 10` (or `--set epochs=5`)
# on a recipe of 3,000 steps means ten minutes (five passes), not whichever ends first.
BUDGET_REPLACES = {"minutes": "steps", "epochs": "steps"}


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str | Override]) -> dict[str, Any]:
    """Applies overrides (`a.b.c=value` strings, values parsed as YAML, or Override objects) to a
    nested mapping, in place. An override of `minutes` or `epochs` clears the mapping's `steps`
    unless the overrides set `steps` too."""
    parsed = as_overrides(overrides)
    given = {override.key for override in parsed}
    for override in parsed:
        set_path(raw, override.path, override.value, override.origin)
        replaced = BUDGET_REPLACES.get(override.key)
        if replaced and replaced not in given:
            raw.pop(replaced, None)
    return raw


def read_mapping(path: Path) -> dict[str, Any]:
    """A YAML file's top-level mapping, or a TrainingConfigError saying why not."""
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as error:
        raise TrainingConfigError(f"{path}: cannot read: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise TrainingConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise TrainingConfigError(
            f"{path}: expected a mapping at the top level, found {type(raw).__name__}"
        )
    return raw


def load_config(path: Path, overrides: Sequence[str | Override] | None = None) -> TrainConfig:
    """Reads a YAML training config with overrides laid over it; relative data paths are taken
    from the working directory."""
    parsed = as_overrides(overrides or [])
    return parse_config(apply_overrides(read_mapping(path), parsed), str(path), parsed)


def dump_config(config: TrainConfig) -> str:
    """The resolved config as YAML, loadable again by load_config."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
