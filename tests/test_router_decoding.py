"""Decoding in the budget: each camera's measured decoding CPU priced under a plan (key frames only
when every region's rate allows it), counted in the measured load, and the planner lowering regions
to the key-frame rate when that is what makes the box fit."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry

from visord.daemon.config import parse_config
from visord.daemon.metrics import RouterMetrics
from visord.daemon.router.decoding import KEYFRAME_SAVING, DecodeCosts
from visord.daemon.router.router import Router


def config(decode: str = "auto", cpu_share: float = 0.5, min_fps: float = 1):
    return parse_config(
        f"""
models:
  small: {{path: s.onnx, role: small}}
  large: {{path: l.onnx, role: large}}
cameras:
  - {{name: garden, source: "rtsp://cam.local/live", decode: {decode}}}
streams:
  - {{name: gate, camera: garden, model: small, fps: 4, min_fps: {min_fps}, priority: high}}
  - {{name: lawn, camera: garden, model: small, fps: 2, min_fps: {min_fps}}}
  - {{name: porch, source: "demo://scenes", model: small, fps: 1}}
hardware: {{cpu_share: {cpu_share}, cores: 1, costs: {{small: {{1: 1.0}}, large: {{1: 5.0}}}}}}
""",
        "test.yaml",
        {},
    )


def costs_for(decode: str = "auto") -> DecodeCosts:
    costs = DecodeCosts(weight=1.0)
    loaded = config(decode)
    costs.configure(
        {
            name: (camera, [stream.name for stream in regions])
            for name, (camera, regions) in loaded.enabled_cameras.items()
        }
    )
    return costs


def test_a_camera_is_priced_at_key_frames_only_when_every_region_s_rate_allows_it():
    costs = costs_for()
    # the first interval holds the opening: counted in the load, not in the camera's cost
    assert costs.observe("garden", 2.0, 5.0, False, None) == pytest.approx(2.0)
    costs.fold()
    assert costs.plan_cpu({"gate": 4, "lawn": 2}) == 0.0
    # 5 s decoding every frame at 0.2 CPU seconds a second, a key frame a second
    assert costs.observe("garden", 3.0, 5.0, False, 1.0) == pytest.approx(1.0)
    costs.fold()
    assert costs.plan_cpu({"gate": 4, "lawn": 2}) == pytest.approx(0.2)
    assert costs.plan_cpu({"gate": 1, "lawn": 2}) == pytest.approx(0.2)  # lawn needs them all
    # both at the key-frame rate: estimated from the measured cost until measured that way
    assert costs.plan_cpu({"gate": 1, "lawn": 0.5}) == pytest.approx(0.2 / KEYFRAME_SAVING)
    costs.observe("garden", 3.25, 5.0, True, 1.0)
    costs.fold()
    assert costs.plan_cpu({"gate": 1, "lawn": 0.5}) == pytest.approx(0.05)
    assert costs.plan_cpu({"gate": 4, "lawn": 0.5}) == pytest.approx(0.2)  # measured, kept
    # a new reader counts from 0 again: its total is what it spent
    assert costs.observe("garden", 0.3, 5.0, False, 1.0) == pytest.approx(0.3)


@pytest.mark.parametrize(("decode", "keyframes"), [("all", False), ("keyframes", True)])
def test_a_camera_told_how_to_decode_is_priced_that_way_whatever_the_rates(decode, keyframes):
    costs = costs_for(decode)
    costs.observe("garden", 0.0, 5.0, keyframes, 1.0)
    costs.observe("garden", 1.0, 5.0, keyframes, 1.0)
    costs.fold()
    assert costs.plan_cpu({"gate": 0.5, "lawn": 0.5}) == pytest.approx(0.2)
    assert costs.plan_cpu({"gate": 4, "lawn": 2}) == pytest.approx(0.2)


def test_over_budget_by_decoding_the_regions_go_down_to_the_key_frame_rate(caplog):
    """1 core at 0.5: decoding every frame takes 0.6 CPU seconds a second, over the budget
    whatever the models do; at the key frame rate (1 a second) it takes 0.6 / 2.3, which fits."""
    caplog.set_level(logging.INFO, logger="visord.daemon.router.router")
    loaded = config()
    process = [0.0]  # the process's CPU seconds
    router = Router(loaded, RouterMetrics(CollectorRegistry()), 0.0, 1, lambda: process[0])
    router.configure(loaded, {"small": object(), "large": object()}, now=0.0, wall=0.0)
    router.replan(now=0.0, wall=0.0)
    assert {name: router.assignment(name).fps for name in ("gate", "lawn")} == {
        "gate": 4,
        "lawn": 2,
    }
    router.observe_decoding("garden", 0.5, False, 1.0, now=5.0)  # opening it
    router.replan(now=5.0, wall=5.0)
    router.observe_decoding("garden", 3.5, False, 1.0, now=10.0)
    process[0] = 3.1
    changes = router.replan(now=10.0, wall=10.0)
    planned = {name: router.assignment(name).fps for name in ("gate", "lawn", "porch")}
    assert planned["gate"] <= 1 and planned["lawn"] <= 1, planned
    assert planned["porch"] == 1  # its own camera, already at its floor
    assert {change.stream for change in changes} == {"gate", "lawn"}
    assert all(change.reason.startswith("over budget") for change in changes)
    lines = [message for message in caplog.messages if "router downgrade" in message]
    # the log line says how much of the budget decoding takes under the new plan: 0.26 / 0.5
    assert lines and all(line.endswith(" decoding=0.52") for line in lines), lines
    assert router.planner.usage <= 1
    # the measured load is the process's: 3.1 CPU seconds in 5 s of a 0.5 CPU-second budget
    assert router.load.ratio == pytest.approx(3.1 / 5.0 / 0.5)
