"""Latency of an onnxruntime session on this machine.

Owns the one way visord times a model: warm-up runs, then the median of
timed runs (`median_seconds`), here on random input of the model's own shape.
Export records it in the manifest; the router times its models with
`median_seconds` at start-up, through the engine's whole classify path.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
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


def median_seconds(call: Callable[[], object], runs: int = 20, warmup: int = 3) -> float:
    """Median wall-clock seconds of `call()` over `runs` timed calls, after `warmup` untimed
    ones."""
    for _ in range(warmup):
        call()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def median_latency_ms(
    session: ort.InferenceSession, batch: int, runs: int = 20, warmup: int = 3
) -> float:
    """Median wall-clock milliseconds of one `session.run` on a batch of `batch` frames."""
    feed = {session.get_inputs()[0].name: random_batch(session, batch)}
    return median_seconds(lambda: session.run(None, feed), runs, warmup) * 1000.0
