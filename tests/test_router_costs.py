"""The router's cost model: curves by batch size, start-up measurement, live factors, staleness."""

from __future__ import annotations

import pytest

from visord.daemon.inference.engine import Model
from visord.daemon.router.costs import (
    BATCH_SIZES,
    BatchCurve,
    CostModel,
    measure_curve,
    table_curve,
)
from visord.daemon.router.ewma import IntervalEwma
from visord.testing.onnx_models import manifest_dict, tiny_classifier


def test_a_curve_interpolates_between_batch_sizes_and_is_flat_beyond():
    curve = BatchCurve.of({1: 0.010, 8: 0.003, 4: 0.005})
    assert curve.sizes == (1, 4, 8)
    assert curve.at(1) == 0.010 and curve.at(0.5) == 0.010 and curve.at(16) == 0.003
    assert curve.at(2) == pytest.approx(0.010 - (0.005 / 3))
    assert curve.at(6) == pytest.approx(0.004)
    with pytest.raises(ValueError, match="batch sizes >= 1 with costs > 0"):
        BatchCurve.of({1: 0.0})
    with pytest.raises(ValueError, match="received {}"):
        BatchCurve.of({})


def test_the_config_table_is_in_milliseconds():
    assert table_curve({1: 12.0, 8: 6.0}) == BatchCurve((1, 8), (0.012, 0.006))


def test_interval_ewma_folds_one_ratio_per_interval():
    average = IntervalEwma(0.5, 1.0)
    for _ in range(9):
        average.add(0.01, 0.01)
    # one slow batch among ten: the interval's ratio is 2.0, not an outlier of 11
    average.add(0.11, 0.01)
    assert average.fold() == pytest.approx(1.5)
    # an empty interval changes nothing
    assert not average.pending and average.fold() == pytest.approx(1.5)
    first = IntervalEwma(0.2)
    assert first.value is None
    first.add(3, 4)
    assert first.fold() == 0.75
    with pytest.raises(ValueError, match="weight must be in"):
        IntervalEwma(0)


def test_live_latencies_scale_a_measured_model_and_leave_a_table_model_alone():
    costs = CostModel(smoothing=0.5)
    costs.set("large", BatchCurve.of({1: 0.010, 8: 0.004}), fixed=False, now=0.0)
    costs.set("small", table_curve({1: 1.0}), fixed=True, now=0.0)
    costs.observe("large", 1, 0.030, now=1.0)  # three times the expected 10 ms: the box got slower
    costs.observe("large", 8, 8 * 0.012, now=1.0)
    costs.observe("small", 1, 5.0, now=1.0)
    costs.observe("unknown", 1, 5.0, now=1.0)  # a model that is not loaded (any more) is ignored
    assert costs.per_frame("large", 1) == 0.010  # the start-up curve until an interval ends
    # the first live interval sets the level outright: three times the start-up measurement
    costs.fold()
    assert costs.per_frame("large", 1) == pytest.approx(0.030)
    costs.observe("large", 1, 0.010, now=2.0)  # back to normal: half way there (smoothing 0.5)
    costs.fold()
    assert costs.per_frame("large", 1) == pytest.approx(0.010 * 2.0)
    assert costs.per_frame("large", 8) == pytest.approx(0.004 * 2.0)
    assert costs.per_frame("small", 1) == 0.001 and costs.is_fixed("small")
    assert set(costs.estimates()) == {"large", "small"} and set(costs.estimates()["large"]) == set(
        BATCH_SIZES
    )


def test_the_batch_a_model_gets_is_what_was_seen_and_at_most_one_frame_per_stream():
    costs = CostModel(smoothing=1.0)
    costs.set("small", BatchCurve.of({1: 0.01, 8: 0.002}), fixed=True, now=0.0)
    assert costs.expected_batch("small", streams=4) == 1.0  # nothing seen yet: no batching assumed
    costs.observe("small", 6, 0.012, now=1.0)
    costs.fold()
    assert (
        costs.expected_batch("small", streams=4) == 4.0
        and costs.expected_batch("small", streams=8) == 6.0
    )


def test_a_measured_model_nothing_ran_for_a_while_is_stale():
    costs = CostModel(smoothing=0.5)
    costs.set("large", BatchCurve.of({1: 0.01}), fixed=False, now=0.0)
    costs.set("small", BatchCurve.of({1: 0.01}), fixed=False, now=0.0)
    costs.set("table", BatchCurve.of({1: 0.01}), fixed=True, now=0.0)
    costs.observe("small", 1, 0.01, now=9.0)
    assert costs.stale(now=10.0, after=5.0) == ["large"]
    costs.drop("large")
    assert "large" not in costs and costs.models == ["small", "table"]


def test_start_up_measurement_times_the_classify_path_at_each_batch_size(tmp_path):
    model = Model("tiny", tiny_classifier(tmp_path / "tiny.onnx", manifest_dict()))
    curve = measure_curve(model, sizes=(1, 4), runs=2, warmup=1, frame=(48, 64, 3))
    assert curve.sizes == (1, 4) and all(value > 0 for value in curve.seconds)
