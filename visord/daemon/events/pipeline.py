"""`EventPipeline`: the runtime's result sink; one `Debouncer` per stream, events out to `Sinks`.

`observe(stream, prediction, frame_wall, latency, image, roi)` is what `visord.daemon.runtime`
calls for every classified frame (`prediction` needs `label`, `score` and
`model`; `image` is the frame, shared and never written, `roi` the stream's region); raw
per-frame results go to the debug log only. Each event gets an id (`history`); its frame is
offered to the snapshot writer (`snapshots`), and the event carries the id as `snapshot` when
the snapshot was queued; the event goes to the sinks and to the ring the events API lists. The
last frame of each stream is kept by reference for the API (`latest`). The snapshot writer hands
each encoded frame back (`_snapshot_encoded`, its own thread) and the sinks that publish pictures
get it. `declare(stream, labels)` hands the sinks the labels a stream can have (the runtime reads
them from its models' manifests at the stream's start and after each reload: MQTT announces a
Home Assistant binary sensor for each at once). `forget` is for a stream removed from the config
and tells the sinks too (MQTT empties the stream's Home Assistant entities); `restart` is for one
whose config changed: it starts afresh here (its first label is an event again) while the sinks
keep what they announced for it.
`reconfigure`
applies a reloaded `events:` section: new debounce settings keep each
stream's stable label (no burst of events on SIGHUP); sinks whose config is
unchanged keep running (and their buffers), removed or changed ones are
closed first (so an MQTT client id is free again) and the new ones built.
With a Prometheus registry, the event and sink counters are exposed at
scrape time through `visord.daemon.metrics.SnapshotCollector`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from visord.daemon.events.build import build_sink, sink_label
from visord.daemon.events.debounce import Debouncer
from visord.daemon.events.event import Event
from visord.daemon.events.fanout import Sinks
from visord.daemon.events.history import History
from visord.daemon.events.latest import LatestFrames
from visord.daemon.events.sink import Sink
from visord.daemon.events.snapshots import SnapshotKeeper
from visord.daemon.inference.preprocess import Roi
from visord.daemon.metrics import (
    EVENTS,
    SINK_METRICS,
    Sample,
    SnapshotCollector,
    SnapshotMetric,
)

log = logging.getLogger(__name__)

RECONFIGURE_CLOSE_TIMEOUT = 1.0  # seconds a replaced sink gets to flush during a reload


class Result(Protocol):
    label: str
    score: float
    model: str


class EventPipeline:
    # the runtime hands this sink each frame and region too (`visord.daemon.runtime.ResultSink`)
    takes_frames = True

    def __init__(self, config: Any, registry: Any = None, sinks: Sinks | None = None) -> None:
        """config: a `visord.daemon.config.EventsConfig`. sinks: built from `config.sinks` unless
        given (tests)."""
        self.config = config
        self.snapshots = SnapshotKeeper(config.snapshots, on_encoded=self._snapshot_encoded)
        self.history = History(config.history)
        self.latest = LatestFrames()
        # (config, sink) per running sink; config None for sinks handed in, which a reload replaces
        self._pairs: list[tuple[Any, Sink]] = (
            [(None, sink) for sink in sinks]
            if sinks is not None
            else [(c, build_sink(c)) for c in config.sinks]
        )
        self.sinks = Sinks(sink for _, sink in self._pairs)
        self._debouncers: dict[str, Debouncer] = {}
        self._emitted: Counter[tuple[str, str]] = Counter()
        self._labels: dict[str, tuple[str, ...]] = {}  # stream -> its labels (`declare`)
        self._lock = threading.Lock()
        if registry is not None:
            registry.register(SnapshotCollector(self.snapshot))

    def debouncer_settings(self) -> tuple[int, float, float | None]:
        """hold_frames, min_score, heartbeat: what each stream's debouncer runs with now."""
        return (
            self.config.debounce.hold_frames,
            self.config.debounce.min_score,
            self.config.heartbeat,
        )

    def observe(
        self,
        stream: str,
        prediction: Result,
        frame_wall: float,
        latency: float,
        image: np.ndarray | None = None,
        roi: Roi | None = None,
    ) -> Event | None:
        """One classified frame; the event it made, if any. Never waits on a sink or the disk."""
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "result stream=%s label=%s score=%.4f model=%s latency=%.4f",
                stream,
                prediction.label,
                prediction.score,
                prediction.model,
                latency,
            )
        with self._lock:
            debouncer = self._debouncers.get(stream) or self._debouncers.setdefault(
                stream, Debouncer(stream, *self.debouncer_settings())
            )
            event = debouncer.update(
                prediction.label,
                prediction.score,
                model=prediction.model,
                time=frame_wall,
                latency=latency,
            )
            if event is not None:
                self._emitted[(stream, event.kind)] += 1
        if image is not None:
            self.latest.keep(stream, image, roi, frame_wall)
        if event is None:
            return None
        event_id = self.history.next_id(stream, event.time)
        if self.snapshots.offer(event_id, stream, event.label, event.score, image, roi):
            event = dataclasses.replace(event, snapshot=event_id)
        self.history.add(event_id, event)
        self.sinks.emit(event)
        return event

    def declare(self, stream: str, labels: Sequence[str]) -> None:
        """The labels `stream` can have, from its models' manifests, to the sinks (again only when
        they changed)."""
        labels = tuple(labels)
        with self._lock:
            if self._labels.get(stream) == labels:
                return
            self._labels[stream] = labels
        self.sinks.declare(stream, labels)

    def restart(self, stream: str) -> None:
        """A stream whose config changed: its series go and it starts fresh (its first label is an
        event); the sinks keep what they hold for it (Home Assistant keeps its entities)."""
        with self._lock:
            self._debouncers.pop(stream, None)
            for key in [key for key in self._emitted if key[0] == stream]:
                del self._emitted[key]
        self.latest.forget(stream)

    def forget(self, stream: str) -> None:
        """A stream removed from the config: `restart`, and the sinks forget it (MQTT empties its
        Home Assistant entities)."""
        self.restart(stream)
        with self._lock:
            self._labels.pop(stream, None)
        self.sinks.forget(stream)

    def _snapshot_encoded(self, stream: str, event_id: str, jpeg: bytes) -> None:
        """The snapshot writer's thread: an event's encoded frame to the sinks (MQTT publishes
        it; nothing here waits)."""
        self.sinks.publish_snapshot(stream, event_id, jpeg)

    def reconfigure(self, config: Any) -> None:
        with self._lock:
            self.config = config
            settings = self.debouncer_settings()
            self._debouncers = {
                name: d.with_settings(*settings) for name, d in self._debouncers.items()
            }
        # a partial config (one with sinks and debouncing only) keeps the running snapshot settings
        self.snapshots.reconfigure(getattr(config, "snapshots", self.snapshots.settings))
        self.history.resize(getattr(config, "history", self.history.size))
        if [c for c, _ in self._pairs] == list(config.sinks):
            return
        unmatched = list(self._pairs)
        plan = []
        for wanted in config.sinks:
            match = next((pair for pair in unmatched if pair[0] == wanted), None)
            if match is not None:
                unmatched.remove(match)
            plan.append((wanted, match[1] if match else None))
        # closed before the new ones connect: an MQTT client id must be free again
        for _, sink in unmatched:
            sink.close(RECONFIGURE_CLOSE_TIMEOUT)
        self._pairs = [(c, sink) for c, old in plan if (sink := old or _try_build(c)) is not None]
        self.sinks = Sinks(sink for _, sink in self._pairs)
        built = Sinks(sink for c, sink in self._pairs if all(sink is not old for _, old in plan))
        with self._lock:
            labels = list(self._labels.items())
        for stream, known in labels:  # the new sinks learn what the old ones were told
            built.declare(stream, known)
        log.info("event sinks now: %s", "; ".join(sink.describe() for sink in self.sinks) or "none")

    def close(self, timeout: float = 3.0) -> None:
        self.snapshots.close(timeout)
        self.sinks.close(timeout)

    def snapshot(self) -> list[SnapshotMetric]:
        with self._lock:
            emitted = [Sample(key, float(count)) for key, count in sorted(self._emitted.items())]
        stats = [(sink_label(sink, list(self.sinks)), sink.stats()) for sink in self.sinks]
        per_sink = [
            spec.of([Sample((label,), float(getattr(s, field))) for label, s in stats])
            for field, spec in SINK_METRICS.items()
        ]
        return [
            EVENTS.of(emitted),
            *per_sink,
            *self.snapshots.snapshot(_unsent_snapshots(self.sinks)),
            *self.latest.snapshot(),
        ]


def _unsent_snapshots(sinks: Sinks) -> dict[str, int]:
    """Per stream, the snapshots the MQTT sinks replaced before sending, summed over sinks."""
    total: Counter[str] = Counter()
    for sink in sinks:
        total.update(getattr(sink, "unsent_snapshots", dict)())
    return dict(total)


def _try_build(config: Any) -> Sink | None:
    try:
        return build_sink(config)
    except Exception as error:  # a reload never takes the daemon down; the other sinks go on
        log.error("event sink %s not started: %s", config.type, error)
        return None
