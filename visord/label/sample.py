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
