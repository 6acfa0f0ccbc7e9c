"""A small model's operating curve with a large one, measured on labelled images.

For every threshold from 0 to 1 (step 0.01): the share of images the cascade sends to the large
model and the cascade's accuracy, through the daemon's own preprocessing and engine (calibrated
scores included), so that the curve describes what the daemon will do. Stored in the small
model's manifest (`cascade_curve`, naming the large file by its sha256), it lets a config set
`escalate_below: "20% escalated"` or `"97% of large"` instead of a raw score.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from visord.contract.dataset import IMAGE_EXTENSIONS, class_folders
from visord.contract.manifest import (
    MANIFEST_KEY,
    Manifest,
    OperatingCurve,
    OperatingPoint,
    model_digest,
)
from visord.daemon.inference.engine import Model

THRESHOLDS = tuple(round(step / 100, 2) for step in range(101))
BATCH = 64


class CurveError(ValueError):
    """A curve that cannot be measured; the message says why."""


def labelled_images(folder: Path, labels: tuple[str, ...]) -> tuple[list[Path], np.ndarray]:
    """The images of a class-per-folder tree and their indexes in `labels`."""
    folders = class_folders(folder)
    unknown = sorted(f.name for f in folders if f.name not in labels)
    if unknown:
        raise CurveError(f"{folder}: classes {unknown} are not among the models' labels {labels}")
    paths = [
        path
        for class_folder in folders
        for path in sorted(class_folder.iterdir())
        if path.suffix.lower() in IMAGE_EXTENSIONS
    ]
    if not paths:
        raise CurveError(f"{folder}: no images (one sub-folder per class)")
    return paths, np.array([labels.index(path.parent.name) for path in paths])


def _scores(model: Model, paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Each image's top score and answer (label index)."""
    scores, answers = [], []
    for start in range(0, len(paths), BATCH):
        frames = [cv2.imread(str(path), cv2.IMREAD_COLOR) for path in paths[start : start + BATCH]]
        for prediction in model.classify([frame for frame in frames if frame is not None]):
            scores.append(prediction.score)
            answers.append(int(np.argmax(prediction.probabilities)))
    if len(scores) != len(paths):
        raise CurveError("some images could not be read; remove them first")
    return np.array(scores), np.array(answers)


def measure(small_path: Path, large_path: Path, folder: Path) -> OperatingCurve:
    small, large = Model("small", small_path), Model("large", large_path)
    if small.labels != large.labels:
        raise CurveError(f"the models' labels differ: {small.labels} and {large.labels}")
    paths, truth = labelled_images(folder, small.labels)
    small_scores, small_answers = _scores(small, paths)
    _, large_answers = _scores(large, paths)
    small_right, large_right = small_answers == truth, large_answers == truth
    points = []
    for threshold in THRESHOLDS:
        escalated = small_scores < threshold
        right = np.where(escalated, large_right, small_right)
        points.append(
            OperatingPoint(
                threshold=threshold,
                escalated=round(float(escalated.mean()), 4),
                accuracy=round(float(right.mean()), 4),
            )
        )
    manifest = large.manifest
    return OperatingCurve(
        partner=f"{manifest.name} {manifest.version}",
        partner_sha256=model_digest(large_path),
        images=len(paths),
        dataset=Path(folder).resolve().name,
        small_accuracy=round(float(small_right.mean()), 4),
        large_accuracy=round(float(large_right.mean()), 4),
        points=tuple(points),
    )


def table(curve: OperatingCurve, small: Manifest, large: Manifest) -> str:
    """The curve at a few thresholds: escalation, accuracy, share of the large model's accuracy,
    and CPU per frame against the large model alone (from the manifests' batch-8 latency)."""
    small_ms, large_ms = small.latency.batch8_ms / 8, large.latency.batch8_ms / 8
    lines = [
        f"{curve.images} images of {curve.dataset}: small {curve.small_accuracy:.3f}, large "
        f"{curve.large_accuracy:.3f}",
        f"{'escalate_below':>14} {'escalated':>9} {'accuracy':>8} {'of large':>8} {'cost':>6}",
    ]
    for point in curve.points:
        if round(point.threshold * 100) % 5 or not 0.3 <= point.threshold <= 0.95:
            continue
        share = point.accuracy / curve.large_accuracy if curve.large_accuracy else 0.0
        cost = (small_ms + point.escalated * large_ms) / large_ms
        lines.append(
            f"{point.threshold:14.2f} {point.escalated:9.1%} {point.accuracy:8.3f} "
            f"{share:8.1%} {cost:6.2f}"
        )
    lines.append("cost: CPU per frame of the cascade over the large model's alone")
    return "\n".join(lines)


def write_curve(path: Path, curve: OperatingCurve, manifest: Manifest) -> None:
    """Stores `curve` in the model file's manifest (through a temporary file and a rename)."""
    import onnx  # the train extra: a camera box measures, a training machine writes

    model = onnx.load(str(path))
    updated = manifest.model_copy(update={"cascade_curve": curve})
    kept = [prop for prop in model.metadata_props if prop.key != MANIFEST_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    model.metadata_props.add(key=MANIFEST_KEY, value=updated.to_json())
    temporary = path.with_name(f".{path.name}.curve")
    onnx.save(model, str(temporary))
    os.replace(temporary, path)
