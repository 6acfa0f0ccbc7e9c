"""`demo://scenes`: the synthetic surveillance scenes (`visord.scenes.SceneStream`) rendered live as
a camera.

The URL's query sets the scene: `demo://scenes?seed=3&fps=10&size=640x480&difficulty=0.2&hold=4`
(all optional; `size` is WIDTHxHEIGHT like a camera's resolution; `parse_demo_url` in
`visord.daemon.config.sources` reads and checks it, for the config and here). Frames are paced to
`fps`, so the demo behaves like a camera rather than a benchmark. `label` holds the ground truth
of the last grabbed frame, for tests that check what the daemon recognised.
"""

from __future__ import annotations

import time

import numpy as np

from visord.daemon.config.sources import parse_demo_url
from visord.daemon.sources.pacing import Clock, Pacer, Sleep
from visord.scenes import SceneStream


class DemoSource:
    """A `FrameSource` rendering a SceneStream, paced to its fps."""

    ended = False

    def __init__(
        self, url: str = "demo://scenes", clock: Clock = time.monotonic, sleep: Sleep = time.sleep
    ) -> None:
        try:  # the URL as the config checked it (`visord.daemon.config.sources`)
            self._stream: SceneStream | None = SceneStream(**parse_demo_url(url))
        except ValueError as error:
            raise ValueError(f"{url}: {error}") from None
        self._pacer = Pacer(self._stream.fps, clock, sleep)
        self._frame: np.ndarray | None = None
        self.label: str | None = None

    def open(self) -> None:
        """Nothing to connect to: the scene was built by the constructor."""

    def grab(self) -> bool:
        if self._stream is None:
            return False
        self._pacer.wait()
        self._frame, self.label = self._stream.next_frame()
        return True

    def retrieve(self) -> np.ndarray | None:
        return self._frame

    def release(self) -> None:
        self._stream = self._frame = None
