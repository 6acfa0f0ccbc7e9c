"""The model of this camera as the label page shows it: how often it is right above a score, and
the validation images it got wrong.

`visord label DATASET --run RUN [--model MODEL.onnx]` gives the page a training run's validation
predictions (`visord.contract.predictions`, `RUN/validation_predictions.json`) and, optionally,
the exported model file, whose manifest holds the temperature export fitted
(`output.calibration`): the daemon's scores, which the crops' records carry, are calibrated with
it, so the run's scores are too before they are compared with them (`to_scores`, as the daemon
does). From those:

- `curve`: for each S from 0 to 1 in steps of 0.01, how many validation images score at least S
  (and what share of all) and what share of them the model gets right: the figure beside
  "accept every suggestion scoring at least S";
- `mistakes`: the validation images whose answer is not their class, each with where its file is
  now in DATASET (the class folder it was in, another one after a relabel, or gone), and the
  confusion matrix of the run (rows: the class, columns: the model's answer).

Without a run there is no curve and no mistakes; with a model file alone, the page says what the
scores themselves claim (a calibrated model's mean score is the share it expects to get right)
and that it was not measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from visord.contract.dataset import IMAGE_EXTENSIONS, DatasetError, check_class_name
from visord.contract.predictions import PredictionsError, ValidationPredictions, read_predictions
from visord.contract.scores import to_scores
from visord.label.paths import Refused, resolve

if TYPE_CHECKING:
    from visord.contract.manifest import Manifest

STEPS = 100  # the curve's thresholds: 0, 0.01, ..., 1
MAX_SHOWN = 500  # mistakes in the view at most, the surest first


class ReviewError(ValueError):
    """A run or model file the page cannot use; the message names it and why."""


@dataclass(frozen=True)
class Mistake:
    path: str  # where it was when the model was validated: <class>/<file>
    label: str
    answer: str
    score: float  # the answer's score, calibrated when the model file is known


class Review:
    """What the page knows of the model: its run's validation predictions and its manifest."""

    def __init__(
        self,
        predictions: ValidationPredictions | None = None,
        manifest: Manifest | None = None,
        run: str | None = None,
        model: str | None = None,
    ) -> None:
        if predictions is not None and manifest is not None:
            if tuple(manifest.labels) != tuple(predictions.classes):
                raise ReviewError(
                    f"the model's labels ({', '.join(manifest.labels)}) are not the run's classes "
                    f"({', '.join(predictions.classes)}): give the run the model was exported from"
                )
        self.predictions = predictions
        self.manifest = manifest
        self.run = run
        self.model = model
        self.temperature = manifest.output.temperature if manifest is not None else 1.0
        self.calibrated = manifest is not None and manifest.output.calibration is not None
        self._curve: list[dict[str, Any]] | None = None
        self.mistakes: list[Mistake] = []
        self.confusion: list[list[int]] = []
        if predictions is not None:
            self._measure(predictions)

    @classmethod
    def load(cls, run: Path | None, model: Path | None) -> Review:
        """From `--run` (a run folder or its predictions file) and `--model` (an ONNX file)."""
        from visord.contract.manifest import ManifestError, load_manifest  # onnxruntime

        predictions = manifest = None
        if run is not None:
            try:
                predictions = read_predictions(run)
            except PredictionsError as error:
                raise ReviewError(str(error)) from None
        if model is not None:
            try:
                manifest = load_manifest(model)
            except ManifestError as error:
                raise ReviewError(str(error)) from None
            except OSError as error:
                raise ReviewError(f"{model}: {error.strerror or error}") from None
        return cls(
            predictions,
            manifest,
            run=None if run is None else Path(run).name,
            model=None if model is None else Path(model).name,
        )

    def _measure(self, predictions: ValidationPredictions) -> None:
        classes = list(predictions.classes)
        count = len(predictions.images)
        raw = np.array([image.scores for image in predictions.images], np.float64)
        raw = raw.reshape(count, len(classes))
        scores = to_scores(raw, "probabilities", self.temperature) if count else raw
        truth = np.array([classes.index(image.label) for image in predictions.images], np.int64)
        answers = scores.argmax(axis=-1) if count else truth
        top = scores.max(axis=-1) if count else np.zeros(0)
        right = answers == truth
        matrix = np.zeros((len(classes), len(classes)), np.int64)
        np.add.at(matrix, (truth, answers), 1)
        self.confusion = matrix.tolist()
        self.accuracy = float(right.mean()) if count else None
        self.mistakes = [
            Mistake(image.path, image.label, classes[int(answers[i])], round(float(top[i]), 4))
            for i, image in enumerate(predictions.images)
            if not right[i]
        ]
        self.mistakes.sort(key=lambda mistake: -mistake.score)  # the surest wrong answers first
        curve = []
        for step in range(STEPS + 1):
            threshold = step / STEPS
            above = top >= threshold - 1e-9
            images = int(above.sum())
            curve.append(
                {
                    "threshold": round(threshold, 2),
                    "images": images,
                    "share": round(images / count, 4) if count else 0.0,
                    "right": round(float(right[above].mean()), 4) if images else None,
                }
            )
        self._curve = curve

    # What the API answers ---------------------------------------------------------------------

    def model_info(self) -> dict[str, Any]:
        predictions = self.predictions
        return {
            "run": self.run,
            "model": self.model,
            "name": None if self.manifest is None else self.manifest.name,
            "calibrated": self.calibrated,
            "temperature": self.temperature,
            "classes": None if predictions is None else list(predictions.classes),
            "images": None if predictions is None else len(predictions.images),
            "accuracy": None if predictions is None else self.accuracy,
            "mistakes": None if predictions is None else len(self.mistakes),
            "curve": self._curve,
        }

    def mistakes_view(self, root: Path) -> dict[str, Any]:
        """The mistakes (the `MAX_SHOWN` surest), each with where its file is now in the data set
        `root`; `wrong` counts them all."""
        if self.predictions is None:
            raise Refused(404, "no run given: start visord label with --run RUN_FOLDER")
        classes = _class_names(root)  # where a relabelled file may be now
        items = []
        for mistake in self.mistakes[:MAX_SHOWN]:
            now = _where(root, mistake.path, classes)
            items.append(
                {
                    "path": mistake.path,
                    "label": mistake.label,
                    "answer": mistake.answer,
                    "score": mistake.score,
                    "now": now,
                    "class": None if now is None else now.split("/")[0],
                    "url": None if now is None else "/labelled/" + now,
                }
            )
        return {
            "run": self.run,
            "dataset": self.predictions.dataset,
            "classes": list(self.predictions.classes),
            "images": len(self.predictions.images),
            "accuracy": self.accuracy,
            "confusion": self.confusion,
            "wrong": len(self.mistakes),
            "mistakes": items,
        }


def _class_names(root: Path) -> list[str]:
    names = []
    for folder in sorted(root.iterdir()):
        try:
            check_class_name(folder.name)
        except DatasetError:
            continue
        if folder.is_dir() and not folder.is_symlink():
            names.append(folder.name)
    return names


def _where(root: Path, path: str, classes: list[str]) -> str | None:
    """`path` (<class>/<rest>) as it is now: where it was, else the same <rest> in another class
    folder (relabelled since), else None (deleted, or not in this data set)."""
    first, _, rest = path.partition("/")
    for folder in [first, *(name for name in classes if name != first)]:
        try:
            resolve(root, [folder, *rest.split("/")], "file")
        except Refused:
            continue
        return f"{folder}/{rest}"
    return None


def labelled_parts(path: object) -> list[str]:
    """The parts of a labelled image's path in a request (<class>/<file>, perhaps deeper), or
    Refused(400): a class folder first, an image file last."""
    if not isinstance(path, str):
        raise Refused(400, "a path must be a string: <class>/<file>")
    parts = path.split("/")
    if len(parts) < 2:
        raise Refused(400, f"'{path[:80]}' is not <class>/<file>")
    try:
        check_class_name(parts[0])
    except DatasetError as error:
        raise Refused(400, str(error)) from None
    if Path(parts[-1]).suffix.lower() not in IMAGE_EXTENSIONS:
        raise Refused(400, f"'{parts[-1][:80]}' is not an image file")
    return parts
