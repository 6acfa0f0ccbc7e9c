"""Temperature scaling: fitted on a known case, applied by the engine, written by export."""

from __future__ import annotations

import numpy as np
import pytest

from visord.contract.scores import softmax, to_scores
from visord.daemon.inference.engine import Model
from visord.testing.onnx_models import manifest_dict, tiny_classifier
from visord.training.calibrate import calibrate, expected_calibration_error, fit_temperature


def known_case(sharpen: float, images: int = 4000, seed: int = 0):
    """Labels drawn from softmax(z): calibrated by construction. The model reports softmax(z *
    sharpen): over-confident when sharpen > 1, so the right temperature is `sharpen`."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (images, 4))
    truth = softmax(logits)
    labels = np.array([rng.choice(4, p=row) for row in truth])
    return softmax(logits * sharpen), labels


@pytest.mark.parametrize("sharpen", [0.5, 1.0, 3.0])
def test_the_fitted_temperature_undoes_a_known_over_or_under_confidence(sharpen):
    reported, labels = known_case(sharpen)
    assert fit_temperature(reported, labels) == pytest.approx(sharpen, rel=0.12)


def test_calibration_lowers_the_error_of_an_over_confident_model_and_keeps_its_answers():
    reported, labels = known_case(3.0)
    result = calibrate(reported, labels)
    assert result.ece_before > 0.1 and result.ece_after < result.ece_before / 3
    scaled = to_scores(reported, "probabilities", result.temperature)
    assert (scaled.argmax(-1) == reported.argmax(-1)).all()
    assert expected_calibration_error(scaled, labels) == pytest.approx(result.ece_after, abs=1e-3)
    # a score of 0.6 is right about 60% of the time once scaled
    band = (scaled.max(-1) > 0.55) & (scaled.max(-1) <= 0.65)
    assert (scaled.argmax(-1) == labels)[band].mean() == pytest.approx(0.6, abs=0.07)


def test_scores_of_logits_and_of_probabilities_agree_at_any_temperature():
    logits = np.array([[2.0, 0.5, -1.0]])
    for temperature in (0.5, 1.0, 2.0):
        assert np.allclose(
            to_scores(logits, "logits", temperature),
            to_scores(softmax(logits), "probabilities", temperature),
        )


def test_the_engine_applies_the_manifests_temperature(tmp_path):
    weights = np.eye(3) * 0.2
    plain = tiny_classifier(tmp_path / "plain.onnx", manifest_dict(), weights=weights)
    calibration = {"temperature": 2.0, "ece_before": 0.2, "ece_after": 0.05, "images": 100}
    output = {"name": "predictions", "kind": "probabilities", "calibration": calibration}
    scaled = tiny_classifier(
        tmp_path / "scaled.onnx", manifest_dict(output=output), weights=weights
    )
    frame = np.zeros((8, 8, 3), np.uint8)
    frame[:, :, 2] = 255  # red
    [raw] = Model("plain", plain).classify([frame])
    [calibrated] = Model("scaled", scaled).classify([frame])
    assert calibrated.label == raw.label == "red"
    assert calibrated.score < raw.score
    expected = to_scores(raw.probabilities[np.newaxis], "probabilities", 2.0)[0]
    assert np.allclose(calibrated.probabilities, expected, atol=1e-6)
