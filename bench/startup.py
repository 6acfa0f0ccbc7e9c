"""Start-up time to READY and resident memory of `visord run` with 2 models and 8 streams.

The streams are 640x480 H.264 files at 25 fps played in real time (what a
camera costs: decoding included), or with --source demo the synthetic scenes.
Starts the daemon as systemd would (`NOTIFY_SOCKET` pointing at a datagram
socket this script listens on), times process start to READY=1, lets it run
for a settling time, then reads its resident memory, threads and open files
from /proc. Repeats and reports the median. Targets (issue #9): READY within
3 s, RSS under 300 MB.

    python -m bench.startup [--small models/demo-small.onnx] [--large models/demo-large.onnx]
                            [--repeats 3]

A benchmark, not a test: it prints a table and fails on nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import ROOT, add_model_arguments
from visord.testing.daemon_config import NO_EVENTS, daemon_yaml
from visord.testing.daemon_process import megabytes, proc_status
from visord.testing.media import write_h264

STREAMS = 8


def config_text(small: Path, large: Path, port: int, source: str) -> str:
    """Eight streams, half on the small model and half in cascade; `source` may hold {i}, the
    stream's index."""
    streams = [
        {
            "name": f"cam{i}",
            "source": source.format(i=i),
            "loop": True,
            "fps": 2,
            "model": "cascade" if i % 2 else "small",
        }
        for i in range(STREAMS)
    ]
    return daemon_yaml(
        {"small": small, "large": large}, streams, events=NO_EVENTS, metrics={"port": port}
    )


def ready_message(listener: socket.socket) -> bool:
    try:
        return b"READY=1" in listener.recv(4096)
    except TimeoutError:
        return False


def one_start(config: Path, folder: Path, settle: float) -> dict:
    address = str(folder / f"notify-{time.monotonic_ns()}")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(1.0)
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "visord.cli",
            "--log-level",
            "WARNING",
            "run",
            "--config",
            str(config),
        ],
        env={**os.environ, "NOTIFY_SOCKET": address},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not ready_message(listener):
            if process.poll() is not None or time.perf_counter() - started > 60:
                raise SystemExit(
                    f"visord exited with {process.returncode} or never said READY=1; run it by "
                    f"hand: visord run --config {config}"
                )
        ready = time.perf_counter() - started
        time.sleep(settle)
        status = proc_status(process.pid)
        files = len(os.listdir(f"/proc/{process.pid}/fd"))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        listener.close()
    return {
        "ready_s": ready,
        "rss_mb": megabytes(status["VmRSS"]),
        "peak_rss_mb": megabytes(status["VmHWM"]),
        "threads": int(status["Threads"]),
        "open_files": files,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument(
        "--source",
        choices=("file", "demo"),
        default="file",
        help="file: a 640x480 25 fps H.264 file per stream, played in real time (a camera's load); "
        "demo: demo://scenes, whose renderer holds float images per stream",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--settle", type=float, default=15.0, help="seconds of running before memory is read"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        config = folder / "visord.yaml"
        source = "demo://scenes?seed={i}"
        if args.source == "file":
            source = str(
                write_h264(folder / "camera.mp4", frames=250, width=640, height=480, fps=25)
            )
        config.write_text(
            config_text(
                args.small.resolve(), args.large.resolve(), 19000 + os.getpid() % 1000, source
            )
        )
        runs = [one_start(config, folder, args.settle) for _ in range(args.repeats)]
    median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    print(
        f"\nvisord run, 2 models ({args.small.name}, {args.large.name}), {STREAMS} {args.source} "
        f"streams, median of {args.repeats} starts, memory after {args.settle:.0f} s"
    )
    print(f"{'READY s':>8} {'RSS MB':>7} {'peak RSS MB':>12} {'threads':>8} {'open files':>11}")
    print(
        f"{median['ready_s']:8.2f} {median['rss_mb']:7.0f} {median['peak_rss_mb']:12.0f} "
        f"{median['threads']:8.0f} "
        f"{median['open_files']:11.0f}"
    )
    print(
        f"targets: READY <= 3 s ({median['ready_s'] / 3:.2f} of it), RSS <= 300 MB "
        f"({median['rss_mb'] / 300:.2f} of it)"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "startup.json").write_text(json.dumps({"runs": runs, "median": median}, indent=2))


if __name__ == "__main__":
    main()
