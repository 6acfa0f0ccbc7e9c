"""The image data set on disk: OUT/<split>/<class>/<nnnnn>.png plus OUT/dataset.json, one generator
per
image so the first N images do not depend on how many are asked for."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from visord.scenes.common import CLASSES, _check_size
from visord.scenes.render import render_scene

_HARD_RANGE = (0.7, 1.0)


def _split_counts(per_class: int, hard_per_class: int | None) -> dict[str, int]:
    if per_class < 0 or (hard_per_class is not None and hard_per_class < 0):
        raise ValueError(
            f"counts must be >= 0, received per_class={per_class!r}, "
            f"hard_per_class={hard_per_class!r}"
        )
    hard = per_class // 4 if hard_per_class is None else hard_per_class
    return {"train": per_class, "hard": hard} if hard else {"train": per_class}


def _refuse_existing(out: Path, splits: dict[str, int], overwrite: bool) -> None:
    for split in splits:
        for name in CLASSES:
            stale = sorted((out / split / name).glob("*.png"))
            if stale and not overwrite:
                raise FileExistsError(
                    f"{out / split / name} already holds images; choose a new folder or pass "
                    "overwrite=True"
                )
            for path in stale:
                path.unlink()


def _write_split(
    out: Path, split: str, count: int, size: tuple[int, int], seed: int
) -> dict[str, int]:
    low, high = (0.0, 1.0) if split == "train" else _HARD_RANGE
    split_id = 0 if split == "train" else 1
    for class_id, name in enumerate(CLASSES):
        folder = out / split / name
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            # one generator per image: the first N images do not depend on how many are asked for
            rng = np.random.default_rng([seed, split_id, class_id, index])
            image = render_scene(rng, name, size, float(rng.uniform(low, high)))
            if not cv2.imwrite(str(folder / f"{index:05d}.png"), image):
                raise OSError(f"could not write {folder / f'{index:05d}.png'}")
    return {name: count for name in CLASSES}


def write_dataset(
    out: Path,
    per_class: int,
    size: tuple[int, int] = (96, 96),
    seed: int = 0,
    hard_per_class: int | None = None,
    overwrite: bool = False,
) -> dict:
    """Writes out/train/<class>/<nnnnn>.png with difficulty drawn uniformly in [0, 1], and
    out/hard/<class>/*.png
    with difficulty in [0.7, 1] (hard_per_class images each, default per_class // 4, 0 to skip).
    Returns a summary dict (counts per split and class, size, seed) and also writes it to
    out/dataset.json.

    Refuses (FileExistsError) to write into class folders that already hold PNGs unless `overwrite`,
    which deletes those PNGs first, so the summary always matches what is on disk.
    """
    out, size = Path(out), _check_size(size)
    splits = _split_counts(per_class, hard_per_class)
    _refuse_existing(out, splits, overwrite)
    counts = {split: _write_split(out, split, count, size, seed) for split, count in splits.items()}
    summary = {
        "generator": "visord.scenes",
        "classes": list(CLASSES),
        "size": list(size),
        "seed": seed,
        "difficulty": {"train": [0.0, 1.0], "hard": list(_HARD_RANGE)}
        if "hard" in splits
        else {"train": [0.0, 1.0]},
        "counts": counts,
        "total": sum(sum(c.values()) for c in counts.values()),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "dataset.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
