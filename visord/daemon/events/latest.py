"""Each stream's latest classified frame, and its JPEG for `GET /api/streams/<name>/latest.jpg`.

The event pipeline keeps a reference to the last frame the runtime handed it per stream (never
taking from a reader's holder, never copying in the loop). The JPEG is made on demand in the
HTTP request's thread: scaled down to `max_width`, the region outlined on a copy, and kept for
`min_interval` seconds (0.3), so a page refreshing every tile costs at most a few encodes a
second per stream whatever the number of viewers; one viewer's encode makes the others wait for
its result rather than encode the same frame again. Without the outline (`outline=False`: the live
page draws the region itself) a frame is the camera's, not the region's: the regions of a camera
handed the same frame share its JPEG (encoded once, for the first that asks).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from visord.daemon.events.snapshots import encode, outline, scaled
from visord.daemon.inference.preprocess import Roi
from visord.daemon.metrics import LATEST_FRAME_ENCODES, Sample, SnapshotMetric

CACHE_SECONDS = 0.3


@dataclass(frozen=True)
class Latest:
    image: np.ndarray
    roi: Roi | None
    wall: float


@dataclass(frozen=True)
class _Cached:
    image: np.ndarray  # the frame it was made of (compared by identity)
    wall: float
    at: float  # when it was encoded (`clock`)
    jpeg: bytes


class LatestFrames:
    def __init__(
        self, clock: Callable[[], float] = time.monotonic, min_interval: float = CACHE_SECONDS
    ):
        self.clock = clock
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._frames: dict[str, Latest] = {}
        self._cache: dict[tuple[str, int, bool], _Cached] = {}  # by stream, width and outline
        self._encoding: dict[str, threading.Lock] = {}
        self.encodes: Counter[str] = Counter()

    def keep(self, stream: str, image: np.ndarray, roi: Roi | None, wall: float) -> None:
        """The frame loop's side: a reference, no copy, no encoding."""
        self._frames[stream] = Latest(image, roi, wall)

    def forget(self, stream: str) -> None:
        with self._lock:
            self._frames.pop(stream, None)
            for key in [key for key in self._cache if key[0] == stream]:
                del self._cache[key]
            self.encodes.pop(stream, None)

    def get(self, stream: str) -> Latest | None:
        return self._frames.get(stream)

    def jpeg(
        self, stream: str, max_width: int, quality: int, outlined: bool = True
    ) -> tuple[bytes, float] | None:
        """The stream's latest frame as JPEG and its capture time (epoch seconds); None before
        its first frame. outlined: the region drawn on it (else the camera's frame as it is,
        shared with the camera's other regions)."""
        with self._lock:
            encoding = self._encoding.setdefault(stream, threading.Lock())
        key = (stream, max_width, outlined)
        with encoding:
            latest = self._frames.get(stream)
            if latest is None:
                return None
            cached = self._cache.get(key)
            fresh = cached is not None and (
                cached.image is latest.image or self.clock() - cached.at < self.min_interval
            )
            if not fresh:
                jpeg = None if outlined else self._sibling(latest.image, max_width)
                encoded = jpeg is None
                if encoded:
                    image = scaled(latest.image, max_width, fast=True)
                    jpeg = encode(outline(image, latest.roi) if outlined else image, quality)
                cached = _Cached(latest.image, latest.wall, self.clock(), jpeg)
                with self._lock:
                    self._cache[key] = cached
                    self.encodes[stream] += encoded
            return cached.jpeg, cached.wall

    def _sibling(self, image: np.ndarray, max_width: int) -> bytes | None:
        """The JPEG another region made of this very frame, plain, at this width, if any."""
        with self._lock:
            for (_, width, outlined), cached in self._cache.items():
                if not outlined and width == max_width and cached.image is image:
                    return cached.jpeg
        return None

    def snapshot(self) -> list[SnapshotMetric]:
        with self._lock:
            encodes = sorted(self.encodes.items())
        return [LATEST_FRAME_ENCODES.of([Sample((name,), float(n)) for name, n in encodes])]
