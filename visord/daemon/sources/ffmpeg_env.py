"""FFmpeg's environment inside OpenCV: `OPENCV_FFMPEG_CAPTURE_OPTIONS`, the process-global
variable that carries FFmpeg's RTSP transport, and the quieting of FFmpeg's and OpenCV's own log
lines.

OpenCV has no per-capture setting for `rtsp_transport`; its FFmpeg backend reads this
environment variable (`key;value|key;value`) inside every `VideoCapture` open. One process
reads many cameras, some over TCP and some over UDP, and opens them from several threads,
so the variable must hold the right value for the whole of each open:

- `transport_options(transport)` is a context manager around an open. Opens that want
  the same value run together (the usual case: every camera on TCP, no waiting); an open
  that needs the other value waits until those finish, and meanwhile newcomers queue
  behind it so it cannot starve. Opens are bounded by the open timeout, so waits are too.
- Other keys an operator put in the variable before start (e.g. `stimeout;...`) are kept;
  only `rtsp_transport` is ours. Setting the variable also replaces OpenCV's own default
  (`rtsp_flags;prefer_tcp`), which is why the transport is always set explicitly.

`quiet_logs()` keeps FFmpeg's lines (`[rtsp @ 0x...] method DESCRIBE failed: 404`) and OpenCV's
(`[ WARN:0@2.0] global cap.cpp:212 open VIDEOIO(FFMPEG): ...`) off stderr: raw, they say nothing of
which stream they are about and break `--log-format json`. The cause of a failed open reaches
visord's own log line instead (`diagnose`). OpenCV reads `OPENCV_FFMPEG_LOGLEVEL` once, at its
first FFmpeg open (measured with OpenCV 5.0), so `capture` calls this on import, before any capture
opens. An operator who sets that variable, or `OPENCV_LOG_LEVEL`, before start gets FFmpeg's or
OpenCV's lines back for debugging.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import cv2

from visord.daemon.sources.base import Transport

VARIABLE = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
LOG_LEVEL_VARIABLE = "OPENCV_FFMPEG_LOGLEVEL"
FFMPEG_QUIET = "-8"  # AV_LOG_QUIET: FFmpeg prints nothing
OPENCV_LOG_LEVEL_VARIABLE = "OPENCV_LOG_LEVEL"


def quiet_logs() -> None:
    """FFmpeg (inside OpenCV) and OpenCV print nothing to stderr, unless the operator asked for
    their lines through the variables above. Must run before the first capture opens."""
    os.environ.setdefault(LOG_LEVEL_VARIABLE, FFMPEG_QUIET)
    if OPENCV_LOG_LEVEL_VARIABLE not in os.environ:
        # silent, not "error": OpenCV's videoio errors come back as return values or cv2.error too
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


def options_value(transport: Transport, inherited: str = "") -> str:
    """The variable's value for `transport`, keeping the inherited keys other than
    rtsp_transport."""
    kept = [
        item for item in inherited.split("|") if item and not item.startswith("rtsp_transport;")
    ]
    return "|".join([*kept, f"rtsp_transport;{transport}"])


class _Gate:
    """Shares the variable between overlapping opens that want the same value (a readers-writer lock
    by value)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._value: str | None = None
        self._active = 0
        self._waiting = 0
        self._inherited = os.environ.get(VARIABLE, "")

    @contextmanager
    def holding(self, transport: Transport) -> Iterator[None]:
        value = options_value(transport, self._inherited)
        with self._changed:
            if self._waiting or (self._active and self._value != value):
                self._waiting += 1
                self._changed.wait_for(lambda: self._active == 0)
                self._waiting -= 1
            if self._active == 0:
                os.environ[VARIABLE] = self._value = value
            self._active += 1
        try:
            yield
        finally:
            with self._changed:
                self._active -= 1
                self._changed.notify_all()


_GATE = _Gate()


def transport_options(transport: Transport) -> AbstractContextManager[None]:
    """Context manager: OPENCV_FFMPEG_CAPTURE_OPTIONS selects `transport` until it exits."""
    return _GATE.holding(transport)
