"""The router as the runtime sees it: observations in, plans, routes and rates out, metrics on the
way.

Owns the router's state across replans: the cost model, the planner, and
per stream the effective policy, the measured escalation rate (cascade),
the share of frames motion gating skipped and what its checks cost, and the
frames answered since the last replan. `replan()` (every
`router.replan_interval` seconds, and at start and reload) folds the
interval's measurements into their averages, resolves each stream's policy
at the local time of day, plans, logs each change once with its reason and
updates the metrics. Until a stream has run as a cascade, its escalation
rate is taken as the mean of the streams that have (or `ESCALATION_PRIOR`).

An `auto` stream whose `escalate_below` is a target ("97% of large") and whose small model carries
an operating curve gets several cascade rungs (`curve.cascade_thresholds`); each is priced at the
escalation share the curve gives its threshold, scaled by what the stream's measured rate says of
the curve's at the threshold it ran at, and the plan's threshold is what its route applies.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from visord.contract.manifest import OperatingCurve
from visord.daemon.config import DaemonConfig, StreamConfig
from visord.daemon.config.policy import AUTO_CHOICES, EscalationTarget, Mode
from visord.daemon.inference.engine import Prediction
from visord.daemon.inference.preprocess import Roi
from visord.daemon.metrics import RouterMetrics
from visord.daemon.router.costs import Classifier, CostModel, measure_curve, table_curve
from visord.daemon.router.decoding import DecodeCosts
from visord.daemon.router.ewma import IntervalEwma
from visord.daemon.router.ladder import Assignment, Demand
from visord.daemon.router.load import LoadMeter
from visord.daemon.router.motion import MotionGate
from visord.daemon.router.planner import Change, Planner
from visord.daemon.router.policy import StreamPolicy, effective_policy, minute_of_day
from visord.daemon.router.routes import Route, route_for
from visord.daemon.router.thresholds import cascade_thresholds, point_at, threshold_for
from visord.daemon.router.usage import StreamLoad, budget_of, plan_usage

log = logging.getLogger(__name__)
ESCALATION_PRIOR = 0.5
PROBE_AFTER_INTERVALS = 3  # a model idle this many replan intervals is timed once on a real frame


@dataclass
class StreamRouting:
    """What the router keeps per stream: its policy, the averages it plans on, its motion gate."""

    config: StreamConfig
    order: int
    policy: StreamPolicy
    escalation: IntervalEwma
    skipped: IntervalEwma
    motion_seconds: IntervalEwma
    gate: MotionGate | None = None
    answered: int = field(default=0)


class Router:
    def __init__(
        self,
        config: DaemonConfig,
        metrics: RouterMetrics,
        now: float,
        cores: int | None = None,
        process_cpu: Callable[[], float] = time.process_time,
    ):
        self.metrics = metrics
        self._cores = cores
        self.costs = CostModel(config.router.smoothing)
        self.decoding = DecodeCosts(config.router.smoothing)
        self.planner = Planner(config.router)
        self.streams: dict[str, StreamRouting] = {}
        self.config = config
        self.budget = budget_of(config, cores)
        self.load = LoadMeter(self.budget, now, process_cpu, config.router.smoothing)
        self._replanned_at = now
        # the model objects whose cost was measured, by name
        self._measured: dict[str, Classifier] = {}
        # each model's operating curve (a small model's, with its large one), by name
        self._curves: dict[str, OperatingCurve | None] = {}

    # -- configuration

    def configure(
        self, config: DaemonConfig, models: Mapping[str, Classifier], now: float, wall: float
    ) -> None:
        """Takes a (new) config and the models it loaded: cost curves for new models, stream state
        kept by name."""
        self.config = config
        self.budget = budget_of(config, self._cores)
        self.load.budget = self.budget
        settings = config.router
        self.planner.settings = settings
        self._set_costs(config, models, now)
        self.load.begin(now)
        self._curves = {
            name: getattr(getattr(model, "manifest", None), "cascade_curve", None)
            for name, model in models.items()
        }
        self.decoding.weight = settings.smoothing
        self.decoding.configure(
            {
                name: (camera, [stream.name for stream in regions])
                for name, (camera, regions) in config.enabled_cameras.items()
            }
        )
        minute = minute_of_day(wall)
        enabled = config.enabled_streams
        self.streams = {
            stream.name: self._stream_state(config, stream, index, minute)
            for index, stream in enumerate(enabled)
        }

    def _set_costs(
        self, config: DaemonConfig, models: Mapping[str, Classifier], now: float
    ) -> None:
        for name in [name for name in self.costs.models if name not in models]:
            self.costs.drop(name)
            self._measured.pop(name, None)
        for name, model in models.items():
            table = config.hardware.costs.get(name)
            if table is not None:
                self.costs.set(name, table_curve(table), fixed=True, now=now)
            elif name not in self.costs or self.costs.is_fixed(name) or self._reloaded(name, model):
                self.costs.set(name, measure_curve(model), fixed=False, now=now)
                log.info(
                    "model=%s cost measured seconds_per_frame=%s",
                    name,
                    ",".join(
                        f"b{batch}:{seconds:.4f}"
                        for batch, seconds in self.costs.estimates()[name].items()
                    ),
                )
            self._measured[name] = model

    def _reloaded(self, name: str, model: Classifier) -> bool:
        return self._measured.get(name) is not model

    def _stream_state(
        self, config: DaemonConfig, stream: StreamConfig, order: int, minute: int
    ) -> StreamRouting:
        policy = effective_policy(config, stream, minute)
        old = self.streams.get(stream.name)
        weight = config.router.smoothing
        if old is not None and old.config == stream:
            old.order = order
            self._set_policy(old, policy)
            return old
        state = StreamRouting(
            stream,
            order,
            policy,
            IntervalEwma(weight),
            IntervalEwma(weight, 0.0),
            IntervalEwma(weight, 0.0),
        )
        self._set_policy(state, policy)
        return state

    def _set_policy(self, state: StreamRouting, policy: StreamPolicy) -> None:
        if state.gate is None or state.policy.motion != policy.motion:
            state.gate = (
                MotionGate(policy.motion, Roi.of(state.config.roi)) if policy.gated else None
            )
        state.policy = policy

    # -- what the runtime asks

    def assignment(self, stream: str) -> Assignment:
        return self.planner.plan[stream]

    def route(self, stream: str) -> Route:
        assignment = self.assignment(stream)
        models = self.config.models_for_choice(assignment.mode)
        cascade = self.streams[stream].policy.cascade
        target = cascade.escalate_below
        if assignment.threshold is not None:
            cascade = cascade.model_copy(update={"escalate_below": assignment.threshold})
        elif isinstance(target, EscalationTarget) and len(models) > 1:
            # the curve is there: a config whose target it cannot resolve was refused at load
            threshold = threshold_for(self._curves[models[0]], target)
            cascade = cascade.model_copy(update={"escalate_below": threshold})
        return route_for(models, cascade)

    def achieved_fps(self, stream: str) -> float | None:
        """Frames answered per second over the last replan interval, as `/metrics` has it (None
        before the stream's first plan). Read-only: safe from another thread."""
        for metric in self.metrics.achieved_fps.collect():
            for sample in metric.samples:
                if sample.labels.get("stream") == stream:
                    return sample.value
        return None

    def due(self, now: float) -> bool:
        return now - self._replanned_at >= self.config.router.replan_interval

    def stale_models(self, now: float) -> list[str]:
        """Measured models nothing ran for a few intervals: the runtime times each once on a real
        frame."""
        return self.costs.stale(now, PROBE_AFTER_INTERVALS * self.config.router.replan_interval)

    # -- what the runtime tells it

    def admit(self, stream: str, image: np.ndarray, now: float) -> bool:
        """False when motion gating finds the frame static (the last answer stands); the check's
        time is counted."""
        state = self.streams[stream]
        if state.gate is None:
            return True
        started = time.perf_counter()
        needed = state.gate.needs_model(image, now)
        seconds = time.perf_counter() - started
        state.motion_seconds.add(seconds)
        self.load.overhead(seconds)
        state.skipped.add(0.0 if needed else 1.0)
        if not needed:
            state.answered += 1
            self.metrics.motion_skipped.labels(stream).inc()
        return needed

    def observe_decoding(
        self,
        camera: str,
        cpu_seconds: float,
        keyframes_only: bool,
        keyframes_per_second: float | None,
        now: float,
    ) -> None:
        """A camera reader's running total of decoding CPU, read just before a replan."""
        spent = self.decoding.observe(
            camera, cpu_seconds, now - self._replanned_at, keyframes_only, keyframes_per_second
        )
        self.load.decoding(spent)

    def observe_batch(self, model: str, size: int, seconds: float, now: float) -> None:
        self.costs.observe(model, size, seconds, now)
        self.load.inference(model, seconds)

    def observe_answer(self, stream: str, route: Route, prediction: Prediction) -> None:
        state = self.streams.get(stream)
        if state is None:
            return
        state.answered += 1
        if route.cascade:
            escalated = route.escalated(prediction)
            state.escalation.add(float(escalated))
            if escalated:
                self.metrics.escalations.labels(stream).inc()

    # -- planning

    def replan(self, now: float, wall: float) -> list[Change]:
        """A new plan from this interval's measurements and the policies in force now; returns what
        changed."""
        elapsed = max(now - self._replanned_at, 1e-9)
        self._replanned_at = now
        self.costs.fold()
        self.decoding.fold()
        self.load.measure(now)  # the interval's load, and the inference scale the plan prices with
        minute = minute_of_day(wall)
        for state in self.streams.values():
            for average in (state.escalation, state.skipped, state.motion_seconds):
                average.fold()
            self._set_policy(state, effective_policy(self.config, state.config, minute))
        points = {name: self._cascade_points(state) for name, state in self.streams.items()}
        loads = self._loads(points)
        demands = [
            self._demand(state, loads[name], points[name]) for name, state in self.streams.items()
        ]

        def usage(plan: Mapping[str, Assignment]) -> float:
            decoding = self.decoding.plan_cpu({name: step.fps for name, step in plan.items()})
            return plan_usage(
                plan,
                loads,
                self.costs,
                self.config.models_for_choice,
                self.budget,
                decoding,
                self.load.inference_scale,
            )

        changes = self.planner.replan(demands, usage, now)
        self._report(changes, elapsed, now)
        return changes

    def _cascade_points(self, state: StreamRouting) -> tuple[float, ...]:
        """An `auto` stream's cascade thresholds from the small model's curve (none: the
        configured threshold only)."""
        policy = state.policy
        target = policy.cascade.escalate_below
        if policy.mode != Mode.AUTO or not isinstance(target, EscalationTarget):
            return ()
        curve = self._curves.get(self.config.roles.get("small", ""))
        return cascade_thresholds(curve, target) if curve is not None else ()

    def _loads(self, points: Mapping[str, tuple[float, ...]]) -> dict[str, StreamLoad]:
        known = [
            state.escalation.value
            for state in self.streams.values()
            if state.escalation.value is not None
        ]
        prior = sum(known) / len(known) if known else ESCALATION_PRIOR
        return {
            name: StreamLoad(
                state.escalation.value if state.escalation.value is not None else prior,
                state.skipped.value if state.gate else 0.0,
                state.motion_seconds.value if state.gate else 0.0,
                self._escalation_at(name, state, points[name]),
            )
            for name, state in self.streams.items()
        }

    def _escalation_at(
        self, name: str, state: StreamRouting, points: tuple[float, ...]
    ) -> dict[float, float]:
        """Each threshold's escalated share on the curve, scaled by the stream's measured share
        against the curve's at the threshold it ran at (the curve alone until it has run)."""
        if not points:
            return {}
        curve = self._curves[self.config.roles["small"]]
        current = self.planner.plan.get(name)
        ran_at = current.threshold if current and current.threshold is not None else points[0]
        expected = point_at(curve, ran_at).escalated
        measured = state.escalation.value
        scale = measured / expected if measured is not None and expected > 0 else 1.0
        return {
            threshold: min(1.0, point_at(curve, threshold).escalated * scale)
            for threshold in points
        }

    def _demand(self, state: StreamRouting, load: StreamLoad, points: tuple[float, ...]) -> Demand:
        policy = state.policy
        paying = tuple(threshold for threshold in points if self._cascade_pays(load, threshold))
        pays = policy.mode != Mode.AUTO or (
            bool(paying) if points else self._cascade_pays(load, None)
        )
        return Demand(
            policy.name,
            policy.priority,
            policy.mode,
            policy.fps,
            policy.min_fps,
            policy.pin,
            pays,
            paying,
            state.order,
            policy.origin,
        )

    def _cascade_pays(self, load: StreamLoad, threshold: float | None) -> bool:
        small, large = (
            self.costs.per_frame(self.config.roles[role]) for role in ("small", "large")
        )
        return small + load.escalated(threshold) * large < large

    def _report(self, changes: list[Change], elapsed: float, now: float) -> None:
        if changes:  # the share of the budget the cameras' decoding takes under the new plan
            plan = {name: step.fps for name, step in self.planner.plan.items()}
            decoding = self.decoding.plan_cpu(plan) / self.budget.cpu_seconds
        for change in changes:
            log.info(
                "stream=%s router %s %s -> %s reason=%r decoding=%.2f",
                change.stream,
                change.direction,
                change.before,
                change.after,
                change.reason,
                decoding,
            )
            self.metrics.changes.labels(change.stream, change.direction).inc()
        metrics = self.metrics
        metrics.budget_used.set(self.load.ratio)
        for name, state in self.streams.items():
            assignment = self.planner.plan[name]
            metrics.set_mode(
                name,
                assignment.mode
                if assignment.mode in AUTO_CHOICES
                else self._role_of(assignment.mode),
            )
            metrics.planned_fps.labels(name).set(assignment.fps)
            if assignment.mode == Mode.CASCADE:
                metrics.escalate_below.labels(name).set(self.route(name).escalate_below)
            metrics.achieved_fps.labels(name).set(state.answered / elapsed)
            metrics.degraded.labels(name).set(float(self.planner.degraded(name)))
            state.answered = 0
        metrics.set_costs(self.costs.estimates())

    def _role_of(self, model: str) -> str:
        spec = self.config.models.get(model)
        return spec.role if spec is not None and spec.role else ""
