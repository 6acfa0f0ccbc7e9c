"""Cameras with regions: what one decode per camera saves, and whether the budget counts decoding.

Real footage throughout: the PETS 2009 clip `vtest.avi` from Debian's opencv-doc (768x576, 10 fps),
re-encoded by x264 as a camera sends it (a key frame every 20 frames), and the shipped pets pair
(models/pets-small.onnx, pets-large.onnx). `visord run` runs in a subprocess; its CPU is read from
/proc (user + system time over the measured seconds, in cores), its figures from /metrics.

- `regions`: the clip served over RTSP by GStreamer's rtsp-server (sessions counted at the
  server), watched through the six regions of config/teach/camera.yaml at 2 fps each on the small
  model: one camera with one region (the baseline), the same camera with six regions, and six
  streams each with its own `source:` (the shape every config had before `cameras:`). Goal: six
  regions within 1.2x one region's CPU, one session.
- `many`: eight RTSP servers of the clip, eight cameras at 5 fps: one region each (the baseline),
  then three regions each. Goal: within 1.3x.
- `overload`: N cameras playing the clip from a file in real time (loop), one `auto` region each
  at 2 fps (`min_fps: 0.5`; the clip's key frames come every 2 s), the pets pair, the default
  budget (0.75 of the cores). The router must bring the measured total within the budget without
  letting a region fall under its floor, and `visord_router_budget_used_ratio` (read every replan
  interval, averaged) should read what the process spends: printed beside the process's own CPU
  over the same seconds, as a share of the same budget.

    python -m bench.cameras [--parts regions,many,overload] [--overload 40,80]
                            [--settle 15] [--measure 30] [--out bench/out]

Results go to stdout and OUT/cameras.json. A benchmark, not a test: it prints tables and fails on
nothing. Each part runs its settings one after the other in the same run, so the ratios compare
like with like on the same box.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from bench.harness import ROOT
from visord.testing import footage
from visord.testing.daemon_process import DaemonProcess, cpu_seconds, samples
from visord.testing.rtsp_server import free_port

TEACH = ROOT / "config" / "teach" / "camera.yaml"
SMALL = ROOT / "models" / "pets-small.onnx"
LARGE = ROOT / "models" / "pets-large.onnx"
REPLAN = 5.0  # seconds: the daemon's default router.replan_interval


@dataclass
class Run:
    """One setting measured: the process's cores, what it classified, what the router thought."""

    part: str
    setting: str
    cameras: int
    regions: int
    sessions: int | None
    cores: float
    classified_fps: float
    slowest_region_fps: float
    median_region_fps: float
    median_decoded_fps: float
    budget_used: float | None = None
    budget_cores: float | None = None
    degraded: int | None = None
    keyframes_only: int | None = None


def regions_of(config: Path) -> dict[str, dict]:
    """config/teach/camera.yaml's regions: name -> ROI."""
    return {
        stream["name"]: stream["roi"] for stream in yaml.safe_load(config.read_text())["streams"]
    }


def write_config(folder: Path, name: str, cameras: dict, streams: list[dict], port: int) -> Path:
    document = {
        "models": {
            "small": {"path": str(SMALL), "role": "small"},
            "large": {"path": str(LARGE), "role": "large"},
        },
        "streams": streams,
        "events": {"sinks": [{"type": "jsonl", "path": "/dev/null"}]},
        "metrics": {"port": port},
    }
    if cameras:
        document["cameras"] = [{"name": key, **value} for key, value in cameras.items()]
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def measure(
    part: str,
    setting: str,
    config: Path,
    port: int,
    settle: float,
    seconds: float,
    servers: list,
    camera_count: int,
) -> Run:
    """Runs the daemon on `config`, lets it settle, measures it for `seconds`."""
    before_sessions = sum(server.sessions() for server in servers)
    with DaemonProcess(config, port) as daemon:
        time.sleep(settle)
        first, cpu = daemon.metrics(), cpu_seconds(daemon.process.pid)
        started = time.monotonic()
        # the router's ratio is one replan interval's (5 s): read every interval, averaged over
        # the same seconds as the process's CPU
        ratios = []
        while time.monotonic() - started < seconds:
            time.sleep(min(REPLAN, seconds - (time.monotonic() - started)))
            ratio = samples(daemon.metrics(), "visord_router_budget_used_ratio").get(())
            if ratio is not None:
                ratios.append(ratio)
        last, cpu = daemon.metrics(), cpu_seconds(daemon.process.pid) - cpu
        elapsed = time.monotonic() - started
    # answered: classified, or found static by motion gating (the last answer stands)
    rates: dict[str, float] = {}
    for name in ("visord_frames_classified_total", "visord_motion_skipped_frames_total"):
        before = samples(first, name)
        for key, value in samples(last, name).items():
            stream = key[-1]  # labels sorted by name: (model,) stream
            rates[stream] = rates.get(stream, 0.0) + (value - before.get(key, 0.0)) / elapsed
    decoded_name = "visord_camera_frames_decoded_total"
    before = samples(first, decoded_name)
    decoded = [
        (value - before.get(key, 0.0)) / elapsed
        for key, value in samples(last, decoded_name).items()
    ]
    used = statistics.mean(ratios) if ratios else None
    degraded = samples(last, "visord_router_degraded")
    keyframes = samples(last, "visord_camera_keyframes_only")
    return Run(
        part,
        setting,
        camera_count,
        len(rates),
        sum(server.sessions() for server in servers) - before_sessions if servers else None,
        cpu / elapsed,
        sum(rates.values()),
        min(rates.values(), default=0.0),
        statistics.median(rates.values()) if rates else 0.0,
        statistics.median(decoded) if decoded else 0.0,
        used,
        None,
        int(sum(degraded.values())) if degraded else None,
        int(sum(keyframes.values())) if keyframes else None,
    )


def print_runs(title: str, runs: list[Run], baseline: Run | None = None) -> None:
    print(f"\n{title}")
    print(
        "| setting | cameras | regions | RTSP sessions | cores | x baseline | answered fps | "
        "slowest region fps |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for run in runs:
        ratio = f"{run.cores / baseline.cores:.2f}" if baseline and baseline.cores else "-"
        sessions = "-" if run.sessions is None else str(run.sessions)
        print(
            f"| {run.setting} | {run.cameras} | {run.regions} | {sessions} | {run.cores:.3f} | "
            f"{ratio} | {run.classified_fps:.1f} | {run.slowest_region_fps:.2f} |"
        )


def part_regions(folder: Path, clip: Path, args) -> list[Run]:
    rois = regions_of(TEACH)
    runs = []
    with footage.camera(clip) as server:
        source = {"source": server.url}
        settings = {
            "one camera, one region": (
                {"pets": source},
                [
                    {
                        "name": "road-west",
                        "camera": "pets",
                        "fps": 2,
                        "model": "small",
                        "roi": rois["road-west"],
                    }
                ],
            ),
            "one camera, six regions": (
                {"pets": source},
                [
                    {"name": name, "camera": "pets", "fps": 2, "model": "small", "roi": roi}
                    for name, roi in rois.items()
                ],
            ),
            "six streams, a source each": (
                {},
                [
                    {"name": name, **source, "fps": 2, "model": "small", "roi": roi}
                    for name, roi in rois.items()
                ],
            ),
        }
        for setting, (cameras, streams) in settings.items():
            port = free_port()
            config = write_config(folder, f"regions-{len(runs)}", cameras, streams, port)
            run = measure(
                "regions",
                setting,
                config,
                port,
                args.settle,
                args.measure,
                [server],
                len(cameras) or len(streams),
            )
            runs.append(run)
    print_runs(
        "Six regions of one camera (real clip over RTSP, 2 fps each, pets-small):", runs, runs[0]
    )
    return runs


def part_many(folder: Path, clip: Path, args) -> list[Run]:
    rois = list(regions_of(TEACH).items())[:3]
    runs = []
    with ExitStack() as stack:
        servers = [stack.enter_context(footage.camera(clip)) for _ in range(8)]
        cameras = {f"cam{i}": {"source": server.url} for i, server in enumerate(servers)}
        for regions in (1, 3):
            streams = [
                {
                    "name": f"cam{i}-{name}",
                    "camera": f"cam{i}",
                    "fps": 5,
                    "model": "small",
                    "roi": roi,
                }
                for i in range(8)
                for name, roi in rois[:regions]
            ]
            port = free_port()
            config = write_config(folder, f"many-{regions}", cameras, streams, port)
            runs.append(
                measure(
                    "many",
                    f"8 cameras x {regions} region(s)",
                    config,
                    port,
                    args.settle,
                    args.measure,
                    servers,
                    8,
                )
            )
    print_runs("Eight real cameras at 5 fps, one region each against three:", runs, runs[0])
    return runs


def part_overload(folder: Path, clip: Path, args) -> list[Run]:
    runs = []
    budget = 0.75 * len(os.sched_getaffinity(0))
    for count in args.overload:
        streams = [
            {
                "name": f"cam{i}",
                "source": str(clip),
                "loop": True,
                "fps": 2,
                "min_fps": 0.5,
                "model": "auto",
            }
            for i in range(count)
        ]
        port = free_port()
        config = write_config(folder, f"overload-{count}", {}, streams, port)
        run = measure(
            "overload", f"{count} auto cameras", config, port, args.settle, args.measure, [], count
        )
        run.budget_cores = budget
        runs.append(run)
    print(
        "\nOverload (real clip from files, one auto region a camera at 2 fps, min 0.5, pets "
        f"pair, budget {budget:g} cores):"
    )
    print(
        "| cameras | process cores | process / budget | visord_router_budget_used_ratio | "
        "ratio / process | degraded | key frames only | region fps: median, slowest | "
        "decoded fps a camera (median) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        process = run.cores / budget
        used = run.budget_used if run.budget_used is not None else float("nan")
        print(
            f"| {run.cameras} | {run.cores:.2f} | {process:.2f} | {used:.2f} | "
            f"{used / process:.2f} | {run.degraded} | {run.keyframes_only} | "
            f"{run.median_region_fps:.2f}, {run.slowest_region_fps:.2f} | "
            f"{run.median_decoded_fps:.2f} |"
        )
    return runs


PARTS = {"regions": part_regions, "many": part_many, "overload": part_overload}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument(
        "--overload", default="40,80", type=lambda text: [int(n) for n in text.split(",")]
    )
    parser.add_argument("--settle", type=float, default=15.0)
    parser.add_argument("--measure", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    clip = footage.h264_clip()
    print(f"clip: {clip.name}; CPU: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.parts.split(","):
            results += PARTS[name](Path(folder), clip, args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cameras.json").write_text(json.dumps([asdict(run) for run in results], indent=2))


if __name__ == "__main__":
    main()
