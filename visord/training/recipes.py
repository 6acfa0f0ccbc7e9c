"""The recipe `visord train --data FOLDER` picks when no config file is given.

From what the folder holds (image size, colour, how many images, how many classes) and a preset:
`small`, a MobileNet of depthwise separable blocks at low resolution, cheap enough for many
streams on a 2-core box; `large`, MobileNetV2 with a new head at higher resolution, from ImageNet
weights when they are on this machine and from scratch otherwise. The choices are printed, and
every key can still be changed with `--set`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

import cv2

from visord.training.architectures.mobilenet import OUTPUT_STRIDES
from visord.training.architectures.transfer import BACKBONES, imagenet_cache_file
from visord.training.config import DataConfig
from visord.training.data import dataset_name, scan_folder

PRESETS = ("small", "large")
SAMPLE = 200  # images read to learn the folder's size and colour
SIDES = {"small": 64, "large": 160}
SMALLEST_SIDE = {"small": 32, "large": 64}
# Each preset's budget in optimizer steps, whatever the folder's size: a folder of 300 crops gets
# as many steps as one of 5,000 images (more passes over fewer images), and the learning rate's
# cosine runs over exactly these steps. Early stopping ends a run that has stopped learning.
STEPS = {"small": 1500, "large": 2000}
# Adam's rate at 64 images a step, scaled with the batch (the linear scaling rule)
LEARNING_RATE = {"small": 0.005, "large": 0.002}
SMALL_BLOCKS = 9  # of MobileNet's 13: the 512-channel stages past them add cost, not accuracy
FEATURE_SIDE = 4  # the small preset keeps a last feature map of at least 4x4 pixels
VALIDATION_SPLIT = 0.2  # of each class, held out for early stopping and the report


@dataclass(frozen=True)
class FolderFacts:
    """What a recipe is chosen from."""

    path: Path
    classes: tuple[str, ...]
    counts: dict[str, int]
    size: tuple[int, int]  # median height, width of a sample
    grey: bool  # every sampled image has one channel, or three equal ones

    @property
    def images(self) -> int:
        return sum(self.counts.values())


def inspect_folder(path: Path) -> FolderFacts:
    """The folder's classes and counts (checked as training checks them) and a sample's size and
    colour."""
    images = scan_folder(path)
    step = max(1, len(images.paths) // SAMPLE)
    shapes, grey = [], True
    for file in images.paths[::step][:SAMPLE]:
        image = cv2.imread(file, cv2.IMREAD_UNCHANGED)
        if image is None:
            continue
        shapes.append(image.shape[:2])
        if image.ndim == 3 and image.shape[2] >= 3:
            colour = image[:, :, :3]
            grey = grey and bool((colour == colour[:, :, :1]).all())
    size = (int(median(h for h, _ in shapes)), int(median(w for _, w in shapes)))
    return FolderFacts(Path(path), images.classes, images.counts(), size, grey)


def _side(facts: FolderFacts, preset: str) -> int:
    """The preset's side, not more than the images' own (rounded to 8) and not under the
    preset's smallest: 32 for the small one, 64 for the large one, whose MobileNetV2 halves its
    input five times and would end at a single pixel on a 32x32 image."""
    native = min(facts.size) // 8 * 8
    return max(SMALLEST_SIDE[preset], min(SIDES[preset], native))


def _output_stride(side: int) -> int:
    """The small preset's downsampling: the largest power of two that leaves a last feature map
    of at least FEATURE_SIDE pixels (32 -> 8, 64 -> 16), never more than MobileNet's 32."""
    stride = 1
    while stride < max(OUTPUT_STRIDES) and side // (stride * 2) >= FEATURE_SIDE:
        stride *= 2
    return stride


def _batch(facts: FolderFacts) -> int:
    """64 images a step; fewer for a small folder, whose epoch would otherwise be a few steps."""
    return 64 if facts.images >= 1000 else 32 if facts.images >= 200 else 16


def _patience(facts: FolderFacts, preset: str, batch: int) -> int:
    """Epochs without a better validation loss before the run stops: a quarter of the budget's
    epochs, at least 5 (a small folder has many short epochs, a large one few long ones)."""
    epochs = STEPS[preset] / max(1, math.ceil(facts.images * (1 - VALIDATION_SPLIT) / batch))
    return max(5, round(epochs / 4))


def _augmentation(facts: FolderFacts) -> dict[str, Any]:
    small_marks = facts.grey and min(facts.size) < 48  # digits, characters: a mirror changes them
    if small_marks:
        return {"rotation_range": 10, "width_shift_range": 0.1, "height_shift_range": 0.1}
    return {
        "width_shift_range": 0.1,
        "height_shift_range": 0.1,
        "zoom_range": 0.1,
        "horizontal_flip": True,
        "brightness": 0.1,
        "fill_mode": "reflect",
    }


def _architecture(preset: str, side: int) -> tuple[str, dict[str, Any]]:
    if preset == "small":
        return "mobilenet", {
            "alpha": 0.5,
            "blocks": SMALL_BLOCKS,
            "output_stride": _output_stride(side),
        }
    weights = imagenet_cache_file(BACKBONES["mobilenetv2"], 1.0, (side, side))
    options = {"backbone": "mobilenetv2", "dense_units": 256, "dropout": 0.2}
    return "transfer", options | {"weights": str(weights) if weights.is_file() else None}


def recipe(facts: FolderFacts, preset: str) -> dict[str, Any]:
    """A training config (as raw data) for the folder and the preset."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset '{preset}' (valid: {', '.join(PRESETS)})")
    side = _side(facts, preset)
    architecture, options = _architecture(preset, side)
    batch = _batch(facts)
    raw: dict[str, Any] = {
        "name": f"{dataset_name(DataConfig(path=facts.path)).replace('/', '-')}-{preset}",
        "data": {
            "path": str(facts.path),
            "image_size": [side, side],
            "color_mode": "grayscale" if facts.grey else "rgb",
            "validation_split": VALIDATION_SPLIT,
        },
        "architecture": architecture,
        "architecture_options": options,
        "augmentation": _augmentation(facts),
        "class_weight": "balanced",
        "loss": {"name": "categorical_crossentropy", "label_smoothing": 0.05},
        "optimizer": {
            "name": "adam",
            "learning_rate": LEARNING_RATE[preset] * batch / 64,
            "schedule": {"name": "cosine", "warmup_epochs": 1},
        },
        "batch_size": batch,
        "steps": STEPS[preset],
        "early_stopping": {"enabled": True, "patience": _patience(facts, preset, batch)},
    }
    if architecture == "transfer" and options["weights"]:
        raw["fine_tune"] = {"layers": 30, "epochs": 6, "learning_rate": 1e-5}
    return raw


def _model_words(raw: dict[str, Any]) -> str:
    options = raw.get("architecture_options") or {}
    if raw["architecture"] == "mobilenet":
        return (
            f"MobileNet alpha {options.get('alpha', 1.0)}, {options.get('blocks', 13)} blocks, "
            f"output stride {options.get('output_stride', 32)}"
        )
    if raw["architecture"] != "transfer":
        return f"{raw['architecture']} {options}" if options else raw["architecture"]
    if options.get("weights"):
        return f"MobileNetV2 with a new head, from the ImageNet weights in {options['weights']}"
    return (
        "MobileNetV2 with a new head, from scratch (no ImageNet weights on this machine: "
        "--set architecture_options.weights=FILE to use them)"
    )


def _budget_words(raw: dict[str, Any]) -> str:
    if raw.get("minutes"):
        steps = f", at most {raw['steps']} steps" if raw.get("steps") else ""
        return f"{raw['minutes']:g} minutes{steps}"
    if raw.get("steps"):
        return f"{raw['steps']} steps"
    return f"{raw['epochs']} epochs"


def describe(facts: FolderFacts, raw: dict[str, Any], preset: str) -> str:
    """The lines `visord train` prints about the recipe it picked."""
    side = raw["data"]["image_size"][0]
    fewest = min(facts.counts, key=facts.counts.get)
    model = _model_words(raw)
    colour = "grey" if raw["data"]["color_mode"] == "grayscale" else "colour"
    flips = "flips, " if raw["augmentation"].get("horizontal_flip") else ""
    return "\n".join(
        [
            f"recipe ({preset} preset, no --config): {model}",
            f"  data: {len(facts.classes)} classes, {facts.images} images (fewest: {fewest}, "
            f"{facts.counts[fewest]}), {colour}, about {facts.size[1]}x{facts.size[0]} -> "
            f"{side}x{side}",
            f"  training: {_budget_words(raw)} (cosine schedule over it; early stopping after "
            f"{raw['early_stopping']['patience']} epochs without progress), batch "
            f"{raw['batch_size']}, "
            f"balanced class weights, augmentation: {flips}shifts"
            + (", zoom, brightness" if raw["augmentation"].get("zoom_range") else ", rotation"),
            "  change any key with --set KEY=VALUE; the run folder keeps the whole config",
        ]
    )
