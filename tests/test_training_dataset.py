"""What a run records about its data set: a name that is not a path, and a fingerprint of the images
that does not depend on where the folder lies."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from visord.training.config import DataConfig
from visord.training.data import dataset_name, dataset_summary, load_splits


def summary(folder: Path, **data) -> dict:
    config = DataConfig(path=folder, **{"validation_split": 0.25, **data})
    return dataset_summary(config, *load_splits(config, seed=3))


def test_the_name_is_the_folder_or_data_name_never_a_path(tmp_path):
    assert dataset_name(DataConfig(path=tmp_path / "cameras-2026")) == "cameras-2026"
    assert dataset_name(DataConfig(path=Path("data/demo/train"))) == "demo/train"
    assert dataset_name(DataConfig(path=Path("train"))) == f"{Path.cwd().name}/train"
    assert dataset_name(DataConfig(path=tmp_path / "x", name="street-v2")) == "street-v2"


def test_the_fingerprint_follows_the_images_not_their_place(quadrants, tmp_path):
    here = summary(quadrants)
    assert here["images"] == {"train": 120, "validation": 40}
    assert re.fullmatch(r"[0-9a-f]{16}", here["fingerprint"])  # 64 bits, in hex
    moved = shutil.copytree(quadrants, tmp_path / "elsewhere" / quadrants.name)
    assert summary(moved) == here
    assert summary(moved, validation_split=0.5)["fingerprint"] == here["fingerprint"]
    image = next((moved / "top_left").iterdir())
    image.write_bytes(image.read_bytes() + b"\0")
    assert summary(moved)["fingerprint"] != here["fingerprint"]
    image.unlink()
    changed = summary(moved)
    assert changed["fingerprint"] != here["fingerprint"] and changed["images"]["train"] == 119
