"""bench/router.py on real footage: the held-out crops split by frame, in alternate blocks, into the
curve's validation set and the scored set (no frame in both), and the curve stored in a copy of the
small model only."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from bench import router
from visord.contract.manifest import load_manifest
from visord.testing.onnx_models import manifest_dict, tiny_classifier


def crops(folder: Path) -> dict[str, str]:
    """Crops of frames 636-645 from two regions; the label says the frame's parity. {name: label}"""
    written = {}
    for frame in range(636, 646):
        for stream in ("door", "desk"):
            label = "people" if frame % 2 else "empty"
            (folder / label).mkdir(parents=True, exist_ok=True)
            name = f"{stream}-{frame:04d}.png"
            cv2.imwrite(str(folder / label / name), np.full((8, 8, 3), frame % 256, np.uint8))
            written[name] = label
    return written


def test_the_held_out_crops_alternate_by_block_between_validation_and_scoring(tmp_path):
    written = crops(tmp_path / "heldout")
    images, labels = router.held_out_blocks(tmp_path / "heldout", tmp_path / "validation", block=3)
    validation = {path.name: path.parent.name for path in (tmp_path / "validation").glob("*/*")}
    # blocks of 3 frames from the first (636): 636-638 and 642-644 validate, 639-641 and 645 score
    assert sorted({int(name[-8:-4]) for name in validation}) == [636, 637, 638, 642, 643, 644]
    assert all(written[name] == label for name, label in validation.items())
    scored = [639, 640, 641, 645]  # both regions of each, in frame order, labels kept
    assert [int(image[0, 0, 0]) for image in images] == [f % 256 for f in scored for _ in "ab"]
    assert labels == ["people" if f % 2 else "empty" for f in scored for _ in "ab"]
    # run again on the same work folder: no crop left over from the first run
    router.held_out_blocks(tmp_path / "heldout", tmp_path / "validation", block=5)
    assert len(list((tmp_path / "validation").glob("*/*"))) == 2 * 5


def test_the_curve_goes_into_a_copy_of_the_small_model(tmp_path):
    written = crops(tmp_path / "heldout")
    assert written
    router.held_out_blocks(tmp_path / "heldout", tmp_path / "validation")
    labels = ["empty", "people"]
    small = tiny_classifier(
        tmp_path / "small.onnx", manifest_dict(name="small", labels=labels), classes=2
    )
    large = tiny_classifier(
        tmp_path / "large.onnx",
        manifest_dict(name="large", labels=labels),
        classes=2,
        weights=np.eye(3, 2) * 5,
    )
    copy, measured = router.small_with_curve(small, large, tmp_path / "validation", tmp_path)
    assert copy != small
    assert load_manifest(small).cascade_curve is None
    curve = load_manifest(copy).cascade_curve
    assert curve == measured
    assert curve.images == 2 * 10 and curve.dataset == "validation"
    assert [point.threshold for point in curve.points][:2] == [0.0, 0.01]
