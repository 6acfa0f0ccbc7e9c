"""Time-keeping for frames: `Pacer` holds a live source to its frame rate, `RateGate` picks the
frames
due for classification at a stream's inference rate. Both take the clock (and sleep) as arguments,
so tests drive them with fake time."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

Clock = Callable[[], float]
Sleep = Callable[[float], object]


class Pacer:
    """`wait()` returns one frame period after the previous return; a late caller resynchronises
    rather than bursting to catch up."""

    def __init__(
        self, fps: float, clock: Clock = time.monotonic, sleep: Sleep = time.sleep
    ) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be > 0, received fps={fps!r}")
        self._period = 1.0 / fps
        self._clock = clock
        self._sleep = sleep
        self._next: float | None = None

    def wait(self) -> None:
        now = self._clock()
        if self._next is None or now - self._next > self._period:
            self._next = now
        elif self._next > now:
            self._sleep(self._next - now)
        self._next += self._period


class RateGate:
    """`due(now)` is True for frames spaced at least `1/fps` apart on average (every frame when fps
    is None).
    After a gap (a reconnect), the schedule restarts from the frame that ended it."""

    def __init__(self, fps: float | None) -> None:
        if fps is not None and not fps > 0:
            raise ValueError(f"fps must be > 0 or None, received fps={fps!r}")
        self.fps = fps
        self._period = 0.0 if fps is None else 1.0 / fps
        self._next = -math.inf

    def due(self, now: float, early: float = 0.0) -> bool:
        """Whether a frame at `now` is due; one up to `early` seconds ahead of its time counts (a
        source whose frames come as far apart as the period: a late one would skip a whole
        period)."""
        if now < self._next - early:
            return False
        self._next += self._period
        if self._next <= now:
            self._next = now + self._period
        return True
