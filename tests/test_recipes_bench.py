"""bench/recipes.py's data helpers: OpenCV's digit sheet cut into labelled cells, and the published
examples' splits written as train/ and test/ folders that never share an image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from bench import recipes


def test_the_sheet_is_cut_in_reading_order_and_labelled_by_its_band_of_rows():
    # 4 rows x 3 columns of 2x2 cells; each cell filled with its reading-order number
    sheet = np.zeros((8, 6), np.uint8)
    for number in range(12):
        row, column = divmod(number, 3)
        sheet[row * 2 : row * 2 + 2, column * 2 : column * 2 + 2] = number
    cells, labels = recipes.cut_sheet(sheet, cell=2, rows_per_class=2)
    assert cells.shape == (12, 2, 2)
    assert [int(cell[0, 0]) for cell in cells] == list(range(12))
    assert (cells == cells[:, :1, :1]).all()  # no cell mixes two numbers
    assert labels.tolist() == [0] * 6 + [1] * 6
    with pytest.raises(ValueError, match="cells"):
        recipes.cut_sheet(np.zeros((9, 6), np.uint8), cell=2, rows_per_class=2)


def test_the_splits_are_the_published_examples_own():
    train, test = recipes.sklearn_split(1797)  # scikit-learn: first half trains, in order
    assert (len(train), len(test)) == (898, 899)
    assert train.tolist() == list(range(898)) and test.tolist() == list(range(898, 1797))
    train, test = recipes.opencv_split(5000)  # digits.py: RandomState(321) shuffle, 90% trains
    assert (len(train), len(test)) == (4500, 500)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(5000))
    assert (recipes.opencv_split(5000)[1] == test).all()  # fixed, whoever runs it


def test_written_folders_hold_each_image_once_under_its_label(tmp_path):
    images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1).repeat(4, 1).repeat(4, 2) * 20
    labels = np.array([0, 1] * 5)
    recipes.write_split(
        images, labels, np.array([0, 1, 2, 3, 4, 5]), np.array([6, 7, 8, 9]), tmp_path
    )
    train, test = recipes._split_of(tmp_path)
    assert train.tolist() == [0, 1, 2, 3, 4, 5] and test.tolist() == [6, 7, 8, 9]
    for file in tmp_path.glob("*/*/*.png"):
        index = int(file.stem)
        assert file.parent.name == str(labels[index])
        assert (cv2.imread(str(file), cv2.IMREAD_GRAYSCALE) == images[index]).all()
    with pytest.raises(ValueError, match="overlap"):
        recipes.write_split(images, labels, np.array([0, 1]), np.array([1, 2]), tmp_path / "x")


def _keys(command: list[str]) -> list[str]:
    return [command[i + 1] for i, part in enumerate(command) if part == "--set"]


def test_the_plain_cnn_is_the_seeds_floor_and_the_files_keep_only_their_data_swapped(
    tmp_path,
):
    from visord.training.config import load_config

    plain = recipes.recipe_command("plain", tmp_path, [])
    config = load_config(recipes.CONFIGS / "train-dnn.yaml", _keys(plain))
    assert (config.epochs, config.steps, config.architecture_options) == (5, None, {})
    assert config.augmentation.model_dump() == type(config.augmentation)().model_dump()
    assert config.optimizer.schedule.name == "constant" and not config.early_stopping.enabled
    transfer = load_config(
        recipes.CONFIGS / "train-transfer.yaml",
        _keys(recipes.recipe_command("transfer", tmp_path, [])),
    )
    assert transfer.architecture_options["weights"] is None and transfer.steps == 3000
    assert not transfer.augmentation.horizontal_flip and transfer.data.path == tmp_path
    small = recipes.recipe_command("small", tmp_path, ["seed=3"])
    assert small[:5] == ["train", "--data", str(tmp_path), "--preset", "small"]
    assert _keys(small) == ["seed=3"]  # a preset runs as the product picks it
