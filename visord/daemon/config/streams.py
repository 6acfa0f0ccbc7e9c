"""The `streams:` section: one camera (or file, or demo scene) and how to classify it.

Owns a stream's fields, the region of interest, the reconnect delays and the rules tying options
to source kinds (`transport` is for RTSP, `loop` for files). The policy's
value types (priority, model choice, pinning, cascade, motion) live in
`visord.daemon.config.policy`, shared with the router's rules; references to models
are checked by `visord.daemon.config.references`, which sees the whole config.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from visord.daemon.config.base import Name, Strict, Tag, unique
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
from visord.daemon.config.sources import StreamSource, check_source, coerce_source

__all__ = ["MODEL_MODES", "PRIORITY_LEVELS", "ReconnectConfig", "RegionOfInterest", "StreamConfig"]

Source = Annotated[StreamSource, BeforeValidator(coerce_source), AfterValidator(check_source)]


class RegionOfInterest(Strict):
    """A crop applied before the resize to the model's input, in fractions of the frame.

    Same fields as `visord.daemon.inference.preprocess.Roi`, which does the cropping:
    `Roi(**roi.model_dump())`.
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


class ReconnectConfig(Strict):
    """How long a stream waits between connection attempts after its source failed, in seconds.

    The wait starts at `min` and doubles after each failed attempt up to `max`; each wait is
    shortened by a random factor in [0.5, 1] so cameras that dropped together do not all reconnect
    at once. It starts again from `min` once a connection has streamed for `max` seconds. The
    reader's `Backoff` (`visord.daemon.sources.backoff`) applies them.
    """

    min: float = Field(
        0.5, gt=0, le=60, description="First wait after a failure (seconds, 0 < min <= 60)."
    )
    max: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Longest wait between attempts (seconds, min <= max <= 3600). The default, "
        "10 s, picks a camera that came back up within 10 s (5 to 10 s with jitter) at the cost "
        "of one connection attempt every 5 to 10 s per camera that stays down: cheap for a camera "
        "and for the box. Raise it for many cameras behind a slow link; lower it to notice a "
        "camera sooner.",
    )

    @model_validator(mode="after")
    def _min_at_most_max(self) -> ReconnectConfig:
        if self.min > self.max:
            raise ValueError(
                f"min ({self.min:g} s) must not exceed max ({self.max:g} s): the wait starts at "
                "min and grows up to max"
            )
        return self


class StreamConfig(Strict):
    """One video stream and its classification policy (which a matching `rules:` entry may
    override)."""

    name: Name = Field(description="Unique stream name; a metric label and the MQTT topic suffix.")
    source: Source = Field(
        description="rtsp://, rtsps://, http(s):// MJPEG, /dev/videoN or a device index, a video "
        "file, or demo://scenes. Credentials in it are never printed."
    )
    transport: Literal["tcp", "udp"] = Field(
        "tcp", description="RTSP transport (rtsp:// and rtsps:// only)."
    )
    loop: bool = Field(False, description="Restart a video file at its end (file sources only).")
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
    stall_timeout: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Seconds without a frame before the stream counts as stalled and reconnects.",
    )
    open_timeout: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Seconds a connection may take to open (a camera that never answers fails "
        "after this, without delaying the other streams).",
    )
    decode: Literal["all", "keyframes", "auto"] = Field(
        "auto",
        description="Frames to decode: all; keyframes (only key frames, several times cheaper, "
        "at the camera's key-frame rate); auto (key frames only while `fps` is at most the "
        "key-frame rate, so nothing classified is lost). Network streams and files only.",
    )
    reconnect: ReconnectConfig = Field(
        default_factory=ReconnectConfig,
        description="Wait between connection attempts after a failure: `{min: 0.5, max: 10}` "
        "seconds, doubling from min up to max.",
    )
    tags: list[Tag] = Field(
        default_factory=list, description="Short labels for grouping and for router rules."
    )

    @field_validator("transport")
    @classmethod
    def _transport_is_for_rtsp(cls, value: str, info: ValidationInfo) -> str:
        source = info.data.get("source")
        if source is not None and source.kind != "rtsp":
            raise ValueError(
                "transport applies to rtsp:// and rtsps:// sources only, this one is a "
                f"{source.kind} source"
            )
        return value

    @field_validator("loop")
    @classmethod
    def _loop_is_for_files(cls, value: bool, info: ValidationInfo) -> bool:
        source = info.data.get("source")
        if value and source is not None and source.kind != "file":
            raise ValueError(
                f"loop applies to video files only, this one is a {source.kind} source"
            )
        return value

    @field_validator("decode")
    @classmethod
    def _decode_is_for_decoded_sources(cls, value: str, info: ValidationInfo) -> str:
        source = info.data.get("source")
        if value != "auto" and source is not None and source.kind in ("device", "demo"):
            raise ValueError(
                f"decode applies to network streams and video files only, this one is a "
                f"{source.kind} source"
            )
        return value

    @field_validator("min_fps")
    @classmethod
    def _at_most_fps(cls, value: float | None, info: ValidationInfo) -> float | None:
        return check_rates(info.data.get("fps"), value)

    @field_serializer("source", when_used="json")
    def _redacted_source(self, source: StreamSource) -> str:
        # JSON (logs, status pages) shows the redacted URL; Python dumps keep the
        # StreamSource, whose
        # equality compares the real URLs, so a reload notices a changed password.
        return source.redacted

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, value: list[str]) -> list[str]:
        return unique(value, "tag")
