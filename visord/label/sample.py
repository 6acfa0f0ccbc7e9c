"""A small synthetic teaching data set for trying the label page and for its tests and timing:
numbered, coloured JPEG crops in `unlabelled/<stream>/` with records of varied reasons and
certainty, written through `visord.contract.dataset.write_crop` like `visord collect` writes them.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from visord.contract.dataset import (
    REASONS,
    UNLABELLED,
    Answer,
    CropRecord,
    check_class_name,
    crop_name,
    write_crop,
)

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def crop_jpeg(number: int, size: int = 96) -> bytes:
    """A `size`-pixel square JPEG of one colour with `number` written on it."""
    import cv2
    import numpy as np

    hsv = np.full((size, size, 3), ((number * 37) % 180, 140, 200), np.uint8)
    image = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    text = str(number)
    scale = size / 64
    (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    origin = ((size - width) // 2, (size + height) // 2)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


def write_sample(
    root: Path,
    count: int,
    classes: tuple[str, ...] = ("people", "empty"),
    streams: tuple[str, ...] = ("hall", "gate"),
    seed: int = 0,
    one_jpeg: bool = False,
) -> list[CropRecord]:
    """Writes `count` unlabelled crops (and an empty folder per class) under `root`; returns
    their records in the order written. `one_jpeg` reuses one image for speed."""
    rng = random.Random(seed)
    (Path(root) / UNLABELLED).mkdir(parents=True, exist_ok=True)
    for name in classes:
        (Path(root) / check_class_name(name)).mkdir(exist_ok=True)
    labels = classes or ("thing",)
    shared = crop_jpeg(0) if one_jpeg else b""
    records = []
    for index in range(count):
        stream = streams[index % len(streams)]
        time = START + timedelta(seconds=7 * index, milliseconds=index % 1000)
        reason = rng.choice(REASONS)
        label = rng.choice(labels)
        answers = [Answer(model="small", label=label, score=round(rng.uniform(0.3, 0.99), 3))]
        if reason == "disagree" and len(labels) > 1:
            other = rng.choice([name for name in labels if name != label])
            answers.append(Answer(model="large", label=other, score=round(rng.uniform(0.5, 1), 3)))
        record = CropRecord(
            name=crop_name(stream, time, index),
            stream=stream,
            time=time,
            reason=reason,
            answers=tuple(answers),
            width=96,
            height=96,
        )
        write_crop(root, record, shared or crop_jpeg(index))
        records.append(record)
    return records


def scene_jpeg(
    seed: int, person: tuple[int, int] | None = None, speck: bool = False, size: int = 96
) -> bytes:
    """A `size`-pixel square JPEG of an empty scene (a grey gradient with a little noise, the
    same for every seed but the noise), with a dark `person` (20x40 pixels at that left, top)
    or a `speck` (a 4x4 dark dot: too small to take it out of the empty scene's stack)."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    ramp = np.linspace(80, 170, size, dtype=np.float32)
    image = np.repeat(ramp[None, :], size, axis=0) + rng.normal(0, 2, (size, size))
    if person is not None:
        left, top = person
        image[top : top + 40, left : left + 20] = 20
    if speck:
        image[60:64, 10:14] = 20
    grey = np.clip(image, 0, 255).astype(np.uint8)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    assert ok
    return data.tobytes()


def write_scene(
    root: Path, crops: list[tuple[str, str, float]], classes: tuple[str, ...] = ("empty", "people")
) -> list[CropRecord]:
    """Crops of look-alike scenes for the stack tests: each (stream, what, score) is `empty`
    (the scene), `speck` (the scene and a dot) or `person-N` (someone at N pixels from the
    left); the score is the model's, so the most uncertain (lowest score) come first. Returns
    the records in the order given."""
    (Path(root) / UNLABELLED).mkdir(parents=True, exist_ok=True)
    for name in classes:
        (Path(root) / check_class_name(name)).mkdir(exist_ok=True)
    records = []
    for index, (stream, what, score) in enumerate(crops):
        person = (int(what.split("-")[1]), 30) if what.startswith("person-") else None
        time = START + timedelta(seconds=index)
        suggestion = "people" if person else "empty"
        record = CropRecord(
            name=crop_name(stream, time, index),
            stream=stream,
            time=time,
            reason="baseline",
            answers=(Answer(model="small", label=suggestion, score=score),),
            width=96,
            height=96,
        )
        write_crop(root, record, scene_jpeg(index, person, what == "speck"))
        records.append(record)
    return records


def write_run(
    root: Path, run: Path, images: list[tuple[str, tuple[float, ...]]], classes=("empty", "people")
) -> Path:
    """A labelled data set and a run folder's validation predictions on it, for the mistakes
    view and the accept curve: each (class, scores) is an image written to
    `root/<class>/<class>-NN.jpg` (a person in the scene for `people`) and the model's `scores`
    for it (one per class). Returns the predictions file in `run`."""
    from visord.contract.predictions import PREDICTIONS_FILE, predictions_json

    paths, labels, rows = [], [], []
    for index, (label, scores) in enumerate(images):
        folder = Path(root) / check_class_name(label)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{label}-{index:02d}.jpg"
        person = (10 + 3 * index % 60, 30) if label == "people" else None
        path.write_bytes(scene_jpeg(100 + index, person))
        paths.append(path)
        labels.append(classes.index(label))
        rows.append(scores)
    (Path(root) / UNLABELLED).mkdir(parents=True, exist_ok=True)
    Path(run).mkdir(parents=True, exist_ok=True)
    target = Path(run) / PREDICTIONS_FILE
    target.write_text(predictions_json(root, classes, paths, labels, rows))
    return target
