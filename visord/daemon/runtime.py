"""The frame loop: cameras in, batched inference, results out; and applying a new config to it.

Owns the set of running cameras (one reader thread each, decoding once for all of its regions),
running streams (the regions: each takes its camera's frames at its own rate) and loaded models,
one `step()` of the loop (take each stream's latest frame, let motion gating
keep the last answer of a static one, batch the frames that share a route,
classify, record metrics and hand results to the event pipeline), carrying
out the router's plan (each stream's route and rate, replanned every few
seconds; an idle model timed once on a real frame so its cost stays known),
live reconfiguration (streams added, removed or changed without touching the
others; a camera reopened only when its own settings change, not when a region's do; models
loaded before anything is swapped, so a bad model leaves the running set as it was), and the
health answer for `/healthz`. Collaborators
are passed in (`app.py`-style wiring in `visord.daemon.service.daemon`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from visord.daemon.collect import Collector
from visord.daemon.config import CameraConfig, DaemonConfig, StreamConfig
from visord.daemon.config.hardware import SPIN_ABOVE  # from it, `spin: auto` models spin
from visord.daemon.config.model_files import refuse_pair_problems
from visord.daemon.inference.engine import Model, Prediction, classify_timed
from visord.daemon.inference.preprocess import Roi
from visord.daemon.metrics import (
    CAMERA_COUNTERS,
    CAMERA_FAILURES,
    CAMERA_KEYFRAMES_ONLY,
    CAMERA_UP,
    FRAMES_DROPPED,
    FRAMES_RETRIEVED,
    STREAM_STATE,
    STREAM_UP,
    DaemonMetrics,
    Sample,
    SnapshotMetric,
)
from visord.daemon.router.planner import Change
from visord.daemon.router.router import Router
from visord.daemon.router.routes import Item, Route, run_routes
from visord.daemon.router.usage import budget_of
from visord.daemon.sources.base import Cause
from visord.daemon.sources.frames import Frame, LatestFrame
from visord.daemon.sources.reader import END_OF_FILE, ReaderConfig, StreamReader
from visord.daemon.sources.state import StreamState

log = logging.getLogger(__name__)


class ResultSink(Protocol):
    """Where results go: the event pipeline (debounce, sinks, snapshots).

    A sink whose class sets `takes_frames = True` is also handed the frame's image (shared with
    the camera's other regions: read it, never write it) and the stream's region, as `image` and
    `roi` after `latency`; the others get the four arguments only.

    `forget` is for a stream removed from the config. A sink may also have `declare(stream,
    labels)`, told at start and after each reload the labels each stream's models can answer (from
    their manifests), and `restart(stream)`, told instead of `forget` when a reload restarts a
    stream whose config changed (the event pipeline: Home Assistant keeps its entities)."""

    def observe(
        self, stream: str, prediction: Prediction, frame_wall: float, latency: float
    ) -> None: ...

    def forget(self, stream: str) -> None: ...


def hand_over(
    results: ResultSink,
    stream: str,
    prediction: Prediction,
    frame: Frame,
    roi: Roi | None,
    latency: float,
) -> None:
    """One result to the sink, with its frame and region when the sink takes them."""
    if getattr(results, "takes_frames", False):
        results.observe(stream, prediction, frame.wall, latency, frame.image, roi)  # type: ignore[call-arg]
    else:
        results.observe(stream, prediction, frame.wall, latency)


def _number(value: float | None) -> float | None:
    return None if value is None else float(value)


ReaderFactory = Callable[[ReaderConfig], StreamReader]
ModelFactory = Callable[..., Model]


def reader_config(
    camera: CameraConfig, regions: tuple[tuple[str, float | None], ...]
) -> ReaderConfig:
    """How to read `camera` for `regions` (each region's name and rate)."""
    return ReaderConfig(
        name=camera.name,
        source=camera.source.get_secret_value(),
        regions=regions,
        transport=camera.transport,
        loop=camera.loop,
        stall_timeout=camera.stall_timeout,
        open_timeout=camera.open_timeout,
        decode=camera.decode,
        backoff_initial=camera.reconnect.min,
        backoff_max=camera.reconnect.max,
    )


@dataclass
class RunningCamera:
    config: CameraConfig
    reader: StreamReader


@dataclass
class RunningStream:
    """A region: its config, its camera's reader and its own holder of that camera's frames."""

    config: StreamConfig
    reader: StreamReader
    latest: LatestFrame
    route: Route
    roi: Roi | None
    last: Prediction | None = None
    classified: int = 0


class Runtime:
    def __init__(
        self,
        config: DaemonConfig,
        metrics: DaemonMetrics,
        results: ResultSink,
        reader_factory: ReaderFactory = StreamReader,
        model_factory: ModelFactory = Model,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        cores: int | None = None,
        collector: Collector | None = None,
    ):
        self.config = config
        self.metrics = metrics
        self.results = results
        self.collector = collector
        self._reader_factory = reader_factory
        self._model_factory = model_factory
        self._clock = clock
        self._wall = wall_clock
        self._cores = cores
        self.models: dict[str, Model] = {}
        self.cameras: dict[str, RunningCamera] = {}
        self.streams: dict[str, RunningStream] = {}
        self.router = Router(config, metrics.router, clock(), cores)
        self.last_step = clock()
        # the newest classified frame: what an idle model is timed on
        self._probe: Item | None = None

    # -- lifecycle

    def start(self) -> None:
        """Loads every model an enabled stream uses (raising on a bad one), plans, then starts the
        readers."""
        self.models = self._load_models(self.config, {})
        self.router.configure(self.config, self.models, self._clock(), self._wall())
        self.router.replan(self._clock(), self._wall())
        for camera, regions in self.config.enabled_cameras.values():
            self._start_camera(camera, regions)
        self._declare_labels()

    def stop(self, timeout: float = 2.0) -> None:
        """Stops every reader, side by side: all are told, then all are waited for, at most
        `timeout` seconds in all (a reader still blocked in its source exits when the call
        returns)."""
        readers = [camera.reader for camera in self.cameras.values()]
        self.streams.clear()
        self.cameras.clear()
        for reader in readers:
            reader.request_stop()
        deadline = time.monotonic() + timeout
        for reader in readers:
            reader.join(deadline)

    def _start_camera(self, camera: CameraConfig, regions: list[StreamConfig]) -> None:
        """One reader for `camera`, feeding each of `regions` at its planned rate."""
        rates = tuple((stream.name, self.router.assignment(stream.name).fps) for stream in regions)
        reader = self._reader_factory(reader_config(camera, rates)).start()
        self.cameras[camera.name] = RunningCamera(camera, reader)
        log.info(
            "camera=%s started source=%s streams=%s",
            camera.name,
            camera.source,
            ",".join(stream.name for stream in regions),
        )
        for stream in regions:
            self._start_stream(stream, reader, reader.latest_of(stream.name))

    def _start_stream(
        self, stream: StreamConfig, reader: StreamReader, latest: LatestFrame
    ) -> None:
        planned = self.router.assignment(stream.name)
        roi = Roi.of(stream.roi)
        running = RunningStream(stream, reader, latest, self.router.route(stream.name), roi)
        self.streams[stream.name] = running
        self.metrics.set_stream_model(stream.name, running.route.primary, self.config.models)
        log.info(
            "stream=%s started camera=%s fps=%g model=%s runs=%s",
            stream.name,
            reader.name,
            planned.fps,
            stream.model,
            planned.mode,
        )

    def _load_models(self, config: DaemonConfig, current: dict[str, Model]) -> dict[str, Model]:
        """The models `config` needs: unchanged ones reused, the others loaded (ManifestError on a
        bad one, ConfigError when a cascade's models disagree: labels, operating curve).

        Unchanged means the same config entry, threads, and file on disk: a model file replaced in
        place (a retrained model copied over the old one, then SIGHUP) is loaded again, and refused
        if broken."""
        loaded = {}
        threads = budget_of(config, self._cores).threads
        old_threads = budget_of(self.config, self._cores).threads
        spin = config.hardware.spin
        for name in config.used_models:
            spec = config.models[name]
            old = current.get(name)
            same = (
                old is not None
                and name in self.config.models
                and self.config.models[name] == spec
                and old_threads[name] == threads[name]
                and old.spin == spin
                and not old.changed_on_disk()
            )
            if not same:
                old = self._model_factory(name, spec.path, spec.providers, threads[name], spin)
            loaded[name] = old
        refuse_pair_problems(config, {name: model.manifest for name, model in loaded.items()})
        return loaded

    # -- the loop

    def step(self, idle_wait: float = 0.005) -> int:
        """Answers the frames ready now; returns how many. Sleeps `idle_wait` when there were
        none."""
        now = self.last_step = self._clock()
        if self.router.due(now):
            self._observe_decoding(now)
            self._carry_out(self.router.replan(now, self._wall()))
            self._probe_idle_models(now)
        ready = [
            (running, frame)
            for running in self.streams.values()
            if (frame := running.latest.take(0))
        ]
        if not ready:
            time.sleep(idle_wait)
            return 0
        admitted: list[tuple[RunningStream, Frame]] = []
        for running, frame in ready:
            if running.last is not None and not self.router.admit(
                running.config.name, frame.image, now
            ):
                self._keep_last(running, frame)
            else:
                admitted.append((running, frame))
        if admitted:
            self._classify_all(admitted)
        return len(ready)

    def _observe_decoding(self, now: float) -> None:
        """Each camera's decoding CPU so far, for the router's next plan and its measured load."""
        for name, camera in self.cameras.items():
            stats = camera.reader.stats
            self.router.observe_decoding(
                name, stats.decode_seconds, stats.keyframes_only, stats.keyframes_per_second, now
            )

    def _keep_last(self, running: RunningStream, frame: Frame) -> None:
        """A static frame: its stream's last answer stands (and goes on to the debouncer like any
        other)."""
        hand_over(
            self.results,
            running.config.name,
            running.last,
            frame,
            running.roi,
            self._clock() - frame.monotonic,
        )

    def _carry_out(self, changes: list[Change]) -> None:
        """The plan's rates for the streams it changed; every stream's route (a rule may change
        cascade keys only)."""
        for change in changes:
            if change.stream in self.streams:
                self.streams[change.stream].reader.set_inference_fps(
                    change.after.fps, change.stream
                )
        for name, running in self.streams.items():
            running.route = self.router.route(name)
            self.metrics.set_stream_model(name, running.route.primary, self.config.models)
        busy = self.router.load.ratio >= SPIN_ABOVE
        for model in self.models.values():
            model.set_busy(busy)

    def _probe_idle_models(self, now: float) -> None:
        if self._probe is None:
            return
        for name in self.router.stale_models(now):
            if name in self.models:
                try:
                    self._classify(name, [self._probe])
                except Exception:
                    # a probe is only for the estimate; the failure is logged, the loop goes on
                    log.exception("model=%s probe failed", name)

    def _classify_all(self, admitted: list[tuple[RunningStream, Frame]]) -> None:
        """Every admitted frame by its stream's route, one batch per model."""
        requests = [(running.route, (frame.image, running.roi)) for running, frame in admitted]
        for (running, frame), chain in zip(admitted, run_routes(requests, self._classify)):
            if chain:
                self._record(running, frame, chain[-1])
                if self.collector is not None:
                    self.collector.offer(running.config.name, frame, running.roi, chain)
        self._probe = requests[-1][1]

    def _classify(self, model_name: str, items: Sequence[Item]) -> list[Prediction]:
        model = self.models[model_name]
        try:
            timed = classify_timed(model, [image for image, _ in items], [roi for _, roi in items])
        except Exception:
            self.metrics.inference_errors.labels(model_name).inc()
            raise
        self.metrics.inference_seconds.labels(model_name).observe(timed.seconds)
        self.metrics.batch_size.labels(model_name).observe(len(items))
        self.router.observe_batch(model_name, len(items), timed.seconds, self._clock())
        return timed.predictions

    def _record(self, running: RunningStream, frame: Frame, prediction: Prediction) -> None:
        name = running.config.name
        latency = self._clock() - frame.monotonic
        self.metrics.end_to_end_seconds.labels(name).observe(latency)
        self.metrics.classified.labels(name, prediction.model).inc()
        self.metrics.predictions.labels(name, prediction.label).inc()
        log.debug(
            "stream=%s label=%s score=%.3f model=%s latency=%.3f",
            name,
            prediction.label,
            prediction.score,
            prediction.model,
            latency,
        )
        running.last, running.classified = prediction, running.classified + 1
        self.router.observe_answer(name, running.route, prediction)
        hand_over(self.results, name, prediction, frame, running.roi, latency)

    # -- reconfiguration

    def apply(self, new: DaemonConfig) -> list[str]:
        """Switches to `new`; returns what changed. Models load first: a bad one raises and nothing
        changes. A camera whose own settings changed (or that lost all its regions) is reopened or
        stopped; a changed region of a camera kept open is restarted on the frames it already
        decodes."""
        models = self._load_models(new, self.models)
        old, cameras = self.config, new.enabled_cameras
        changes = []
        kept = {
            name
            for name, running in self.cameras.items()
            if name in cameras and cameras[name][0] == running.config
        }
        new_streams = {stream.name: stream for stream in new.enabled_streams}
        for name, running in list(self.streams.items()):
            camera = running.reader.name
            if camera not in kept or new_streams.get(name) != running.config:
                self._stop_stream(name, old, removed=name not in new_streams)
                changes.append(f"stopped {name}")
        for name in [name for name in self.cameras if name not in kept]:
            self._stop_camera(name)
            if self._is_listed(old, name):
                changes.append(f"stopped camera {name}")
        self.config = new
        self.models = models
        self.router.configure(new, models, self._clock(), self._wall())
        self._carry_out(self.router.replan(self._clock(), self._wall()))
        for camera, regions in cameras.values():
            if camera.name not in self.cameras:
                self._start_camera(camera, regions)
                if self._is_listed(new, camera.name):
                    changes.append(f"started camera {camera.name}")
                changes += [f"started {stream.name}" for stream in regions]
                continue
            reader = self.cameras[camera.name].reader
            for stream in regions:
                if stream.name not in self.streams:
                    fps = self.router.assignment(stream.name).fps
                    self._start_stream(stream, reader, reader.add_region(stream.name, fps))
                    changes.append(f"started {stream.name}")
        self._declare_labels()
        return changes

    def labels_of(self, stream: StreamConfig) -> list[str]:
        """Every label `stream` can be answered with: those of each model it may run (its own
        choice and the rules'), from their manifests, in the order the models list them."""
        names = [
            name
            for choice in sorted(self.config.choices_of(stream))
            for name in self.config.models_for_choice(choice)
        ]
        return list(
            dict.fromkeys(
                label for name in names if name in self.models for label in self.models[name].labels
            )
        )

    def _declare_labels(self) -> None:
        """Each running stream's labels to the result sink, when it takes them (unchanged ones are
        not sent again there)."""
        declare = getattr(self.results, "declare", None)
        if declare is None:
            return
        for running in list(self.streams.values()):
            declare(running.config.name, self.labels_of(running.config))

    @staticmethod
    def _is_listed(config: DaemonConfig, camera: str) -> bool:
        """Whether `camera` is an entry of `cameras:` (not a stream's own source)."""
        return any(entry.name == camera for entry in config.cameras)

    def _stop_camera(self, name: str) -> None:
        self.cameras.pop(name).reader.stop()
        log.info("camera=%s stopped", name)

    def _stop_stream(self, name: str, config: DaemonConfig, removed: bool = True) -> None:
        """`removed`: gone from the config (else restarted with a changed config right after)."""
        running = self.streams.pop(name)
        running.reader.remove_region(name)
        labels = {label for model in self.models.values() for label in model.labels}
        self.metrics.forget_stream(name, config.models, labels)
        if removed:
            self.results.forget(name)
        else:
            getattr(self.results, "restart", self.results.forget)(name)
        if self.collector is not None:
            self.collector.forget(name)
        log.info("stream=%s stopped", name)

    # -- what the outside reads

    def health(self, stalled_after: float = 30.0) -> tuple[bool, dict]:
        """Healthy while every enabled stream is streaming (or finished: a file played once to its
        end) and the loop stepped within `stalled_after` seconds. Called from the HTTP server's
        threads: it walks a copy of the streams, which a reload changes meanwhile."""
        now = self._clock()
        streams = {
            name: self._stream_health(running, now) for name, running in dict(self.streams).items()
        }
        engine_alive = now - self.last_step < stalled_after
        healthy = engine_alive and all(entry["healthy"] for entry in streams.values())
        return healthy, {"healthy": healthy, "engine_alive": engine_alive, "streams": streams}

    @staticmethod
    def _stream_health(running: RunningStream, now: float) -> dict:
        stats = running.reader.stats
        state = running.reader.state
        if state is StreamState.FINISHED:  # a file played once, to its end: done, not down
            return {
                "healthy": True,
                "state": state.value,
                "camera": running.reader.name,
                "reason": END_OF_FILE,
            }
        age = now - stats.last_frame_at if stats.last_frame_at else None
        fresh = age is not None and age < running.reader.config.stall_timeout
        entry = {
            "healthy": state == StreamState.STREAMING and fresh,
            "state": state.value,
            "camera": running.reader.name,
        }
        if running.reader.last_error and not entry["healthy"]:
            entry["reason"] = running.reader.last_error
        return entry

    def status(self) -> dict:
        """What the live page shows: the router's budget use and, per stream, its `/healthz` entry
        (camera, state, and the reason when down), region, last answer, route, planned and achieved
        rate.

        Called from the HTTP server's threads while the loop runs: it reads plain values from
        copies of the loop's dicts (the loop replaces its plan and routing whole) and takes no lock
        the loop waits on."""
        now = self._clock()
        streams = dict(self.streams)
        router = self.router
        plan = router.planner.plan
        routing = router.streams
        # each stream's achieved rate as /metrics has it, read once (not one scan a stream)
        achieved = {
            sample.labels.get("stream"): sample.value
            for metric in router.metrics.achieved_fps.collect()
            for sample in metric.samples
        }
        answer = {}
        for name, running in streams.items():
            entry = self._stream_health(running, now)
            last_frame = running.reader.stats.last_frame_at
            roi = running.roi
            last = running.last
            route = running.route
            state = routing.get(name)
            assignment = plan.get(name)
            entry |= {
                "model": str(running.config.model),
                "priority": running.config.priority,
                "roi": None
                if roi is None
                else {"x": roi.x, "y": roi.y, "width": roi.width, "height": roi.height},
                "frame_age": None if not last_frame else max(0.0, now - last_frame),
                "label": last.label if last is not None else None,
                "score": float(last.score) if last is not None else None,
                "answered_by": last.model if last is not None else None,
                "classified": running.classified,
                "route": "cascade" if route.cascade else self._role_or_name(route.primary),
                "models": list(route.models),
                "escalate_below": float(route.escalate_below) if route.cascade else None,
                "escalation": _number(state.escalation.value)
                if route.cascade and state is not None
                else None,
                "planned_fps": assignment.fps if assignment is not None else None,
                "achieved_fps": achieved.get(name),
            }
            answer[name] = entry
        return {"budget_used": float(router.load.ratio), "streams": answer}

    def _role_or_name(self, model: str) -> str:
        """small or large for a model in that role, else the model's name."""
        spec = self.config.models.get(model)
        return spec.role if spec is not None and spec.role else model

    def snapshot(self) -> list[SnapshotMetric]:
        """Camera counters and each stream's share and state, read at scrape time."""
        cameras, streams = dict(self.cameras), dict(self.streams)  # a reload changes them meanwhile
        stats = {name: camera.reader.stats for name, camera in cameras.items()}
        counts = {name: running.reader.region_counts(name) for name, running in streams.items()}
        states = {name: running.reader.state for name, running in streams.items()}
        metrics = [
            spec.of([Sample((name,), getattr(s, field)) for name, s in stats.items()])
            for field, spec in CAMERA_COUNTERS.items()
        ]
        failures = [
            Sample((name, cause.value), s.failures[cause])
            for name, s in stats.items()
            for cause in Cause
        ]
        keyframes = [Sample((name,), float(s.keyframes_only)) for name, s in stats.items()]
        camera_up = [
            Sample((name,), float(camera.reader.state == StreamState.STREAMING))
            for name, camera in cameras.items()
        ]
        retrieved = [Sample((name,), count[0]) for name, count in counts.items()]
        dropped = [Sample((name, "stale"), count[1]) for name, count in counts.items()]
        up = [
            Sample((name,), float(state == StreamState.STREAMING)) for name, state in states.items()
        ]
        each_state = [
            Sample((name, option.value), float(state == option))
            for name, state in states.items()
            for option in StreamState
        ]
        return [
            *metrics,
            CAMERA_FAILURES.of(failures),
            CAMERA_KEYFRAMES_ONLY.of(keyframes),
            CAMERA_UP.of(camera_up),
            FRAMES_RETRIEVED.of(retrieved),
            FRAMES_DROPPED.of(dropped),
            STREAM_STATE.of(each_state),
            STREAM_UP.of(up),
        ]
