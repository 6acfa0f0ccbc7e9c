"""Labelled video clips: a `SceneStream` written with OpenCV's VideoWriter, and its per-frame labels
next to it in <clip>.labels.json (`labels_path`)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2

from visord.scenes.common import CLASSES, _check_size
from visord.scenes.stream import SceneStream

_FOURCC = {".mp4": "mp4v", ".avi": "MJPG"}


def labels_path(path: Path) -> Path:
    """Where `write_clip` puts a clip's per-frame labels: <path>.labels.json."""
    path = Path(path)
    return path.with_name(path.name + ".labels.json")


def _open_writer(path: Path, size: tuple[int, int], fps: float) -> cv2.VideoWriter:
    fourcc = _FOURCC.get(path.suffix.lower())
    if fourcc is None:
        raise ValueError(
            f"unsupported clip extension {path.suffix!r} for {path}: expected one of "
            f"{', '.join(_FOURCC)}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (size[1], size[0]))
    if not writer.isOpened():
        raise OSError(f"OpenCV could not open a {fourcc} video writer for {path}")
    return writer


def write_clip(
    path: Path,
    seconds: float,
    size: tuple[int, int] = (480, 640),
    fps: float = 25.0,
    seed: int = 0,
    difficulty: float = 0.2,
) -> list[str]:
    """Writes a video file with OpenCV's VideoWriter (mp4v fourcc for .mp4, MJPG for .avi) from a
    SceneStream;
    returns the per-frame ground-truth labels, also written next to it as <path>.labels.json."""
    path, size = Path(path), _check_size(size)
    if seconds <= 0:
        raise ValueError(f"seconds must be > 0, received seconds={seconds!r}")
    stream = SceneStream(size, fps, seed, difficulty)
    writer = _open_writer(path, size, fps)
    labels = []
    try:
        for _ in range(max(1, int(round(seconds * fps)))):
            frame, label = stream.next_frame()
            writer.write(frame)
            labels.append(label)
    finally:
        writer.release()
    meta = {
        "video": path.name,
        "fps": fps,
        "size": list(size),
        "seed": seed,
        "difficulty": difficulty,
        "classes": list(CLASSES),
        "labels": labels,
    }
    labels_path(path).write_text(json.dumps(meta) + "\n")
    return labels
