"""The cascade on the shipped demo models: on a freshly generated hard split (difficulty 0.7 to 1),
the small
model's unsure frames are the ones that escalate, and the cascade is at least as accurate as the
small model and close to the large one, for a fraction of the large model's calls. (Whether that is
a fraction of its cost depends on the pair: with small at half the large model's FLOPs and most hard
frames escalating, it is not, and `auto` skips cascade for such a stream; bench/router.py measures
it.)

Runs the engine's own path (`visord.daemon.router.routes.run_route` over
`visord.daemon.inference.engine.Model`) on models/demo-small.onnx and models/demo-large.onnx, which
`make models` writes.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from visord.daemon.config import CascadeConfig
from visord.daemon.inference.engine import Model
from visord.daemon.router.routes import route_for, run_route
from visord.scenes import CLASSES, write_dataset

ROOT = Path(__file__).resolve().parents[1]
SMALL, LARGE = ROOT / "models" / "demo-small.onnx", ROOT / "models" / "demo-large.onnx"
CLOSE_TO_LARGE = 0.03  # accuracy points the cascade may lose to the large model
pytestmark = pytest.mark.skipif(
    not (SMALL.is_file() and LARGE.is_file()),
    reason="needs the shipped demo models (`make models`)",
)


@pytest.fixture(scope="module")
def hard_split(tmp_path_factory):
    """100 images a class, difficulty 0.7 to 1, from a seed the models were not trained on."""
    folder = tmp_path_factory.mktemp("scenes")
    write_dataset(folder, 0, (96, 96), seed=2024, hard_per_class=100)
    images, labels = [], []
    for label in CLASSES:
        for path in sorted((folder / "hard" / label).glob("*.png")):
            images.append(cv2.imread(str(path)))
            labels.append(label)
    return images, np.array(labels)


def accuracy(predictions, labels, mask=None) -> float:
    right = np.array([prediction.label for prediction in predictions]) == labels
    return float(right[mask].mean() if mask is not None else right.mean())


def test_the_cascade_escalates_unsure_frames_and_holds_accuracy_for_a_fraction_of_the_large_model(
    hard_split,
):
    images, labels = hard_split
    models = {"small": Model("small", SMALL, threads=2), "large": Model("large", LARGE, threads=2)}
    calls = {"small": 0, "large": 0}

    def classify(name, items):
        calls[name] += len(items)
        return [
            p
            for start in range(0, len(items), 32)
            for p in models[name].classify([image for image, _ in items[start : start + 32]])
        ]

    items = [(image, None) for image in images]
    small, large = classify("small", items), classify("large", items)
    calls.update(small=0, large=0)
    cascade = run_route(route_for(("small", "large"), CascadeConfig()), items, classify)

    unsure = np.array([prediction.score < CascadeConfig().escalate_below for prediction in small])
    escalated = np.array([prediction.model == "large" for prediction in cascade])
    assert (escalated == unsure).all() and calls == {
        "small": len(images),
        "large": int(unsure.sum()),
    }
    assert accuracy(small, labels, unsure) < accuracy(small, labels, ~unsure), (
        "unsure frames are the harder ones"
    )

    small_accuracy, large_accuracy, cascade_accuracy = (
        accuracy(p, labels) for p in (small, large, cascade)
    )
    summary = (
        f"hard split accuracy: small {small_accuracy:.3f}, large {large_accuracy:.3f}, cascade "
        f"{cascade_accuracy:.3f} with {unsure.mean():.0%} of frames escalated"
    )
    assert large_accuracy > small_accuracy, (
        f"{summary}: the large demo model must beat the small one for a "
        "cascade to help (retrain the pair: `make models`)"
    )
    assert cascade_accuracy >= small_accuracy, summary
    assert cascade_accuracy >= large_accuracy - CLOSE_TO_LARGE, summary
    assert unsure.mean() < 0.8, summary
