"""StreamReader: unit tests with fake sources and fake time, then real components (a real RTSP
server
killed, restarted and frozen; a server that never answers; real H.264 files; the demo scenes)."""

from __future__ import annotations

import logging
import math
import threading
import time

import numpy as np
import pytest

from visord.daemon.sources import (
    Cause,
    Failure,
    ReaderConfig,
    SourceError,
    SourceOptions,
    StreamReader,
    StreamState,
)
from visord.daemon.sources.reader import BAD_FRAMES_IN_A_ROW
from visord.daemon.sources.siblings import host_of
from visord.testing.media import write_h264
from visord.testing.rtsp_server import RtspServer, SilentServer
from visord.testing.wait import wait_for

IMAGE = np.zeros((24, 32, 3), np.uint8)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeSource:
    """A scripted source: `frames` frames, each moving the fake clock one period, then end of file
    (`finite`) or a read error. `gate`, when given, blocks `grab` until set; `error` is raised by
    open; the grab calls numbered in `unreadable` (from 1) fail without ending the stream, as a
    corrupt frame."""

    def __init__(
        self,
        clock: FakeClock,
        frames: float = math.inf,
        finite: bool = False,
        period: float = 1 / 32,
        gate: threading.Event | None = None,
        error: Exception | None = None,
        unreadable: frozenset[int] = frozenset(),
    ) -> None:
        self.clock, self.frames, self.finite, self.period = clock, frames, finite, period
        self.gate, self.error, self.unreadable = gate, error, unreadable
        self.ended, self.grabbed, self.retrieved, self.released, self.waiting = (
            False,
            0,
            0,
            False,
            False,
        )
        self.calls, self.opened = 0, False

    def open(self) -> None:
        self.opened = True
        if self.error is not None:
            raise self.error

    def grab(self) -> bool:
        if self.gate is not None:
            self.waiting = True
            self.gate.wait()
        self.calls += 1
        if self.calls in self.unreadable:
            return False
        if self.grabbed >= self.frames:
            self.ended = self.finite
            return False
        self.grabbed += 1
        self.clock.now += self.period
        time.sleep(0.001)  # a camera is never instantaneous; keeps the fake from spinning a core
        return True

    def retrieve(self) -> np.ndarray:
        self.retrieved += 1
        return IMAGE

    def release(self) -> None:
        self.released = True


class Factory:
    """Hands out the given sources in order, then copies of the last one's script."""

    def __init__(self, *sources: FakeSource) -> None:
        self.sources, self.made = sources, []

    def __call__(self, source: str, options: SourceOptions) -> FakeSource:
        index = len(self.made)
        self.made.append(
            self.sources[index] if index < len(self.sources) else self._copy(self.sources[-1])
        )
        return self.made[-1]

    @staticmethod
    def _copy(script: FakeSource) -> FakeSource:
        return FakeSource(
            script.clock,
            script.frames,
            script.finite,
            script.period,
            script.gate,
            script.error,
            script.unreadable,
        )


class LosingSource(FakeSource):
    """A fake that says why its connection was lost, as the PyAV sources do."""

    def __init__(self, clock: FakeClock, failure: Failure, **kwargs: object) -> None:
        super().__init__(clock, **kwargs)
        self.failure_at_end = failure
        self.failure = None

    def grab(self) -> bool:
        grabbed = super().grab()
        if not grabbed:
            self.failure = self.failure_at_end
        return grabbed


class RecordingSleep:
    """A fake sleep: records each delay, advances the fake clock, and signals after `count`
    calls."""

    def __init__(self, clock: FakeClock, count: int = 1) -> None:
        self.clock, self.count, self.delays, self.reached = clock, count, [], threading.Event()

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.clock.now += seconds
        if len(self.delays) >= self.count:
            self.reached.set()
            time.sleep(0.01)


def fake_reader(
    *sources: FakeSource, sleep: RecordingSleep | None = None, **config: object
) -> StreamReader:
    clock = sources[0].clock
    settings = {"name": "cam", "source": "rtsp://admin:hunter2@cam.local/live", **config}
    return StreamReader(
        ReaderConfig(**settings),
        source_factory=Factory(*sources),
        clock=clock,
        wall_clock=lambda: 1.7e9,
        sleep=sleep or RecordingSleep(clock),
        random=lambda: 0.0,
    )


@pytest.fixture
def readers():
    """Readers made by a test, stopped at its end whatever happens."""
    made: list[StreamReader] = []
    yield made
    for reader in made:
        reader.stop()


# -- with fakes


def test_retrieves_only_frames_due_at_the_inference_rate(readers):
    clock = FakeClock()
    # 1.5 s at 32 fps (exact in binary floating point)
    source = FakeSource(clock, frames=48, finite=True)
    reader = fake_reader(source, inference_fps=8)
    readers.append(reader.start())
    wait_for(lambda: reader.state is StreamState.FINISHED)
    stats = reader.stats
    assert (stats.frames_decoded, stats.frames_retrieved, source.retrieved) == (48, 12, 12)
    assert stats.errors == 0 and source.released


def test_slow_consumer_gets_the_newest_frame_and_drops_are_counted(readers):
    clock = FakeClock()
    reader = fake_reader(FakeSource(clock, frames=20, finite=True))
    readers.append(reader.start())
    wait_for(lambda: reader.state is StreamState.FINISHED)
    frame = reader.latest.take()
    assert frame.seq == 20 and frame.stream == "cam" and frame.wall == 1.7e9
    assert frame.monotonic == 1000.0 + 20 / 32
    assert reader.stats.frames_dropped == 19


def test_open_failures_back_off_exponentially_with_a_cap(readers):
    clock = FakeClock()
    sleep = RecordingSleep(clock, count=6)
    reader = fake_reader(
        FakeSource(clock, error=SourceError("cam.local: refused")),
        sleep=sleep,
        backoff_initial=1.0,
        backoff_max=8.0,
    )
    readers.append(reader.start())
    assert sleep.reached.wait(10)
    reader.stop()
    assert sleep.delays[:6] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    stats = reader.stats
    assert stats.errors >= 6 and stats.reconnects >= 5
    assert reader.last_error == "open failed: cam.local: refused"


def test_read_error_reconnects_and_streaming_resumes(readers):
    clock = FakeClock()
    reader = fake_reader(FakeSource(clock, frames=3), FakeSource(clock))
    readers.append(reader.start())
    wait_for(lambda: reader.stats.reconnects == 1 and reader.state is StreamState.STREAMING)
    wait_for(lambda: reader.stats.frames_decoded > 10)
    assert reader.stats.errors == 1  # one lost connection, whatever the attempts it took to tell
    assert reader.last_error == (
        f"read failed: the source returned no frame {BAD_FRAMES_IN_A_ROW + 1} times in a "
        "row (connection lost, timeout or end of stream)"
    )


def test_isolated_unreadable_frames_are_skipped_without_a_reconnect(readers, caplog):
    """A corrupt frame now and then (grab fails, the next one works) costs that frame, not the
    connection."""
    caplog.set_level(logging.WARNING, logger="visord.daemon.sources.reader")
    clock = FakeClock()
    # the longest run still taken for corrupt frames
    run = frozenset(range(40, 40 + BAD_FRAMES_IN_A_ROW))
    reader = fake_reader(
        FakeSource(clock, frames=60, finite=True, unreadable=frozenset({5, 12, 13, 30}) | run)
    )
    readers.append(reader.start())
    wait_for(lambda: reader.state is StreamState.FINISHED)
    stats = reader.stats
    assert (stats.frames_decoded, stats.errors, stats.reconnects) == (
        60,
        4 + BAD_FRAMES_IN_A_ROW,
        0,
    )
    assert len([r for r in caplog.records if "could not read" in r.getMessage()]) == 1


def test_backoff_resets_after_a_healthy_connection(readers):
    clock = FakeClock()
    sleep, parked = RecordingSleep(clock, count=4), threading.Event()
    flapping = [FakeSource(clock, frames=2) for _ in range(3)]
    healthy = FakeSource(clock, frames=200)  # 6.25 s of fake time: longer than backoff_max
    reader = fake_reader(
        *flapping,
        healthy,
        FakeSource(clock, gate=parked),
        sleep=sleep,
        backoff_initial=1.0,
        backoff_max=4.0,
    )
    readers.append(reader.start())
    assert sleep.reached.wait(10)
    parked.set()
    assert sleep.delays[:4] == [1.0, 2.0, 4.0, 1.0]


def test_unexpected_exception_costs_a_reconnect_and_its_message_is_redacted(readers):
    clock = FakeClock()
    boom = FakeSource(clock, error=RuntimeError("cannot parse rtsp://admin:hunter2@cam.local/live"))
    reader = fake_reader(boom, FakeSource(clock))
    readers.append(reader.start())
    wait_for(lambda: reader.state is StreamState.STREAMING)
    assert reader.stats.errors == 1
    assert reader.last_error == "open failed: RuntimeError: cannot parse rtsp://***@cam.local/live"


def test_watchdog_replaces_a_worker_stuck_in_grab(readers):
    clock, stuck = FakeClock(), threading.Event()
    blocked = FakeSource(clock, gate=stuck)
    reader = fake_reader(blocked, FakeSource(clock), stall_timeout=5.0)
    readers.append(reader.start())
    wait_for(lambda: blocked.waiting)
    assert not reader.check_stall()
    clock.now += 5.0
    wait_for(lambda: reader.stats.stalls == 1)  # the watchdog thread checks every second
    assert not reader.check_stall()
    wait_for(lambda: reader.state is StreamState.STREAMING)
    assert reader.last_error.startswith("stalled") and reader.stats.reconnects == 1
    assert not blocked.released
    # the blocked call returns: the abandoned worker cleans up without touching the stream
    stuck.set()
    wait_for(lambda: blocked.released)
    assert reader.state is StreamState.STREAMING and reader.stats.errors == 0


def test_failures_are_counted_by_their_cause(readers):
    clock = FakeClock()
    refused = SourceError("cam.local: refused", Failure(Cause.REFUSED, "connection refused"))
    lost = LosingSource(clock, frames=3, failure=Failure(Cause.RESET, "connection reset"))
    sleep = RecordingSleep(clock, count=3)
    reader = fake_reader(FakeSource(clock, error=refused), lost, FakeSource(clock), sleep=sleep)
    readers.append(reader.start())
    wait_for(lambda: reader.stats.failures.get(Cause.RESET) == 1)
    failures = reader.stats.failures
    assert failures[Cause.REFUSED] == 1 and Cause.OTHER not in failures
    assert reader.stats.errors == 2


class KeyframeSource(FakeSource):
    """A fake that offers key-frame decoding and reports `rate` key frames per second."""

    def __init__(self, clock: FakeClock, rate: float | None, **kwargs: object) -> None:
        super().__init__(clock, **kwargs)
        self.keyframes_per_second = rate
        self.keyframes_only: list[bool] = []

    def decode_keyframes(self, only: bool) -> None:
        self.keyframes_only.append(only)


@pytest.mark.parametrize(
    ("decode", "fps", "rate", "expected"),
    [
        ("auto", 1.0, 1.0, [True]),  # every frame classified is a key frame anyway
        ("auto", 0.5, 1.0, [True]),
        ("auto", 2.0, 1.0, []),  # key frames alone would lower the rate: decode all
        ("auto", None, 1.0, []),  # every frame wanted
        ("auto", 1.0, None, []),  # rate unknown yet
        ("auto", 0.05, 0.1, []),  # a key frame per 10 s: the watchdog would take it for a stall
        ("all", 0.5, 1.0, []),
        ("keyframes", 2.0, 1.0, [True]),
    ],
)
def test_decode_chooses_key_frames_only_when_the_rate_allows_or_when_told(
    readers, decode, fps, rate, expected
):
    clock = FakeClock()
    source = KeyframeSource(clock, rate, frames=64, finite=True)
    reader = fake_reader(source, decode=decode, inference_fps=fps)
    readers.append(reader.start())
    wait_for(lambda: reader.state is StreamState.FINISHED)
    assert source.keyframes_only == expected
    assert reader.stats.keyframes_only is bool(expected)


def test_key_frames_only_follows_the_inference_rate_as_the_router_changes_it(readers):
    clock = FakeClock()
    gate = threading.Event()
    gate.set()
    source = KeyframeSource(clock, 1.0, gate=gate)
    reader = fake_reader(source, inference_fps=1.0)
    readers.append(reader.start())
    wait_for(lambda: source.keyframes_only == [True])
    reader.set_inference_fps(5.0)
    wait_for(lambda: source.keyframes_only == [True, False])
    assert not reader.stats.keyframes_only


def test_stop_is_prompt_in_backoff_and_does_not_wait_for_a_blocked_grab():
    clock = FakeClock()
    in_backoff = StreamReader(
        ReaderConfig("a", "rtsp://a/", backoff_initial=60.0, backoff_max=60.0),
        source_factory=Factory(FakeSource(clock, error=SourceError("down"))),
        clock=clock,
    )
    in_backoff.start()
    wait_for(lambda: in_backoff.state is StreamState.BACKOFF)
    assert in_backoff.stop() is True  # the 60 s backoff wait ends at stop()
    stuck = threading.Event()
    blocked = FakeSource(clock, gate=stuck)
    in_grab = StreamReader(
        ReaderConfig("b", "rtsp://b/"), source_factory=Factory(blocked), clock=clock
    )
    in_grab.start()
    wait_for(lambda: blocked.waiting)
    assert in_grab.stop(timeout=0.2) is False and in_grab.state is StreamState.STOPPED
    stuck.set()
    wait_for(lambda: blocked.released)
    assert in_grab.state is StreamState.STOPPED


def test_a_stuck_stream_never_blocks_another(readers):
    clock = FakeClock()
    stuck = threading.Event()
    hung = fake_reader(FakeSource(clock, gate=stuck), stall_timeout=3600.0)
    healthy = fake_reader(FakeSource(clock), inference_fps=None)
    readers.extend([hung.start(), healthy.start()])
    wait_for(lambda: healthy.stats.frames_decoded > 20 and healthy.latest.take() is not None)
    assert hung.stats.frames_decoded == 0
    stuck.set()


def test_config_errors_name_the_argument():
    with pytest.raises(ValueError, match="stall_timeout=0"):
        ReaderConfig("cam", "demo://scenes", stall_timeout=0)
    with pytest.raises(ValueError, match="fps=-1"):
        ReaderConfig("cam", "demo://scenes", inference_fps=-1)
    with pytest.raises(ValueError, match="transport='quic'"):
        ReaderConfig("cam", "demo://scenes", transport="quic")


# -- real components


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_h264(tmp_path_factory.mktemp("media") / "clip.mp4", frames=30, fps=15)


def test_file_played_once_finishes(readers, clip):
    reader = StreamReader(ReaderConfig("file", str(clip), realtime=False))
    readers.append(reader.start())
    wait_for(lambda: reader.state is StreamState.FINISHED)
    assert reader.stats.frames_decoded == 30 and reader.latest.take().image.shape == (240, 320, 3)


def test_looping_file_keeps_streaming(readers, clip):
    reader = StreamReader(
        ReaderConfig("loop", str(clip), loop=True, realtime=False, inference_fps=None)
    )
    readers.append(reader.start())
    wait_for(lambda: reader.stats.frames_decoded > 75)
    assert reader.state is StreamState.STREAMING and reader.stats.errors == 0


def test_demo_scenes(readers):
    reader = StreamReader(
        ReaderConfig("demo", "demo://scenes?size=320x240&fps=25&seed=1", inference_fps=5)
    )
    readers.append(reader.start())
    frame = reader.latest.take(timeout=20)
    assert (
        frame is not None and frame.image.shape == (240, 320, 3) and frame.image.dtype == np.uint8
    )
    assert reader.state is StreamState.STREAMING


def test_rtsp_server_killed_and_restarted(readers):
    with RtspServer() as server:
        reader = StreamReader(
            ReaderConfig(
                "cam",
                server.url,
                inference_fps=5,
                stall_timeout=3.0,
                open_timeout=3.0,
                backoff_initial=0.2,
                backoff_max=1.0,
            )
        )
        readers.append(reader.start())
        frame = reader.latest.take(timeout=20)
        assert frame is not None and frame.image.shape == (240, 320, 3)
        server.kill()
        wait_for(lambda: reader.state in (StreamState.BACKOFF, StreamState.CONNECTING))
        assert reader.last_error.startswith(("read failed", "open failed"))
        server.start()
        wait_for(lambda: reader.stats.reconnects >= 1 and reader.state is StreamState.STREAMING)
        decoded = reader.stats.frames_decoded
        wait_for(lambda: reader.stats.frames_decoded > decoded + 10)
    stats = reader.stats
    assert stats.frames_retrieved < stats.frames_decoded  # 5 of the server's 15 fps


def test_frozen_rtsp_server_is_caught_by_the_watchdog(readers):
    with RtspServer() as server:
        reader = StreamReader(
            ReaderConfig(
                "cam",
                server.url,
                stall_timeout=1.0,
                open_timeout=2.0,
                backoff_initial=0.2,
                backoff_max=1.0,
            )
        )
        readers.append(reader.start())
        wait_for(lambda: reader.state is StreamState.STREAMING)
        server.pause()
        wait_for(lambda: reader.stats.stalls >= 1)
        assert reader.last_error.startswith("stalled")
        server.resume()
        stalls = reader.stats.stalls
        wait_for(
            lambda: reader.state is StreamState.STREAMING and reader.stats.stalls == stalls,
            timeout=30,
        )


def test_silent_camera_does_not_hang_the_reader_nor_the_others(readers, caplog):
    caplog.set_level(logging.INFO, logger="visord.daemon.sources.reader")
    with SilentServer() as silent, RtspServer() as server:
        hung = StreamReader(
            ReaderConfig(
                "silent",
                f"rtsp://admin:hunter2@127.0.0.1:{silent.port}/stream",
                stall_timeout=1.0,
                open_timeout=1.0,
                backoff_initial=0.2,
                backoff_max=0.5,
            )
        )
        missing = StreamReader(
            ReaderConfig("usb", "/dev/video99", backoff_initial=0.2, backoff_max=0.5)
        )
        good = StreamReader(ReaderConfig("good", server.url, inference_fps=5))
        readers.extend([hung.start(), missing.start(), good.start()])
        wait_for(lambda: hung.stats.errors >= 2 and missing.stats.errors >= 2)
        assert (
            "no answer within the open timeout" in hung.last_error
            and hung.state is not StreamState.STREAMING
        )
        assert "no such V4L2 device" in missing.last_error
        assert good.latest.take(timeout=20) is not None
        assert hung.stop() is True
    assert "hunter2" not in caplog.text and "rtsp://***@127.0.0.1" in caplog.text


def test_the_first_stream_of_a_host_to_connect_wakes_its_siblings_from_their_backoff(readers):
    """Two streams of one server, both refused: the one with a long backoff retries as soon as the
    other connects, not 60 s later; a stream of another host keeps its wait."""
    clock = FakeClock()
    down = SourceError("refused", Failure(Cause.REFUSED, "connection refused"))

    def reader(name: str, url: str, wait: float) -> StreamReader:
        return StreamReader(
            ReaderConfig(name, url, backoff_initial=wait, backoff_max=wait),
            source_factory=Factory(FakeSource(clock, error=down), FakeSource(clock)),
            clock=clock,
            random=lambda: 0.0,
        )

    patient = reader("patient", "rtsp://nvr.local:554/ch2", 60.0)
    other = reader("other", "rtsp://other.local:554/ch1", 60.0)
    readers.extend([patient.start(), other.start()])
    wait_for(lambda: patient.state is StreamState.BACKOFF and other.state is StreamState.BACKOFF)
    eager = reader("eager", "rtsp://user:pw@NVR.local/ch1", 0.2)  # 554: RTSP's port
    readers.append(eager.start())
    wait_for(lambda: eager.state is StreamState.STREAMING)
    wait_for(lambda: patient.state is StreamState.STREAMING, timeout=5)
    assert other.state is StreamState.BACKOFF and patient.stats.reconnects == 1


@pytest.mark.parametrize(
    ("source", "host"),
    [
        ("rtsp://user:pw@Cam.local/live", "cam.local:554"),
        ("rtsp://10.0.0.5:8554/ch1", "10.0.0.5:8554"),
        ("https://nvr/video.mjpg", "nvr:443"),
        ("/dev/video0", None),
        ("clips/door.mp4", None),
        ("demo://scenes", None),
    ],
)
def test_siblings_are_streams_of_one_host_and_port(source, host):
    assert host_of(source) == host


def test_a_camera_decodes_once_and_feeds_each_region_at_its_own_rate(readers):
    clock = FakeClock()
    source = FakeSource(clock, frames=64, finite=True)  # 2 s at 32 fps
    reader = fake_reader(source, regions=(("gate", 4.0), ("lawn", 1.0), ("all", None)))
    readers.append(reader.start())
    wait_for(lambda: reader.state is StreamState.FINISHED)
    stats = reader.stats
    assert stats.frames_decoded == 64 and stats.reconnects == 0 and stats.errors == 0
    # one conversion a frame due anywhere (every frame here, for "all"), shared by the regions
    assert source.retrieved == stats.frames_retrieved == 64
    counts = {name: reader.region_counts(name)[0] for name in reader.regions}
    assert counts == {"gate": 8, "lawn": 2, "all": 64}
    assert reader.latest_of("gate").take().stream == "gate"
    assert reader.latest_of("all").take().seq == 64


def test_regions_come_and_go_without_reopening_the_camera(readers):
    clock = FakeClock()
    gate = threading.Event()
    gate.set()
    source = KeyframeSource(clock, 1.0, gate=gate)
    reader = fake_reader(source, regions=(("gate", 1.0),))
    readers.append(reader.start())
    wait_for(lambda: source.keyframes_only == [True])
    added = reader.add_region("lawn", 5.0)  # faster than the key frames: decode them all
    wait_for(lambda: source.keyframes_only == [True, False])
    assert added.take(timeout=5) is not None
    reader.remove_region("lawn")
    wait_for(lambda: source.keyframes_only == [True, False, True])
    assert reader.regions == ("gate",) and reader.stats.reconnects == 0
    with pytest.raises(ValueError, match="already has a region 'gate'"):
        reader.add_region("gate", 1.0)
