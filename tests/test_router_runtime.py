"""The router inside the real Runtime: plans carried out as routes and rates, reloads, motion
gating,
escalations, probes of idle models, time-of-day rules, and the router's metrics. Tiny ONNX models,
painted cameras, costs from the config's table where the test needs a known plan; no assertion on
wall-clock time."""

from __future__ import annotations

import time

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from visord.daemon.config import parse_config
from visord.daemon.metrics import DaemonMetrics, SnapshotCollector
from visord.daemon.runtime import Runtime
from visord.daemon.sources.reader import StreamReader
from visord.testing.onnx_models import small_and_large, small_and_large_yaml
from visord.testing.painted import BGR, PaintedSource, Results, run_until

TABLE = "  costs: {large: {1: 40}, small: {1: 4}}\n"  # milliseconds per frame


@pytest.fixture
def models(tmp_path):
    return small_and_large(tmp_path)


def config_for(models, streams: str, cpu_share: float = 1.0, rest: str = "", table: str = TABLE):
    hardware = f"hardware:\n  cpu_share: {cpu_share}\n  cores: 1\n  threads: 1\n{table}"
    return parse_config(small_and_large_yaml(models, streams) + hardware + rest, "test.yaml", {})


THREE = "".join(
    f'  - {{name: {name}, source: "demo://scenes", fps: 5, model: auto, priority: {name}, '
    "motion: {enabled: false}}\n"
    for name in ("low", "normal", "high")
)


class MixedSource(PaintedSource):
    """A camera showing one BGR colour given as a tuple (PaintedSource takes a colour name)."""

    def retrieve(self):
        return np.full((24, 32, 3), self.colour, np.uint8)


class RecordingReader(StreamReader):
    """A painted camera whose rate changes are recorded."""

    rates: dict[str, list[float | None]] = {}

    def set_inference_fps(self, fps, region=None):
        RecordingReader.rates.setdefault(region or self.name, []).append(fps)
        super().set_inference_fps(fps, region)


def start(config, colours, **kwargs):
    registry = CollectorRegistry()
    metrics = DaemonMetrics(registry, "test")
    results = Results()

    def source(name):
        colour = colours[name]
        return PaintedSource(colour) if colour[0] in BGR else MixedSource(colour)

    def reader(reader_config):
        return RecordingReader(
            reader_config, source_factory=lambda s, o: source(reader_config.name)
        )

    runtime = Runtime(config, metrics, results, reader_factory=reader, **kwargs)
    registry.register(SnapshotCollector(runtime.snapshot))
    runtime.start()
    return runtime, results, registry.get_sample_value


def modes(runtime) -> dict[str, str]:
    return {name: runtime.router.assignment(name).mode for name in runtime.streams}


def test_a_budget_that_fits_runs_auto_streams_large_and_a_smaller_one_degrades_low_priority_first(
    models,
):
    # all large: 3 streams x 5 fps x 40 ms = 0.6 of one core
    runtime, results, value = start(
        config_for(models, THREE), {"low": ["red"], "normal": ["green"], "high": ["blue"]}
    )
    try:
        assert modes(runtime) == {"low": "large", "normal": "large", "high": "large"}
        assert run_until(
            runtime, lambda: all(len(results.labels(s)) >= 2 for s in ("low", "normal", "high"))
        )
        assert {model for _, model in results.labels("low")} == {"large"}
        assert value("visord_stream_mode", {"stream": "low", "mode": "large"}) == 1
        assert value("visord_stream_mode", {"stream": "low", "mode": "small"}) == 0
        assert value("visord_router_degraded", {"stream": "low"}) == 0
        assert value("visord_stream_planned_fps", {"stream": "high"}) == 5
        assert value(
            "visord_model_cost_seconds", {"model": "large", "batch": "1"}
        ) == pytest.approx(0.040)

        # 0.3 of the core: low goes all the way to small first, then normal gives up what
        # it must; high stays large
        changes = runtime.apply(config_for(models, THREE, cpu_share=0.3))
        assert changes == []  # no stream restarted: a budget change only replans
        plan = modes(runtime)
        assert (
            plan["low"] == "small"
            and plan["high"] == "large"
            and plan["normal"] in ("cascade", "small")
        )
        assert runtime.streams["low"].route.models == ("small",)
        before = len(results.labels("low"))
        assert run_until(runtime, lambda: len(results.labels("low")) >= before + 3)
        assert results.labels("low")[-1][1] == "small"
        assert (
            value("visord_router_changes_total", {"stream": "low", "direction": "downgrade"}) == 1
        )
        assert (
            value("visord_router_changes_total", {"stream": "high", "direction": "downgrade"})
            is None
        )
        assert value("visord_router_degraded", {"stream": "low"}) == 1
        assert value("visord_stream_mode", {"stream": "low", "mode": "small"}) == 1
        assert value("visord_stream_model", {"stream": "low", "model": "small"}) == 1

        # room again: everything back to large (dwell 0 here would be needed for an
        # immediate upgrade; a
        # reload with min_dwell 0 shows the upgrade path)
        runtime.apply(config_for(models, THREE, rest="router: {min_dwell: 0}\n"))
        assert modes(runtime) == {"low": "large", "normal": "large", "high": "large"}
        assert value("visord_router_changes_total", {"stream": "low", "direction": "upgrade"}) == 1
    finally:
        runtime.stop()


def test_when_all_small_does_not_fit_the_rate_goes_down_to_min_fps_at_the_reader(models):
    streams = """
  - {name: keep, source: "demo://scenes", fps: 10, model: auto, priority: high,
     motion: {enabled: false}}
  - {name: slow, source: "demo://scenes", fps: 10, min_fps: 2, model: auto, priority: low,
     motion: {enabled: false}}
"""
    # all small at 10 fps: 2 x 10 x 4 ms = 0.08 of the core; 0.05 leaves the low stream at 2.5 fps
    RecordingReader.rates.clear()
    runtime, results, value = start(
        config_for(models, streams, cpu_share=0.05), {"keep": ["red"], "slow": ["blue"]}
    )
    try:
        assert (
            runtime.router.assignment("slow").fps == 2.5
            and runtime.router.assignment("keep").fps == 10
        )
        assert value("visord_stream_planned_fps", {"stream": "slow"}) == 2.5
        # the reader started at the planned rate
        assert dict(runtime.streams["slow"].reader.config.regions) == {"slow": 2.5}
        runtime.apply(config_for(models, streams, cpu_share=0.03))
        assert RecordingReader.rates["slow"] == [2.0]
        # no min_fps: its rate is not the router's to lower
        assert runtime.router.assignment("keep").fps == 10
        assert runtime.router.planner.usage > 1  # over budget with every stream at its floor
    finally:
        runtime.stop()


def test_motion_gating_keeps_the_last_answer_of_a_static_camera(models):
    # gating is on for auto
    streams = '  - {name: still, source: "demo://scenes", fps: 20, model: auto}\n'
    runtime, results, value = start(config_for(models, streams), {"still": ["green"]})
    try:
        assert run_until(
            runtime,
            lambda: (value("visord_motion_skipped_frames_total", {"stream": "still"}) or 0) >= 5,
        )
        classified = value("visord_frames_classified_total", {"stream": "still", "model": "large"})
        assert classified is not None and classified < len(results.labels("still"))
        # skipped frames carry the last answer on
        assert set(results.labels("still")) == {("green", "large")}
    finally:
        runtime.stop()


def test_cascade_escalations_are_counted(models):
    streams = """
  - {name: sure, source: "demo://scenes", fps: 20, model: cascade}
  - {name: unsure, source: "demo://scenes", fps: 20, model: cascade}
"""
    runtime, results, value = start(
        config_for(models, streams), {"sure": ["red"], "unsure": ["grey"]}
    )
    try:
        assert run_until(
            runtime, lambda: len(results.labels("unsure")) >= 3 and len(results.labels("sure")) >= 3
        )
        assert value("visord_cascade_escalations_total", {"stream": "unsure"}) >= 3
        assert value("visord_cascade_escalations_total", {"stream": "sure"}) is None
    finally:
        runtime.stop()


def test_escalate_margin_sends_close_calls_to_the_large_model(models):
    # dim red with some green: the small model says red at 0.57 (over 0.35) but only 0.22
    # ahead of green
    streams = '  - {name: close, source: "demo://scenes", fps: 20, model: cascade}\n'
    config = config_for(
        models, streams, rest="cascade: {escalate_below: 0.35, escalate_margin: 0.5}\n"
    )
    runtime, results, value = start(config, {"close": (0, 15, 20)})
    try:
        assert run_until(runtime, lambda: len(results.labels("close")) >= 3)
        assert {model for _, model in results.labels("close")} == {"large"}
    finally:
        runtime.stop()


def test_an_idle_measured_model_is_timed_on_a_real_frame(models):
    streams = (
        '  - {name: cam, source: "demo://scenes", fps: 20, model: auto, motion: {enabled: false}}\n'
    )
    # no cost table: both models are measured at start-up; a budget far too small puts cam on small
    config = config_for(
        models, streams, cpu_share=0.0001, table="", rest="router: {replan_interval: 0.05}\n"
    )
    runtime, results, value = start(config, {"cam": ["red"]})
    try:
        assert modes(runtime) == {"cam": "small"}
        assert run_until(
            runtime, lambda: (value("visord_inference_seconds_count", {"model": "large"}) or 0) >= 2
        )
        # the probes answered nobody
        assert {model for _, model in results.labels("cam")} == {"small"}
    finally:
        runtime.stop()


def test_a_time_of_day_rule_takes_over_at_its_time(models):
    streams = '  - {name: yard, source: "demo://scenes", fps: 5, model: small, tags: [outdoor]}\n'
    rest = (
        "router: {replan_interval: 0.05}\nrules:\n  - name: night\n    match: {time: "
        "'22:00-06:00', tags: [outdoor]}"
        "\n    set: {model: large, fps: 2}\n"
    )
    wall = [time.mktime((2024, 6, 1, 21, 59, 0, 0, 0, -1))]
    runtime, results, value = start(
        config_for(models, streams, rest=rest), {"yard": ["red"]}, wall_clock=lambda: wall[0]
    )
    try:
        assert str(runtime.router.assignment("yard")) == "small@5"
        wall[0] += 120
        assert run_until(runtime, lambda: runtime.streams["yard"].route.models == ("large",))
        assert str(runtime.router.assignment("yard")) == "large@2"
        assert value("visord_stream_planned_fps", {"stream": "yard"}) == 2
    finally:
        runtime.stop()


def test_a_removed_stream_takes_its_router_series_with_it(models):
    runtime, results, value = start(
        config_for(models, THREE), {"low": ["red"], "normal": ["green"], "high": ["blue"]}
    )
    try:
        runtime.apply(config_for(models, THREE.split("\n  - {name: high")[0] + "\n"))
        for metric, labels in [
            ("visord_stream_mode", {"stream": "high", "mode": "large"}),
            ("visord_stream_planned_fps", {"stream": "high"}),
            ("visord_router_degraded", {"stream": "high"}),
        ]:
            assert value(metric, labels) is None
        assert value("visord_stream_planned_fps", {"stream": "low"}) == 5
    finally:
        runtime.stop()
