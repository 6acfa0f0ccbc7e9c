"""The shipped real-footage pair (models/pets-{small,large}.onnx, `make pets-models`) and the
example that runs it (config/examples/pets.yaml): the small model carries an operating curve
measured with this very large file, the large model costs several times the small one, and
`visord run` on the PETS clip (Debian's opencv-doc) runs the six regions as cascades at the
threshold the curve gives for "97% of large", re-checking some frames with the large model and
not others."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from visord.contract.manifest import load_manifest, model_digest
from visord.daemon.config.policy import EscalationTarget
from visord.daemon.inference.preprocess import Roi
from visord.daemon.router.thresholds import threshold_for
from visord.testing import footage
from visord.testing.daemon_process import DaemonProcess, sample
from visord.testing.rtsp_server import free_port
from visord.testing.wait import wait_for

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
SMALL, LARGE = MODELS / "pets-small.onnx", MODELS / "pets-large.onnx"
EXAMPLE = ROOT / "config" / "examples" / "pets.yaml"
STREAMS = ("road-west", "road-centre", "road-east", "corner", "upper-road", "lawn")


def test_the_small_model_carries_its_curve_with_the_shipped_large_one():
    small, large = load_manifest(SMALL), load_manifest(LARGE)
    curve = small.cascade_curve
    assert curve is not None and curve.partner_sha256 == model_digest(LARGE)
    assert small.labels == large.labels == (footage.EMPTY, footage.PEOPLE)
    # the pair is worth a cascade: the large model costs several times the small one and is the
    # more accurate on the held-out frames
    assert large.flops > 8 * small.flops
    assert curve.large_accuracy > curve.small_accuracy
    threshold = threshold_for(curve, EscalationTarget(0.97, "of large"))
    point = next(p for p in curve.points if p.threshold == threshold)
    assert 0 < point.escalated < 0.5 and point.accuracy >= 0.97 * curve.large_accuracy - 1e-9


def test_the_example_runs_the_regions_as_cascades_at_the_curves_threshold(tmp_path):
    footage.vtest_path()  # names opencv-doc when the clip is missing
    config = tmp_path / "pets.yaml"
    shutil.copyfile(EXAMPLE, config)
    port = free_port()
    env = {"PETS_MODELS": str(MODELS), "PETS_METRICS_PORT": str(port)}
    threshold = threshold_for(
        load_manifest(SMALL).cascade_curve, EscalationTarget(0.97, "of large")
    )

    def total(name: str, model: str | None = None) -> float:
        labels = f'model="{model}",' if model else ""
        metrics = daemon.metrics()
        return sum(
            sample(metrics, f'{name}{{{labels}stream="{stream}"}}') or 0 for stream in STREAMS
        )

    with DaemonProcess(config, port, env=env) as daemon:
        wait_for(
            lambda: total("visord_frames_classified_total", "small") >= 60,
            90,
            "60 frames answered by the small model",
        )
        metrics = daemon.metrics()
        for stream in STREAMS:
            below = sample(metrics, f'visord_cascade_escalate_below{{stream="{stream}"}}')
            assert below == pytest.approx(threshold), stream
        # some frames re-checked (the clip's first minute is the training crops' footage, where
        # the small model is surest), most not
        wait_for(lambda: total("visord_cascade_escalations_total") > 0, 120, "a frame escalated")
        metrics = daemon.metrics()
        escalated = total("visord_cascade_escalations_total")
        answered = total("visord_frames_classified_total", "small") + total(
            "visord_frames_classified_total", "large"
        )
        assert 0 < escalated < answered / 2, (escalated, answered)
        people = sum(
            sample(metrics, f'visord_predictions_total{{label="people",stream="{stream}"}}') or 0
            for stream in STREAMS
        )
        assert 0 < people < answered
    log = (tmp_path / "visord.log").read_text()
    assert not re.search(r"\b(ERROR|Traceback)\b", log), log[-2000:]


def test_crops_are_written_by_the_rule_named_by_region_and_frame(tmp_path):
    """What make_pets_models trains on: each region's crop in its label's folder, named by the
    region and the frame's number; ambiguous crops counted, not written; the folder emptied."""
    background = np.full((40, 80), 100, np.uint8)
    rois = {"left": Roi(0, 0, 0.5, 1), "right": Roi(0.5, 0, 0.5, 1)}
    scene = footage.Scene(rois, footage.LabelRule(opening=1), background_image=background)
    frames = np.full((3, 40, 80, 3), 100, np.uint8)
    frames[0, 5:25, 5:25] = 250  # frame 0: a person on the left
    frames[2, 0:1, 40:45] = 250  # frame 2: a sliver on the right, between the thresholds
    folder = tmp_path / "crops"
    (folder / "stale").mkdir(parents=True)
    items, ambiguous = scene.write_crops(frames, folder, first=600, step=10)
    written = sorted(str(path.relative_to(folder)) for path in folder.rglob("*.png"))
    assert written == [
        "empty/left-0610.png",
        "empty/left-0620.png",
        "empty/right-0600.png",
        "empty/right-0610.png",
        "people/left-0600.png",
    ]
    assert ambiguous == 1 and ("left", 0, footage.PEOPLE) in items and len(items) == 5
    assert not (folder / "stale").exists()
