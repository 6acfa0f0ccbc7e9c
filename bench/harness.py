"""What the daemon benchmarks share: test frames, in-memory cameras, and one timed run of the
daemon's runtime.

`daemon_run` drives a real `visord.daemon.runtime.Runtime` (the daemon's loop, its
batching, routing, metrics), built as the runtime tests build it (`visord.testing.painted`:
`runtime_for`, its `Results` keeping each latency), fed by in-memory cameras, so the figures
measure visord and not decoding; `bare_fps` is the plain onnxruntime loop it is compared with.

`MemoryCamera` stays here rather than `visord.testing.painted.PaintedSource`: it hands out
rendered frames at camera resolution, paced to a frame rate (`Pacer`) from its own offset, where
the painted camera shows one 24x32 colour every 10 ms.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from visord.daemon.config import parse_config
from visord.daemon.inference.engine import Model
from visord.daemon.inference.preprocess import prepare
from visord.daemon.sources.pacing import Pacer
from visord.daemon.sources.reader import StreamReader
from visord.scenes import CLASSES, render_scene
from visord.testing.daemon_config import daemon_yaml
from visord.testing.painted import runtime_for

ROOT = Path(__file__).resolve().parent.parent
THREADS = 2


def add_model_arguments(
    parser: argparse.ArgumentParser, roles: tuple[str, ...] = ("small", "large")
) -> None:
    """--small and --large (or the given roles): the model files to measure, the shipped demo models
    by default."""
    for role in roles:
        parser.add_argument(f"--{role}", type=Path, default=ROOT / "models" / f"demo-{role}.onnx")


def figure(value: float | None, digits: int = 2) -> str:
    """A table cell: the number rounded, or "-" when there is none."""
    return "-" if value is None else f"{value:.{digits}f}"


def frames(count: int = 32, size: tuple[int, int] = (480, 640)) -> list[np.ndarray]:
    """Demo scenes, one class after the other, at camera resolution (height, width)."""
    rng = np.random.default_rng(0)
    return [
        render_scene(rng, CLASSES[i % len(CLASSES)], size, difficulty=0.3) for i in range(count)
    ]


def bare_fps(
    model: Model, images: list[np.ndarray], batch: int, seconds: float, preprocess: bool = True
) -> float:
    """Frames per second of the plain loop: (prepare +) session.run on batches of `batch`."""
    tensors = np.stack([prepare(image, model.manifest) for image in images[:batch]])
    done = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        chunk = [images[(done + k) % len(images)] for k in range(batch)]
        model.run(
            np.stack([prepare(image, model.manifest) for image in chunk]) if preprocess else tensors
        )
        done += batch
    return done / (time.perf_counter() - started)


def bare_cpu_per_frame(model: Model, images, seconds: float) -> float:
    """CPU seconds per frame of prepare + run at batch 1, frames paced like cameras (the floor)."""
    started, cpu, count = time.perf_counter(), os.times(), 0
    while time.perf_counter() - started < seconds:
        model.classify([images[count % len(images)]])
        count += 1
        time.sleep(0.02)  # ordinary load: the engine waits between frames
    used = os.times()
    return (used.user - cpu.user + used.system - cpu.system) / count


class MemoryCamera:
    """A camera at `fps` whose frames are already decoded: the reader costs nothing but the
    hand-over."""

    ended = False

    def __init__(self, images: list[np.ndarray], fps: float = 25.0, offset: int = 0):
        self.images = images
        self.index = offset
        self.pacer = Pacer(fps)

    def open(self) -> None:
        pass

    def grab(self) -> bool:
        self.pacer.wait()
        self.index += 1
        return True

    def retrieve(self) -> np.ndarray:
        return self.images[self.index % len(self.images)]

    def release(self) -> None:
        pass


def daemon_run(
    models: dict[str, Path],
    images: list[np.ndarray],
    streams: int,
    seconds: float,
    mode: str = "small",
    fps: float = 25.0,
    camera_fps: float = 25.0,
    warmup: float = 1.0,
    extra: dict | None = None,
) -> dict:
    """`streams` cameras at `camera_fps`, each asking for `fps` classified frames per second in
    `mode`, for `seconds`.

    Returns classified frames per second, offered frames per second, mean batch size, frames
    dropped, end-to-end latency p50/p99 (ms) and the process's CPU use in cores over the timed
    part. `extra`: more top-level config sections, e.g. {"hardware": {"spin": True}}."""
    items = [
        {"name": f"cam{i}", "source": "demo://scenes", "fps": fps, "model": mode}
        for i in range(streams)
    ]
    config = parse_config(
        daemon_yaml(models, items, {"threads": THREADS}, **(extra or {})), "bench"
    )

    def reader(rc):
        # cam0, cam1, ... start on different frames
        offset = int(rc.name.removeprefix("cam")) % len(images)
        return StreamReader(
            rc, source_factory=lambda s, o: MemoryCamera(images, camera_fps, offset=offset)
        )

    runtime, recorder, registry = runtime_for(config, {}, reader=reader)
    runtime.start()
    time.sleep(warmup)
    first_dropped = sum(r.reader.stats.frames_dropped for r in runtime.streams.values())
    first_latency = len(recorder.latencies)
    classified = 0
    started = time.perf_counter()
    cpu_started = os.times()
    while time.perf_counter() - started < seconds:
        classified += runtime.step(idle_wait=0.0005)
    elapsed = time.perf_counter() - started
    cpu = os.times()
    stats = [r.reader.stats for r in runtime.streams.values()]
    runtime.stop()
    counts = [
        registry.get_sample_value(f"visord_inference_batch_size_{key}", {"model": role})
        for key in ("count", "sum")
        for role in models
    ]
    batches = sum(c or 0 for c in counts[: len(models)])
    in_batches = sum(c or 0 for c in counts[len(models) :])
    latencies = np.array(recorder.latencies[first_latency:] or [float("nan")])
    return {
        "fps": classified / elapsed,
        "offered_fps": camera_fps * streams,
        "requested_fps": fps * streams,
        "mean_batch": in_batches / batches if batches else float("nan"),
        "dropped": sum(s.frames_dropped for s in stats) - first_dropped,
        "cpu_cores": (cpu.user + cpu.system - cpu_started.user - cpu_started.system) / elapsed,
        "p50_ms": 1000 * float(np.percentile(latencies, 50)),
        "p99_ms": 1000 * float(np.percentile(latencies, 99)),
    }
