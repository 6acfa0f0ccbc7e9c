"""Fault injection with figures: the daemon's runtime over real sources, one of them broken on
purpose.

Shared by tests/test_faults.py (which asserts what happens) and bench/faults.py (which repeats each
fault and prints the times). A `FaultLab` runs the daemon's own `Runtime` (real `StreamReader`s,
OpenCV/FFmpeg, a tiny ONNX model; its loop stepped in a thread as `visord run` steps it) over two
steady streams, a real RTSP camera and a looping H.264 file, and the stream under test, `faulty`,
reading a `Scene` from `visord.testing.fault_scenes`. `FaultLab.run(fault)` lets every stream
classify, breaks the scene, mends it after a hold time, and returns a `FaultRun`.

Definitions used in the figures:

- down: the faulted stream is not streaming and its reader counted an error or a stall; `reasons`
  are the distinct `last_error`s seen while down. A fault `at_open` shows only when a stream opens:
  the stream is added to the running runtime (as a SIGHUP reload would) right after the break.
- detection: from the break to down. recovery: from the mend to the first classified frame captured
  after it (for a scene whose break is its own mend, from the break).
- frames lost on the faulted stream: the classifications its `fps` asked for, from the break until
  it was classifying again, that did not happen. On the other streams: frames due for classification
  that were overwritten before the loop took them (`frames_dropped`), in the same window; their
  errors, stalls and reconnects are counted apart, and `others_classified` is the fewest frames any
  of them had classified in the window (it must keep growing).
"""

from __future__ import annotations

import bisect
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
from prometheus_client import CollectorRegistry

from visord.daemon.config import parse_config
from visord.daemon.metrics import DaemonMetrics
from visord.daemon.runtime import Runtime
from visord.daemon.sources import (
    FrameSource,
    SourceOptions,
    StreamReader,
    StreamState,
    StreamStats,
    create_source,
)
from visord.daemon.sources.reader import ReaderConfig
from visord.testing import fault_scenes as scenes
from visord.testing.daemon_config import NO_EVENTS, daemon_yaml
from visord.testing.media import write_h264
from visord.testing.onnx_models import manifest_dict, tiny_classifier
from visord.testing.rtsp_server import RtspServer

FPS = 5.0
FAULTY = "faulty"
STEADY = ("steady-rtsp", "steady-file")
POLL = 0.02


@dataclass(frozen=True)
class Timing:
    """stall_timeout: the streams' config value. open_timeout: the reader's. backoff (first,
    longest): a stream's `reconnect: {min, max}` (DAEMON keeps the defaults). hold: seconds a fault
    lasts before it is mended (longer than the stall timeout; a fault waiting on the open timeout
    holds that much longer). recovery_timeout: the longest wait for a mended stream to classify
    again."""

    stall_timeout: float
    hold: float
    open_timeout: float
    backoff: tuple[float, float]
    recovery_timeout: float

    def __post_init__(self) -> None:
        if not self.hold > self.stall_timeout:
            raise ValueError(
                f"hold must exceed stall_timeout, received hold={self.hold}, "
                f"stall_timeout={self.stall_timeout}"
            )

    def reader(self, config: ReaderConfig) -> ReaderConfig:
        return replace(
            config,
            open_timeout=self.open_timeout,
            backoff_initial=self.backoff[0],
            backoff_max=self.backoff[1],
        )


DEFAULTS = ReaderConfig("defaults", "demo://scenes")
# What `visord run` does with `stall_timeout: 2` in a stream's config.
DAEMON = Timing(
    stall_timeout=2.0,
    hold=5.0,
    open_timeout=DEFAULTS.open_timeout,
    backoff=(DEFAULTS.backoff_initial, DEFAULTS.backoff_max),
    recovery_timeout=90.0,
)
# Short timeouts and backoff, for the test suite.
QUICK = Timing(
    stall_timeout=1.5, hold=3.0, open_timeout=3.0, backoff=(0.2, 1.0), recovery_timeout=30.0
)


@dataclass(frozen=True)
class Fault:
    """outcome "recovers": goes down with one of `reasons` (fragments) and classifies again once
    mended;
    "streams": keeps classifying through it. at_open: see the module docstring.
    waits_for_open_timeout: held an open timeout longer. self_mending: breaking it is mending it
    (recovery counts from the break). file: a file source (played with `loop: true`)."""

    name: str
    what: str
    scene: Callable[[Path, Path], scenes.Scene]
    outcome: Literal["recovers", "streams"]
    reasons: tuple[str, ...] = ()
    at_open: bool = False
    waits_for_open_timeout: bool = False
    self_mending: bool = False
    file: bool = False

    def hold(self, timing: Timing) -> float:
        return timing.hold + (timing.open_timeout if self.waits_for_open_timeout else 0.0)


LOST = ("read failed", "open failed")
FAULTS = (
    Fault(
        "rtsp-killed",
        "RTSP server SIGKILLed, restarted on its port",
        scenes.KilledCamera,
        "recovers",
        LOST,
    ),
    Fault(
        "rtsp-frozen",
        "RTSP server SIGSTOPped past the stall timeout, then SIGCONT",
        scenes.FrozenCamera,
        "recovers",
        ("stalled",),
    ),
    Fault(
        "rtsp-silent",
        "RTSP port accepts TCP and never answers, then the server is back",
        scenes.SilentCamera,
        "recovers",
        (
            "no answer within the open timeout",
            "waited too long for the source to open",
            "no valid RTSP answer",  # the silent port closed as the server came back
        ),
        waits_for_open_timeout=True,
    ),
    Fault(
        "rtsp-resized",
        "RTSP server restarted at 640x480 (was 320x240)",
        scenes.ResizedCamera,
        "recovers",
        LOST,
        self_mending=True,
    ),
    Fault(
        "mjpeg-garbage",
        "MJPEG server sends random bytes, then JPEGs again",
        scenes.GarbageMjpeg,
        "recovers",
        (*LOST, "stalled"),
    ),
    Fault(
        "mjpeg-corrupt-frames",
        "MJPEG server: every 5th JPEG is random bytes",
        scenes.CorruptMjpeg,
        "streams",
    ),
    Fault(
        "file-truncated",
        "stream added on an MP4 cut in half, then the whole file",
        scenes.TruncatedFile,
        "recovers",
        ("not a video file",),
        at_open=True,
        file=True,
    ),
    Fault(
        "file-missing",
        "stream added on a path that does not exist, then the file appears",
        scenes.MissingFile,
        "recovers",
        ("no such file",),
        at_open=True,
        file=True,
    ),
    Fault(
        "file-corrupt",
        "stream added on an MP4 with bytes flipped in its second quarter",
        scenes.CorruptFile,
        "streams",
        at_open=True,
        file=True,
    ),
    Fault(
        "file-deleted",
        "the file is deleted while the stream plays it",
        scenes.DeletedWhilePlaying,
        "streams",
        file=True,
    ),
    Fault(
        "file-resized",
        "stream added on a TS file going from 320x240 to 640x480 mid-stream",
        scenes.ResizedMidStream,
        "streams",
        at_open=True,
        file=True,
    ),
)
BY_NAME = {fault.name: fault for fault in FAULTS}


@dataclass(frozen=True)
class FaultRun:
    """One injection of one fault (see the module docstring for the definitions)."""

    fault: str
    outcome: Literal["recovered", "down", "streamed"]
    reasons: tuple[str, ...]
    detect_s: float | None
    recovery_s: float | None
    lost_faulted: int
    lost_others: int
    others_errors: int
    others_classified: int
    others_rate_ratio: float
    faulted_classified: int
    faulted_errors: int
    faulted_reconnects: int
    faulted_shape: tuple[int, ...] | None
    loop_error: str | None


class Timeline:
    """The runtime's result sink: when each stream had a frame classified, and when that frame was
    captured."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times: dict[str, list[tuple[float, float]]] = defaultdict(list)

    def observe(self, stream: str, prediction: object, frame_wall: float, latency: float) -> None:
        with self._lock:
            self._times[stream].append((time.monotonic(), frame_wall))

    def forget(self, stream: str) -> None:
        """Kept: the figures span reloads."""

    def count(self, stream: str, start: float, end: float = float("inf")) -> int:
        with self._lock:
            times = [at for at, _ in self._times[stream]]
        return bisect.bisect_left(times, end) - bisect.bisect_left(times, start)

    def first_captured_after(self, stream: str, wall: float) -> float | None:
        """When the first frame captured after `wall` (epoch seconds) was classified (monotonic), if
        one was."""
        with self._lock:
            return next((at for at, captured in self._times[stream] if captured > wall), None)


class Shapes:
    """The last frame shape retrieved per stream, seen through a transparent wrapper around each
    real source."""

    def __init__(self) -> None:
        self.last: dict[str, tuple[int, ...]] = {}

    def factory(self, stream: str) -> Callable[[str, SourceOptions], FrameSource]:
        return lambda source, options: _Observed(create_source(source, options), stream, self.last)


class _Observed:
    def __init__(
        self, source: FrameSource, stream: str, shapes: dict[str, tuple[int, ...]]
    ) -> None:
        self._source = source
        self._stream = stream
        self._shapes = shapes

    @property
    def ended(self) -> bool:
        return self._source.ended

    def open(self) -> None:
        self._source.open()

    def grab(self) -> bool:
        return self._source.grab()

    def retrieve(self) -> np.ndarray | None:
        image = self._source.retrieve()
        if image is not None:
            self._shapes[self._stream] = image.shape
        return image

    def release(self) -> None:
        self._source.release()


class _Watcher(threading.Thread):
    """Polls the faulted stream from just before the break: when it was first seen down (not
    streaming, with an
    error or a stall counted since the watch began), and every distinct reason it gave while
    down."""

    def __init__(self, reader: Callable[[], StreamReader | None]) -> None:
        super().__init__(name="fault-lab-watcher", daemon=True)
        self._reader = reader
        self._stopping = threading.Event()
        current = reader()
        self._base = _troubles(current.stats) if current else 0
        self.down_at: float | None = None
        self.down_wall = 0.0
        self.reasons: list[str] = []
        self.start()

    def run(self) -> None:
        while not self._stopping.wait(POLL):
            reader = self._reader()
            if (
                reader is None
                or reader.state is StreamState.STREAMING
                or _troubles(reader.stats) <= self._base
            ):
                continue
            if self.down_at is None:
                self.down_at = time.monotonic()
                self.down_wall = time.time()
            if reader.last_error and reader.last_error not in self.reasons:
                self.reasons.append(reader.last_error)

    def stop(self) -> None:
        self._stopping.set()
        self.join(5)


class _Loop(threading.Thread):
    """Steps the runtime until stopped; keeps the exception that escaped `step`, if one did."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(name="fault-lab-loop", daemon=True)
        self.runtime = runtime
        self.error = None
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.runtime.step()
        except Exception as error:  # the figure that matters: it must never happen
            self.error = f"{type(error).__name__}: {error}"


class FaultLab:
    """Owns the model, the steady camera and clip, and the folder; `run(fault)` injects one
    fault."""

    def __init__(self, folder: Path, timing: Timing = QUICK) -> None:
        self.folder = folder
        self.timing = timing
        self.model = tiny_classifier(folder / "small.onnx", manifest_dict(name="small"))
        self.clip = write_h264(
            folder / "steady.mp4",
            frames=45,
            width=scenes.CAMERA["width"],
            height=scenes.CAMERA["height"],
            fps=scenes.CAMERA["fps"],
        )
        self.camera = RtspServer(**scenes.CAMERA).start()

    def close(self) -> None:
        self.camera.__exit__()

    def __enter__(self) -> FaultLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, fault: Fault) -> FaultRun:
        scene = fault.scene(
            Path(tempfile.mkdtemp(prefix=f"{fault.name}-", dir=self.folder)), self.clip
        )
        try:
            return _Injection(self, fault, scene).run()
        finally:
            scene.close()

    def config_text(self, fault: Fault, scene: scenes.Scene, with_faulty: bool) -> str:
        stall = self.timing.stall_timeout
        streams = [(STEADY[0], self.camera.url, False), (STEADY[1], str(self.clip), True)]
        if with_faulty:
            streams.append((FAULTY, scene.source, fault.file))
        items = [
            {
                "name": name,
                "source": source,
                "fps": FPS,
                "model": "small",
                "stall_timeout": stall,
                **({"loop": True} if loop else {}),
            }
            for name, source, loop in streams
        ]
        return daemon_yaml({"small": self.model}, items, events=NO_EVENTS)


class _Injection:
    """One run: start, settle, break, watch, mend, watch, figures."""

    def __init__(self, lab: FaultLab, fault: Fault, scene: scenes.Scene) -> None:
        self.lab = lab
        self.fault = fault
        self.scene = scene
        self.timeline = Timeline()
        self.shapes = Shapes()
        config = parse_config(
            lab.config_text(fault, scene, with_faulty=not fault.at_open), "fault-lab"
        )
        self.full = parse_config(lab.config_text(fault, scene, with_faulty=True), "fault-lab")
        self.runtime = Runtime(
            config,
            DaemonMetrics(CollectorRegistry(), "fault-lab"),
            self.timeline,
            reader_factory=self._reader,
        )

    def _reader(self, config: ReaderConfig) -> StreamReader:
        return StreamReader(
            self.lab.timing.reader(config), source_factory=self.shapes.factory(config.name)
        )

    def run(self) -> FaultRun:
        self.runtime.start()
        loop = _Loop(self.runtime)
        loop.start()
        try:
            return self._measure(loop)
        finally:
            loop.stopping.set()
            loop.join(10)
            self.runtime.stop()

    def _measure(self, loop: _Loop) -> FaultRun:
        timing = self.lab.timing
        self._wait(
            lambda: all(self.timeline.count(name, 0) >= 3 for name in self.runtime.streams),
            60,
            loop,
        )
        settled = time.monotonic()
        time.sleep(1.0)
        before = self._others_stats()
        watcher = _Watcher(self._faulted_reader)
        broken = time.monotonic()
        try:
            self.scene.break_()
            if self.fault.at_open:
                self.runtime.apply(self.full)  # what a SIGHUP adding the stream does
            hold = self.fault.hold(timing)
            self._wait(lambda: time.monotonic() > broken + hold, hold + 5, loop)
            mended = time.monotonic()
            mended_wall = time.time()
            self.scene.mend()
            recovered = recovery_s = None
            if watcher.down_at is not None:  # count frames captured once it was down and mended
                captured_after = max(mended_wall, watcher.down_wall)
                recovered = self._wait(
                    lambda: self.timeline.first_captured_after(FAULTY, captured_after),
                    timing.recovery_timeout,
                    loop,
                    required=False,
                )
                recovery_s = (
                    None
                    if recovered is None
                    else recovered - (broken if self.fault.self_mending else mended)
                )
        finally:
            watcher.stop()
        return self._figures(
            loop, watcher, before, settled, broken, recovered or mended, recovery_s
        )

    def _figures(
        self,
        loop: _Loop,
        watcher: _Watcher,
        before: dict,
        settled: float,
        broken: float,
        end: float,
        recovery_s: float | None,
    ) -> FaultRun:
        after = self._others_stats()
        faulted = self._faulted_reader().stats
        window = max(end - broken, POLL)
        ratios = [
            _ratio(
                self.timeline.count(name, broken, end) / window,
                self.timeline.count(name, settled, broken) / (broken - settled),
            )
            for name in STEADY
        ]
        classified = self.timeline.count(FAULTY, broken, end)
        outcome = (
            "streamed"
            if watcher.down_at is None
            else ("recovered" if recovery_s is not None else "down")
        )
        return FaultRun(
            fault=self.fault.name,
            outcome=outcome,
            reasons=tuple(watcher.reasons),
            detect_s=None if watcher.down_at is None else watcher.down_at - broken,
            recovery_s=recovery_s,
            lost_faulted=max(0, round(FPS * window) - classified),
            lost_others=sum(after[n].frames_dropped - before[n].frames_dropped for n in STEADY),
            others_errors=sum(_troubles(after[n]) - _troubles(before[n]) for n in STEADY),
            others_classified=min(self.timeline.count(name, broken, end) for name in STEADY),
            others_rate_ratio=min(ratios),
            faulted_classified=classified,
            faulted_errors=faulted.errors,
            faulted_reconnects=faulted.reconnects,
            faulted_shape=self.shapes.last.get(FAULTY),
            loop_error=loop.error,
        )

    def _faulted_reader(self) -> StreamReader | None:
        running = self.runtime.streams.get(FAULTY)
        return running.reader if running else None

    def _others_stats(self) -> dict:
        return {name: self.runtime.streams[name].reader.stats for name in STEADY}

    @staticmethod
    def _wait(
        condition: Callable[[], object], timeout: float, loop: _Loop, required: bool = True
    ) -> object:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and loop.error is None:
            if value := condition():
                return value
            time.sleep(POLL)
        if required:
            raise AssertionError(
                f"fault lab: streams not classifying after {timeout:.0f} s (loop error: "
                f"{loop.error})"
            )
        return None


def _troubles(stats: StreamStats) -> int:
    return stats.errors + stats.stalls + stats.reconnects


def _ratio(during: float, before: float) -> float:
    return during / before if before else float("nan")
