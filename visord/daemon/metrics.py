"""The daemon's Prometheus metrics: names, help, units, label sets.

Owns every `visord_*` metric. Labels are bounded: stream names and model
names come from the config (validated to a short charset), labels from the
model's manifest, reasons and states from fixed enums; never a URL. What the
engine measures is observed here as it happens; what readers and sinks count
in plain attributes is read at scrape time by `SnapshotCollector`, so there is
one source of truth for each number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from visord.daemon.config.policy import AUTO_CHOICES

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class DaemonMetrics:
    """The metrics the runtime observes directly, registered on `registry` (a fresh one per
    test)."""

    def __init__(self, registry: CollectorRegistry, version: str):
        self.registry = registry
        self.inference_seconds = Histogram(
            "visord_inference_seconds",
            "Time of one onnxruntime batch, preprocessing included.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_size = Histogram(
            "visord_inference_batch_size",
            "Frames per inference batch.",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.end_to_end_seconds = Histogram(
            "visord_end_to_end_latency_seconds",
            "Frame decoded to result available.",
            ["stream"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.classified = Counter(
            "visord_frames_classified",
            "Frames classified, by the model that gave the answer.",
            ["stream", "model"],
            registry=registry,
        )
        self.predictions = Counter(
            "visord_predictions",
            "Classified frames by top label.",
            ["stream", "label"],
            registry=registry,
        )
        self.stream_model = Gauge(
            "visord_stream_model",
            "1 for the model currently serving the stream, 0 for the others.",
            ["stream", "model"],
            registry=registry,
        )
        self.inference_errors = Counter(
            "visord_inference_errors",
            "Batches that failed in the engine.",
            ["model"],
            registry=registry,
        )
        self.config_reloads = Counter(
            "visord_config_reloads",
            "SIGHUP reloads by result (applied or rejected).",
            ["result"],
            registry=registry,
        )
        Info("visord_build", "Version of the running daemon.", registry=registry).info(
            {"version": version}
        )
        self.router = RouterMetrics(registry)
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)

    def set_stream_model(self, stream: str, model: str, models: Iterable[str]) -> None:
        for name in models:
            self.stream_model.labels(stream, name).set(1 if name == model else 0)

    def forget_stream(self, stream: str, models: Iterable[str], labels: Iterable[str]) -> None:
        """Drops a removed stream's series so label sets stay bounded across reloads."""
        pairs = [(self.end_to_end_seconds, (stream,))]
        pairs += [
            (metric, (stream, model))
            for model in models
            for metric in (self.classified, self.stream_model)
        ]
        pairs += [(self.predictions, (stream, label)) for label in labels]
        pairs += self.router.series_of(stream)
        for metric, values in pairs:
            try:
                metric.remove(*values)
            except KeyError:
                pass


CHANGE_DIRECTIONS = ("upgrade", "downgrade")


class RouterMetrics:
    """What the router decided and measured: modes, rates, budget, changes, escalations, motion
    skips, costs."""

    def __init__(self, registry: CollectorRegistry):
        self.stream_mode = Gauge(
            "visord_stream_mode",
            "1 for the stream's current mode (large, cascade or small), 0 for the others.",
            ["stream", "mode"],
            registry=registry,
        )
        self.budget_used = Gauge(
            "visord_router_budget_used_ratio",
            "Share of the hardware budget inference used over the last replan "
            "interval (over 1: more than cpu_share of the cores, or the engine loop saturated).",
            registry=registry,
        )
        self.planned_fps = Gauge(
            "visord_stream_planned_fps",
            "Frames per second the router plans to classify for the stream.",
            ["stream"],
            registry=registry,
        )
        self.achieved_fps = Gauge(
            "visord_stream_achieved_fps",
            "Frames per second answered over the last replan interval (classified, "
            "or a static frame that kept the last answer).",
            ["stream"],
            registry=registry,
        )
        self.degraded = Gauge(
            "visord_router_degraded",
            "1 while the stream runs below its desired mode or rate.",
            ["stream"],
            registry=registry,
        )
        self.changes = Counter(
            "visord_router_changes",
            "Router decisions that changed a stream's mode or rate.",
            ["stream", "direction"],
            registry=registry,
        )
        self.escalations = Counter(
            "visord_cascade_escalations",
            "Cascade frames the small model was unsure of, re-checked by the large one.",
            ["stream"],
            registry=registry,
        )
        self.escalate_below = Gauge(
            "visord_cascade_escalate_below",
            "The threshold the stream's cascade runs at: frames whose top score is below it are "
            "re-checked by the large model (set while it runs as a cascade).",
            ["stream"],
            registry=registry,
        )
        self.motion_skipped = Counter(
            "visord_motion_skipped_frames",
            "Frames motion gating found static: the last answer was kept.",
            ["stream"],
            registry=registry,
        )
        self.model_cost = Gauge(
            "visord_model_cost_seconds",
            "Estimated inference seconds per frame at a batch size (measured at start-up "
            "or given, kept current from live latencies).",
            ["model", "batch"],
            registry=registry,
        )
        self._cost_series: set[tuple[str, str]] = set()

    def set_mode(self, stream: str, mode: str) -> None:
        for name in AUTO_CHOICES:
            self.stream_mode.labels(stream, name).set(1 if name == mode else 0)

    def set_costs(self, estimates: dict[str, dict[int, float]]) -> None:
        """The cost estimates now; the series of a model a reload dropped go with it."""
        for model, batch in [labels for labels in self._cost_series if labels[0] not in estimates]:
            self.model_cost.remove(model, batch)
        self._cost_series = {
            (model, str(batch)) for model, by_batch in estimates.items() for batch in by_batch
        }
        for model, by_batch in estimates.items():
            for batch, seconds in by_batch.items():
                self.model_cost.labels(model, str(batch)).set(seconds)

    def series_of(self, stream: str) -> list[tuple[Gauge | Counter, tuple[str, ...]]]:
        """Every router series of `stream`, for `DaemonMetrics.forget_stream`."""
        pairs: list[tuple[Gauge | Counter, tuple[str, ...]]] = [
            (self.stream_mode, (stream, mode)) for mode in AUTO_CHOICES
        ]
        pairs += [(self.changes, (stream, direction)) for direction in CHANGE_DIRECTIONS]
        pairs += [
            (metric, (stream,))
            for metric in (
                self.planned_fps,
                self.achieved_fps,
                self.degraded,
                self.escalations,
                self.escalate_below,
                self.motion_skipped,
            )
        ]
        return pairs


@dataclass
class Sample:
    """One series of a snapshot metric: its label values and value."""

    labels: tuple[str, ...]
    value: float


@dataclass
class SnapshotMetric:
    """A counter or gauge whose samples are read from live objects at scrape time."""

    name: str
    documentation: str
    kind: str  # "counter" or "gauge"
    label_names: tuple[str, ...]
    samples: list[Sample] = field(default_factory=list)


@dataclass(frozen=True)
class SnapshotSpec:
    """A metric read at scrape time: everything but its samples."""

    name: str
    documentation: str
    kind: str  # "counter" or "gauge"
    label_names: tuple[str, ...]

    def of(self, samples: list[Sample]) -> SnapshotMetric:
        return SnapshotMetric(self.name, self.documentation, self.kind, self.label_names, samples)


# A camera's reader counters (label `camera`), by the `StreamStats` field each one reads.
CAMERA_COUNTERS = {
    "frames_decoded": SnapshotSpec(
        "visord_camera_frames_decoded",
        "Frames decoded (every frame of the camera, once for all of its regions).",
        "counter",
        ("camera",),
    ),
    "reconnects": SnapshotSpec(
        "visord_camera_reconnects", "Connection attempts after a failure.", "counter", ("camera",)
    ),
    "stalls": SnapshotSpec(
        "visord_camera_stalls",
        "Times no frame arrived within the stall timeout.",
        "counter",
        ("camera",),
    ),
    "errors": SnapshotSpec(
        "visord_camera_errors", "Failed opens, reads and conversions.", "counter", ("camera",)
    ),
    "decode_seconds": SnapshotSpec(
        "visord_camera_decode_cpu_seconds",
        "CPU seconds the camera's reader thread spent reading, decoding and converting frames "
        "(counted in the router's budget).",
        "counter",
        ("camera",),
    ),
}
CAMERA_FAILURES = SnapshotSpec(
    "visord_camera_failures",
    "Failed connections by cause: auth, not_found, refused, reset, timeout, transport, not_video, "
    "codec, corrupt, end, stall, other.",
    "counter",
    ("camera", "cause"),
)
CAMERA_UP = SnapshotSpec(
    "visord_camera_up", "1 while the camera delivers frames.", "gauge", ("camera",)
)
CAMERA_KEYFRAMES_ONLY = SnapshotSpec(
    "visord_camera_keyframes_only",
    "1 while the camera's decoder decodes key frames only.",
    "gauge",
    ("camera",),
)
# A stream's (a region's) share of its camera's frames, and its camera's state as it sees it.
FRAMES_RETRIEVED = SnapshotSpec(
    "visord_frames_retrieved",
    "Frames handed to the stream for classification (due at its fps).",
    "counter",
    ("stream",),
)
FRAMES_DROPPED = SnapshotSpec(
    "visord_frames_dropped",
    "Frames lost before classification, by reason (stale: replaced by a newer one).",
    "counter",
    ("stream", "reason"),
)
STREAM_UP = SnapshotSpec(
    "visord_stream_up", "1 while the stream's camera delivers frames.", "gauge", ("stream",)
)
STREAM_STATE = SnapshotSpec(
    "visord_stream_state",
    "1 for the current reader state of the stream's camera.",
    "gauge",
    ("stream", "state"),
)
EVENTS = SnapshotSpec(
    "visord_events",
    "Debounced events emitted, by kind (change, heartbeat).",
    "counter",
    ("stream", "kind"),
)
COLLECT_SAVED = SnapshotSpec(
    "visord_collect_saved",
    "Crops saved for labelling, by why they were kept (disagree, unsure, change, baseline).",
    "counter",
    ("stream", "reason"),
)
COLLECT_DROPPED = SnapshotSpec(
    "visord_collect_dropped",
    "Crops kept but not saved: queue_full, duplicate (too like the last one), not_novel (too "
    "like every crop the diversity budget kept this hour) or write_error.",
    "counter",
    ("stream", "reason"),
)
COLLECT_EVICTED = SnapshotSpec(
    "visord_collect_evicted",
    "Unlabelled crops deleted: oldest first to keep the stream's quota or the disk cap, or "
    "the least different one replaced by a more different crop under the diversity budget.",
    "counter",
    ("stream",),
)
# Event snapshots (`visord.daemon.events.snapshots`) and the events API's latest frames.
SNAPSHOTS_WRITTEN = SnapshotSpec(
    "visord_snapshots_written",
    "Event snapshots (annotated frame and crop) written to the snapshot folder.",
    "counter",
    ("stream",),
)
SNAPSHOTS_DROPPED = SnapshotSpec(
    "visord_snapshots_dropped",
    "Event snapshots lost: queue_full (the writer was behind), write_error (the folder could not "
    "be created or written: full disk, read-only) or mqtt_unsent (replaced by a newer one before "
    "an MQTT sink could send it).",
    "counter",
    ("stream", "reason"),
)
SNAPSHOTS_EVICTED = SnapshotSpec(
    "visord_snapshots_evicted",
    "Snapshots deleted, oldest first: age (past max_days) or size (over max_megabytes).",
    "counter",
    ("reason",),
)
SNAPSHOTS_STORED = SnapshotSpec(
    "visord_snapshots_stored", "Snapshots in the snapshot folder.", "gauge", ()
)
SNAPSHOTS_STORED_BYTES = SnapshotSpec(
    "visord_snapshots_stored_bytes",
    "Bytes of the snapshots in the snapshot folder (both files of each).",
    "gauge",
    (),
)
SNAPSHOTS_WRITABLE = SnapshotSpec(
    "visord_snapshots_writable",
    "1 while snapshots are written, 0 after a write failed (until one succeeds).",
    "gauge",
    (),
)
LATEST_FRAME_ENCODES = SnapshotSpec(
    "visord_latest_frame_encodes",
    "Latest frames encoded as JPEG for GET /api/streams/<stream>/latest.jpg (a request within "
    "the cache time of the last one is answered from it).",
    "counter",
    ("stream",),
)
# Sink counters and gauges, by the `SinkStats` field each one reads.
SINK_METRICS = {
    "delivered": SnapshotSpec(
        "visord_event_sink_delivered",
        "Events the sink delivered (written, or acknowledged).",
        "counter",
        ("sink",),
    ),
    "failed": SnapshotSpec(
        "visord_event_sink_failed", "Events lost to a write or publish error.", "counter", ("sink",)
    ),
    "dropped": SnapshotSpec(
        "visord_event_sink_dropped",
        "Events dropped from a full buffer or undelivered at close.",
        "counter",
        ("sink",),
    ),
    "buffered": SnapshotSpec(
        "visord_event_sink_buffered", "Events waiting in the sink's buffer.", "gauge", ("sink",)
    ),
    "stalls": SnapshotSpec(
        "visord_event_sink_stalls",
        "Times a connected sink's destination took nothing for the sink's stall_after seconds "
        "(an MQTT broker that stopped acknowledging); the sink is down meanwhile.",
        "counter",
        ("sink",),
    ),
    "healthy": SnapshotSpec(
        "visord_event_sink_up",
        "1 while the sink can deliver (file writable, broker connected).",
        "gauge",
        ("sink",),
    ),
}


class SnapshotCollector(Collector):
    """Calls `snapshot()` at each scrape and exposes what it returns."""

    def __init__(self, snapshot: Callable[[], list[SnapshotMetric]]):
        self._snapshot = snapshot

    def collect(self) -> Iterable[CounterMetricFamily | GaugeMetricFamily]:
        for metric in self._snapshot():
            family_type = CounterMetricFamily if metric.kind == "counter" else GaugeMetricFamily
            family = family_type(metric.name, metric.documentation, labels=list(metric.label_names))
            for sample in metric.samples:
                family.add_metric(list(sample.labels), sample.value)
            yield family
