"""What each camera's decoding costs, measured, and what it would cost under a plan.

Owns `DecodeCosts`: per camera, the CPU its reader thread spends (seconds a second, reading,
decoding and converting frames) in each of the two ways it can decode, every frame or key frames
only, each a running average over replan intervals. A plan prices a camera at key frames only when
its `decode` allows it and every one of its regions' planned rates fits in the key-frame rate
(`keyframes_suffice`, the reader's own rule), so lowering the regions of a camera to the
key-frame rate is a rung with a real saving. Until a camera has been seen in a mode, that mode's
cost is estimated from the other by `KEYFRAME_SAVING`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from visord.daemon.config import CameraConfig
from visord.daemon.router.ewma import IntervalEwma
from visord.daemon.sources.reader import keyframes_suffice

# decoding every frame against key frames only, until a camera is measured both ways (a 10 fps
# H.264 camera with a key frame a second: bench/RESULTS.md, "Decoding key frames only")
KEYFRAME_SAVING = 2.3


@dataclass
class CameraDecoding:
    """One camera's settings, regions and measured decoding costs."""

    config: CameraConfig
    regions: tuple[str, ...]
    every_frame: IntervalEwma
    keyframes: IntervalEwma
    keyframes_per_second: float | None = None
    # the reader's running total at the last observation; None until the first, whose interval
    # holds the camera's opening (probing the stream, the first key frame), not its running cost
    cpu_seconds: float | None = None

    def cost(self, keyframes_only: bool) -> float:
        """CPU seconds a second, measured in that mode, else estimated from the other (0 before
        any measurement)."""
        every, keys = self.every_frame.value, self.keyframes.value
        if keyframes_only:
            return keys if keys is not None else (every or 0.0) / KEYFRAME_SAVING
        return every if every is not None else (keys or 0.0) * KEYFRAME_SAVING


class DecodeCosts:
    def __init__(self, weight: float) -> None:
        self.weight = weight
        self.cameras: dict[str, CameraDecoding] = {}

    def configure(self, cameras: Mapping[str, tuple[CameraConfig, Iterable[str]]]) -> None:
        """The cameras of a (new) config, each with its regions' names; a camera whose settings
        did not change keeps its measurements."""
        kept = {}
        for name, (config, regions) in cameras.items():
            old = self.cameras.get(name)
            if old is None or old.config != config:
                old = CameraDecoding(
                    config, (), IntervalEwma(self.weight), IntervalEwma(self.weight)
                )
            old.regions = tuple(regions)
            kept[name] = old
        self.cameras = kept

    def observe(
        self,
        camera: str,
        cpu_seconds: float,
        elapsed: float,
        keyframes_only: bool,
        keyframes_per_second: float | None,
    ) -> float:
        """The reader's running total of CPU seconds at the end of an interval of `elapsed`
        seconds (since the last replan), spent (mostly) in the mode it is in now; returns the
        interval's CPU seconds."""
        state = self.cameras.get(camera)
        if state is None:
            return 0.0
        last = state.cpu_seconds
        # below the last total: a new reader for the camera, counting from 0
        spent = cpu_seconds if last is None or cpu_seconds < last else cpu_seconds - last
        if last is not None and elapsed > 0:
            average = state.keyframes if keyframes_only else state.every_frame
            average.add(spent, elapsed)
        state.cpu_seconds = cpu_seconds
        state.keyframes_per_second = keyframes_per_second
        return spent

    def fold(self) -> None:
        for state in self.cameras.values():
            state.every_frame.fold()
            state.keyframes.fold()

    def keyframes_only(self, camera: str, rates: list[float | None]) -> bool:
        """Whether the camera would decode key frames only with its regions at `rates`."""
        state = self.cameras[camera]
        decode = state.config.decode
        if decode != "auto":
            return decode == "keyframes"
        return keyframes_suffice(rates, state.keyframes_per_second, state.config.stall_timeout)

    def plan_cpu(self, fps: Mapping[str, float]) -> float:
        """CPU seconds a second every camera's decoding takes with its regions at the planned
        `fps` (region -> rate)."""
        total = 0.0
        for name, state in self.cameras.items():
            rates: list[float | None] = [fps[region] for region in state.regions if region in fps]
            total += state.cost(self.keyframes_only(name, rates))
        return total
