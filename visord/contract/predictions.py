"""A training run's answers on its validation images: what the label page shows back.

`visord train` writes `RUN/validation_predictions.json` (`PREDICTIONS_FILE`) beside report.json:
for each validation image, its path in the data folder trained on, its class (the folder it was
in) and the network's scores for every class. The label page (`visord label DATASET --run RUN`)
reads it to show the images the model got wrong with the confusion matrix, to relabel them in
place, and to measure what share of its answers above a score it gets right (the curve beside
"accept every suggestion scoring at least S").

```json
{
  "version": 1,
  "dataset": "crops",
  "classes": ["empty", "people"],
  "kind": "probabilities",
  "images": [
    {"path": "people/hall-20261206T081500-123-000042.jpg", "label": "people",
     "scores": [0.93, 0.07]}
  ]
}
```

- `dataset`: the data folder's name (its last path component; for a message, not a check).
- `classes`: the class names in the model's output order (the run's labels.json).
- `kind`: what `scores` are: `probabilities`, the network's softmax before any calibration;
  the temperature that export fits (the model file's manifest, `output.calibration`) applies on
  top, as `visord.contract.scores.to_scores` does in the daemon.
- `images`: one per validation image, in any order. `path` is relative to the data folder, with
  `/` between parts, its first part the class folder (`label`); `scores` has one number in [0, 1]
  per class. The model's answer is the class of the highest score.

Training writes it with `predictions_json`; readers use `read_predictions`, which refuses a file
that does not follow this (`PredictionsError`, naming the file and the field).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PREDICTIONS_FILE = "validation_predictions.json"
MAX_BYTES = 64 * 1024 * 1024  # a larger file is refused rather than read into memory


class PredictionsError(ValueError):
    """A predictions file that cannot be used; the message names the file and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Score = Annotated[float, Field(ge=0, le=1)]


class ImagePrediction(_Strict):
    path: str = Field(
        min_length=3, description="Relative to the data folder, its first part the class folder."
    )
    label: str = Field(min_length=1, description="The image's class when the model was trained.")
    scores: tuple[Score, ...] = Field(min_length=2, description="One per class, in class order.")

    @property
    def answer(self) -> int:
        """The index of the model's answer (the highest score; the first one on a tie)."""
        return max(range(len(self.scores)), key=self.scores.__getitem__)


class ValidationPredictions(_Strict):
    version: Literal[1] = 1
    dataset: str = Field(description="The data folder's name.")
    classes: tuple[str, ...] = Field(min_length=2, description="The model's output order.")
    kind: Literal["probabilities"] = "probabilities"
    images: tuple[ImagePrediction, ...]

    @model_validator(mode="after")
    def _consistent(self) -> ValidationPredictions:
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("classes: a class is named twice")
        for index, image in enumerate(self.images):
            where = f"images[{index}]"
            if image.label not in self.classes:
                raise ValueError(f"{where}.label: '{image.label}' is not one of the classes")
            if len(image.scores) != len(self.classes):
                raise ValueError(f"{where}.scores: {len(self.classes)} numbers needed")
            parts = image.path.split("/")
            if parts[0] != image.label or len(parts) < 2 or "" in parts or ".." in parts:
                raise ValueError(f"{where}.path: must be <label>/<file> inside the data folder")
        return self


def _under(path: Path, root: Path) -> Path:
    """`path` relative to `root`: as the folder scan named it (an image that is a link stays
    where it was listed), else after resolving both."""
    try:
        return path.absolute().relative_to(root.absolute())
    except ValueError:
        return path.resolve().relative_to(root.resolve())


def predictions_json(
    root: Path,
    classes: Sequence[str],
    paths: Sequence[str | Path],
    labels: Sequence[int],
    probabilities: Sequence[Sequence[float]],
) -> str:
    """The file's text for the validation images `paths` (under the data folder `root`), their
    class indices `labels` and the network's `probabilities` (one row per image, in class order)."""
    root = Path(root)
    images = []
    for path, label, row in zip(paths, labels, probabilities, strict=True):
        relative = PurePosixPath(*_under(Path(path), root).parts)
        images.append(
            {
                "path": str(relative),
                "label": classes[int(label)],
                "scores": [round(min(1.0, max(0.0, float(score))), 6) for score in row],
            }
        )
    data = {
        "version": 1,
        "dataset": root.resolve().name,
        "classes": list(classes),
        "kind": "probabilities",
        "images": images,
    }
    return ValidationPredictions.model_validate(data).model_dump_json() + "\n"


def read_predictions(path: Path) -> ValidationPredictions:
    """The predictions in `path` (a file, or a run folder holding `PREDICTIONS_FILE`)."""
    path = Path(path)
    if path.is_dir():
        path = path / PREDICTIONS_FILE
    try:
        if path.stat().st_size > MAX_BYTES:
            raise PredictionsError(f"{path}: over {MAX_BYTES // 2**20} MiB")
        text = path.read_text()
    except FileNotFoundError:
        raise PredictionsError(
            f"{path}: no such file (the run's validation predictions: a run folder of "
            "`visord train` holds one)"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise PredictionsError(f"{path}: cannot read: {error}") from None
    try:
        return ValidationPredictions.model_validate(json.loads(text))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, item['loc'])) or '(file)'}: {item['msg']}"
            for item in error.errors()[:5]
        )
        raise PredictionsError(f"{path}: not validation predictions: {problems}") from None
    except ValueError as error:
        raise PredictionsError(f"{path}: not JSON: {error}") from None
