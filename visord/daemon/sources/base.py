"""The frame-source contract every kind of source meets, and the options a source is built with.

A frame source is shaped like `cv2.VideoCapture` so OpenCV captures, the demo scenes and
test fakes are interchangeable: `open()` connects (raising `SourceError` with a reason
that is safe to log), `grab()` takes the next frame without converting it, `retrieve()`
converts the last grabbed frame to a BGR uint8 HxWx3 array, `release()` frees it.
`ended` becomes True when a finite source (a file played once) has no more frames.

A source object is used by one thread at a time and opened at most once: the reader
builds a fresh one for every connection attempt. A source whose opens must not overlap
with others' names the lock they share as `open_lock` (the reader opens it holding that lock).
Constructors only validate (raising `ValueError`) and never touch the network or a device, so
configuration checks may build sources freely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

Transport = Literal["tcp", "udp"]


class SourceError(Exception):
    """A source could not be opened or read; the message names the source, redacted."""


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

    transport: Transport = "tcp"
    loop: bool = False
    realtime: bool = True
    open_timeout: float = 10.0
    read_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.transport not in ("tcp", "udp"):
            raise ValueError(
                f"transport must be 'tcp' or 'udp', received transport={self.transport!r}"
            )
        for name in ("open_timeout", "read_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, received {name}={getattr(self, name)!r}")
