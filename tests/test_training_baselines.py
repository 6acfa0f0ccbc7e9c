"""The classical baselines beside every network figure: fitted on the run's own split, kept in
its report, printed, and a network that does not beat them flagged in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from visord.testing.quadrants import quadrant_image, tiny_config
from visord.training.baselines import (
    BASELINES,
    Baseline,
    fit_baselines,
    hog,
    pixel_side,
    read_images,
    sample,
    verdict,
)
from visord.training.report import format_report
from visord.training.train import train


def quadrant_arrays(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 4
    return np.stack([quadrant_image(rng, int(label)) for label in labels]), labels


def test_each_baseline_learns_what_pixels_show():
    results = fit_baselines(quadrant_arrays(80, 0), quadrant_arrays(40, 1))
    assert [r.name for r in results] == list(BASELINES)
    assert all(r.accuracy == 1.0 and r.train_images == 80 for r in results)


def test_a_baseline_is_fitted_on_a_capped_stratified_sample():
    images, labels = quadrant_arrays(100, 0)
    chosen = sample(labels, 40, seed=0)
    assert len(chosen) == 40 and np.bincount(labels[chosen]).tolist() == [10, 10, 10, 10]
    results = fit_baselines((images, labels), quadrant_arrays(20, 1), cap=40)
    assert {r.train_images for r in results} == {40}


def test_hog_sees_edges_not_brightness():
    images, _ = quadrant_arrays(4, 0)
    features = hog(images)
    assert features.shape == (4, 324)
    assert not np.allclose(features[0], features[1])  # another quadrant, other gradients
    grey = images[..., 0] // 2  # 0..127: brighter by 50 without clipping
    assert np.allclose(hog(grey), hog(grey + 50))


def test_pixel_side_caps_the_longer_side():
    assert pixel_side((64, 64)) == (32, 32)
    assert pixel_side((20, 20)) == (20, 20)
    assert pixel_side((128, 64)) == (32, 16)


def test_read_images_names_a_file_it_cannot_read(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="broken.png"):
        read_images([str(bad)], (8, 8), grey=True)


@pytest.mark.parametrize(("network", "flagged"), [(0.90, True), (0.95, True), (0.96, False)])
def test_verdict_flags_a_network_at_or_below_the_best_baseline(network, flagged):
    baselines = [Baseline("linear", 0.80, 100, 0.1), Baseline("svm", 0.95, 100, 0.1)]
    line = verdict(network, baselines)
    assert (line is not None) == flagged
    if flagged:
        assert line.startswith("WARNING") and "svm (0.9500)" in line and "\n" not in line
        assert ("level with" in line) == (network == 0.95)


def test_a_network_built_to_lose_is_flagged_in_its_report(quadrants, tmp_path):
    # One step at a negligible rate: the network stays at chance; the pixels give the class away.
    config = tiny_config(quadrants, tmp_path, {"steps": 1, "optimizer.learning_rate": 1e-7})
    result = train(config, verbose=0)
    report = json.loads((result.folder / "report.json").read_text())
    best = max(report["baselines"], key=lambda row: row["accuracy"])
    assert best["accuracy"] == 1.0 and report["accuracy"] < 0.9
    assert best["train_images"] == sum(
        json.loads((result.folder / "data.json").read_text())["train"].values()
    )
    text = format_report(report)
    assert "logistic regression (pixels)" in text and "RBF SVM (HOG)" in text
    assert sum(line.startswith("WARNING: the network") for line in text.splitlines()) == 1


def test_a_perfect_network_is_not_flagged_for_a_tie():
    assert verdict(1.0, [Baseline("svm", 1.0, 10, 0.1)]) is None
