"""`demo://scenes`: the synthetic surveillance scenes (`visord.scenes.SceneStream`) rendered live as
a camera.

The URL's query sets the scene: `demo://scenes?seed=3&fps=10&size=640x480&difficulty=0.2&hold=4`
(all optional; `size` is WIDTHxHEIGHT like a camera's resolution). Frames are paced to `fps`,
so the demo behaves like a camera rather than a benchmark. `label` holds the ground truth
of the last grabbed frame, for tests that check what the daemon recognised.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from visord.daemon.sources.pacing import Clock, Pacer, Sleep
from visord.scenes import SceneStream

_PARAMETERS = {"seed": int, "fps": float, "difficulty": float, "hold": float, "size": str}


def parse_demo_url(url: str) -> dict[str, object]:
    """SceneStream keyword arguments from a demo URL; ValueError names a bad part and the valid
    ones."""
    parts = urlsplit(url)
    if parts.netloc != "scenes" or parts.path not in ("", "/"):
        raise ValueError(f"unknown demo source {url!r}: the only demo is 'demo://scenes'")
    query = dict(parse_qsl(parts.query, strict_parsing=bool(parts.query)))
    unknown = sorted(set(query) - set(_PARAMETERS))
    if unknown:
        raise ValueError(
            f"unknown parameter {unknown[0]!r} in {url!r}. Valid: {', '.join(sorted(_PARAMETERS))}"
        )
    try:
        return _scene_arguments({key: _PARAMETERS[key](value) for key, value in query.items()})
    except ValueError as error:
        raise ValueError(f"bad parameter in {url!r} (size is WIDTHxHEIGHT): {error}") from None


def _scene_arguments(values: dict[str, object]) -> dict[str, object]:
    if "hold" in values:
        values["hold_seconds"] = values.pop("hold")
    if "size" in values:
        width, _, height = str(values.pop("size")).partition("x")
        values["size"] = (int(height), int(width))
    return values


class DemoSource:
    """A `FrameSource` rendering a SceneStream, paced to its fps."""

    ended = False

    def __init__(
        self, url: str = "demo://scenes", clock: Clock = time.monotonic, sleep: Sleep = time.sleep
    ) -> None:
        arguments = parse_demo_url(url)
        try:
            self._stream: SceneStream | None = SceneStream(**arguments)
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
