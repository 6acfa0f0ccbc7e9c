"""The cascade's operating curve: measured through the engine, stored in the small model, and
turning `escalate_below: "20% escalated"` or `"97% of large"` into a threshold; a config with a
target and no curve is refused by check, run and reload alike."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from visord.contract.manifest import OperatingCurve, OperatingPoint, load_manifest
from visord.curve_measurement import measure, write_curve
from visord.daemon.config import ConfigError, parse_config
from visord.daemon.config.policy import EscalationTarget
from visord.daemon.router.thresholds import cascade_thresholds, threshold_for
from visord.testing.onnx_models import manifest_dict, small_and_large_yaml, tiny_classifier
from visord.testing.painted import runtime_for

LABELS = ("red", "green", "blue")
BGR = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}


@pytest.fixture
def pair(tmp_path):
    """A small model that takes blue for red (and is unsure), a large one that is right and sure."""
    confused = np.array([[0.1, 0.0, 0.0], [0.0, 0.1, 0.0], [0.12, 0.0, 0.1]])
    small = tiny_classifier(tmp_path / "small.onnx", manifest_dict(name="small"), weights=confused)
    large = tiny_classifier(
        tmp_path / "large.onnx", manifest_dict(name="large"), weights=np.eye(3) * 5
    )
    return small, large


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(1)
    for label in LABELS:
        (tmp_path / "val" / label).mkdir(parents=True)
        for index in range(10):
            pixel = np.array(BGR[label]) * rng.uniform(0.5, 1.0) + rng.uniform(0, 60, 3)
            image = np.full((8, 8, 3), np.clip(pixel, 0, 255), np.uint8)
            cv2.imwrite(str(tmp_path / "val" / label / f"{index}.png"), image)
    return tmp_path / "val"


def test_the_curve_runs_from_the_small_models_accuracy_to_the_large_ones(pair, images):
    curve = measure(*pair, images)
    assert curve.images == 30 and curve.dataset == "val"
    assert curve.small_accuracy < curve.large_accuracy == 1.0
    first, last = curve.points[0], curve.points[-1]
    assert (first.threshold, first.escalated, first.accuracy) == (0.0, 0.0, curve.small_accuracy)
    assert last.accuracy == curve.large_accuracy and last.escalated > 0.5
    # (a saturated small score of exactly 1.0 is never escalated, even at threshold 1)
    shares = [point.escalated for point in curve.points]
    assert shares == sorted(shares)  # a higher threshold never escalates fewer frames


def point(threshold, escalated, accuracy):
    return OperatingPoint(threshold=threshold, escalated=escalated, accuracy=accuracy)


CURVE = OperatingCurve(
    partner="large 1",
    partner_sha256="0" * 64,
    images=100,
    dataset="val",
    small_accuracy=0.80,
    large_accuracy=0.90,
    points=(
        point(0.0, 0.0, 0.80),
        point(0.4, 0.10, 0.84),
        point(0.5, 0.20, 0.87),
        point(0.6, 0.35, 0.88),
        point(0.7, 0.60, 0.90),
        point(1.0, 1.0, 0.90),
    ),
)


@pytest.mark.parametrize(
    ("target", "threshold"),
    [
        ("20% escalated", 0.5),
        ("25% escalated", 0.5),  # never more than asked
        ("5% escalated", 0.0),
        ("97% of large", 0.6),  # 0.87 < 0.873: 0.6 is the first to reach it, at 0.88
        ("96% of large", 0.5),
        ("100% of large", 0.7),  # the fewest escalations that reach it
    ],
)
def test_a_target_becomes_the_threshold_that_meets_it(target, threshold):
    share, kind = target.split("% ")
    assert threshold_for(CURVE, EscalationTarget(float(share) / 100, kind)) == threshold


@pytest.mark.parametrize(
    ("target", "thresholds"),
    [
        ("97% of large", (0.6, 0.4)),  # 35% escalated, then at most 17.5% (8.75%: none but 0)
        ("100% of large", (0.7, 0.5, 0.4)),  # 60%, then at most 30% (20%) and 15% (10%)
        ("5% escalated", (0.0,)),
    ],
)
def test_auto_gets_the_targets_threshold_then_cheaper_ones(target, thresholds):
    share, kind = target.split("% ")
    assert cascade_thresholds(CURVE, EscalationTarget(float(share) / 100, kind)) == thresholds


CONFIG = '  - {name: door, source: "demo://scenes", fps: 20, model: cascade}\n'


def test_a_target_parses_and_a_malformed_one_says_what_is_expected(pair):
    text = small_and_large_yaml(pair, CONFIG) + "cascade: {escalate_below: '20% escalated'}\n"
    assert parse_config(text, "t.yaml").cascade.escalate_below == EscalationTarget(0.2, "escalated")
    bad = small_and_large_yaml(pair, CONFIG) + "cascade: {escalate_below: 20 percent}\n"
    with pytest.raises(ConfigError, match="neither a score .* nor a target such as '20% escala"):
        parse_config(bad, "t.yaml")


def test_without_a_curve_a_target_is_refused_and_with_one_it_sets_the_threshold(pair, images):
    text = small_and_large_yaml(pair, CONFIG) + "cascade: {escalate_below: '97% of large'}\n"
    config = parse_config(text, "t.yaml")
    runtime, _, _ = runtime_for(config, {"door": ["red"]})
    with pytest.raises(ConfigError, match="needs the cascade's operating curve.*visord curve"):
        runtime.start()
    curve = measure(*pair, images)
    write_curve(pair[0], curve, load_manifest(pair[0]))
    runtime, _, _ = runtime_for(parse_config(text, "t.yaml"), {"door": ["red"]})
    runtime.start()
    try:
        expected = threshold_for(curve, EscalationTarget(0.97, "of large"))
        assert runtime.streams["door"].route.escalate_below == expected
    finally:
        runtime.stop()


def test_a_curve_measured_with_another_large_model_is_refused_by_check(pair, images, tmp_path):
    write_curve(pair[0], measure(*pair, images), load_manifest(pair[0]))
    tiny_classifier(pair[1], manifest_dict(name="large2"), weights=np.eye(3) * 4)  # retrained
    config = tmp_path / "visord.yaml"
    config.write_text(
        small_and_large_yaml(pair, CONFIG) + "cascade: {escalate_below: '20% escalated'}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "visord", "check", str(config)], capture_output=True, text=True
    )
    assert done.returncode == 78
    assert "measured with another large model (large 1)" in done.stderr


def test_visord_curve_prints_the_table_and_writes_the_curve(pair, images):
    done = subprocess.run(
        [sys.executable, "-m", "visord", "curve", *map(str, pair), "--data", str(images)]
        + ["--write"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "30 images of val" in done.stdout and "escalate_below escalated" in done.stdout
    assert load_manifest(pair[0]).cascade_curve.partner == "large 1"


AUTO = (
    '  - {name: door, source: "demo://scenes", fps: 10, model: auto, motion: {enabled: false}}\n'
    "cascade: {escalate_below: '97% of large'}\n"
    "hardware: {cores: 1, threads: 1, cpu_share: 0.1, costs: {large: {1: 40}, small: {1: 4}}}\n"
)


def test_auto_picks_the_cascade_threshold_that_fits_the_budget(pair, images):
    """100 ms of CPU a second: large@10 needs 400, the target's cascade (35% escalated) 180, the
    cheaper one at 0.4 (10%) 80: the plan runs that one, and its route escalates below 0.4."""
    measured = measure(*pair, images)
    write_curve(
        pair[0], measured.model_copy(update={"points": CURVE.points}), load_manifest(pair[0])
    )
    runtime, _, registry = runtime_for(
        parse_config(small_and_large_yaml(pair, AUTO), "t.yaml"), {"door": ["red"]}
    )
    runtime.start()
    try:
        assignment = runtime.router.assignment("door")
        assert (assignment.mode, assignment.threshold) == ("cascade", 0.4)
        assert runtime.streams["door"].route.escalate_below == 0.4
        gauge = registry.get_sample_value("visord_cascade_escalate_below", {"stream": "door"})
        assert gauge == 0.4
    finally:
        runtime.stop()
