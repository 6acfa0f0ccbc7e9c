"""`visord train --data FOLDER` without a config: the recipe picked from the folder, and said."""

from __future__ import annotations

import subprocess
import sys

import pytest

from visord.testing.quadrants import write_quadrant_folder
from visord.training.digits import write_digits_folder
from visord.training.recipes import STEPS, inspect_folder, recipe


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return write_digits_folder(tmp_path_factory.mktemp("digits"), size=24)


def test_a_colour_folder_gets_the_small_preset_at_its_own_size_with_flips(quadrants):
    facts = inspect_folder(quadrants)
    assert (facts.size, facts.grey, facts.images) == ((32, 32), False, 160)
    raw = recipe(facts, "small")
    assert raw["architecture"] == "mobilenet" and raw["data"]["image_size"] == [32, 32]
    assert raw["data"]["color_mode"] == "rgb" and raw["augmentation"]["horizontal_flip"]
    assert raw["steps"] == STEPS["small"] and raw["batch_size"] == 16  # 160 images: small batches
    assert raw["optimizer"]["learning_rate"] == 0.005 / 4  # scaled with the batch
    assert "epochs" not in raw  # the budget is steps, whatever the folder's size
    assert raw["architecture_options"]["output_stride"] == 8  # 32 px keeps 4x4 features


def test_small_grey_marks_are_read_in_grey_and_never_mirrored(digits):
    facts = inspect_folder(digits)
    assert facts.grey and facts.size == (24, 24) and len(facts.classes) == 10
    raw = recipe(facts, "small")
    assert raw["data"]["color_mode"] == "grayscale" and raw["data"]["image_size"] == [32, 32]
    assert "horizontal_flip" not in raw["augmentation"] and raw["augmentation"]["rotation_range"]
    assert raw["steps"] == STEPS["small"] and raw["batch_size"] == 64  # 1,797 images
    assert raw["optimizer"]["learning_rate"] == 0.005
    # 1,500 steps of 23 batches (1,438 images for training) are 65 epochs: patience a quarter
    assert raw["early_stopping"]["patience"] == 16


def test_the_large_preset_trains_mobilenetv2_from_scratch_without_weights_here(
    quadrants, tmp_path, monkeypatch
):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # an empty cache: no ImageNet weights
    raw = recipe(inspect_folder(quadrants), "large")
    assert raw["architecture"] == "transfer" and raw["architecture_options"]["weights"] is None
    # upscaled to 64: MobileNetV2 halves its input five times
    assert raw["data"]["image_size"] == [64, 64] and "fine_tune" not in raw
    big = write_quadrant_folder(tmp_path / "big", per_class=12, size=256)
    assert recipe(inspect_folder(big), "large")["data"]["image_size"] == [160, 160]
    assert recipe(inspect_folder(big), "small")["data"]["image_size"] == [64, 64]


def test_visord_train_with_data_alone_says_what_it_picked_and_trains(quadrants, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "visord", "train", "--data", str(quadrants), "--epochs", "1"]
        + ["--output", str(tmp_path / "runs"), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "recipe (small preset, no --config): MobileNet alpha 0.5" in done.stdout
    assert "4 classes, 160 images (fewest: bottom_left, 40), colour, about 32x32 -> 32x32" in (
        done.stdout
    )
    assert "training: 1 epochs" in done.stdout  # the --epochs given, not the recipe's steps
    [run] = (tmp_path / "runs").iterdir()
    assert run.name.startswith("quadrants") and (run / "model.keras").is_file()


def test_a_preset_with_a_config_file_is_refused(quadrants, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"data: {{path: {quadrants}}}\n")
    done = subprocess.run(
        [sys.executable, "-m", "visord", "train", "--config", str(config), "--preset", "large"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 64 and "--preset picks a recipe when there is no --config" in (
        done.stderr
    )
