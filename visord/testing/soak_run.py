"""A soak run of `visord run`: 8 RTSP streams for a while, forced reconnects, memory, threads and
files.

Shared by tests/test_soak.py (one minute in the default suite, ten under the `soak` marker) and
bench/soak.py. The daemon reads `streams` streams from one real RTSP camera (a GStreamer server,
one pipeline per client); a sampler thread reads the daemon's resident memory, threads and open
file descriptors from /proc, and its reconnect and classified counters from /metrics, every
`interval` seconds. After a warm-up (every stream up, then `warmup` seconds) the threads and files
are the baseline; then the camera is disrupted over and over, alternately killed and restarted
(connections reset) and frozen past the stall timeout and resumed (the watchdog abandons blocked
workers), each time until every stream is up again and then `gap` seconds more (a stream's backoff
resets after 30 s of healthy streaming: with a shorter gap the waits before reconnecting grow),
until `reconnects` reconnects were counted or the time is nearly up. At the end, with every stream
up, the threads and files must come back to the baseline. Resident memory is fitted with
least-squares lines (MB per minute): over the whole run after the warm-up, and over the steady tail
after the last disruption; and what each disruption added is kept. The allocator's pools grow during
the first reconnects (each connection is a new thread, FFmpeg contexts come and go) and then stop: a
leak shows as additions that do not shrink and a tail that keeps rising.

OpenCV opens FFmpeg captures one at a time, and FFmpeg probes an RTSP stream for about 3 s by
default: 8 streams would take 24 s to come back after each disruption. The daemon runs with
`OPENCV_FFMPEG_CAPTURE_OPTIONS=analyzeduration;500000` (an operator's knob that visord keeps), which
brings an open of the test camera under a second.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from visord.testing.daemon_config import daemon_yaml
from visord.testing.daemon_process import DaemonProcess, proc_status, rss_mb, series
from visord.testing.onnx_models import manifest_dict, tiny_classifier
from visord.testing.rtsp_server import RtspServer, free_port
from visord.testing.wait import wait_for

STALL_TIMEOUT = 2.0
FFMPEG_OPTIONS = {"OPENCV_FFMPEG_CAPTURE_OPTIONS": "analyzeduration;500000"}


@dataclass(frozen=True)
class Sample:
    seconds: float
    rss_mb: float
    threads: int
    fds: int
    reconnects: int
    classified: int


@dataclass
class SoakResult:
    samples: list[Sample] = field(default_factory=list)
    baseline: tuple[int, int] | None = None  # threads, open files once warm
    final: tuple[int, int] | None = None  # the same at the end, every stream up
    disruptions: int = 0
    # by each disruption, once every stream was back
    rss_added_mb: list[float] = field(default_factory=list)
    churn_ended_s: float | None = None  # when the last disruption was over (seconds from the start)
    reconnects: int = 0  # forced: counted by the daemon after the warm-up
    stalls_at_start: int | None = None  # streams opening together must wait their turn, not stall
    slope_mb_per_min: float | None = None  # after the warm-up
    tail_slope_mb_per_min: float | None = None  # after the last disruption
    exit_code: int | None = None

    @property
    def back_to_baseline(self) -> bool:
        return self.baseline is not None and self.final == self.baseline


def process_figures(pid: int) -> tuple[float, int, int]:
    """Resident memory (MB), threads and open file descriptors of process `pid`, from /proc."""
    return rss_mb(pid), int(proc_status(pid)["Threads"]), len(os.listdir(f"/proc/{pid}/fd"))


def per_stream_sums(metrics: str) -> dict[str, float]:
    """Each per-stream `visord_*` series of a /metrics page, summed over its streams."""
    sums: dict[str, float] = {}
    for name, labels, value in series(metrics):
        if name.startswith("visord_") and ("stream" in labels or "camera" in labels):
            sums[name] = sums.get(name, 0.0) + value
    return sums


def slope_per_minute(samples: list[Sample]) -> float | None:
    """Least-squares slope of resident memory over time, MB per minute (None under 3 samples)."""
    if len(samples) < 3:
        return None
    minutes = np.array([s.seconds for s in samples]) / 60
    return float(np.polyfit(minutes, np.array([s.rss_mb for s in samples]), 1)[0])


class Soak:
    def __init__(
        self,
        folder: Path,
        model: Path | None = None,
        streams: int = 8,
        size: tuple[int, int] = (160, 120),
        fps: int = 10,
        report: Callable[[Sample], None] = lambda sample: None,
    ) -> None:
        self.folder = folder
        self.streams = streams
        self.report = report
        self.model = model or tiny_classifier(folder / "small.onnx", manifest_dict(name="small"))
        self.camera = RtspServer(width=size[0], height=size[1], fps=fps)
        self.result = SoakResult()
        self._stopping = threading.Event()

    def config(self, port: int) -> Path:
        streams = [
            {
                "name": f"cam{i}",
                "source": self.camera.url,
                "fps": 2,
                "model": "small",
                "stall_timeout": STALL_TIMEOUT,
            }
            for i in range(self.streams)
        ]
        config = self.folder / "visord.yaml"
        events = {"sinks": [{"type": "jsonl", "path": str(self.folder / "events.jsonl")}]}
        config.write_text(
            daemon_yaml({"small": self.model}, streams, events=events, metrics={"port": port})
        )
        return config

    def run(
        self,
        seconds: float,
        interval: float = 10.0,
        warmup: float = 60.0,
        reconnects: int = 100,
        gap: float = 31.0,
    ) -> SoakResult:
        port = free_port()
        self.camera.start()
        try:
            with DaemonProcess(self.config(port), port, env=FFMPEG_OPTIONS) as daemon:
                self._run(daemon, seconds, interval, warmup, reconnects, gap)
                self.result.exit_code = daemon.stop()
        finally:
            self._stopping.set()
            self.camera.__exit__()
        return self.result

    def _run(
        self,
        daemon: DaemonProcess,
        seconds: float,
        interval: float,
        warmup: float,
        target: int,
        gap: float,
    ) -> None:
        started = time.monotonic()
        sampler = threading.Thread(
            target=self._sample, args=(daemon, started, interval), daemon=True
        )
        sampler.start()
        self._wait_up(daemon, 60)
        self.result.stalls_at_start = int(
            per_stream_sums(daemon.metrics()).get("visord_camera_stalls_total", -1)
        )
        time.sleep(warmup)
        self.result.baseline = process_figures(daemon.process.pid)[1:]
        counted = self._reconnects(daemon)
        ending = started + seconds - 10  # the last disruption must leave time to settle
        while time.monotonic() < ending and self._reconnects(daemon) - counted < target:
            before = process_figures(daemon.process.pid)[0]
            self._disrupt(daemon, frozen=self.result.disruptions % 2 == 1)
            self.result.disruptions += 1
            self.result.rss_added_mb.append(process_figures(daemon.process.pid)[0] - before)
            self.result.churn_ended_s = time.monotonic() - started
            self._stopping.wait(min(gap, max(0.0, ending - time.monotonic())))
        self.result.reconnects = self._reconnects(daemon) - counted
        self._stopping.wait(max(0.0, started + seconds - time.monotonic()))
        self.result.final = self._settled(daemon)
        self._stopping.set()
        sampler.join(interval + 5)
        after_warmup = [s for s in self.result.samples if s.seconds >= warmup]
        self.result.slope_mb_per_min = slope_per_minute(after_warmup)
        churn_ended = self.result.churn_ended_s or warmup
        self.result.tail_slope_mb_per_min = slope_per_minute(
            [s for s in after_warmup if s.seconds >= churn_ended]
        )

    def _disrupt(self, daemon: DaemonProcess, frozen: bool) -> None:
        """One forced outage of every stream: frozen past the stall timeout, or killed; then back
        up."""
        if frozen:
            self.camera.pause()
        else:
            self.camera.kill()
        wait_for(lambda: self._up(daemon) == 0, 60, "every stream down")
        if frozen:
            self.camera.resume()
        else:
            self.camera.start()
        self._wait_up(daemon, 120)

    def _settled(self, daemon: DaemonProcess, timeout: float = 30.0) -> tuple[int, int]:
        """Threads and files once back to the baseline (abandoned workers take up to a read timeout
        to go), or
        as they are after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            figures = process_figures(daemon.process.pid)[1:]
            if figures == self.result.baseline or time.monotonic() > deadline:
                return figures
            time.sleep(0.5)

    def _sample(self, daemon: DaemonProcess, started: float, interval: float) -> None:
        while not self._stopping.is_set() and daemon.process.poll() is None:
            sums = per_stream_sums(daemon.metrics())
            rss, threads, fds = process_figures(daemon.process.pid)
            sample = Sample(
                time.monotonic() - started,
                rss,
                threads,
                fds,
                int(sums.get("visord_camera_reconnects_total", 0)),
                int(sums.get("visord_frames_classified_total", 0)),
            )
            self.result.samples.append(sample)
            self.report(sample)
            self._stopping.wait(interval)

    def _wait_up(self, daemon: DaemonProcess, timeout: float) -> None:
        wait_for(
            lambda: self._up(daemon) == self.streams, timeout, f"all {self.streams} streams up"
        )

    @staticmethod
    def _up(daemon: DaemonProcess) -> int:
        return int(per_stream_sums(daemon.metrics()).get("visord_stream_up", -1))

    @staticmethod
    def _reconnects(daemon: DaemonProcess) -> int:
        return int(per_stream_sums(daemon.metrics()).get("visord_camera_reconnects_total", 0))
