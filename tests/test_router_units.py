"""The router's small modules: effective policy, motion gating, plan pricing, the load meter."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from visord.contract.likeness import changed_share
from visord.daemon.config import MotionConfig, parse_config
from visord.daemon.inference.engine import Prediction
from visord.daemon.inference.preprocess import Roi
from visord.daemon.metrics import RouterMetrics
from visord.daemon.router.costs import BatchCurve, CostModel
from visord.daemon.router.ladder import Assignment
from visord.daemon.router.load import LoadMeter
from visord.daemon.router.motion import MotionGate, shrink
from visord.daemon.router.policy import effective_policy, minute_of_day
from visord.daemon.router.routes import Route, run_routes
from visord.daemon.router.usage import Budget, StreamLoad, budget_of, plan_usage

CONFIG = """
models:
  small: {path: s.onnx, role: small}
  large: {path: l.onnx, role: large, threads: 3}
  extra: {path: e.onnx}
streams:
  - {name: porch, source: demo://scenes, model: auto, fps: 4, min_fps: 2, tags: [outdoor],
     motion: {threshold: 30}, cascade: {escalate_margin: 0.1}}
  - {name: hall, source: demo://scenes, model: small, fps: 2, priority: high}
  - {name: shed, source: demo://scenes, model: extra, fps: 1, min_fps: 0.5, pin: never_upgrade}
hardware: {cpu_share: 0.5, cores: 4}
motion: {min_area: 0.01}
cascade: {escalate_below: 0.7}
rules:
  - name: night
    match: {time: "22:00-06:00", tags: [outdoor]}
    set: {model: large, fps: 1, cascade: {escalate_below: 0.5}, motion: {enabled: false}}
  - name: hall-gated
    match: {streams: [hall]}
    set: {motion: {enabled: true}, priority: low}
"""


@pytest.fixture
def config():
    return parse_config(CONFIG, "test.yaml", {})


def test_the_policy_layers_defaults_stream_keys_and_the_first_matching_rule(config):
    porch = effective_policy(config, config.stream("porch"), minute=12 * 60)
    assert (porch.mode, porch.fps, porch.min_fps, porch.priority, porch.origin) == (
        "auto",
        4,
        2,
        50,
        "config",
    )
    assert (porch.motion.threshold, porch.motion.min_area, porch.motion.enabled, porch.gated) == (
        30,
        0.01,
        True,
        True,
    )
    assert (porch.cascade.escalate_below, porch.cascade.escalate_margin) == (0.7, 0.1)
    night = effective_policy(config, config.stream("porch"), minute=23 * 60)
    # min_fps <= fps
    assert (night.mode, night.fps, night.min_fps, night.origin) == ("large", 1, 1, "rule night")
    assert (night.cascade.escalate_below, night.cascade.escalate_margin, night.gated) == (
        0.5,
        0.1,
        False,
    )
    hall = effective_policy(config, config.stream("hall"), minute=0)
    assert (hall.mode, hall.priority, hall.gated, hall.min_fps, hall.origin) == (
        "small",
        25,
        True,
        2,
        "rule hall-gated",
    )
    shed = effective_policy(config, config.stream("shed"), minute=0)
    # gating defaults on for auto only
    assert (shed.gated, shed.pin, shed.min_fps) == (False, "never_upgrade", 0.5)


def test_minute_of_day_is_local_time():
    noon = time.mktime((2024, 6, 1, 12, 34, 0, 0, 0, -1))
    assert minute_of_day(noon) == 12 * 60 + 34


# --- motion
# ---------------------------------------------------------------------------------------------


def scene(
    rng: np.random.Generator, noise: float = 4.0, light: float = 1.0, box: tuple | None = None
) -> np.ndarray:
    """A textured 480x640 street-ish frame with sensor noise; `box` (x, y, w, h) paints an object
    in."""
    base = cv2.GaussianBlur(np.random.default_rng(7).uniform(40, 200, (480, 640, 3)), (0, 0), 12)
    if box is not None:
        x, y, w, h = box
        base[y : y + h, x : x + w] = base[y : y + h, x : x + w] * 0.6 + 60
    frame = base * light + rng.normal(0, noise, base.shape)
    return np.clip(frame, 0, 255).astype(np.uint8)


def test_a_static_scene_is_skipped_and_an_object_coming_in_is_not():
    rng = np.random.default_rng(0)
    gate = MotionGate(MotionConfig(max_skip_seconds=100))
    assert gate.needs_model(scene(rng), now=0.0)  # the first frame always goes to the model
    assert not any(gate.needs_model(scene(rng), now=t) for t in (1.0, 2.0, 3.0))
    # a person, about 0.6 % of the frame
    assert gate.needs_model(scene(rng, box=(300, 200, 30, 60)), now=4.0)
    # and now it stands still
    assert not gate.needs_model(scene(rng, box=(300, 200, 30, 60)), now=5.0)


def test_the_lighting_guard_tells_a_light_switching_on_from_motion():
    rng = np.random.default_rng(1)
    reference, brighter = shrink(scene(rng), None), shrink(scene(rng, light=1.5), None)
    assert changed_share(brighter, reference, 10, lighting_guard=True) < 0.002
    assert changed_share(brighter, reference, 10, lighting_guard=False) > 0.5
    gate = MotionGate(MotionConfig())
    gate.needs_model(scene(rng), now=0.0)
    assert not gate.needs_model(scene(rng, light=1.5), now=1.0)
    assert gate.needs_model(scene(rng, light=1.5, box=(300, 200, 30, 60)), now=2.0)


def test_a_forced_classification_comes_at_least_every_max_skip_seconds():
    rng = np.random.default_rng(2)
    gate = MotionGate(MotionConfig(max_skip_seconds=10))
    decisions = [gate.needs_model(scene(rng), now=float(t)) for t in range(0, 25)]
    assert [t for t, needed in enumerate(decisions) if needed] == [0, 10, 20]


def test_motion_outside_the_region_of_interest_is_ignored():
    rng = np.random.default_rng(3)
    gate = MotionGate(MotionConfig(), Roi(0.0, 0.0, 0.5, 1.0))  # the left half
    gate.needs_model(scene(rng), now=0.0)
    assert not gate.needs_model(scene(rng, box=(500, 200, 60, 120)), now=1.0)
    assert gate.needs_model(scene(rng, box=(100, 200, 60, 120)), now=2.0)
    assert changed_share(shrink(scene(rng), None), shrink(scene(rng)[:240], None), 10, True) == 1.0


# --- pricing a plan
# ---------------------------------------------------------------------------------------


def costs_of(**seconds: float) -> CostModel:
    costs = CostModel(smoothing=0.5)
    for name, value in seconds.items():
        costs.set(name, BatchCurve.of({1: value, 2: value / 2}), fixed=True, now=0.0)
    return costs


def test_budget_from_the_config(config):
    budget = budget_of(config)
    assert (budget.cores, budget.cpu_seconds) == (4, 2.0)
    assert budget.threads == {"small": 2, "large": 3, "extra": 2}
    assert (
        budget_of(parse_config(CONFIG.replace("cores: 4", "threads: 1"), "t", {}), cores=8).threads[
            "small"
        ]
        == 1
    )


def test_a_plan_is_priced_with_escalations_batching_motion_and_threads(config):
    costs = costs_of(small=0.01, large=0.1, extra=0.02)
    # 1 CPU second per second
    budget = Budget(cpu_share=0.5, cores=2, threads={"small": 1, "large": 2, "extra": 1})

    def price(plan, loads=None):
        return plan_usage(plan, loads or {}, costs, config.models_for_choice, budget)

    # 0.2 s of wall, 2 threads
    assert price({"a": Assignment("large", 2)}) == pytest.approx(2 * 0.1 * 2)
    assert price({"a": Assignment("small", 10)}) == pytest.approx(0.1)
    # two streams on small: priced at batch 1 until batches of two are seen (cameras seldom
    # tick together)
    two = {"a": Assignment("small", 10), "b": Assignment("small", 10)}
    assert price(two) == pytest.approx(0.2)
    costs.observe("small", 2, 0.01, now=1.0)
    costs.fold()  # the batch average moves half way from 1 to 2: 7.5 ms a frame
    assert price(two) == pytest.approx(20 * 0.0075)
    # one stream never makes a batch of two
    assert price({"a": Assignment("small", 10)}) == pytest.approx(0.1)
    loads = {"a": StreamLoad(escalation=0.25)}
    assert price({"a": Assignment("cascade", 4)}, loads) == pytest.approx(4 * 0.01 + 1 * 0.1 * 2)
    gated = {"a": StreamLoad(skipped=0.75, motion_seconds=0.001)}
    assert price({"a": Assignment("extra", 8)}, gated) == pytest.approx(8 * 0.001 + 2 * 0.02)
    # the measured scale of inference CPU against the estimate, and decoding beside it
    assert price({"a": Assignment("small", 10)}) == pytest.approx(0.1)
    assert plan_usage(
        {"a": Assignment("small", 10)}, {}, costs, config.models_for_choice, budget, 0.3, 0.5
    ) == pytest.approx(0.1 * 0.5 + 0.3)
    # one thread and a loop busy 80 % of the time: the engine's time is the limit, not the CPU share
    wide = Budget(cpu_share=1.0, cores=8, threads={"small": 1})
    assert plan_usage(
        {"a": Assignment("small", 80)}, {}, costs, config.models_for_choice, wide
    ) == pytest.approx(0.8)


def test_the_load_meter_measures_the_process_s_cpu_and_the_engine_against_the_budget():
    process = [0.0]
    budget = Budget(cpu_share=0.5, cores=2, threads={"large": 2})  # 1 CPU second a second
    meter = LoadMeter(budget, now=0.0, process_cpu=lambda: process[0], weight=1.0)
    meter.inference("large", 0.2)
    meter.overhead(0.1)  # predicted: 0.2 x 2 threads + 0.1 = 0.5 CPU seconds
    meter.decoding(0.3)
    process[0] = 0.8  # the process spent 0.8: 0.3 decoding, 0.5 the rest
    assert meter.measure(now=1.0) == pytest.approx(0.8)
    assert meter.inference_scale == pytest.approx(1.0)
    assert meter.measure(now=1.0) == pytest.approx(0.8)  # no time passed: the last value stands
    # threads that wait: the same batches, half the CPU; the plan's prices follow
    meter.inference("large", 0.2)
    meter.overhead(0.1)
    process[0] = 1.05
    assert meter.measure(now=2.0) == pytest.approx(0.3)  # the loop's 0.3 s beat 0.25 CPU seconds
    assert meter.inference_scale == pytest.approx(0.5)
    # a loop busy 90% of the time on one thread is the limit, whatever the CPU
    meter.inference("small", 0.9)
    process[0] = 1.95
    assert meter.measure(now=3.0) == pytest.approx(0.9)
    process[0] = 2.0  # an interval with next to no inference leaves the scale alone
    assert meter.measure(now=4.0) == pytest.approx(0.05)
    assert meter.inference_scale == pytest.approx(1.0)  # from the interval before


def test_cost_series_of_a_dropped_model_go_away():
    registry = CollectorRegistry()
    metrics = RouterMetrics(registry)
    metrics.set_costs({"small": {1: 0.01}, "large": {1: 0.1}})
    metrics.set_costs({"small": {1: 0.02}})
    assert (
        registry.get_sample_value("visord_model_cost_seconds", {"model": "small", "batch": "1"})
        == 0.02
    )
    assert (
        registry.get_sample_value("visord_model_cost_seconds", {"model": "large", "batch": "1"})
        is None
    )


# -- one batch per model


class Recorder:
    """A classifier that answers with a fixed score per model and records each batch it ran."""

    def __init__(self, scores: dict[str, float]):
        self.scores, self.batches = scores, []

    def __call__(self, model, items):
        self.batches.append((model, [item[1] for item in items]))
        return [
            Prediction("x", self.scores[model], np.array([self.scores[model], 0.0]), model)
            for _ in items
        ]


SMALL, LARGE = Route(("s",)), Route(("l",))
CASCADE = Route(("s", "l"), escalate_below=0.6)


def test_frames_going_to_the_same_model_share_one_batch_whatever_their_route():
    classify = Recorder({"s": 0.5, "l": 0.9})  # every small answer is unsure: all cascades escalate
    requests = [(SMALL, (None, "a")), (CASCADE, (None, "b")), (LARGE, (None, "c"))]
    chains = run_routes(requests, classify)
    assert classify.batches == [("s", ["a", "b"]), ("l", ["c", "b"])]
    assert [[answer.model for answer in chain] for chain in chains] == [["s"], ["s", "l"], ["l"]]


def test_a_sure_cascade_answer_stays_with_the_small_model():
    classify = Recorder({"s": 0.9, "l": 0.99})
    chains = run_routes([(CASCADE, (None, "a")), (LARGE, (None, "b"))], classify)
    assert classify.batches == [("s", ["a"]), ("l", ["b"])]
    assert [[answer.model for answer in chain] for chain in chains] == [["s"], ["l"]]


def test_a_failing_batch_costs_its_own_frames_only():
    def classify(model, items):
        if model == "l":
            raise RuntimeError("bad batch")
        return Recorder({"s": 0.9})(model, items)

    chains = run_routes([(SMALL, (None, "a")), (LARGE, (None, "b"))], classify)
    assert chains[0][0].model == "s" and chains[1] == ()
