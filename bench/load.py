"""Load: how many 640x480 25 fps H.264 streams `visord run` sustains at 5 classified frames per
second each,
with the small model, then with the large one.

Each stream plays the same H.264 file (640x480, 25 fps: 10 s of the demo scenes, about 2 Mbit/s,
from GStreamer's x264) in real time, looped, as a camera would send it: every frame decoded, one in
five classified. Files rather than RTSP so that no encoder competes with the daemon for the CPU. For
each stream count it starts the daemon, lets it settle, then reads /metrics twice, `--measure`
seconds apart (and /proc for its CPU time): per stream the decoded and classified rates, stale drops
(frames due for classification replaced by a newer one before the engine took them: the holder never
queues, so this is what overload looks like) and the mean end-to-end latency. A count is sustained
when every stream decodes at least 95% of 25 fps and has at least 95% of 5 fps classified. Counts
double until one is not sustained, then a bisection finds the largest that is.

    python bench/load.py [--small models/demo-small.onnx] [--large models/demo-large.onnx]
                         [--streams 1,2] [--max-streams 128] [--settle 10] [--measure 20] [--tiny]

`--streams` tries only the given counts (a smoke run); `--tiny` uses the tests' tiny models. A
benchmark, not a test: it prints a table and fails on nothing.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from harness import ROOT, add_model_arguments
from prometheus_client.parser import text_string_to_metric_families

from visord.testing.daemon_process import DaemonProcess
from visord.testing.media import write_scene_h264
from visord.testing.onnx_models import manifest_dict, tiny_classifier
from visord.testing.rtsp_server import free_port
from visord.testing.wait import wait_for

CAMERA_FPS = 25
CLASSIFY_FPS = 5.0
SUSTAINED = 0.95
COUNTERS = (
    "visord_frames_read_total",
    "visord_frames_classified_total",
    "visord_frames_dropped_total",
    "visord_end_to_end_latency_seconds_sum",
    "visord_end_to_end_latency_seconds_count",
)


@dataclass(frozen=True)
class Trial:
    model: str
    streams: int
    decoded_fps_min: float
    classified_fps_min: float
    classified_fps_mean: float
    stale_drops_per_s: float
    latency_ms_mean: float
    cpu_cores: float

    @property
    def sustained(self) -> bool:
        return (
            self.decoded_fps_min >= SUSTAINED * CAMERA_FPS
            and self.classified_fps_min >= SUSTAINED * CLASSIFY_FPS
        )


def per_stream(metrics: str) -> dict[str, dict[str, float]]:
    """{counter: {stream: value}} for COUNTERS (summed over other labels, e.g. the model or drop
    reason)."""
    values: dict[str, dict[str, float]] = {name: {} for name in COUNTERS}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name in values and "stream" in sample.labels:
                stream = sample.labels["stream"]
                values[sample.name][stream] = values[sample.name].get(stream, 0.0) + sample.value
    return values


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def config_text(folder: Path, role: str, model: Path, clip: Path, streams: int, port: int) -> str:
    lines = "".join(
        f'  - {{name: cam{i}, source: "{clip}", loop: true, fps: {CLASSIFY_FPS:g}, '
        f"model: {role}}}\n"
        for i in range(streams)
    )
    return (
        f"models:\n  {role}: {{path: {model}, role: {role}}}\nstreams:\n{lines}"
        "events:\n  sinks: [{type: jsonl, path: /dev/null}]\n"
        f"metrics: {{port: {port}}}\n"
    )


def trial(
    folder: Path, role: str, model: Path, clip: Path, streams: int, settle: float, measure: float
) -> Trial:
    port = free_port()
    config = folder / f"{role}-{streams}.yaml"
    config.write_text(config_text(folder, role, model, clip, streams, port))
    with DaemonProcess(config, port) as daemon:
        wait_for(
            lambda: len(per_stream(daemon.metrics())["visord_frames_classified_total"]) == streams,
            120,
            f"all {streams} streams classifying",
        )
        time.sleep(settle)
        first = per_stream(daemon.metrics())
        cpu_first = cpu_seconds(daemon.process.pid)
        started = time.monotonic()
        time.sleep(measure)
        last = per_stream(daemon.metrics())
        cpu_last = cpu_seconds(daemon.process.pid)
        elapsed = time.monotonic() - started
    rate = {
        name: {s: (last[name].get(s, 0.0) - first[name].get(s, 0.0)) / elapsed for s in last[name]}
        for name in COUNTERS
    }
    classified = list(rate["visord_frames_classified_total"].values())
    latency = [
        rate["visord_end_to_end_latency_seconds_sum"][s] / count
        for s, count in rate["visord_end_to_end_latency_seconds_count"].items()
        if count
    ]
    return Trial(
        role,
        streams,
        min(rate["visord_frames_read_total"].values()),
        min(classified),
        sum(classified) / len(classified),
        sum(rate["visord_frames_dropped_total"].values()),
        1000 * sum(latency) / len(latency) if latency else float("nan"),
        (cpu_last - cpu_first) / elapsed,
    )


def largest(run, max_streams: int) -> tuple[int, list[Trial]]:
    """Doubling, then bisection: the largest sustained count (0 if even one stream is not) and every
    trial."""
    trials = []
    good = 0
    bad = None
    count = 1
    while count <= max_streams:
        trials.append(result := run(count))
        if not result.sustained:
            bad = count
            break
        good, count = count, count * 2
    while bad is not None and bad - good > 1:
        middle = (good + bad) // 2
        trials.append(result := run(middle))
        good, bad = (middle, bad) if result.sustained else (good, middle)
    return good, trials


def print_table(trials: list[Trial]) -> None:
    print(
        f"{'model':<6} {'streams':>7} {'decoded fps min':>15} {'classified fps min/mean':>23} "
        f"{'stale drops/s':>13} {'latency ms':>10} {'CPU cores':>9} {'sustained':>9}"
    )
    for t in sorted(trials, key=lambda t: (t.model, t.streams)):
        print(
            f"{t.model:<6} {t.streams:>7} {t.decoded_fps_min:>15.1f} "
            f"{t.classified_fps_min:>11.2f} / {t.classified_fps_mean:<9.2f} "
            f"{t.stale_drops_per_s:>13.2f} "
            f"{t.latency_ms_mean:>10.1f} {t.cpu_cores:>9.2f} {'yes' if t.sustained else 'no':>9}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny models (a smoke run)")
    parser.add_argument(
        "--streams", help="comma-separated stream counts to try instead of searching"
    )
    parser.add_argument("--max-streams", type=int, default=128)
    parser.add_argument("--settle", type=float, default=10.0)
    parser.add_argument("--measure", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        models = {"small": args.small, "large": args.large}
        if args.tiny:
            models = {
                role: tiny_classifier(folder / f"{role}.onnx", manifest_dict(name=role))
                for role in models
            }
        missing = [str(path) for path in models.values() if not path.is_file()]
        if missing:
            raise SystemExit(
                f"no model at {', '.join(missing)}: run `make models`, pass --small/--large, or "
                "--tiny"
            )
        clip = write_scene_h264(
            folder / "camera.mp4", seconds=10, width=640, height=480, fps=CAMERA_FPS
        )
        found = {}
        trials = []
        for role, model in models.items():
            run = functools.partial(
                trial, folder, role, model.resolve(), clip, settle=args.settle, measure=args.measure
            )
            if args.streams:
                tried = [run(int(count)) for count in args.streams.split(",")]
                found[role] = max((t.streams for t in tried if t.sustained), default=0)
            else:
                found[role], tried = largest(run, args.max_streams)
            trials += tried
    print(
        f"\n640x480 {CAMERA_FPS} fps H.264 streams played in real time, {CLASSIFY_FPS:g} "
        "classified fps each "
        f"({os.cpu_count()} CPUs; sustained: every stream decodes >= {SUSTAINED:.0%} of "
        f"{CAMERA_FPS} fps and has "
        f">= {SUSTAINED:.0%} of {CLASSIFY_FPS:g} fps classified)"
    )
    print_table(trials)
    for role, count in found.items():
        print(f"{role} model ({models[role].name}): {count} streams sustained")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load.json").write_text(
        json.dumps(
            {
                "largest": found,
                "models": {role: str(path) for role, path in models.items()},
                "trials": [asdict(t) | {"sustained": t.sustained} for t in trials],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
