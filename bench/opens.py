"""Opens: RTSP streams opened side by side by PyAV, against OpenCV's FFmpeg backend, and by the
daemon at startup and after a camera outage.

Every camera is the same real one: GStreamer's RTSP server (`visord.testing.footage.camera`)
serving the PETS 2009 clip (vtest.avi, 768x576, 10 fps) re-encoded to H.264, a fresh session
from the clip's first frame for each client. In one run:

1. Raw opens in one process: N threads at once (`--cameras`, 16 and 64) each open the camera and
   grab its first frame, through `DecoderSource` (PyAV, one container per stream, as the daemon
   now reads) and then through `cv2.VideoCapture(url, cv2.CAP_FFMPEG)` (the old way, whose
   opens take a process-wide lock): seconds until all N have their first frame, the median
   open of one thread, and OpenCV / PyAV. Everything is released before the next case; a case
   that has not finished after `--timeout` seconds is reported as such.
2. The daemon: `visord run` with the tests' tiny model, `--daemon-cameras` streams (64) of that
   camera at 1 classified fps each plus one stream pointing at a `SilentServer` (accepts TCP,
   never answers: it fails its open after `open_timeout`, 10 s, and must delay no one). /metrics'
   `visord_stream_up` polled every 0.1 s gives: seconds from starting the process until every
   good stream is up; then the camera server is killed, every stream goes down, 5 s later the
   server restarts on the same port, and seconds from its first answer until every stream is
   streaming again. Once with the streams' default `reconnect: {min: 0.5, max: 10}` and once
   with `{min: 0.5, max: 4}`: after an outage a stream comes back on its next attempt, so the
   recovery is bounded by where each is in its backoff.

    python -m bench.opens [--cameras 16,64] [--daemon-cameras 64] [--timeout 300]

The GStreamer server, the daemon and this script share the box's cores. A benchmark, not a test:
it prints a table and ratios, writes OUT/opens.json, fails on nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2

from bench.harness import ROOT
from visord.daemon.sources.base import SourceOptions
from visord.daemon.sources.decoder import DecoderSource
from visord.testing.daemon_config import NO_EVENTS, daemon_yaml
from visord.testing.daemon_process import DaemonProcess, series
from visord.testing.footage import camera, h264_clip
from visord.testing.onnx_models import manifest_dict, tiny_classifier
from visord.testing.rtsp_server import SilentServer, free_port

POLL = 0.1  # seconds between two reads of /metrics
OUTAGE = 5.0  # seconds the camera stays dead once every stream is down
DAEMON_FPS = 1.0
SHORT_MAX = 4.0  # the second daemon run's reconnect max


# -- 1. raw opens in one process


def open_pyav(url: str, timeout: float):
    """An open `DecoderSource` (raises when the open fails)."""
    source = DecoderSource(url, SourceOptions(), "tcp")
    source.open()
    return source


def open_opencv(url: str, timeout: float):
    """An open `cv2.VideoCapture` (raises when the open fails)."""
    milliseconds = round(timeout * 1000)
    capture = cv2.VideoCapture(
        url,
        cv2.CAP_FFMPEG,
        [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            milliseconds,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            milliseconds,
        ],
    )
    if not capture.isOpened():
        capture.release()
        raise RuntimeError("VideoCapture did not open")
    return capture


def raw_opens(opener: Callable, url: str, count: int, timeout: float) -> dict:
    """`count` threads released together, each opening `url` and grabbing a frame: seconds until
    the last has its frame, each thread's seconds, failures; everything released after."""
    barrier = threading.Barrier(count + 1)
    handles: list = []
    opens: list[float] = []  # seconds from the start to the open's return, each thread
    seconds: list[float] = []  # to the first frame
    errors: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        barrier.wait()
        started = time.monotonic()
        try:
            handle = opener(url, timeout)
        except Exception as error:  # a failed open is a figure, not the end of the benchmark
            with lock:
                errors.append(str(error)[:200])
            return
        opened = time.monotonic()
        with lock:
            handles.append(handle)
            opens.append(opened - started)
        grabbed = handle.grab()
        with lock:
            if grabbed:
                seconds.append(time.monotonic() - started)
            else:
                errors.append("opened, but no frame")

    threads = [threading.Thread(target=one, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.monotonic()
    deadline = started + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    elapsed = time.monotonic() - started
    finished = not any(thread.is_alive() for thread in threads)
    with lock:
        done = list(seconds)
        open_times = list(opens)
        failed = list(errors)
        opened = list(handles)
    for handle in opened:
        handle.release()
    return {
        "streams": count,
        "framed": len(done),
        "failed": len(failed),
        "errors": sorted(set(failed))[:5],
        "timed_out": not finished,
        "all_seconds": elapsed if finished and not failed else None,
        "elapsed": elapsed,
        "median_open_seconds": statistics.median(open_times) if open_times else None,
        "last_open_seconds": max(open_times) if open_times else None,
        "median_framed_seconds": statistics.median(done) if done else None,
    }


# -- 2. the daemon


def config_text(model: Path, good: list[str], silent: str, port: int, reconnect: dict) -> str:
    streams = [
        {"name": f"cam{i}", "source": url, "fps": DAEMON_FPS, "model": "small", **reconnect}
        for i, url in enumerate(good)
    ]
    streams.append({"name": "silent", "source": silent, "fps": DAEMON_FPS, "model": "small"})
    return daemon_yaml({"small": model}, streams, events=NO_EVENTS, metrics={"port": port})


def stream_series(metrics: str) -> tuple[dict[str, bool], float]:
    """({stream: up}, failed opens of the silent stream), read from a /metrics page by the
    Prometheus parser (only the two families it needs are handed to it)."""
    wanted = "\n".join(
        line
        for line in metrics.splitlines()
        if "visord_stream_up" in line or "visord_camera_failures" in line
    )
    up: dict[str, bool] = {}
    silent_failures = 0.0
    for name, labels, value in series(wanted + "\n"):
        if name == "visord_stream_up":
            up[labels["stream"]] = value == 1
        elif name.startswith("visord_camera_failures") and not name.endswith("_created"):
            if labels.get("camera") == "silent":
                silent_failures += value
    return up, silent_failures


class Watch:
    """Polls a daemon's /metrics every POLL seconds; remembers when each stream was first seen
    up and down."""

    def __init__(self, daemon: DaemonProcess, names: list[str]) -> None:
        self.daemon = daemon
        self.names = names
        self.up: dict[str, bool] = {}
        self.silent_failures = 0.0
        self.silent_ever_up = False

    def poll(self) -> bool:
        page = self.daemon.metrics()
        if not page:
            return False
        self.up, self.silent_failures = stream_series(page)
        self.silent_ever_up |= self.up.get("silent", False)
        return True

    def times(self, want_up: bool, since: float, timeout: float) -> dict:
        """Polls until every good stream is up (or down): seconds from `since` until all are, and
        until the first / median one was."""
        first: dict[str, float] = {}
        deadline = time.monotonic() + timeout
        answer = None
        while time.monotonic() < deadline:
            if self.daemon.process.poll() is not None:
                break
            if self.poll():
                now = time.monotonic() - since
                if answer is None:
                    answer = now
                for name in self.names:
                    if self.up.get(name, False) == want_up and name not in first:
                        first[name] = now
                if len(first) == len(self.names):
                    break
            time.sleep(POLL)
        done = sorted(first.values())
        return {
            "all": done[-1] if len(done) == len(self.names) else None,
            "first": done[0] if done else None,
            "median": statistics.median(done) if done else None,
            "reached": len(done),
            "metrics_answered": answer,
        }


def daemon_run(
    folder: Path,
    model: Path,
    server,
    silent: SilentServer,
    count: int,
    reconnect_max: float | None,
    timeout: float,
) -> dict:
    port = free_port()
    reconnect = {} if reconnect_max is None else {"reconnect": {"min": 0.5, "max": reconnect_max}}
    tag = "default" if reconnect_max is None else f"max{reconnect_max:g}"
    config = folder / f"opens-{tag}.yaml"
    config.write_text(config_text(model, [server.url] * count, silent.url, port, reconnect))
    names = [f"cam{i}" for i in range(count)]
    result: dict = {"reconnect_max": reconnect_max or 10.0, "streams": count}
    started = time.monotonic()
    with DaemonProcess(config, port) as daemon:
        watch = Watch(daemon, names)
        up = watch.times(True, started, timeout)
        result["startup"] = up
        if up["all"] is not None:
            killed = time.monotonic()
            server.kill()
            result["down"] = watch.times(False, killed, timeout)
            time.sleep(OUTAGE)
            restarted = time.monotonic()
            server.restart()
            answering = time.monotonic()
            result["server_restart_seconds"] = answering - restarted
            result["recovery"] = watch.times(True, answering, timeout)
        else:
            server.restart()  # a healthy camera for the next case, whatever happened here
        watch.poll()
        result["silent_up_ever"] = watch.silent_ever_up
        result["silent_failed_opens"] = watch.silent_failures
        result["seconds"] = time.monotonic() - started
    if up["all"] is None or result.get("recovery", {}).get("all") is None:
        result["log_tail"] = daemon.log.read_text()[-1500:]
    return result


# -- the report


def cell(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_raw(rows: list[dict], timeout: float) -> None:
    print(
        f"{'streams':>7} {'library':<7} {'all framed s':>12} {'median open s':>13} "
        f"{'last open s':>11} {'median framed s':>15} {'framed':>6} {'failed':>6}"
    )
    for row in rows:
        for name in ("pyav", "opencv"):
            case = row[name]
            total = case["all_seconds"]
            shown = cell(total) if total is not None else f">{case['elapsed']:.0f}"
            print(
                f"{row['streams']:>7} {name:<7} {shown:>12} "
                f"{cell(case['median_open_seconds']):>13} {cell(case['last_open_seconds']):>11} "
                f"{cell(case['median_framed_seconds']):>15} {case['framed']:>6} {case['failed']:>6}"
            )
    for row in rows:
        pyav, opencv = row["pyav"]["all_seconds"], row["opencv"]["all_seconds"]
        if pyav and opencv:
            print(f"{row['streams']} streams: OpenCV / PyAV {opencv / pyav:.1f}x")
        else:
            print(f"{row['streams']} streams: no ratio (a case failed or passed {timeout:g} s)")


def print_daemon(runs: list[dict]) -> None:
    print(
        f"{'reconnect':<16} {'metrics s':>9} {'first up s':>10} {'all up s':>8} {'all down s':>10} "
        f"{'server s':>8} {'back: first':>11} {'median':>6} {'all':>6} {'silent':>10}"
    )
    for run in runs:
        start, down, back = run["startup"], run.get("down", {}), run.get("recovery", {})
        reconnect = f"min 0.5, max {run['reconnect_max']:g}"
        silent = "up!" if run["silent_up_ever"] else f"down, {run['silent_failed_opens']:.0f} f"
        all_up = cell(start["all"]) if start["all"] is not None else f"{start['reached']} up"
        print(
            f"{reconnect:<16} {cell(start['metrics_answered']):>9} {cell(start['first']):>10} "
            f"{all_up:>8} {cell(down.get('all')):>10} "
            f"{cell(run.get('server_restart_seconds')):>8} {cell(back.get('first')):>11} "
            f"{cell(back.get('median')):>6} {cell(back.get('all')):>6} {silent:>10}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", default="16,64", help="comma-separated raw-open counts")
    parser.add_argument("--daemon-cameras", type=int, default=64)
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds a case may take before it is cut"
    )
    parser.add_argument("--skip-raw", action="store_true", help="the daemon part only")
    parser.add_argument("--skip-daemon", action="store_true", help="the raw opens only")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    # read by OpenCV's FFmpeg backend at each open: RTSP over TCP, as the PyAV side asks
    os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "rtsp_transport;tcp"
    counts = [] if args.skip_raw else [int(count) for count in args.cameras.split(",")]
    raw, runs = [], []
    clip = h264_clip()
    with tempfile.TemporaryDirectory() as name, camera(clip) as server, SilentServer() as silent:
        folder = Path(name)
        for count in counts:
            row = {"streams": count}
            for library, opener in (("pyav", open_pyav), ("opencv", open_opencv)):
                row[library] = raw_opens(opener, server.url, count, args.timeout)
                print(f"{count} streams, {library}: {row[library]}", flush=True)
                time.sleep(2)  # the server tears the sessions down
            raw.append(row)
        if not args.skip_daemon:
            model = tiny_classifier(folder / "small.onnx", manifest_dict(name="small"))
            for reconnect_max in (None, SHORT_MAX):
                run = daemon_run(
                    folder, model, server, silent, args.daemon_cameras, reconnect_max, args.timeout
                )
                print(
                    f"daemon, reconnect max {run['reconnect_max']:g}: "
                    f"{ {k: v for k, v in run.items() if k != 'log_tail'} }",
                    flush=True,
                )
                if "log_tail" in run:
                    print(f"its log ends:\n{run['log_tail']}", flush=True)
                runs.append(run)
    print(
        f"\n{clip.name} (768x576, 10 fps H.264) from one GStreamer RTSP server, over TCP "
        f"({os.cpu_count()} CPUs shared by the server, the clients and this script)"
    )
    if raw:
        print("\n1. N threads of one process open the stream and grab a frame, all at once")
        print_raw(raw, args.timeout)
    if runs:
        print(
            f"\n2. visord run: {args.daemon_cameras} streams at {DAEMON_FPS:g} fps + 1 silent "
            f"camera; seconds from process start (up), from the kill (down), from the server's "
            f"first answer after {OUTAGE:g} s dead (back)"
        )
        print_daemon(runs)
        print("silent: the never-answering camera's state and failed opens (f) over the run")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "opens.json").write_text(
        json.dumps(
            {
                "clip": clip.name,
                "cpus": os.cpu_count(),
                "raw": raw,
                "daemon": [{k: v for k, v in run.items() if k != "log_tail"} for run in runs],
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
