"""The frame-source contract every kind of source meets, and the options a source is built with.

A frame source is shaped like `cv2.VideoCapture` so PyAV decoders, OpenCV captures, the demo
scenes and test fakes are interchangeable: `open()` connects (raising `SourceError` with a reason
that is safe to log), `grab()` takes the next frame without converting it, `retrieve()`
converts the last grabbed frame to a BGR uint8 HxWx3 array, `release()` frees it.
`ended` becomes True when a finite source (a file played once) has no more frames.

A source may also say why its connection was lost (`failure`, a `Failure` or None) and offer
key-frame-only decoding (`decode_keyframes(bool)` and `keyframes_per_second`); the reader uses
them when present.

A source object is used by one thread at a time and opened at most once: the reader
builds a fresh one for every connection attempt.
Constructors only validate (raising `ValueError`) and never touch the network or a device, so
configuration checks may build sources freely.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, Protocol, get_args

import numpy as np

from visord.daemon.config.cameras import CAMERA_DEFAULTS, Transport


class Cause(StrEnum):
    """Why a stream's connection failed: the label of its failure counter."""

    AUTH = "auth"  # 401 or 403: user or password
    NOT_FOUND = "not_found"  # 404, or no such file or device
    REFUSED = "refused"  # nothing listens on the port
    RESET = "reset"  # the server cut the connection
    TIMEOUT = "timeout"  # no answer within the open or read timeout
    TRANSPORT = "transport"  # RTSP 461: the server does not offer that transport
    NOT_VIDEO = "not_video"  # it answers, but with no video FFmpeg can read
    CODEC = "codec"  # a file or stream whose frames cannot be decoded
    CORRUPT = "corrupt"  # the data stopped making sense mid-stream
    END = "end"  # a live stream ended (the server closed it)
    STALL = "stall"  # the watchdog: no frame within the stall timeout
    OTHER = "other"


class Failure(NamedTuple):
    cause: Cause
    reason: str  # a short phrase without the URL


class SourceError(Exception):
    """A source could not be opened or read; the message names the source, redacted, and
    `failure` says why when known."""

    def __init__(self, message: str, failure: Failure | None = None) -> None:
        super().__init__(message)
        self.failure = failure


class FrameSource(Protocol):
    ended: bool

    def open(self) -> None: ...

    def grab(self) -> bool: ...

    def retrieve(self) -> np.ndarray | None: ...

    def release(self) -> None: ...


@dataclass(frozen=True)
class SourceOptions:
    """How to read a source; each kind uses the fields that apply to it.

    transport: RTSP lower transport. loop: rewind a video file at its end. realtime: play a
    file at its own frame rate, as a camera would (off for benchmarks that saturate).
    open_timeout / read_timeout: seconds before FFmpeg gives up connecting or waiting for data.
    """

    transport: Transport = CAMERA_DEFAULTS["transport"]
    loop: bool = CAMERA_DEFAULTS["loop"]
    realtime: bool = True
    open_timeout: float = CAMERA_DEFAULTS["open_timeout"]
    read_timeout: float = CAMERA_DEFAULTS["stall_timeout"]

    def __post_init__(self) -> None:
        if self.transport not in get_args(Transport):
            raise ValueError(
                f"transport must be {' or '.join(map(repr, get_args(Transport)))}, "
                f"received transport={self.transport!r}"
            )
        for name in ("open_timeout", "read_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, received {name}={getattr(self, name)!r}")
