"""`StreamReader`: one thread per camera, from a source string to a `LatestFrame` per region.

A camera is read over one connection and decoded once, whatever the number of its regions (the
streams of the config that name it). The worker thread connects (state `connecting`), grabs every
frame (`streaming`) and retrieves (converts) a frame once when any region is due for one at its
own inference rate, putting the same image in the holder of each region due (`latest_of`; the
crop to each region's ROI happens in preprocessing, on that shared image). Regions come and go
while the camera streams (`add_region`, `remove_region`; a reload that changes only a region).
Any failure (open error, read error, stall) leads to `backoff`, a capped exponential delay with
jitter (from `backoff_initial` up to `backoff_max`: the camera's `reconnect: {min, max}`), then a
new connection; the backoff resets once a connection has streamed for `backoff_max` seconds, so a
camera that flaps right after connecting is not hammered.

End of a file played once: the reader goes to `finished` and its thread ends (reconnecting
would replay the file, i.e. loop, which the operator turned off).

Frames are delivered as BGR uint8 HxWx3 (`frames.as_bgr`): an image that cannot be made one (two
channels, empty) is refused and counted as an error (logged once until a good frame), so it never
reaches a batch it shares with other streams.

A frame the source cannot read (a corrupt JPEG in an MJPEG stream, say) makes `grab()` fail once
while the connection stays usable: up to `BAD_FRAMES_IN_A_ROW` failures in a row are retried, and
when a good frame follows they count as skipped frames (errors; the first skip of a connection is
logged); a longer run is a lost connection (one error), and so is a source that says its
connection is lost (`failure`), at once. Without this a camera that sends one bad
frame a second would spend most of its time in an ever longer backoff.

Every source opens on its own: a stream whose camera is slow to answer delays no other. The
watchdog's open deadline is the open timeout plus the stall timeout.

Key frames only: a source that offers it (`decode_keyframes`, the PyAV sources) decodes only key
frames while the camera's `decode` says `keyframes`, or, under `auto`, while every region's
inference rate is at most the key-frame rate the source measures: then every frame classified is
a key frame anyway, and the frames between them, which nobody would look at, are not decoded
(unless key frames come so rarely that fewer than two fit in the stall timeout).

Streams of one host back off together and come back together: the first to connect wakes the
others that are waiting out a backoff (`siblings`).

The worker thread's own CPU time (`time.thread_time`: one decoder thread a camera, so this is
what reading, decoding and converting its frames costs) adds up in `StreamStats.decode_seconds`,
which the router counts in the budget.

Failures are counted by cause (`StreamStats.failures`, the `Cause` of the `SourceError` or of the
source's `failure`; `stall` for the watchdog's).

The watchdog (a second, mostly sleeping thread) catches calls that block: when an open
takes longer than `open_timeout + stall_timeout`, or no frame arrives within
`stall_timeout`, it counts a stall and hands the stream to a fresh worker. It never
touches the blocked capture: releasing a cv2.VideoCapture from another thread while
`grab()` runs in it (cv2 drops the GIL) is a use-after-free in FFmpeg. The abandoned
worker is a daemon thread that owns its capture; OpenCV's read timeout (twice the stall
timeout, so that the watchdog, not FFmpeg, is what detects a stall; OpenCV may retry a timed-out
read a few times) returns its blocked call, and it then releases the capture and exits without
touching the stream's state. Only the current worker's
generation may change state, counters or the holder.

Clock, sleep, randomness and the source factory are injectable, so unit tests run with
fakes and no real time. Log lines name the camera, its source through `redact_url`, and (those
saying why it is down) the streams it feeds.
"""

from __future__ import annotations

import logging
import math
import random as _random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import get_args

from visord.contract.redact import redact_url
from visord.daemon.config.cameras import CAMERA_DEFAULTS, RECONNECT_DEFAULTS, Decode
from visord.daemon.sources.backoff import Backoff
from visord.daemon.sources.base import (
    Cause,
    FrameSource,
    SourceError,
    SourceOptions,
    Transport,
)
from visord.daemon.sources.frames import Frame, LatestFrame, as_bgr
from visord.daemon.sources.kinds import SourceMaker, create_source
from visord.daemon.sources.pacing import Clock, RateGate, Sleep
from visord.daemon.sources.siblings import SIBLINGS, host_of
from visord.daemon.sources.state import StreamState, StreamStats

logger = logging.getLogger(__name__)
_WATCHED = (StreamState.CONNECTING, StreamState.STREAMING)
END_OF_FILE = "end of the file"  # why a file played once is finished
# failed grabs skipped before a connection counts as lost (a dead one fails at once)
BAD_FRAMES_IN_A_ROW = 5
DECODE_CHOICES: tuple[Decode, ...] = get_args(Decode)
KEYFRAME_SLACK = 1.05  # an inference rate this close above the key-frame rate still fits it
KEYFRAMES_PER_STALL_TIMEOUT = 2  # auto decodes key frames only when at least this many fit in one


def keyframes_suffice(
    rates: list[float | None], keyframes_per_second: float | None, stall_timeout: float
) -> bool:
    """Whether key frames alone give every region (`rates`: each one's inference rate, None for
    every frame) all the frames it classifies: `decode: auto`'s rule, and the router's price."""
    return (
        bool(rates)
        and None not in rates
        and keyframes_per_second is not None
        and max(rates) <= keyframes_per_second * KEYFRAME_SLACK
        # key frames that far apart would look like a stall to the watchdog
        and keyframes_per_second * stall_timeout >= KEYFRAMES_PER_STALL_TIMEOUT
    )


@dataclass(frozen=True)
class ReaderConfig:
    """One camera's reading settings (seconds throughout). regions: each region's name and the
    frames per second to retrieve for it (None: every frame); empty: one region named after the
    camera, at inference_fps. realtime: play files at their own rate.
    stall_timeout: longest wait for a frame (FFmpeg's read timeout is twice it, see the module
    docstring). open_timeout: FFmpeg's limit on connecting. backoff_initial, backoff_max: first and
    longest wait between connection attempts (the stream's `reconnect: {min, max}` in the daemon's
    config, whose defaults these are). decode: which frames to decode (`all`, `keyframes`, or
    `auto`: key frames only while the inference rate fits in the key-frame rate)."""

    name: str
    source: str
    inference_fps: float | None = None
    regions: tuple[tuple[str, float | None], ...] = ()
    transport: Transport = CAMERA_DEFAULTS["transport"]
    loop: bool = CAMERA_DEFAULTS["loop"]
    realtime: bool = True
    stall_timeout: float = CAMERA_DEFAULTS["stall_timeout"]
    open_timeout: float = CAMERA_DEFAULTS["open_timeout"]
    backoff_initial: float = RECONNECT_DEFAULTS["min"]
    backoff_max: float = RECONNECT_DEFAULTS["max"]
    decode: Decode = CAMERA_DEFAULTS["decode"]

    def __post_init__(self) -> None:
        if not self.name or not self.source:
            raise ValueError(
                f"name and source must not be empty, received name={self.name!r}, "
                f"source of {len(self.source)} characters"
            )
        if not self.stall_timeout > 0:
            raise ValueError(
                f"stall_timeout must be > 0, received stall_timeout={self.stall_timeout!r}"
            )
        if self.decode not in DECODE_CHOICES:
            raise ValueError(
                f"decode must be one of {', '.join(DECODE_CHOICES)}, received {self.decode!r}"
            )
        self.source_options()
        Backoff(self.backoff_initial, self.backoff_max)
        for _, fps in self.rates():
            RateGate(fps)

    def rates(self) -> tuple[tuple[str, float | None], ...]:
        """Each region's name and inference rate."""
        return self.regions or ((self.name, self.inference_fps),)

    def source_options(self) -> SourceOptions:
        return SourceOptions(
            transport=self.transport,
            loop=self.loop,
            realtime=self.realtime,
            open_timeout=self.open_timeout,
            read_timeout=2 * self.stall_timeout,
        )


@dataclass
class Region:
    """One region's share of its camera's frames: the rate it wants them at, and its holder."""

    gate: RateGate
    latest: LatestFrame = field(default_factory=LatestFrame)
    retrieved: int = 0  # frames put in `latest`


class StreamReader:
    """Reads one camera in its own thread: `start()`, then `latest_of(region).take()`, `state`,
    `stats`; `stop()`."""

    def __init__(
        self,
        config: ReaderConfig,
        source_factory: SourceMaker = create_source,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        sleep: Sleep | None = None,
        random: Callable[[], float] = _random.random,
        cpu_clock: Clock = time.thread_time,
    ) -> None:
        self.config = config
        self._cpu = cpu_clock  # the calling thread's CPU time: the worker's, where it is read
        self.name = config.name
        self.source_name = redact_url(config.source)
        # replaced whole, never changed in place: the worker iterates over it without the lock
        self._regions = {name: Region(RateGate(fps)) for name, fps in config.rates()}
        self._factory = source_factory
        self._options = config.source_options()
        self._clock = clock
        self._wall = wall_clock
        self._stopping = threading.Event()
        self._interrupt = threading.Event()  # ends a backoff wait: stop(), or a sibling connected
        self._sleep = sleep or self._interrupt.wait
        self._host = host_of(config.source)
        self._backoff = Backoff(config.backoff_initial, config.backoff_max, random=random)
        self._lock = threading.Lock()
        self._state = StreamState.STARTING
        self._last_error = None
        self._stats = StreamStats()
        self._generation = 0
        self._deadline = math.inf
        self._streaming_since = 0.0
        # the source's frames are being refused (logged once until a good one)
        self._refusing = False
        self._keyframes_only = False  # a source decodes every frame until told otherwise
        self._worker: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None

    # -- what the outside reads

    @property
    def state(self) -> StreamState:
        return self._state

    @property
    def last_error(self) -> str | None:
        """Why the last connection failed or stalled (redacted), or None."""
        return self._last_error

    @property
    def stats(self) -> StreamStats:
        """A copy of the camera's counters (frames_dropped: of all its regions)."""
        regions = self._regions.values()
        with self._lock:
            return replace(
                self._stats,
                frames_dropped=sum(region.latest.dropped for region in regions),
                failures=self._stats.failures.copy(),
            )

    @property
    def latest(self) -> LatestFrame:
        """The holder of the camera's only region."""
        (region,) = self._regions.values()
        return region.latest

    def latest_of(self, region: str) -> LatestFrame:
        return self._regions[region].latest

    def region_counts(self, region: str) -> tuple[int, int]:
        """Frames put in a region's holder, and those of them overwritten before anyone took
        them."""
        state = self._regions[region]
        return state.retrieved, state.latest.dropped

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(self._regions)

    @property
    def _streams(self) -> str:
        """The regions a log line about the camera concerns (a field of the line)."""
        return ",".join(self._regions) or "-"

    def add_region(self, name: str, fps: float | None) -> LatestFrame:
        """A new region fed from the next frame on (the camera is not reopened)."""
        if name in self._regions:
            raise ValueError(f"camera {self.name!r} already has a region {name!r}")
        added = Region(RateGate(fps))
        self._regions = {**self._regions, name: added}
        return added.latest

    def remove_region(self, name: str) -> None:
        self._regions = {key: value for key, value in self._regions.items() if key != name}

    # -- lifecycle

    def start(self) -> StreamReader:
        if self._worker is not None:
            raise RuntimeError(f"stream {self.name!r}: reader already started")
        if self._host is not None:
            SIBLINGS.join(self._host, self._sibling_connected)
        self._spawn(self._generation, pause_first=False)
        self._watchdog = threading.Thread(
            target=self._watch, name=f"visord-watchdog-{self.name}", daemon=True
        )
        self._watchdog.start()
        return self

    def stop(self, timeout: float = 2.0) -> bool:
        """Stops reading. Returns True once the worker has released its source, False when a source
        call is still blocked after `timeout` seconds (that thread then exits as soon as the call
        returns)."""
        self.request_stop()
        return self.join(time.monotonic() + timeout)

    def request_stop(self) -> None:
        """Tells the threads to stop, without waiting: many readers stop side by side."""
        if self._host is not None:
            SIBLINGS.leave(self._host, self._sibling_connected)
        with self._lock:
            self._stopping.set()
            self._interrupt.set()
            self._state = StreamState.STOPPED
        logger.info("camera=%s state=stopped", self.name)

    def join(self, deadline: float) -> bool:
        """Waits until the monotonic `deadline` for the threads; True once the source is
        released."""
        for thread in (self._watchdog, self._worker):
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
        return self._worker is None or not self._worker.is_alive()

    def set_inference_fps(self, fps: float | None, region: str | None = None) -> None:
        """A new rate for retrieving a region's frames (the router's plan; `region` may be left
        out for a camera of one region); its next frame is due at once."""
        if region is None:
            (region,) = self._regions
        self._regions[region].gate = RateGate(fps)

    def check_stall(self) -> bool:
        """The watchdog's test (public so tests can call it with a fake clock): True when it caught
        a stall
        and handed the stream to a fresh worker."""
        with self._lock:
            if (
                self._stopping.is_set()
                or self._state not in _WATCHED
                or self._clock() < self._deadline
            ):
                return False
            waiting = "the source to open" if self._state is StreamState.CONNECTING else "a frame"
            timeout = self.config.stall_timeout
            self._last_error = (
                f"stalled: waited too long for {waiting} (stall timeout {timeout:g} s)"
            )
            self._stats.stalls += 1
            self._stats.failures[Cause.STALL] += 1
            self._generation += 1
            self._state = StreamState.BACKOFF
            self._deadline = math.inf
            generation = self._generation
        logger.warning(
            "camera=%s source=%s streams=%s state=backoff reason=%r",
            self.name,
            self.source_name,
            self._streams,
            self._last_error,
        )
        self._spawn(generation, pause_first=True)
        return True

    def _spawn(self, generation: int, pause_first: bool) -> None:
        self._worker = threading.Thread(
            target=self._work,
            args=(generation, pause_first),
            name=f"visord-reader-{self.name}",
            daemon=True,
        )
        self._worker.start()

    def _watch(self) -> None:
        interval = min(1.0, self.config.stall_timeout / 4)
        while not self._stopping.wait(interval):
            self.check_stall()

    # -- the worker

    def _work(self, generation: int, pause_first: bool) -> None:
        if pause_first:
            self._pause(generation)
        while self._current(generation):
            if self._session(generation):
                return
            if self._current(generation):
                self._pause(generation)

    def _session(self, generation: int) -> bool:
        """One connection, until it fails (False) or the source ends (True)."""
        source = self._connect(generation)
        if source is None:
            return False
        try:
            return self._stream(generation, source)
        except Exception as error:  # a source's bug must cost a reconnect, not the stream
            self._fail(generation, f"read failed: {self._describe(error)}", Cause.OTHER)
            return False
        finally:
            source.release()

    def _connect(self, generation: int) -> FrameSource | None:
        self._set_state(generation, StreamState.CONNECTING)
        source = None
        try:
            source = self._factory(self.config.source, self._options)
            self._arm(generation, self.config.open_timeout + self.config.stall_timeout)
            source.open()
        except Exception as error:
            failure = getattr(error, "failure", None)
            cause = failure.cause if failure is not None else Cause.OTHER
            self._fail(generation, f"open failed: {self._describe(error)}", cause)
            if source is not None:
                source.release()
            return None
        self._arm(generation, self.config.stall_timeout)
        if self._keyframes_only:  # as the last connection ended; `_choose_decoding` revisits it
            source.decode_keyframes(True)
        return source

    def _stream(self, generation: int, source: FrameSource) -> bool:
        unreadable = 0
        logged = False  # failed grabs in a row; whether this connection logged a skip
        cpu = self._cpu()  # this worker's CPU time, added up frame by frame in `_on_frame`
        while True:
            grabbed = source.grab()
            if not self._current(generation):
                return False
            if not grabbed:
                lost = getattr(source, "failure", None) is not None
                if source.ended or lost or unreadable == BAD_FRAMES_IN_A_ROW:
                    return self._grab_failed(generation, source, unreadable + 1)
                unreadable += 1
                continue
            if unreadable:
                self._skipped(unreadable, log=not logged)
                unreadable = 0
                logged = True
            now, mark = self._clock(), self._cpu()
            seq = self._on_frame(generation, now, mark - cpu)
            cpu = mark
            early = self._early(source)
            due = [
                (name, region)
                for name, region in self._regions.items()
                if region.gate.due(now, early)
            ]
            if due:
                self._deliver(source, seq, now, due)
            self._choose_decoding(source)

    def _early(self, source: FrameSource) -> float:
        """How early a frame may come and still be due: half a key-frame interval while only key
        frames are decoded (they come about as far apart as the frames due), else nothing."""
        rate = getattr(source, "keyframes_per_second", None)
        return 0.5 / rate if self._keyframes_only and rate else 0.0

    def _choose_decoding(self, source: FrameSource) -> None:
        """Key frames only or every frame, by the camera's `decode` (see the module docstring)."""
        if not hasattr(source, "decode_keyframes"):
            return
        wanted = self.config.decode == "keyframes"
        rate = source.keyframes_per_second
        if self.config.decode == "auto":
            rates = [region.gate.fps for region in self._regions.values()]
            wanted = keyframes_suffice(rates, rate, self.config.stall_timeout)
        if rate != self._stats.keyframes_per_second:
            with self._lock:
                self._stats.keyframes_per_second = rate
        if wanted is self._keyframes_only:
            return
        self._keyframes_only = wanted
        source.decode_keyframes(wanted)
        with self._lock:
            self._stats.keyframes_only = wanted
        logger.info(
            "camera=%s source=%s decode=%s",
            self.name,
            self.source_name,
            "keyframes" if wanted else "all",
        )

    def _on_frame(self, generation: int, now: float, cpu_seconds: float) -> int:
        """A frame grabbed at `now`; `cpu_seconds`: what the worker spent since the last one
        (reading and decoding this one, converting and handing out the last)."""
        with self._lock:
            self._stats.decode_seconds += cpu_seconds
            self._stats.frames_decoded += 1
            self._stats.last_frame_at = now
            self._deadline = now + self.config.stall_timeout
            seq = self._stats.frames_decoded
        if self._state is not StreamState.STREAMING:
            self._streaming_since = now
            self._set_state(generation, StreamState.STREAMING)
            if self._host is not None:
                SIBLINGS.connected(self._host, self._sibling_connected)
        elif now - self._streaming_since >= self.config.backoff_max:
            self._backoff.reset()
        return seq

    def _deliver(
        self, source: FrameSource, seq: int, now: float, due: list[tuple[str, Region]]
    ) -> None:
        """Converts the frame once and puts it in the holder of every region due."""
        wall = self._wall()
        image = source.retrieve()
        if image is None:
            self._count("errors")
            logger.debug("camera=%s retrieve returned no image for frame %d", self.name, seq)
            return
        try:
            image = as_bgr(image)
        except ValueError as error:
            # a source breaking the frame contract: its frames go, not the batch's
            self._refuse(str(error))
            return
        self._refusing = False
        for name, region in due:
            region.latest.put(Frame(name, image, seq, now, wall))
            region.retrieved += 1
        self._count("frames_retrieved")

    def _refuse(self, reason: str) -> None:
        self._count("errors")
        if not self._refusing:
            self._refusing = True
            logger.warning(
                "camera=%s source=%s frames refused: %s; counted in errors, logged once until a "
                "good frame",
                self.name,
                self.source_name,
                reason,
            )

    def _skipped(self, frames: int, log: bool) -> None:
        self._count("errors", frames)
        if log:
            logger.warning(
                "camera=%s source=%s skipped %d frame(s) the source could not read (corrupt "
                "data?); counted in errors, logged once per connection",
                self.name,
                self.source_name,
                frames,
            )

    def _grab_failed(self, generation: int, source: FrameSource, in_a_row: int) -> bool:
        if source.ended:
            self._set_state(generation, StreamState.FINISHED, f"reason={END_OF_FILE!r}")
            return True
        failure = getattr(source, "failure", None)
        if failure is not None:
            self._fail(generation, f"read failed: {failure.reason}", failure.cause)
            return False
        self._fail(
            generation,
            f"read failed: the source returned no frame {in_a_row} times in a row "
            "(connection lost, timeout or end of stream)",
            Cause.OTHER,
        )
        return False

    def _sibling_connected(self) -> None:
        """Another stream of this host connected: a backoff wait ends now."""
        if self._state is StreamState.BACKOFF:
            self._interrupt.set()

    def _pause(self, generation: int) -> None:
        if not self._stopping.is_set():
            self._interrupt.clear()
        delay = self._backoff.next_delay()
        self._set_state(
            generation, StreamState.BACKOFF, f"retry_in={delay:.2f} reason={self._last_error!r}"
        )
        self._sleep(delay)
        if self._current(generation):
            self._count("reconnects")

    # -- state, under the lock, for the current generation only

    def _current(self, generation: int) -> bool:
        return generation == self._generation and not self._stopping.is_set()

    def _set_state(self, generation: int, state: StreamState, fields: str = "") -> None:
        """`fields`: more key=value pairs for the log line (a JSON log makes each a field)."""
        with self._lock:
            if not self._current(generation) or state is self._state:
                return
            self._state = state
        logger.info(
            "camera=%s source=%s streams=%s state=%s%s",
            self.name,
            self.source_name,
            self._streams,
            state.value,
            f" {fields}" if fields else "",
        )

    def _arm(self, generation: int, seconds: float) -> None:
        with self._lock:
            if self._current(generation):
                self._deadline = self._clock() + seconds

    def _fail(self, generation: int, reason: str, cause: Cause) -> None:
        with self._lock:
            if not self._current(generation):
                return
            self._stats.errors += 1
            self._stats.failures[cause] += 1
            self._last_error = reason
        logger.warning(
            "camera=%s source=%s streams=%s error=%r",
            self.name,
            self.source_name,
            self._streams,
            reason,
        )

    def _count(self, counter: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self._stats, counter, getattr(self._stats, counter) + amount)

    def _describe(self, error: Exception) -> str:
        """An exception as a log-safe line: a SourceError is already redacted; others may quote the
        URL."""
        text = str(error).replace(self.config.source, self.source_name)
        return text if isinstance(error, SourceError) else f"{type(error).__name__}: {text}"
