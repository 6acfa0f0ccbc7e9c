"""Image folders: scanning, bad folders, corrupt files, the stratified split, class weights."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from visord.testing.quadrants import write_quadrant_folder
from visord.training.config import DataConfig
from visord.training.data import (
    DataError,
    class_weights,
    load_splits,
    scan_folder,
    stratified_split,
)


def test_scan_lists_classes_in_sorted_order(quadrants):
    images = scan_folder(quadrants)
    assert images.classes == ("bottom_left", "bottom_right", "top_left", "top_right")
    assert images.counts() == {name: 40 for name in images.classes}
    assert not images.skipped


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        scan_folder(tmp_path / "nope")
    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match="no images found in .*one sub-folder per class"):
        scan_folder(tmp_path)


def test_one_class_is_refused(tmp_path):
    write_quadrant_folder(tmp_path, per_class=3, classes=("top_left",))
    with pytest.raises(DataError, match="only one class \\('top_left'\\)"):
        scan_folder(tmp_path)


def test_corrupt_image_is_skipped_with_a_warning_naming_it(tmp_path, caplog):
    write_quadrant_folder(tmp_path, per_class=5, classes=("top_left", "top_right"))
    truncated = tmp_path / "top_left" / "broken.png"
    truncated.write_bytes((tmp_path / "top_left" / "000.png").read_bytes()[:40])
    garbage = tmp_path / "top_right" / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8 this is not a jpeg")
    with caplog.at_level(logging.WARNING):
        images = scan_folder(tmp_path)
    assert sorted(images.skipped) == sorted([str(truncated), str(garbage)])
    assert len(images.paths) == 10 and str(truncated) not in images.paths
    assert str(truncated) in caplog.text and str(garbage) in caplog.text


def test_validation_folder_must_have_the_same_classes(tmp_path):
    write_quadrant_folder(tmp_path / "val", per_class=2, classes=("top_left", "top_right"))
    with pytest.raises(DataError, match="has classes .* but training has"):
        scan_folder(tmp_path / "val", ("bottom_left", "top_left", "top_right"))


def test_stratified_split_keeps_class_shares(quadrants):
    images = scan_folder(quadrants)
    train, validation = stratified_split(images, 0.25, seed=3)
    assert validation.counts() == {name: 10 for name in images.classes}
    assert not set(train.paths) & set(validation.paths)
    again, _ = stratified_split(images, 0.25, seed=3)
    assert again.paths == train.paths


def test_balanced_class_weights(tmp_path):
    write_quadrant_folder(tmp_path / "a", per_class=6, classes=("top_left",))
    write_quadrant_folder(tmp_path / "a", per_class=2, classes=("top_right",))
    images = scan_folder(tmp_path / "a")
    weights = class_weights(images, "balanced")
    assert weights == pytest.approx({0: 8 / (2 * 6), 1: 8 / (2 * 2)})
    assert class_weights(images, {"top_right": 3.0}) == {0: 1.0, 1: 3.0}
    with pytest.raises(DataError, match="unknown classes \\['dog'\\]"):
        class_weights(images, {"dog": 2.0})
    assert class_weights(images, "none") is None


def test_dataset_pixels_are_raw_and_resized(quadrants):
    from visord.training.config import DataConfig
    from visord.training.data import make_dataset

    images = scan_folder(quadrants)
    config = DataConfig(path=quadrants, image_size=(16, 24), color_mode="grayscale")
    batch, labels = next(iter(make_dataset(images, config, 8, training=False, seed=0)))
    assert batch.shape == (8, 16, 24, 1)
    assert float(np.max(batch)) > 150 and float(np.min(batch)) >= 0  # 0..255, not rescaled
    assert labels.numpy().tolist() == images.labels[:8].tolist()


def test_a_class_with_too_few_images_is_refused_by_name(tmp_path):
    write_quadrant_folder(tmp_path, per_class=12, classes=("top_left", "top_right"))
    write_quadrant_folder(tmp_path, per_class=4, classes=("bottom_left",))
    config = DataConfig(path=tmp_path, min_per_class=10)
    with pytest.raises(DataError, match="class 'bottom_left' has only 4 images in .*least 10 per"):
        load_splits(config, seed=0)
    assert load_splits(DataConfig(path=tmp_path, min_per_class=4), seed=0)[0].classes == (
        "bottom_left",
        "top_left",
        "top_right",
    )


def test_a_teaching_data_sets_unlabelled_crops_and_bookkeeping_are_not_classes(tmp_path):
    write_quadrant_folder(tmp_path, per_class=12, classes=("top_left", "top_right"))
    write_quadrant_folder(tmp_path / "unlabelled", per_class=12, classes=("top_left",))
    write_quadrant_folder(tmp_path / ".visord", per_class=12, classes=("top_right",))
    assert scan_folder(tmp_path).classes == ("top_left", "top_right")
