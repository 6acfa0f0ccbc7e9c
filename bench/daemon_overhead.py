"""Daemon overhead, live-ness under overload, and resident memory.

1. Throughput: the same model on the same 640x480 frames, in the same run:
   a bare onnxruntime loop (preprocess + `session.run`, batch 1 and batch 8,
   and `session.run` alone) against the daemon's runtime fed by S in-memory
   cameras at 25 fps each, classifying every frame (more frames than the model
   can take: saturated). Ratio = daemon frames/s over bare frames/s at the
   daemon's own mean batch size (interpolated between batch 1 and 8).
2. Live-ness: in that overloaded run, end-to-end latency (frame grabbed to
   result) p50/p99 stays bounded and the frames the model could not take are
   counted as dropped instead of queueing.
3. Memory: `visord run` as a process with 2 models and 8 demo streams:
   resident memory, threads and open files after a settling time.

    python bench/daemon_overhead.py [--small models/demo-small.onnx] [--large models/demo-large.onnx]
                                    [--streams 32] [--seconds 10]

A benchmark, not a test: it prints a table and ratios and fails on nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from prometheus_client import CollectorRegistry

from daemon.config import parse_config
from daemon.engine import Model
from daemon.metrics import DaemonMetrics
from daemon.preprocess import prepare
from daemon.runtime import Runtime
from daemon.scenes import CLASSES, render_scene
from daemon.sources.pacing import Pacer
from daemon.sources.reader import StreamReader

ROOT = Path(__file__).resolve().parent.parent
THREADS = 2


def frames(count: int = 32) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [render_scene(rng, CLASSES[i % len(CLASSES)], (480, 640), difficulty=0.3) for i in range(count)]


def bare_fps(model: Model, images: list[np.ndarray], batch: int, seconds: float, preprocess: bool = True) -> float:
    """Frames per second of the plain loop: (prepare +) session.run on batches of `batch`."""
    tensors = np.stack([prepare(image, model.manifest) for image in images[:batch]])
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        chunk = [images[(done + k) % len(images)] for k in range(batch)]
        model.run(np.stack([prepare(image, model.manifest) for image in chunk]) if preprocess else tensors)
        done += batch
    return done / (time.perf_counter() - started)


class MemoryCamera:
    """A camera at 25 fps whose frames are already decoded: the reader costs nothing but the hand-over."""

    ended = False

    def __init__(self, images: list[np.ndarray], fps: float = 25.0):
        self.images, self.index, self.pacer = images, 0, Pacer(fps)

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


class LatencyRecorder:
    def __init__(self) -> None:
        self.latencies: list[float] = []

    def observe(self, stream, prediction, frame_wall, latency) -> None:
        self.latencies.append(latency)

    def forget(self, stream) -> None:
        pass


def daemon_run(model_path: Path, images: list[np.ndarray], streams: int, seconds: float) -> dict:
    lines = "\n".join(f'  - {{name: cam{i}, source: "demo://scenes", fps: 25, model: small}}' for i in range(streams))
    config = parse_config(f"models:\n  small: {{path: {model_path}, role: small, threads: {THREADS}}}\n"
                          f"streams:\n{lines}\n", "bench")
    registry, recorder = CollectorRegistry(), LatencyRecorder()
    reader = lambda rc: StreamReader(rc, source_factory=lambda s, o: MemoryCamera(images))  # noqa: E731
    runtime = Runtime(config, DaemonMetrics(registry, "bench"), recorder, reader_factory=reader)
    runtime.start()
    time.sleep(1.0)
    classified, started = 0, time.perf_counter()
    first_dropped = sum(r.reader.stats.frames_dropped for r in runtime.streams.values())
    while time.perf_counter() - started < seconds:
        classified += runtime.step(idle_wait=0.0005)
    elapsed = time.perf_counter() - started
    stats = [r.reader.stats for r in runtime.streams.values()]
    runtime.stop()
    batches = registry.get_sample_value("visord_inference_batch_size_count", {"model": "small"})
    frames_in_batches = registry.get_sample_value("visord_inference_batch_size_sum", {"model": "small"})
    latencies = np.array(recorder.latencies[-max(classified, 1):])
    return {"fps": classified / elapsed, "offered_fps": 25.0 * streams, "mean_batch": frames_in_batches / batches,
            "dropped": sum(s.frames_dropped for s in stats) - first_dropped,
            "p50_ms": 1000 * float(np.percentile(latencies, 50)), "p99_ms": 1000 * float(np.percentile(latencies, 99))}


def daemon_memory(small: Path, large: Path, streams: int, settle: float) -> dict:
    lines = "\n".join(f'  - {{name: cam{i}, source: "demo://scenes?seed={i}", fps: 2, model: '
                      f'{"cascade" if i % 2 else "small"}}}' for i in range(streams))
    port = 19000 + os.getpid() % 1000
    text = (f"models:\n  small: {{path: {small}, role: small}}\n  large: {{path: {large}, role: large}}\n"
            f"streams:\n{lines}\nevents:\n  sinks: [{{type: jsonl, path: /dev/null}}]\nmetrics: {{port: {port}}}\n")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(text)
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "daemon.cli", "--log-level", "WARNING", "run", "--config",
                                handle.name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(settle)
    status = dict(line.split(":", 1) for line in Path(f"/proc/{process.pid}/status").read_text().splitlines())
    files = len(os.listdir(f"/proc/{process.pid}/fd"))
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    os.unlink(handle.name)
    return {"rss_mb": int(status["VmRSS"].split()[0]) / 1024, "threads": int(status["Threads"]), "open_files": files,
            "settle_s": settle, "wall_s": time.perf_counter() - started}


def interpolate(batch: float, at1: float, at8: float) -> float:
    return at1 + (at8 - at1) * (min(max(batch, 1.0), 8.0) - 1.0) / 7.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=Path, default=ROOT / "models" / "demo-small.onnx")
    parser.add_argument("--large", type=Path, default=ROOT / "models" / "demo-large.onnx")
    parser.add_argument("--streams", type=int, default=32, help="in-memory cameras (enough to saturate the model)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    images, model = frames(), Model("small", args.small, threads=THREADS)
    bare = {f"bare b{b}": bare_fps(model, images, b, args.seconds) for b in (1, 8)}
    bare["run only b8"] = bare_fps(model, images, 8, args.seconds, preprocess=False)
    daemon = daemon_run(args.small, images, args.streams, args.seconds)
    baseline = interpolate(daemon["mean_batch"], bare["bare b1"], bare["bare b8"])
    print(f"\nmodel {args.small.name}, {THREADS} threads, 640x480 frames, {args.seconds:.0f} s each")
    print(f"{'loop':28} {'frames/s':>9} {'ratio':>6}")
    for name, fps in bare.items():
        print(f"{name:28} {fps:9.1f} {fps / baseline:6.2f}")
    print(f"{'daemon, ' + str(args.streams) + ' cams x 25 fps':28} {daemon['fps']:9.1f} {daemon['fps'] / baseline:6.2f}"
          f"   (mean batch {daemon['mean_batch']:.1f}; ratio against bare at that batch)")
    print(f"overload: offered {daemon['offered_fps']:.0f} frames/s, classified {daemon['fps']:.0f}/s, dropped "
          f"{daemon['dropped']} (counted), end-to-end latency p50 {daemon['p50_ms']:.1f} ms, p99 {daemon['p99_ms']:.1f} ms")
    memory = daemon_memory(args.small, args.large, 8, settle=15.0)
    print(f"visord run, 2 models, 8 demo streams: RSS {memory['rss_mb']:.0f} MB, {memory['threads']} threads, "
          f"{memory['open_files']} open files")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "daemon_overhead.json").write_text(json.dumps({"bare": bare, "daemon": daemon, "memory": memory,
                                                               "baseline_fps": baseline}, indent=2))


if __name__ == "__main__":
    main()
