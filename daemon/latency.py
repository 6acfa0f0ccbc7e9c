"""Latency of an onnxruntime session on this machine.

Owns the one way visord times a model: warm-up runs, then the median of
timed runs on random input of the model's own shape. Export records it in the
manifest; the router measures model costs with it at start-up.
"""

from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort


def cpu_name() -> str:
    """The CPU model, e.g. "Intel(R) Xeon(R) Platinum 8488C (2 threads)", for the record."""
    cpuinfo = Path("/proc/cpuinfo")
    name = platform.processor() or platform.machine()
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return name


def random_batch(session: ort.InferenceSession, batch: int, seed: int = 0) -> np.ndarray:
    """Random pixels 0..255 shaped like the session's input, with `batch` as the batch size."""
    graph_input = session.get_inputs()[0]
    shape = [batch, *(d if isinstance(d, int) else 1 for d in graph_input.shape[1:])]
    pixels = np.random.default_rng(seed).uniform(0, 255, size=shape)
    return pixels.astype(np.uint8 if "uint8" in graph_input.type else np.float32)


def median_latency_ms(session: ort.InferenceSession, batch: int, runs: int = 20, warmup: int = 3) -> float:
    """Median wall-clock milliseconds of one `session.run` on a batch of `batch` frames."""
    feed = {session.get_inputs()[0].name: random_batch(session, batch)}
    for _ in range(warmup):
        session.run(None, feed)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        session.run(None, feed)
        timings.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(timings)
