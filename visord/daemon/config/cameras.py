"""A camera: one source, read over one connection and decoded once, whatever its regions.

Owns how a source is read (`source`, `transport`, `loop`, `decode`, the timeouts and the reconnect
delays) and the rules tying those options to source kinds (`transport` is for RTSP, `loop` for
files). Two places say it, with the same keys: an entry of `cameras:` (named once, its regions
are the streams that name it with `camera:`), and a stream with its own `source:`, which is a
camera of one whole-frame region named after the stream (`SourceSettings` holds the keys both
share). `camera_of` in `visord.daemon.config.schema` turns either into the `CameraConfig` the
runtime opens.
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

from visord.daemon.config.base import Name, Strict
from visord.daemon.config.sources import StreamSource, check_source, coerce_source

__all__ = [
    "CAMERA_DEFAULTS",
    "CAMERA_KEYS",
    "RECONNECT_DEFAULTS",
    "CameraConfig",
    "ReconnectConfig",
    "SourceSettings",
]

Source = Annotated[StreamSource, BeforeValidator(coerce_source), AfterValidator(check_source)]
Decode = Literal["all", "keyframes", "auto"]
Transport = Literal["tcp", "udp"]  # RTSP's


class ReconnectConfig(Strict):
    """How long a camera waits between connection attempts after its source failed, in seconds.

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


# the keys that apply to some kinds of source only: those kinds, and how to say them
APPLIES_TO = {
    "transport": (("rtsp",), "rtsp:// and rtsps:// sources"),
    "loop": (("file",), "video files"),
    "decode": (("rtsp", "http", "file"), "network streams and video files"),
}


class SourceSettings(Strict):
    """A name and the keys that say how to read a source: a camera's, or a stream's own."""

    name: Name = Field(description="Unique name; a metric label.")
    source: Source | None = Field(
        None,
        description="rtsp://, rtsps://, http(s):// MJPEG, /dev/videoN or a device index, a video "
        "file, or demo://scenes. Credentials in it are never printed.",
    )
    transport: Transport = Field("tcp", description="RTSP transport (rtsp:// and rtsps:// only).")
    loop: bool = Field(False, description="Restart a video file at its end (file sources only).")
    decode: Decode = Field(
        "auto",
        description="Frames to decode: all; keyframes (only key frames, several times cheaper, "
        "at the camera's key-frame rate); auto (key frames only while every region's `fps` is at "
        "most the key-frame rate, so nothing classified is lost). Network streams and files only.",
    )
    stall_timeout: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Seconds without a frame before the camera counts as stalled and reconnects.",
    )
    open_timeout: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Seconds a connection may take to open (a camera that never answers fails "
        "after this, without delaying the other cameras).",
    )
    reconnect: ReconnectConfig = Field(
        default_factory=ReconnectConfig,
        description="Wait between connection attempts after a failure: `{min: 0.5, max: 10}` "
        "seconds, doubling from min up to max.",
    )

    @field_validator("transport", "loop", "decode")
    @classmethod
    def _for_its_source_kinds(cls, value: object, info: ValidationInfo) -> object:
        """A key set away from its default on a kind of source it does not apply to is an error
        (`transport: udp` on a file), not ignored."""
        source = info.data.get("source")
        kinds, which = APPLIES_TO[info.field_name]
        default = cls.model_fields[info.field_name].default
        if value != default and source is not None and source.kind not in kinds:
            raise ValueError(
                f"{info.field_name} applies to {which} only, this one is a {source.kind} source"
            )
        return value

    @field_serializer("source", when_used="json")
    def _redacted_source(self, source: StreamSource | None) -> str | None:
        # JSON (logs, status pages) shows the redacted URL; Python dumps keep the StreamSource,
        # whose equality compares the real URLs, so a reload notices a changed password.
        return None if source is None else source.redacted


# the keys a stream naming a camera takes from it (and may not set itself)
CAMERA_KEYS = tuple(key for key in SourceSettings.model_fields if key != "name")
# each camera key's default, for the reader that applies them (`visord.daemon.sources`)
CAMERA_DEFAULTS = {key: SourceSettings.model_fields[key].default for key in CAMERA_KEYS}
RECONNECT_DEFAULTS = {key: field.default for key, field in ReconnectConfig.model_fields.items()}


class CameraConfig(SourceSettings):
    """One entry of `cameras:`: a source named once, whose regions are the streams naming it."""

    name: Name = Field(
        description="Unique camera name; the `camera` label of the camera's metrics, and what a "
        "stream's `camera:` names."
    )
    source: Source = Field(  # type: ignore[assignment]  # required here
        description="rtsp://, rtsps://, http(s):// MJPEG, /dev/videoN or a device index, a video "
        "file, or demo://scenes. Credentials in it are never printed."
    )
