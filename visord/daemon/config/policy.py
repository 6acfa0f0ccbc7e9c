"""What a stream's classification policy says, and what a rule may set of it.

Owns the policy's value types (priority levels, model choice, inference
rate, pinning) and its two nested sections, `cascade:` (when the small
model's answer is re-checked by the large one) and `motion:` (skipping
frames of a static scene). Both sections appear at the top level (the
defaults) and in a stream or a rule's `set:` (overrides): an override
changes only the keys it names, which `overlay` applies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)

from visord.daemon.config.base import Strict, check_name

PRIORITY_LEVELS = {"low": 25, "normal": 50, "high": 75, "critical": 100}


class Mode(StrEnum):
    """The modes a stream's `model:` may name instead of a model: the one name for each."""

    LARGE = "large"  # the model with role large
    SMALL = "small"  # the model with role small
    CASCADE = "cascade"  # small first, large when the small one is unsure
    AUTO = "auto"  # the router picks large, cascade or small under the hardware budget


MODEL_MODES = tuple(Mode)
AUTO_CHOICES = (Mode.LARGE, Mode.CASCADE, Mode.SMALL)  # what auto chooses between, best first
TWO_MODEL_MODES = (Mode.CASCADE, Mode.AUTO)  # the modes that need both a small and a large model


def _priority(value: object) -> object:
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        if value not in PRIORITY_LEVELS:
            levels = ", ".join(f"{name} ({number})" for name, number in PRIORITY_LEVELS.items())
            raise ValueError(
                f"'{value[:40]}' is not a priority: an integer 0..100 or one of {levels}"
            )
        return PRIORITY_LEVELS[value]
    if isinstance(value, bool):
        raise ValueError("must be an integer 0..100 or low, normal, high, critical, not a boolean")
    return value


def _model_choice(value: str) -> str:
    if value in MODEL_MODES:
        return value
    try:
        return check_name(value)
    except ValueError:
        raise ValueError(
            f"'{value[:80]}' is neither a mode ({', '.join(MODEL_MODES)}) nor a valid model name"
        ) from None


Priority = Annotated[int, BeforeValidator(_priority), Field(ge=0, le=100)]
ModelChoice = Annotated[str, AfterValidator(_model_choice)]
Fps = Annotated[float, Field(gt=0, le=120)]
Pin = Literal["never_downgrade", "never_upgrade"]


_TARGET = re.compile(r"\s*(\d+(?:\.\d+)?)\s*%\s*(escalated|of large)\s*")


@dataclass(frozen=True)
class EscalationTarget:
    """`escalate_below` given as what it should achieve, resolved through the small model's
    operating curve (`visord curve`): "20% escalated" (send about that share of frames to the
    large model) or "97% of large" (keep that share of the large model's accuracy)."""

    share: float  # 0..1
    kind: Literal["escalated", "of large"]

    def __str__(self) -> str:
        return f"{self.share * 100:g}% {self.kind}"


def _threshold(value: object) -> object:
    if isinstance(value, EscalationTarget):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not 0 <= value <= 1:
            raise ValueError(f"must be {'>= 0' if value < 0 else '<= 1'} (received {value})")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"must be a score 0..1 or a target such as '20% escalated' ({value!r})")
    match = _TARGET.fullmatch(value)
    if not match or not 0 < float(match.group(1)) <= 100:
        raise ValueError(
            f"'{value[:40]}' is neither a score (0..1) nor a target such as '20% escalated' or "
            "'97% of large'"
        )
    return EscalationTarget(float(match.group(1)) / 100, match.group(2))


Threshold = Annotated[
    float | EscalationTarget,
    BeforeValidator(_threshold),
    PlainSerializer(lambda value: str(value) if isinstance(value, EscalationTarget) else value),
]


class CascadeConfig(Strict):
    """When a cascade re-checks the small model's answer with the large model."""

    escalate_below: Threshold = Field(
        0.6,
        description="Escalate when the small model's top score is below this: a score 0..1, or "
        "a target the small model's operating curve turns into one ('20% escalated', "
        "'97% of large').",
    )
    escalate_margin: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Also escalate when the top score leads the second by less than this.",
    )


class MotionConfig(Strict):
    """Motion gating: a static scene reuses the last answer instead of running a model."""

    enabled: bool | None = Field(
        None,
        description="Gate this stream's frames on motion (default: on for `model: auto`, off "
        "otherwise).",
    )
    threshold: float = Field(
        10.0,
        gt=0,
        le=255,
        description="Grey levels (0..255) a pixel of the shrunk grey frame must change by "
        "to count as changed.",
    )
    min_area: float = Field(
        0.002,
        gt=0,
        le=1,
        description="Share of the shrunk frame (64 pixels across) that must change to count "
        "as motion.",
    )
    lighting_guard: bool = Field(
        True,
        description="Compensate a global brightness/contrast change (a light switched on) before "
        "comparing.",
    )
    max_skip_seconds: float = Field(
        10.0, gt=0, le=3600, description="Classify at least this often even when nothing moves."
    )


Section = TypeVar("Section", CascadeConfig, MotionConfig)


def overlay(base: Section, override: Section | None) -> Section:
    """`base` with the keys `override` names (not its defaults) replaced."""
    if override is None:
        return base
    return base.model_copy(
        update={key: getattr(override, key) for key in override.model_fields_set}
    )


class PolicyOverrides(Strict):
    """A rule's `set:`: the stream policy keys it replaces; the ones it leaves out keep the stream's
    values."""

    model: ModelChoice | None = Field(
        None, description="large, small, cascade, auto, or a model name."
    )
    fps: Fps | None = Field(None, description="Inference rate, frames per second.")
    min_fps: Fps | None = Field(
        None, description="Lowest rate the router may lower the stream to under load."
    )
    priority: Priority | None = Field(None, description="0..100 or low, normal, high, critical.")
    pin: Pin | None = Field(None, description="never_downgrade or never_upgrade.")
    cascade: CascadeConfig | None = Field(None, description="Cascade keys to replace.")
    motion: MotionConfig | None = Field(None, description="Motion gating keys to replace.")

    @field_validator("min_fps")
    @classmethod
    def _at_most_fps(cls, value: float | None, info: ValidationInfo) -> float | None:
        return check_rates(info.data.get("fps"), value)

    @model_validator(mode="after")
    def _sets_something(self) -> PolicyOverrides:
        if not self.model_fields_set:
            raise ValueError(
                f"sets nothing: give at least one of {', '.join(type(self).model_fields)}"
            )
        return self


def check_rates(fps: float | None, min_fps: float | None) -> float | None:
    """`min_fps`, or ValueError when it exceeds `fps`."""
    if fps is not None and min_fps is not None and min_fps > fps:
        raise ValueError(f"must not exceed fps ({fps:g}), received {min_fps:g}")
    return min_fps
