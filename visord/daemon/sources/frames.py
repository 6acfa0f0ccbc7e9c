"""Frames, what their images are, and the one-slot "latest frame" holder between a reader and its
consumer.

A frame's image is BGR uint8 HxWx3: `as_bgr` makes one of whatever a source hands over that can be
one (grey, BGRA, 16-bit, other numbers clipped to 0..255) and refuses the rest with a ValueError
naming the shape or type, so a stream sending odd images loses those frames and nothing else.

The reader puts, the consumer takes the newest: a slow consumer never builds a backlog, it
skips frames, and each frame overwritten before anyone took it counts as dropped.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np


def as_bgr(frame: np.ndarray) -> np.ndarray:
    """Any decoded frame (HxW grey, HxWx1, HxWx3 BGR, HxWx4 BGRA) as HxWx3 uint8 BGR. uint16 (a
    16-bit camera) is
    scaled to 8 bits; other numbers are clipped to 0..255 (NaN as 0)."""
    if not isinstance(frame, np.ndarray) or frame.dtype.kind not in "uif":
        kind = getattr(frame, "dtype", type(frame).__name__)
        raise ValueError(f"cannot use a frame of type {kind}: expected an array of numbers")
    if (
        frame.ndim not in (2, 3)
        or frame.size == 0
        or (frame.ndim == 3 and frame.shape[2] not in (1, 3, 4))
    ):
        raise ValueError(
            f"cannot use a frame of shape {frame.shape}: expected HxW, HxWx1, HxWx3 or HxWx4"
        )
    if frame.dtype == np.uint16:
        frame = (frame >> 8).astype(np.uint8)
    elif frame.dtype != np.uint8:
        frame = np.clip(np.nan_to_num(frame), 0, 255).astype(np.uint8)
    if frame.ndim == 2 or frame.shape[2] == 1:
        return cv2.cvtColor(frame.reshape(frame.shape[:2]), cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR) if frame.shape[2] == 4 else frame


@dataclass(frozen=True)
class Frame:
    """One decoded image (BGR uint8 HxWx3) of a stream. `seq` counts the stream's decoded frames
    from 1
    across reconnects (so gaps show skipped frames); `monotonic` and `wall` are when it was
    grabbed."""

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
        """The newest frame not taken yet, waiting up to `timeout` seconds for one (None: for
        ever)."""
        with self._ready:
            self._ready.wait_for(lambda: self._frame is not None, timeout)
            frame, self._frame = self._frame, None
            return frame

    @property
    def dropped(self) -> int:
        """Frames put and then overwritten before anyone took them."""
        with self._ready:
            return self._dropped
