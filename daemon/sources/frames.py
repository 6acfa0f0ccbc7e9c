"""Frames and the one-slot "latest frame" holder between a stream's reader and its consumer.

The reader puts, the consumer takes the newest: a slow consumer never builds a backlog, it
skips frames, and each frame overwritten before anyone took it counts as dropped.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One decoded image (BGR uint8 HxWx3) of a stream. `seq` counts the stream's decoded frames from 1
    across reconnects (so gaps show skipped frames); `monotonic` and `wall` are when it was grabbed."""

    stream: str
    image: np.ndarray
    seq: int
    monotonic: float
    wall: float


class LatestFrame:
    """A one-slot mailbox: `put` replaces, `take` empties. Thread-safe."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._frame: Frame | None = None
        self._dropped = 0

    def put(self, frame: Frame) -> None:
        with self._ready:
            if self._frame is not None:
                self._dropped += 1
            self._frame = frame
            self._ready.notify_all()

    def take(self, timeout: float | None = 0.0) -> Frame | None:
        """The newest frame not taken yet, waiting up to `timeout` seconds for one (None: for ever)."""
        with self._ready:
            self._ready.wait_for(lambda: self._frame is not None, timeout)
            frame, self._frame = self._frame, None
            return frame

    @property
    def dropped(self) -> int:
        """Frames put and then overwritten before anyone took them."""
        with self._ready:
            return self._dropped
