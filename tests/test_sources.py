"""Frame sources one by one: the kind registry, the demo scenes, real H.264 files, a real RTSP
server, MJPEG over HTTP, V4L2 errors; and the small parts the reader is built from (pacing, rate
gate, holder, backoff, FFmpeg's log lines)."""

from __future__ import annotations

import logging
import threading

import av.logging
import numpy as np
import pytest

from visord.daemon.config.sources import classify_source
from visord.daemon.sources import (
    SOURCES,
    Backoff,
    Frame,
    LatestFrame,
    SourceError,
    SourceOptions,
    create_source,
)
from visord.daemon.sources.capture import DeviceSource
from visord.daemon.sources.decoder import DecoderSource, FileDecoderSource
from visord.daemon.sources.demo import DemoSource
from visord.daemon.sources.ffmpeg_log import FFmpegLines, route_ffmpeg_logs
from visord.daemon.sources.pacing import Pacer, RateGate
from visord.testing.media import write_h264
from visord.testing.mjpeg_server import MjpegServer
from visord.testing.rtsp_server import RtspServer, SilentServer, free_port

FAST = SourceOptions(open_timeout=3.0, read_timeout=3.0)


class FakeClock:
    """Monotonic time that only moves when told to; `sleep` moves it."""

    def __init__(self, now: float = 100.0) -> None:
        self.now, self.sleeps = now, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A real 30-frame, 15 fps, 320x240 H.264 MP4."""
    return write_h264(tmp_path_factory.mktemp("media") / "clip.mp4", frames=30, fps=15)


@pytest.fixture(scope="module")
def rtsp():
    with RtspServer() as server:
        yield server


# -- kinds


BY_ID = "/dev/v4l/by-id/usb-Logitech_HD_Webcam_C270_2B7E6A60-video-index0"
BY_PATH = "/dev/v4l/by-path/pci-0000:00:14.0-usb-0:1:1.0-video-index0"


@pytest.mark.parametrize("source", ["/dev/video0", "2", BY_ID, BY_PATH])
def test_every_device_name_udev_gives_is_opened_as_a_device_not_a_file(source):
    built = create_source(source, FAST)
    assert isinstance(built, DeviceSource), type(built).__name__
    assert classify_source(source) == "device"  # the same rule the config validates with


def test_a_device_index_is_opened_by_number_and_a_path_by_name():
    assert create_source("2", FAST).target == 2
    assert create_source(BY_ID, FAST).target == BY_ID


def test_unknown_scheme_names_it_and_lists_the_valid_kinds():
    with pytest.raises(ValueError, match=r"unsupported scheme 'rtmp://' \(valid: rtsp://"):
        create_source("rtmp://cam/live")


EXAMPLES = {
    "rtsp": "rtsps://127.0.0.1:1/x",
    "http": "https://127.0.0.1:1/x",
    "device": BY_PATH,
    "file": "/nonexistent.mp4",
    "demo": "demo://scenes?size=64x48",
}


@pytest.mark.parametrize("kind", SOURCES.names())
def test_every_kind_builds_a_cv2_shaped_source_without_connecting(kind):
    source = create_source(EXAMPLES[kind], FAST)
    assert source.ended is False
    assert all(
        callable(getattr(source, method)) for method in ("open", "grab", "retrieve", "release")
    )
    source.release()


# -- demo://scenes


def test_demo_source_renders_bgr_frames_paced_to_its_fps():
    clock = FakeClock()
    source = DemoSource("demo://scenes?size=160x120&fps=10&seed=3", clock=clock, sleep=clock.sleep)
    source.open()
    images = []
    for _ in range(3):
        assert source.grab()
        clock.now += 0.01  # rendering took 10 ms
        images.append(source.retrieve())
    assert all(image.shape == (120, 160, 3) and image.dtype == np.uint8 for image in images)
    assert clock.sleeps == pytest.approx([0.09, 0.09])
    assert source.label in ("empty", "person", "vehicle", "animal")
    source.release()
    assert not source.grab()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "demo://scenes?colour=red",
            "unknown parameter 'colour'.*Valid: difficulty, fps, hold, seed, size",
        ),
        ("demo://scenes?size=640", "size is WIDTHxHEIGHT"),
        ("demo://scenes?fps=0", "fps"),
        ("demo://people", "the demo source is demo://scenes"),
    ],
)
def test_demo_source_rejects_bad_urls(url, message):
    with pytest.raises(ValueError, match=message):
        create_source(url)


# -- files


def test_file_played_once_ends(clip):
    source = create_source(str(clip), SourceOptions(realtime=False))
    source.open()
    frames = 0
    while source.grab():
        frames += 1
    assert frames == 30 and source.ended
    source.release()


def test_file_with_loop_rewinds_and_is_paced_to_its_frame_rate(clip):
    clock = FakeClock()
    source = FileDecoderSource(str(clip), SourceOptions(loop=True), clock=clock, sleep=clock.sleep)
    source.open()
    for _ in range(75):
        assert source.grab()
    image = source.retrieve()
    assert image.shape == (240, 320, 3) and image.dtype == np.uint8
    assert not source.ended
    assert clock.sleeps == pytest.approx([1 / 15] * 74)
    source.release()


def test_missing_file_and_device_say_so():
    for source, message in (
        ("/nonexistent/clip.mp4", "no such file"),
        ("/dev/video99", "no such V4L2 device"),
    ):
        with pytest.raises(SourceError, match=message):
            create_source(source, FAST).open()


# -- RTSP and HTTP


def test_rtsp_source_reads_real_h264(rtsp):
    source = create_source(rtsp.url, FAST)
    source.open()
    try:
        assert all(source.grab() for _ in range(10))
        image = source.retrieve()
        assert image.shape == (240, 320, 3) and image.dtype == np.uint8
    finally:
        source.release()


def test_transport_option_reaches_ffmpeg_on_every_open():
    with RtspServer(protocols="tcp") as server:
        tcp, udp = (DecoderSource(server.url, FAST, transport) for transport in ("tcp", "udp"))
        with pytest.raises(SourceError, match="over UDP: 461 unsupported transport"):
            udp.open()
        tcp.open()
        assert tcp.grab()
        tcp.release()


def test_silent_server_times_out_and_the_error_hides_the_password():
    with SilentServer() as server:
        url = f"rtsp://admin:hunter2@127.0.0.1:{server.port}/stream"
        source = create_source(url, SourceOptions(open_timeout=1.0, read_timeout=1.0))
        expected = r"rtsp://\*\*\*@127.0.0.1:\d+/stream over TCP: timed out after 1 s"
        with pytest.raises(SourceError, match=expected) as error:
            source.open()
    assert "hunter2" not in str(error.value)


def test_refused_connection_is_reported_quickly():
    with pytest.raises(SourceError, match="over TCP: connection refused"):
        create_source(f"rtsp://127.0.0.1:{free_port()}/stream", FAST).open()


def test_http_mjpeg_source():
    with MjpegServer() as server:
        source = create_source(server.url, FAST)
        source.open()
        assert all(source.grab() for _ in range(5))
        image = source.retrieve()
        source.release()
    assert image.shape == (48, 64, 3) and image[..., 2].mean() > 200


def test_a_corrupt_mjpeg_part_fails_one_grab_and_the_next_one_works():
    """What the reader's skipping of unreadable frames relies on: the connection survives a bad
    part."""
    with MjpegServer(corrupt_every=4) as server:
        server.mode = "corrupt"
        source = create_source(server.url, FAST)
        source.open()
        grabs = [source.grab() for _ in range(12)]
        source.release()
    assert grabs.count(False) in (2, 3) and all(
        grabs[i] or grabs[i + 1] for i in range(len(grabs) - 1)
    )


# -- key frames


@pytest.fixture(scope="module")
def gop_clip(tmp_path_factory):
    """A real H.264 MP4 of 60 frames at 15 fps with a key frame every 15 (one a second)."""
    return write_h264(tmp_path_factory.mktemp("gop") / "clip.mp4", frames=60, fps=15)


def test_key_frames_only_decodes_the_key_frames_and_measures_their_rate(gop_clip):
    with av.open(str(gop_clip)) as container:
        keys = sum(packet.is_keyframe for packet in container.demux(video=0) if packet.size)
    source = create_source(str(gop_clip), SourceOptions(realtime=False))
    source.open()
    assert source.grab() and source.keyframes_per_second is None  # one key frame seen so far
    source.decode_keyframes(True)
    grabbed = 1
    while source.grab():
        grabbed += 1
        assert source._frame.key_frame
    source.release()
    assert 1 < keys < 60 and grabbed == keys
    assert source.keyframes_per_second == pytest.approx(1.0)


def test_decoding_every_frame_again_after_key_frames_only(gop_clip):
    source = create_source(str(gop_clip), SourceOptions(realtime=False))
    source.open()
    source.decode_keyframes(True)
    assert source.grab()
    source.decode_keyframes(False)
    frames = 1
    while source.grab():
        frames += 1
    source.release()
    assert frames == 60


# -- FFmpeg's own log lines


def test_ffmpeg_lines_are_rate_limited_per_component_and_say_how_many_were_held_back():
    clock = [0.0]
    lines = FFmpegLines(burst=2, period=10.0, clock=lambda: clock[0])

    def record(name: str) -> logging.LogRecord:
        return logging.makeLogRecord({"name": name, "msg": "bad packet", "levelno": 30})

    passed = [lines.filter(record("libav.h264")) for _ in range(5)]
    assert passed == [True, True, False, False, False]
    assert lines.filter(record("libav.rtsp"))  # another component has its own allowance
    assert lines.filter(record("visord.daemon"))  # visord's own lines are never held back
    clock[0] = 10.0
    again = record("libav.h264")
    assert lines.filter(again) and again.getMessage() == (
        "bad packet (3 more line(s) of libav.h264 held back)"
    )


def test_routed_ffmpeg_lines_reach_visords_handlers_with_the_password_redacted(caplog):
    root = logging.getLogger()
    handler = logging.Handler()
    records: list[logging.LogRecord] = []
    handler.emit = records.append
    root.addHandler(handler)
    try:
        route_ffmpeg_logs(av.logging.ERROR)
        with pytest.raises(SourceError, match="connection refused"):
            create_source(f"rtsp://admin:hunter2@127.0.0.1:{free_port()}/s", FAST).open()
    finally:
        av.logging.set_level(None)
        root.removeHandler(handler)
    ffmpeg = [record for record in records if record.name.startswith("libav")]
    assert ffmpeg and all("hunter2" not in record.getMessage() for record in ffmpeg)


# -- pacing, rate gate, holder, backoff


def test_pacer_holds_the_rate_and_resynchronises_after_a_delay():
    clock = FakeClock()
    pacer = Pacer(10, clock=clock, sleep=clock.sleep)
    pacer.wait()
    pacer.wait()
    clock.now += 5.0  # the caller was busy for a long time: no burst to catch up
    pacer.wait()
    pacer.wait()
    assert clock.sleeps == pytest.approx([0.1, 0.1])


def test_rate_gate_picks_frames_at_the_inference_rate():
    gate = RateGate(5)
    due = [gate.due(index * 0.04) for index in range(50)]  # 2 s of 25 fps
    assert sum(due) == 10 and due[0]
    assert all(RateGate(None).due(index * 0.04) for index in range(5))


def test_frames_as_far_apart_as_the_period_are_all_due_when_they_may_come_early():
    """Key frames at 1.01 a second, 1 fps asked: each comes a little before its time."""
    times = [index / 1.01 for index in range(30)]
    strict, lenient = RateGate(1.0), RateGate(1.0)
    assert sum(strict.due(now) for now in times) < 30  # a whole second lost now and then
    assert sum(lenient.due(now, early=0.5 / 1.01) for now in times) == 30


def test_latest_frame_keeps_the_newest_and_counts_the_overwritten():
    holder = LatestFrame()
    assert holder.take() is None
    for seq in range(1, 6):
        holder.put(Frame("cam", np.zeros((2, 2, 3), np.uint8), seq, float(seq), 0.0))
    assert holder.take().seq == 5 and holder.dropped == 4
    holder.put(Frame("cam", np.zeros((2, 2, 3), np.uint8), 6, 6.0, 0.0))
    assert holder.take(timeout=1).seq == 6 and holder.dropped == 4
    assert holder.take(timeout=0.01) is None


def test_latest_frame_take_waits_for_a_put():
    holder = LatestFrame()
    frame = Frame("cam", np.zeros((2, 2, 3), np.uint8), 1, 0.0, 0.0)
    threading.Timer(0.05, holder.put, args=(frame,)).start()
    assert holder.take(timeout=10) is frame


def test_backoff_grows_caps_and_jitters():
    draws = iter([0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.5, 0.5])
    backoff = Backoff(initial=0.5, maximum=4.0, jitter=0.5, random=lambda: next(draws))
    assert [backoff.next_delay() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 2.0, 3.0]
    backoff.reset()
    assert backoff.next_delay() == pytest.approx(0.5 * (1 - 0.5 * 0.5))  # the generator's next draw


def test_backoff_rejects_bad_limits():
    with pytest.raises(ValueError, match="initial=5.*maximum=1"):
        Backoff(initial=5, maximum=1)


def test_a_looped_file_keeps_its_key_frame_rate_across_the_rewind(gop_clip):
    """At the seam the packet times start again from 0: the rate is measured on, not lost (a
    camera on key frames only would decode every frame until two more key frames came)."""
    source = create_source(str(gop_clip), SourceOptions(realtime=False, loop=True))
    source.open()
    source.decode_keyframes(True)
    rates = []
    for _ in range(12):  # three plays of the clip's four key frames
        assert source.grab()
        rates.append(source.keyframes_per_second)
    source.release()
    assert rates[0] is None and all(rate == pytest.approx(1.0) for rate in rates[1:]), rates
