"""`OPENCV_FFMPEG_CAPTURE_OPTIONS`: the process-global variable that carries FFmpeg's RTSP
transport.

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
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from visord.daemon.sources.base import Transport

VARIABLE = "OPENCV_FFMPEG_CAPTURE_OPTIONS"


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
