"""The `streams:` section: one region of a camera and how to classify it.

Owns a stream's fields and the region of interest. A stream names a camera of `cameras:` with
`camera:`, or has its own `source:` (and the other keys of
`visord.daemon.config.cameras.SourceSettings`), which makes it a camera of one region. The policy's
value types (priority, model choice, pinning, cascade, motion) live in
`visord.daemon.config.policy`, shared with the router's rules; references to models
are checked by `visord.daemon.config.references`, which sees the whole config.
"""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator, model_validator

from visord.daemon.config.base import Name, Strict, Tag, unique
from visord.daemon.config.cameras import CAMERA_KEYS, SourceSettings
from visord.daemon.config.policy import (
    MODEL_MODES,
    PRIORITY_LEVELS,
    CascadeConfig,
    Fps,
    ModelChoice,
    MotionConfig,
    Pin,
    Priority,
    check_rates,
)

__all__ = ["MODEL_MODES", "PRIORITY_LEVELS", "RegionOfInterest", "StreamConfig"]


class RegionOfInterest(Strict):
    """A crop applied before the resize to the model's input, in fractions of the frame.

    Same fields as `visord.daemon.inference.preprocess.Roi`, which does the cropping:
    `Roi.of(roi)`.
    """

    x: float = Field(
        0.0, ge=0, lt=1, description="Left edge, as a fraction of the frame width (0 = left)."
    )
    y: float = Field(
        0.0, ge=0, lt=1, description="Top edge, as a fraction of the frame height (0 = top)."
    )
    width: float = Field(1.0, gt=0, le=1, description="Width, as a fraction of the frame width.")
    height: float = Field(1.0, gt=0, le=1, description="Height, as a fraction of the frame height.")

    @model_validator(mode="after")
    def _inside_frame(self) -> RegionOfInterest:
        for start, size, edge in ((self.x, self.width, "right"), (self.y, self.height, "bottom")):
            if start + size > 1 + 1e-9:
                raise ValueError(
                    f"goes past the {edge} edge of the frame: {start:g} + {size:g} > 1"
                )
        return self


class StreamConfig(SourceSettings):
    """One region of a camera and its classification policy (which a matching `rules:` entry may
    override)."""

    name: Name = Field(description="Unique stream name; a metric label and the MQTT topic suffix.")
    camera: Name | None = Field(
        None,
        description="The camera of `cameras:` this stream is a region of (instead of its own "
        "`source:`).",
    )
    fps: Fps = Field(2.0, description="Inference rate: frames per second to classify.")
    min_fps: Fps | None = Field(
        None,
        description="Lowest rate the router may lower this stream to when even all-small does not "
        "fit (default: fps, never lowered).",
    )
    priority: Priority = Field(
        PRIORITY_LEVELS["normal"],
        description="0..100, or low (25), normal (50), high (75), critical (100); higher streams "
        "are degraded last.",
    )
    model: ModelChoice = Field(
        description="large, small (the model with that role), cascade, auto, or a model name from "
        "`models:`."
    )
    pin: Pin | None = Field(
        None,
        description="never_downgrade: the router keeps the desired mode and rate whatever the "
        "load; never_upgrade: once degraded, it stays so until a restart or reload.",
    )
    cascade: CascadeConfig | None = Field(
        None, description="Cascade keys replacing the top-level `cascade:` ones."
    )
    motion: MotionConfig | None = Field(
        None, description="Motion gating keys replacing the top-level `motion:` ones."
    )
    roi: RegionOfInterest | None = Field(
        None, description="Optional crop before resize (fractions of the frame)."
    )
    enabled: bool = Field(True, description="A disabled stream is validated but not opened.")
    tags: list[Tag] = Field(
        default_factory=list, description="Short labels for grouping and for router rules."
    )

    @field_validator("min_fps")
    @classmethod
    def _at_most_fps(cls, value: float | None, info: ValidationInfo) -> float | None:
        return check_rates(info.data.get("fps"), value)

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, value: list[str]) -> list[str]:
        return unique(value, "tag")

    @model_validator(mode="after")
    def _one_camera(self) -> StreamConfig:
        if self.camera is None and self.source is None:
            raise ValueError(
                "needs a source: (a camera of its own) or camera: (a camera of cameras:)"
            )
        if self.camera is not None:
            own = [key for key in CAMERA_KEYS if key in self.model_fields_set]
            if own:
                raise ValueError(
                    f"{', '.join(own)}: set on camera '{self.camera}' under cameras:, not on a "
                    "stream naming it (its regions share one connection)"
                )
        return self
