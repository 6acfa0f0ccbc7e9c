"""Load: how many H.264 camera streams `visord run` sustains at F classified frames per second
each, with the small model, then with the large one, beside the decode-only ceiling and the CPU
floor measured in the same run.

Each stream plays the same H.264 file in real time, looped, as a camera would send it. `--clip`
picks it: `scenes` (640x480, 25 fps, 10 s of the synthetic demo scenes, a key frame a second) or
`real` (the PETS 2009 surveillance clip `vtest.avi` from Debian's opencv-doc, 768x576, 10 fps,
re-encoded by x264 with a key frame every `--gop` frames, 20 by default). Real footage decodes
slower than the synthetic scenes: figures on `scenes` alone overstate capacity. `--decode` is the
streams' `decode:` (all, keyframes, auto). Files rather than RTSP so that no encoder competes with
the daemon for the CPU.

Measured first, in the same process: the CPU one second of the clip costs to decode (visord's own
decoder, one thread, decode only: every frame, or key frames only when the streams decode key
frames), hence the decode-only ceiling (streams the CPUs could decode, nothing else), and the CPU
per classified frame of a bare loop (prepare + run at batch 1, paced). The floor of a trial is its
streams' decoding plus their classified frames at that cost; the trial's CPU is printed against it.
For each stream count it starts the daemon, lets it settle, then reads /metrics twice, `--measure`
seconds apart (and /proc for its CPU time): per stream the decoded and classified rates, stale
drops (frames due for classification replaced by a newer one before the engine took them: the
holder never queues, so this is what overload looks like) and the mean end-to-end latency. A count
is sustained when every stream decodes at least 95% of the frames it should (every frame, or every
key frame) and has at least 95% of F classified (less one frame over the measured seconds). Counts
double until one is not sustained, then a bisection finds the largest that is. `batch` is the mean
number of frames per inference run.

Then (unless `--no-decode-only`) the streams decoding alone sustains: N threads of one fresh
process, each playing the clip in real time through visord's decoder and doing nothing else,
searched from half the computed ceiling with the same rule for decoded frames. Real-time decoding
of many streams costs more per stream than one stream decoded flat out (caches, wake-ups), so this
is the ceiling as the box reaches it; the daemon's count is printed against both.

    python -m bench.load [--small models/demo-small.onnx] [--large models/demo-large.onnx]
                         [--clip scenes|real] [--gop 20] [--fps 5] [--decode all|keyframes|auto]
                         [--roles small,large] [--streams 1,2] [--max-streams 128]
                         [--settle 10] [--measure 20] [--no-decode-only] [--tiny]

`--streams` tries only the given counts (a smoke run); `--tiny` uses the tests' tiny models. A
benchmark, not a test: it prints a table and fails on nothing.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import av

from bench.harness import ROOT, THREADS, add_model_arguments, bare_cpu_per_frame
from visord.daemon.inference.engine import Model
from visord.daemon.sources.base import SourceOptions
from visord.daemon.sources.decoder import FileDecoderSource
from visord.testing import footage
from visord.testing.daemon_config import NO_EVENTS, daemon_yaml
from visord.testing.daemon_process import (  # cpu_seconds: bench/events.py takes it from here
    DaemonProcess,
    cpu_seconds,
    rss_mb,
    series,
)
from visord.testing.media import write_scene_h264
from visord.testing.onnx_models import manifest_dict, tiny_classifier
from visord.testing.rtsp_server import free_port
from visord.testing.wait import wait_for

SUSTAINED = 0.95
COUNTERS = (
    "visord_camera_frames_decoded_total",
    "visord_frames_classified_total",
    "visord_frames_dropped_total",
    "visord_end_to_end_latency_seconds_sum",
    "visord_end_to_end_latency_seconds_count",
)


@dataclass(frozen=True)
class Camera:
    """The clip every stream plays, and what decoding it costs."""

    name: str
    path: Path
    fps: float
    keyframes_per_second: float
    decode_cpu: float  # CPU seconds to decode one second of it, every frame
    keyframe_decode_cpu: float  # the same, key frames only


def decode_cost(path: Path, keyframes: bool) -> tuple[float, float | None]:
    """(CPU seconds, key frames per second) of decoding the whole clip with visord's own decoder
    (one thread, no pacing, no conversion), every frame or key frames only."""
    source = FileDecoderSource(str(path), SourceOptions(realtime=False))
    cpu = time.process_time()
    source.open()
    source.decode_keyframes(keyframes)
    while source.grab():
        pass
    cpu = time.process_time() - cpu
    rate = source.keyframes_per_second
    source.release()
    return cpu, rate


def camera(kind: str, folder: Path, gop: int) -> Camera:
    if kind == "real":
        path = footage.h264_clip(gop=gop)
    else:
        path = write_scene_h264(folder / "camera.mp4", seconds=10, width=640, height=480, fps=25)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        seconds = stream.frames / fps
    every, keys = decode_cost(path, keyframes=False)
    only_keys, _ = decode_cost(path, keyframes=True)
    return Camera(kind, path, fps, keys or 0.0, every / seconds, only_keys / seconds)


@dataclass(frozen=True)
class DecodeTrial:
    """`streams` threads of one process decoding the clip in real time and doing nothing else."""

    streams: int
    decoded_fps_min: float
    cpu_cores: float
    decoded_due: float
    measure: float

    @property
    def sustained(self) -> bool:
        return self.decoded_fps_min >= SUSTAINED * self.decoded_due - 1.0 / self.measure


def decode_only(
    path: str, streams: int, keyframes: bool, settle: float, measure: float
) -> tuple[float, float]:
    """(slowest stream's decoded fps, cores used) of `streams` threads in this process, each
    playing the clip in real time, looped, through visord's decoder, converting nothing."""
    stop = threading.Event()
    decoded = [0] * streams

    def play(index: int) -> None:
        source = FileDecoderSource(path, SourceOptions(realtime=True, loop=True))
        source.open()
        source.decode_keyframes(keyframes)
        while not stop.is_set():
            decoded[index] += source.grab()
        source.release()

    threads = [threading.Thread(target=play, args=(i,), daemon=True) for i in range(streams)]
    for thread in threads:
        thread.start()
    time.sleep(settle)
    first, cpu, started = list(decoded), time.process_time(), time.monotonic()
    time.sleep(measure)
    last, cpu, elapsed = list(decoded), time.process_time() - cpu, time.monotonic() - started
    stop.set()
    for thread in threads:
        thread.join()
    return min(b - a for a, b in zip(first, last)) / elapsed, cpu / elapsed


def decode_trial(clip: Camera, keyframes: bool, settle: float, measure: float, streams: int):
    """`decode_only` in a fresh process (its CPU is its own; no thread outlives the trial)."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        fps, cores = pool.submit(
            decode_only, str(clip.path), streams, keyframes, settle, measure
        ).result()
    due = clip.keyframes_per_second if keyframes else clip.fps
    done = DecodeTrial(streams, fps, cores, due, measure)
    print(
        f"decode only {streams:>7} {fps:>15.1f} {cores:>9.2f} cores "
        f"{'sustained' if done.sustained else 'not sustained'}",
        flush=True,
    )
    return done


@dataclass(frozen=True)
class Trial:
    model: str
    streams: int
    decoded_fps_min: float
    classified_fps_min: float
    classified_fps_mean: float
    stale_drops_per_s: float
    latency_ms_mean: float
    batch_mean: float
    cpu_cores: float
    rss_mb: float
    floor_cores: float
    decoded_due: float
    classify_fps: float
    measure: float

    @property
    def sustained(self) -> bool:
        # one frame's worth of slack: at 1 fps over 15 s, 14 frames are 0.93 fps and not a fault
        slack = 1.0 / self.measure
        return (
            self.decoded_fps_min >= SUSTAINED * self.decoded_due - slack
            and self.classified_fps_min >= SUSTAINED * self.classify_fps - slack
        )


def per_stream(metrics: str) -> dict[str, dict[str, float]]:
    """{counter: {stream: value}} for COUNTERS (summed over other labels, e.g. the model or drop
    reason)."""
    values: dict[str, dict[str, float]] = {name: {} for name in COUNTERS}
    for name, labels, value in series(metrics):
        # each stream here is a camera of its own, named after it
        stream = labels.get("stream") or labels.get("camera")
        if name in values and stream is not None:
            values[name][stream] = values[name].get(stream, 0.0) + value
    return values


def batch_sizes(metrics: str) -> tuple[float, float]:
    """(frames, batches) the daemon has run, over every model."""
    frames = batches = 0.0
    for name, _, value in series(metrics):
        if name == "visord_inference_batch_size_sum":
            frames += value
        elif name == "visord_inference_batch_size_count":
            batches += value
    return frames, batches


def config_text(
    role: str, model: Path, clip: Path, streams: int, port: int, fps: float, decode: str
) -> str:
    items = [
        {
            "name": f"cam{i}",
            "source": str(clip),
            "loop": True,
            "fps": fps,
            "decode": decode,
            "model": role,
        }
        for i in range(streams)
    ]
    return daemon_yaml({role: model}, items, events=NO_EVENTS, metrics={"port": port})


@dataclass(frozen=True)
class Setting:
    """What every trial of one model shares."""

    folder: Path
    role: str
    model: Path
    camera: Camera
    fps: float
    decode: str
    settle: float
    measure: float
    frame_cpu: float  # CPU seconds per classified frame of the bare loop

    @property
    def keyframes(self) -> bool:
        fits = self.fps <= self.camera.keyframes_per_second * 1.05
        return self.decode == "keyframes" or (self.decode == "auto" and fits)

    @property
    def decoded_due(self) -> float:
        return self.camera.keyframes_per_second if self.keyframes else self.camera.fps

    @property
    def stream_floor(self) -> float:
        """Cores one stream needs at least: its decoding and its classified frames."""
        decode = self.camera.keyframe_decode_cpu if self.keyframes else self.camera.decode_cpu
        return decode + self.fps * self.frame_cpu


def trial(setting: Setting, streams: int) -> Trial:
    """Runs the daemon with `streams` streams and measures it; prints the row at once."""
    done = measure_trial(setting, streams)
    print_table([done], header=False)
    return done


def measure_trial(setting: Setting, streams: int) -> Trial:
    port = free_port()
    config = setting.folder / f"{setting.role}-{streams}.yaml"
    config.write_text(
        config_text(
            setting.role,
            setting.model,
            setting.camera.path,
            streams,
            port,
            setting.fps,
            setting.decode,
        )
    )
    daemon = DaemonProcess(config, port)
    try:
        wait_for(
            lambda: len(per_stream(daemon.metrics())["visord_frames_classified_total"]) == streams,
            120,
            f"all {streams} streams classifying",
        )
        time.sleep(setting.settle)
        text = daemon.metrics()
        first, batches_first = per_stream(text), batch_sizes(text)
        cpu_first = cpu_seconds(daemon.process.pid)
        started = time.monotonic()
        time.sleep(setting.measure)
        text = daemon.metrics()
        last, batches_last = per_stream(text), batch_sizes(text)
        cpu_last = cpu_seconds(daemon.process.pid)
        elapsed = time.monotonic() - started
        resident = rss_mb(daemon.process.pid)
    finally:
        try:
            daemon.stop()
        except subprocess.TimeoutExpired:  # killed by stop(); the figures were taken before
            print(f"({streams} streams: the daemon took over 15 s to stop and was killed)")
    rate = {
        name: {s: (last[name].get(s, 0.0) - first[name].get(s, 0.0)) / elapsed for s in last[name]}
        for name in COUNTERS
    }
    classified = list(rate["visord_frames_classified_total"].values())
    batched = [b - a for a, b in zip(batches_first, batches_last)]
    latency = [
        rate["visord_end_to_end_latency_seconds_sum"][s] / count
        for s, count in rate["visord_end_to_end_latency_seconds_count"].items()
        if count
    ]
    return Trial(
        setting.role,
        streams,
        min(rate["visord_camera_frames_decoded_total"].values()),
        min(classified),
        sum(classified) / len(classified),
        sum(rate["visord_frames_dropped_total"].values()),
        1000 * sum(latency) / len(latency) if latency else float("nan"),
        batched[0] / batched[1] if batched[1] else float("nan"),
        (cpu_last - cpu_first) / elapsed,
        resident,
        streams * setting.stream_floor,
        setting.decoded_due,
        setting.fps,
        setting.measure,
    )


def largest(run, max_streams: int, start: int = 1) -> tuple[int, list]:
    """Doubling from `start`, then bisection: the largest sustained count (0 if even one stream is
    not) and every trial."""
    trials = []
    good = 0
    bad = None
    count = start
    while count <= max_streams:
        trials.append(result := run(count))
        if not result.sustained:
            bad = count
            break
        good, count = count, count * 2
    if good == 0 and start > 1:  # not even the start: search below it from one stream
        found, below = largest(run, start - 1)
        return found, trials + below
    while bad is not None and bad - good > 1:
        middle = (good + bad) // 2
        trials.append(result := run(middle))
        good, bad = (middle, bad) if result.sustained else (good, middle)
    return good, trials


def print_table(trials: list[Trial], header: bool = True) -> None:
    if header:
        print(
            f"{'model':<6} {'streams':>7} {'decoded fps min':>15} {'classified fps min/mean':>23} "
            f"{'stale drops/s':>13} {'latency ms':>10} {'batch':>5} {'RSS MB':>6} {'CPU cores':>9} "
            f"{'floor':>6} {'CPU/floor':>9} {'sustained':>9}"
        )
    for t in sorted(trials, key=lambda t: (t.model, t.streams)):
        print(
            f"{t.model:<6} {t.streams:>7} {t.decoded_fps_min:>15.1f} "
            f"{t.classified_fps_min:>11.2f} / {t.classified_fps_mean:<9.2f} "
            f"{t.stale_drops_per_s:>13.2f} "
            f"{t.latency_ms_mean:>10.1f} {t.batch_mean:>5.1f} {t.rss_mb:>6.0f} "
            f"{t.cpu_cores:>9.2f} {t.floor_cores:>6.2f} "
            f"{t.cpu_cores / t.floor_cores:>9.2f} {'yes' if t.sustained else 'no':>9}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny models (a smoke run)")
    parser.add_argument("--clip", choices=("scenes", "real"), default="scenes")
    parser.add_argument("--gop", type=int, default=footage.GOP, help="real clip: key frame every N")
    parser.add_argument("--fps", type=float, default=5.0, help="classified frames/s per stream")
    parser.add_argument("--decode", choices=("all", "keyframes", "auto"), default="auto")
    parser.add_argument("--roles", default="small,large", help="which models, comma-separated")
    parser.add_argument(
        "--streams", help="comma-separated stream counts to try instead of searching"
    )
    parser.add_argument("--max-streams", type=int, default=128)
    parser.add_argument(
        "--decode-only",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also find how many streams decoding alone sustains in real time (a few minutes)",
    )
    parser.add_argument("--settle", type=float, default=10.0)
    parser.add_argument("--measure", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        roles = args.roles.split(",")
        models = {role: getattr(args, role) for role in roles}
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
        clip = camera(args.clip, folder, args.gop)
        with av.open(str(clip.path)) as container:
            first = next(container.decode(video=0)).to_ndarray(format="bgr24")
        found = {}
        trials = []
        settings = {}
        for role, model in models.items():
            frame_cpu = bare_cpu_per_frame(Model(role, model, threads=THREADS), [first], 5.0)
            setting = Setting(
                folder,
                role,
                model.resolve(),
                clip,
                args.fps,
                args.decode,
                args.settle,
                args.measure,
                frame_cpu,
            )
            settings[role] = setting
            run = functools.partial(trial, setting)
            if args.streams:
                tried = [run(int(count)) for count in args.streams.split(",")]
                found[role] = max((t.streams for t in tried if t.sustained), default=0)
            else:
                found[role], tried = largest(run, args.max_streams)
            trials += tried
    keyframes = any(setting.keyframes for setting in settings.values())
    decode_cpu = clip.keyframe_decode_cpu if keyframes else clip.decode_cpu
    ceiling = cores / decode_cpu
    decoding, decode_trials = None, []
    if args.decode_only:
        run = functools.partial(decode_trial, clip, keyframes, args.settle, args.measure)
        decoding, decode_trials = largest(run, 4 * round(ceiling), max(1, round(ceiling / 2)))
    print(
        f"\n{clip.name} clip ({clip.path.name}, {clip.fps:g} fps, key frames "
        f"{clip.keyframes_per_second:.2f}/s) played in real time, {args.fps:g} classified fps "
        f"each, decode {args.decode} ({'key frames only' if keyframes else 'every frame'}); "
        f"{cores} CPUs; sustained: every stream decodes >= {SUSTAINED:.0%} of its due frames and "
        f"has >= {SUSTAINED:.0%} of {args.fps:g} fps classified"
    )
    print(
        f"decoding one stream: {clip.decode_cpu:.3f} cores every frame, "
        f"{clip.keyframe_decode_cpu:.3f} key frames only; decode-only ceiling {ceiling:.0f} "
        "streams"
    )
    for role, setting in settings.items():
        print(f"bare {role} model: {1000 * setting.frame_cpu:.2f} ms CPU per classified frame")
    print_table(trials)
    if decoding is not None:
        print(
            f"decoding alone, measured: {decoding} streams sustained in real time "
            f"({decoding / ceiling:.2f} of the decode-only ceiling)"
        )
    for role, count in found.items():
        measured = f", {count / decoding:.2f} of decoding alone" if decoding else ""
        print(
            f"{role} model ({models[role].name}): {count} streams sustained, "
            f"{count / ceiling:.2f} of the decode-only ceiling{measured}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    name = (
        "load.json"
        if args.clip == "scenes"
        else f"load-{args.clip}-{args.decode}-{args.fps:g}fps.json"
    )
    (args.out / name).write_text(
        json.dumps(
            {
                "clip": asdict(clip) | {"path": str(clip.path)},
                "fps": args.fps,
                "decode": args.decode,
                "ceiling": ceiling,
                "frame_cpu": {role: setting.frame_cpu for role, setting in settings.items()},
                "largest": found,
                "decoding_alone": decoding,
                "decode_trials": [asdict(t) | {"sustained": t.sustained} for t in decode_trials],
                "models": {role: str(path) for role, path in models.items()},
                "trials": [asdict(t) | {"sustained": t.sustained} for t in trials],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
