"""The training configuration: one YAML file validated into typed objects.

Owns the schema of `config/train-*.yaml`, loading it (with `--set key=value`
overrides), and turning validation errors into messages that name the key path.
Imports no TensorFlow, so `visord train --help` and config errors stay instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key path."""


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
    enabled: bool = Field(False, description="Stop when val_loss stops improving.")
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
    epochs: int = Field(10, ge=1, description="Epochs (phase 1 for transfer models).")
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
    seed: int = Field(
        1337, description="Seed for splits, shuffling, augmentation and initialisation."
    )
    output_dir: Path = Field(Path("runs"), description="Run folders are created under it.")


def format_validation_error(error: ValidationError, source: str) -> str:
    """One line per problem: `source: key.path: message`."""
    lines = []
    for item in error.errors():
        path = ".".join(
            str(part) if not isinstance(part, int) else f"[{part}]" for part in item["loc"]
        )
        path = path.replace(".[", "[")
        lines.append(f"{source}: {path or '<root>'}: {item['msg']}")
    return "\n".join(lines)


def parse_config(raw: dict[str, Any], source: str = "<config>") -> TrainConfig:
    """Validates a mapping; a ConfigError lists every problem with its key path."""
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, source)) from None


def set_key(raw: dict[str, Any], key: str, value: Any) -> None:
    """Sets a dotted key (`optimizer.learning_rate`) in a nested mapping, creating sections."""
    node = raw
    *parents, leaf = key.split(".")
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {key}: {part} is not a section")
        node = child
    node[leaf] = value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Applies `a.b.c=value` strings (values parsed as YAML) to a nested mapping, in place."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(
                f"--set {item!r}: expected KEY=VALUE, e.g. optimizer.learning_rate=0.01"
            )
        set_key(raw, key, yaml.safe_load(text))
    return raw


def read_mapping(path: Path) -> dict[str, Any]:
    """A YAML file's top-level mapping, or a ConfigError saying why not."""
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: expected a mapping at the top level, found {type(raw).__name__}"
        )
    return raw


def load_config(path: Path, overrides: list[str] | None = None) -> TrainConfig:
    """Reads a YAML training config; relative data paths are taken from the working directory."""
    return parse_config(apply_overrides(read_mapping(path), overrides or []), str(path))


def dump_config(config: TrainConfig) -> str:
    """The resolved config as YAML, loadable again by load_config."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
