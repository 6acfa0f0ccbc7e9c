"""Cameras that show one colour, and a recorder of what the runtime classified: runtime tests drive
the real frame loop with them and tiny models that name the colour."""

from __future__ import annotations

import threading
import time

import numpy as np
from prometheus_client import CollectorRegistry

from visord.daemon.metrics import DaemonMetrics, SnapshotCollector
from visord.daemon.runtime import Runtime
from visord.daemon.sources.reader import StreamReader

BGR = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0), "grey": (128, 128, 128)}


class PaintedSource:
    """A camera that shows one colour (the stream's source is `demo://scenes?seed=N`; the colour
    comes from a map)."""

    ended = False

    def __init__(self, colour):
        self.colour = colour

    def open(self):
        pass

    def grab(self):
        time.sleep(0.01)
        return True

    def retrieve(self):
        return np.full((24, 32, 3), BGR[self.colour[0]], np.uint8)

    def release(self):
        pass


class Results:
    """The runtime's result sink: each answer as (stream, label, model) in `seen`, and its
    end-to-end latency (seconds) in `latencies`, which the daemon benchmarks report."""

    def __init__(self):
        self.seen = []
        self.latencies = []
        self.lock = threading.Lock()

    def observe(self, stream, prediction, frame_wall, latency):
        with self.lock:
            self.seen.append((stream, prediction.label, prediction.model))
            self.latencies.append(latency)

    def forget(self, stream):
        self.forgotten = stream

    def labels(self, stream):
        with self.lock:
            return [(label, model) for name, label, model in self.seen if name == stream]


def painted_readers(colours: dict[str, list[str]]):
    def reader(reader_config):
        return StreamReader(
            reader_config,
            source_factory=lambda source, options: PaintedSource(colours[reader_config.name]),
        )

    return reader


def runtime_for(config, colours: dict[str, list[str]], reader=None):
    registry = CollectorRegistry()
    metrics = DaemonMetrics(registry, "test")
    results = Results()
    reader = reader or painted_readers(colours)

    runtime = Runtime(config, metrics, results, reader_factory=reader)
    registry.register(SnapshotCollector(runtime.snapshot))
    return runtime, results, registry


def run_until(runtime, condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runtime.step()
        if condition():
            return True
    return False
