"""The synthetic surveillance scenes: shapes, determinism, class content, difficulty, files and
clips."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from visord.scenes import (
    CLASSES,
    SceneStream,
    render,  # render._render_pair: one scene with and without its object
    render_scene,
    write_clip,
    write_dataset,
)

ROOT = Path(__file__).resolve().parent.parent


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(list(key))


def test_classes_are_the_sorted_four():
    assert CLASSES == ("animal", "empty", "person", "vehicle")
    assert list(CLASSES) == sorted(CLASSES)


@pytest.mark.parametrize("size", [(96, 96), (32, 48), (64, 128), (480, 640)])
@pytest.mark.parametrize("label", CLASSES)
def test_render_shape_and_dtype(size, label):
    image = render_scene(_rng(0), label, size, difficulty=0.5)
    assert image.shape == (*size, 3)
    assert image.dtype == np.uint8
    assert image.std() > 5  # a scene, not a flat fill


@pytest.mark.parametrize("label", CLASSES)
def test_same_seed_same_bytes_other_seed_differs(label):
    first = render_scene(np.random.default_rng(7), label, (96, 96), 0.6)
    again = render_scene(np.random.default_rng(7), label, (96, 96), 0.6)
    other = render_scene(np.random.default_rng(8), label, (96, 96), 0.6)
    assert first.tobytes() == again.tobytes()
    assert first.tobytes() != other.tobytes()


@pytest.mark.parametrize("label", ["person", "vehicle", "animal"])
def test_object_changes_its_box_and_not_much_else(label):
    for seed in range(10):
        with_object, without, (x, y, w, h) = render._render_pair(_rng(seed), label, (96, 96), 0.0)
        diff = np.abs(with_object.astype(np.int16) - without.astype(np.int16)).max(axis=2)
        assert (diff > 20).sum() > 0.15 * w * h, (label, seed)
        ys, xs = np.nonzero(diff)
        assert xs.min() >= x - 0.25 * w and xs.max() <= x + 1.25 * w
        assert ys.min() >= y - 0.25 * h and ys.max() <= y + 1.25 * h


def test_empty_has_no_object():
    for seed in range(5):
        with_object, without, _ = render._render_pair(_rng(seed), "empty", (96, 96), 0.5)
        assert with_object.tobytes() == without.tobytes()


def test_object_shapes_person_tall_vehicle_and_animal_wide():
    for seed in range(10):
        _, _, (_, _, w, h) = render._render_pair(_rng(seed), "person", (96, 96))
        assert h > 1.5 * w
        _, _, (_, _, w, h) = render._render_pair(_rng(seed), "vehicle", (96, 96))
        assert w > 1.4 * h
        _, _, (_, _, w, h) = render._render_pair(_rng(seed), "animal", (96, 96))
        assert w > 1.2 * h


def _object_contrast(label: str, difficulty: float, seeds: range) -> float:
    """Mean |with - without| over the pixels the object changed, and the object's area."""
    values = []
    for seed in seeds:
        with_object, without, _ = render._render_pair(_rng(seed, 1), label, (96, 96), difficulty)
        diff = np.abs(with_object.astype(np.float32) - without.astype(np.float32)).sum(axis=2)
        values.append(diff.sum() / max(1, int((diff > 0).sum())))
    return float(np.mean(values))


@pytest.mark.parametrize("label", ["person", "vehicle", "animal"])
def test_hard_objects_have_less_contrast_and_area(label):
    easy = _object_contrast(label, 0.0, range(12))
    hard = _object_contrast(label, 1.0, range(12))
    assert hard < 0.6 * easy, (easy, hard)
    easy_area = np.mean(
        [np.prod(render._render_pair(_rng(s), label, (96, 96), 0.0)[2][2:]) for s in range(6)]
    )
    hard_area = np.mean(
        [np.prod(render._render_pair(_rng(s), label, (96, 96), 1.0)[2][2:]) for s in range(6)]
    )
    assert hard_area < 0.3 * easy_area


def test_hard_images_are_darker_and_noisier():
    easy = np.stack([render_scene(_rng(s), "empty", (96, 96), 0.0) for s in range(12)]).astype(
        np.float32
    )
    hard = np.stack([render_scene(_rng(s), "empty", (96, 96), 1.0) for s in range(12)]).astype(
        np.float32
    )
    assert hard.mean() < 0.8 * easy.mean()
    # pixel-to-pixel noise: the median absolute horizontal difference
    assert np.median(np.abs(np.diff(hard, axis=2))) > np.median(np.abs(np.diff(easy, axis=2)))


def test_bad_label_names_it_and_lists_classes():
    with pytest.raises(ValueError, match="'cat'") as error:
        render_scene(_rng(0), "cat")
    assert all(name in str(error.value) for name in CLASSES)


@pytest.mark.parametrize("difficulty", [-0.1, 1.5, float("nan")])
def test_bad_difficulty_names_it(difficulty):
    with pytest.raises(ValueError, match="difficulty"):
        render_scene(_rng(0), "person", difficulty=difficulty)
    with pytest.raises(ValueError, match="difficulty"):
        SceneStream(difficulty=difficulty)


def test_stream_frames_labels_and_determinism():
    stream = SceneStream((120, 160), fps=10, seed=3, hold_seconds=1.0)
    again = SceneStream((120, 160), fps=10, seed=3, hold_seconds=1.0)
    labels = []
    for _ in range(80):
        frame, label = stream.next_frame()
        assert frame.shape == (120, 160, 3) and frame.dtype == np.uint8
        assert again.next_frame()[0].tobytes() == frame.tobytes()
        labels.append(label)
    assert set(labels) <= set(CLASSES)
    assert len(set(labels)) >= 3  # the class changes about every hold_seconds
    other = SceneStream((120, 160), seed=4).next_frame()[0]
    assert other.tobytes() != SceneStream((120, 160), seed=3).next_frame()[0].tobytes()


def test_write_dataset_layout_and_summary(tmp_path):
    summary = write_dataset(tmp_path / "demo", per_class=3, size=(40, 48), seed=1, hard_per_class=2)
    on_disk = json.loads((tmp_path / "demo" / "dataset.json").read_text())
    assert on_disk == summary
    assert (
        summary["classes"] == list(CLASSES) and summary["size"] == [40, 48] and summary["seed"] == 1
    )
    for split, expected in (("train", 3), ("hard", 2)):
        for name in CLASSES:
            files = sorted((tmp_path / "demo" / split / name).glob("*.png"))
            assert len(files) == summary["counts"][split][name] == expected
            assert cv2.imread(str(files[0])).shape == (40, 48, 3)
    assert (tmp_path / "demo" / "train" / "person" / "00000.png").exists()


def test_write_dataset_defaults_skip_and_refuses_to_mix(tmp_path):
    assert (
        write_dataset(tmp_path / "a", per_class=4, size=(32, 32))["counts"]["hard"]["vehicle"] == 1
    )
    assert (
        "hard"
        not in write_dataset(tmp_path / "b", per_class=2, size=(32, 32), hard_per_class=0)["counts"]
    )
    assert not (tmp_path / "b" / "hard").exists()
    with pytest.raises(FileExistsError, match="overwrite"):
        write_dataset(tmp_path / "b", per_class=1, size=(32, 32), hard_per_class=0)
    summary = write_dataset(
        tmp_path / "b", per_class=1, size=(32, 32), hard_per_class=0, overwrite=True
    )
    assert (
        len(list((tmp_path / "b" / "train" / "empty").glob("*.png")))
        == summary["counts"]["train"]["empty"]
        == 1
    )


def test_write_dataset_is_deterministic_and_prefix_stable(tmp_path):
    write_dataset(tmp_path / "a", per_class=2, size=(32, 32), seed=5, hard_per_class=0)
    write_dataset(tmp_path / "b", per_class=3, size=(32, 32), seed=5, hard_per_class=0)
    for name in CLASSES:
        first = (tmp_path / "a" / "train" / name / "00001.png").read_bytes()
        assert first == (tmp_path / "b" / "train" / name / "00001.png").read_bytes()


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_write_clip_reads_back(tmp_path, suffix):
    path = tmp_path / f"clip{suffix}"
    labels = write_clip(path, seconds=1.2, size=(96, 128), fps=10, seed=2)
    assert len(labels) == 12 and set(labels) <= set(CLASSES)
    meta = json.loads((tmp_path / f"clip{suffix}.labels.json").read_text())
    assert meta["labels"] == labels and meta["fps"] == 10
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    assert len(frames) == len(labels)
    assert frames[0].shape == (96, 128, 3)


def test_write_clip_rejects_unknown_container(tmp_path):
    with pytest.raises(ValueError, match=r"\.mkv"):
        write_clip(tmp_path / "clip.mkv", seconds=0.2, size=(32, 32))


def test_module_does_not_import_tensorflow():
    code = (
        "import visord.scenes, sys; assert 'tensorflow' not in sys.modules, 'tensorflow imported'; "
        "assert not [m for m in sys.modules if m.split('.')[0] == 'training'], 'training imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_a_quiet_stream_leaves_the_street_empty_between_crossings():
    stream = SceneStream((60, 80), fps=10, seed=5, hold_seconds=1.0, quiet_seconds=4.0)
    labels = [stream.next_frame()[1] for _ in range(300)]
    # each crossing of about 1 s is followed by about 4 s of quiet
    assert labels.count("empty") > 0.6 * len(labels)
    assert len({label for label in labels if label != "empty"}) >= 2
    with pytest.raises(ValueError, match="quiet_seconds >= 0"):
        SceneStream(quiet_seconds=-1)
