"""A teaching data set: what `visord collect` writes, `visord label` sorts and `visord train` reads.

```
DATASET/
  unlabelled/<stream>/<name>.jpg    a crop waiting for its label
  unlabelled/<stream>/<name>.json   its record (`CropRecord`): when, why, what the models said
  <class>/<name>.jpg                a labelled crop: the class-per-folder layout training reads
  .visord/records/<name>.json       the records of labelled and deleted crops
  .visord/trash/<name>.jpg          crops deleted in the label page (undo brings them back)
  .visord/labels.jsonl              every labelling action, in order
```

A crop is complete once its record exists: the image is written first, the record last, each to a
temporary name and then renamed, so a reader never sees half a file. Training ignores `unlabelled/`
and every folder whose name starts with a dot.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

UNLABELLED = "unlabelled"
META = ".visord"
RECORDS = f"{META}/records"
TRASH = f"{META}/trash"
ACTIONS = f"{META}/labels.jsonl"
IMAGE_SUFFIX = ".jpg"
# what training, evaluation and `visord curve` read as images in a class folder
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif"})
RECORD_SUFFIX = ".json"
_CLASS = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_CROP = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}-\d{8}T\d{6}-\d{3}-\d{6}")

# Why a crop was kept, most telling first: the label page shows the unsure ones first.
Reason = Literal["disagree", "unsure", "change", "baseline"]
REASONS: tuple[Reason, ...] = ("disagree", "unsure", "change", "baseline")


class DatasetError(ValueError):
    """A name or path that does not belong in a data set; the message says which and why."""


class Answer(BaseModel):
    """One model's top answer for a crop."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    label: str
    score: float = Field(ge=0, le=1)


class CropRecord(BaseModel):
    """What is known of one collected crop."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="The crop's file name without its suffix (`crop_name`).")
    stream: str
    time: datetime = Field(description="When the frame was read (wall clock, with its zone).")
    reason: Reason
    answers: tuple[Answer, ...] = Field(description="Each model's top answer, small first.")
    width: int = Field(ge=1)
    height: int = Field(ge=1)

    @property
    def suggestion(self) -> str | None:
        """The label to offer: the answer of the model that ran last (the large one in a
        cascade)."""
        return self.answers[-1].label if self.answers else None

    @property
    def uncertainty(self) -> float:
        """0 (sure) to 1: 1 when the models disagree, else 1 - the first model's score."""
        if len({answer.label for answer in self.answers}) > 1:
            return 1.0
        return 1.0 - self.answers[0].score if self.answers else 0.0


def crop_name(stream: str, time: datetime, sequence: int) -> str:
    """`<stream>-<YYYYmmddTHHMMSS-mmm>-<sequence>`: sortable by time, unique per stream."""
    stamp = time.strftime("%Y%m%dT%H%M%S") + f"-{time.microsecond // 1000:03d}"
    return f"{stream}-{stamp}-{sequence % 1_000_000:06d}"


def check_crop_name(name: str) -> str:
    if not _CROP.fullmatch(name):
        raise DatasetError(f"'{name[:80]}' is not a crop name (<stream>-<time>-<sequence>)")
    return name


def check_class_name(name: str) -> str:
    """A class folder's name: lowercase letters, digits, - and _, up to 40, not `unlabelled`."""
    if not _CLASS.fullmatch(name) or name == UNLABELLED:
        raise DatasetError(
            f"'{name[:80]}' cannot be a class: use lowercase letters, digits, - and _ "
            f"(up to 40, starting with a letter or digit; not '{UNLABELLED}')"
        )
    return name


def class_folders(root: Path) -> list[Path]:
    """The labelled classes of a data set, sorted (an empty class folder counts: it was added)."""
    return sorted(
        path
        for path in Path(root).iterdir()
        if path.is_dir() and not path.name.startswith(".") and path.name != UNLABELLED
    )


def write_atomically(path: Path, data: bytes) -> None:
    """`data` at `path` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def write_crop(root: Path, record: CropRecord, jpeg: bytes) -> Path:
    """Writes an unlabelled crop and then its record; returns the image's path."""
    folder = Path(root) / UNLABELLED / record.stream
    image = folder / f"{check_crop_name(record.name)}{IMAGE_SUFFIX}"
    write_atomically(image, jpeg)
    write_atomically(folder / f"{record.name}{RECORD_SUFFIX}", record_bytes(record))
    return image


def record_bytes(record: CropRecord) -> bytes:
    return (record.model_dump_json() + "\n").encode()


def read_record(path: Path) -> CropRecord:
    """The record in `path`; DatasetError naming the file when it is not one."""
    try:
        return CropRecord.model_validate(json.loads(Path(path).read_text()))
    except (OSError, ValueError) as error:
        raise DatasetError(f"{path}: not a crop record: {error}") from None
