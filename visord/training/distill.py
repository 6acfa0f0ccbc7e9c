"""Knowledge distillation: a student trained on a teacher run's soft labels as well as hard ones.

Owns the teacher side of a distilled run: checking the teacher's run folder against the config
(`distill.teacher`: model.keras, labels.json, the same classes in the same order), computing the
teacher's probabilities once for every training image (decoded as the teacher's own pipeline
decodes them, at its size and colour, without augmentation), the student's pipelines that carry
them beside the hard labels, and the record of the distillation the run folder keeps.

The student's training images go through `visord.training.data.make_dataset` with their index
in place of their label, so they are decoded, cached, shuffled and augmented exactly as in a
plain run (same seed, same order); the index then picks the image's one-hot label and soft
target, and the batch's targets are `[one-hot | teacher probabilities]`, which
`visord.training.objectives.DistillationLoss` splits. The teacher never enters the student's
graph: the saved student is an ordinary model.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from visord.training.config import (
    DistillConfig,
    Problem,
    TrainConfig,
    TrainingConfigError,
    load_config,
)
from visord.training.data import AUTOTUNE, ImageSet, decode_image, make_dataset

log = logging.getLogger(__name__)

KEY = "distill.teacher"


def _refuse(message: str) -> TrainingConfigError:
    return TrainingConfigError(Problem("", KEY, message))


@dataclass(frozen=True)
class Teacher:
    """A teacher run folder: its labels and how its own pipeline decodes an image."""

    folder: Path
    labels: list[str]
    image_size: tuple[int, int]
    color_mode: str

    def probabilities(self, paths: list[str], batch_size: int) -> np.ndarray:
        """The teacher's probabilities for each file, in order: decoded at its size and colour,
        not augmented, predicted in batches."""
        model = keras.models.load_model(self.folder / "model.keras", compile=False)
        images = (
            tf.data.Dataset.from_tensor_slices(paths)
            .map(
                lambda path: decode_image(path, self.image_size, self.color_mode),
                num_parallel_calls=AUTOTUNE,
            )
            .batch(batch_size)
            .prefetch(AUTOTUNE)
        )
        return np.asarray(model.predict(images, verbose=0), dtype=np.float32)


def open_teacher(distill: DistillConfig) -> Teacher:
    """The teacher `distill.teacher` names, or a TrainingConfigError on that key saying what is
    missing. Reads its labels and config, not its model (unless there is no config.yaml), so a
    wrong teacher fails before the data is read."""
    folder = Path(distill.teacher)
    if not folder.is_dir():
        raise _refuse(
            f"teacher run folder '{folder}' does not exist or is not a folder; give the folder "
            "`visord train` wrote for the teacher (runs/NAME-YYYYmmdd-HHMMSS)"
        )
    missing = [name for name in ("model.keras", "labels.json") if not (folder / name).is_file()]
    if missing:
        raise _refuse(
            f"'{folder}' is not a run folder: it has no {' and no '.join(missing)}; give the "
            "folder `visord train` wrote for the teacher"
        )
    try:
        labels = json.loads((folder / "labels.json").read_text())
    except (OSError, ValueError) as error:
        raise _refuse(f"cannot read {folder / 'labels.json'}: {error}") from None
    if not isinstance(labels, list) or not all(isinstance(name, str) for name in labels):
        raise _refuse(f"{folder / 'labels.json'} is not a list of class names")
    if (folder / "config.yaml").is_file():
        data = load_config(folder / "config.yaml").data
        return Teacher(folder, labels, tuple(data.image_size), data.color_mode)
    # A model folder without its config: its input shape says the size and the channels.
    model = keras.models.load_model(folder / "model.keras", compile=False)
    height, width, channels = model.input_shape[1:]
    return Teacher(folder, labels, (height, width), "grayscale" if channels == 1 else "rgb")


def check_classes(teacher: Teacher, classes: tuple[str, ...]) -> None:
    """Refuses a teacher whose outputs are not the student's classes in the same order: its
    probabilities would be read as the wrong classes."""
    if list(classes) != teacher.labels:
        raise _refuse(
            f"the teacher's labels {teacher.labels} ({teacher.folder / 'labels.json'}) are not "
            f"the student's classes {list(classes)} (the data folder's sub-folders): distillation "
            "needs the same classes in the same order; train the teacher on the same class folders"
        )


@dataclass
class SoftTargets:
    """The teacher's probabilities for a training set's images (row i: image i) and the record
    the run folder keeps."""

    probabilities: np.ndarray
    record: dict


def soft_targets(distill: DistillConfig, train: ImageSet, batch_size: int) -> SoftTargets:
    """Checks the teacher against `train`'s classes and predicts every training image once."""
    teacher = open_teacher(distill)
    check_classes(teacher, train.classes)
    log.info(
        "distilling from %s: teacher probabilities for %d images at %dx%d %s",
        teacher.folder,
        len(train.paths),
        *teacher.image_size,
        teacher.color_mode,
    )
    probabilities = teacher.probabilities(train.paths, batch_size)
    record = {
        "teacher": str(teacher.folder),
        "temperature": distill.temperature,
        "alpha": distill.alpha,
        "teacher_input": {
            "image_size": list(teacher.image_size),
            "color_mode": teacher.color_mode,
        },
        # how far the soft targets are from the hard labels: the teacher's training accuracy
        "teacher_train_accuracy": float(np.mean(probabilities.argmax(axis=-1) == train.labels)),
    }
    return SoftTargets(probabilities, record)


def training_dataset(
    train: ImageSet,
    soft: np.ndarray,
    config: TrainConfig,
    *,
    augmentation: keras.Model | None,
    weights: dict[int, float] | None,
) -> tf.data.Dataset:
    """Batched (pixels, [one-hot | soft]) or, with class weights, (pixels, targets, weight): the
    plain run's pipeline (decode, cache, shuffle, augment), targets picked by image index."""
    count = len(train.paths)
    indexed = ImageSet(train.classes, train.paths, np.arange(count, dtype=np.int32))
    pixels = make_dataset(
        indexed,
        config.data,
        config.batch_size,
        training=True,
        seed=config.seed,
        augmentation=augmentation,
        one_hot=False,
    )
    one_hot = np.eye(len(train.classes), dtype=np.float32)[train.labels]
    targets = tf.constant(np.concatenate([one_hot, soft.astype(np.float32)], axis=-1))
    if weights is None:
        return pixels.map(lambda x, i: (x, tf.gather(targets, i)), num_parallel_calls=AUTOTUNE)
    # Keras's class_weight reads one-hot targets; these are wider, so the weights go per image.
    per_image = tf.constant(np.array([weights[int(k)] for k in train.labels], dtype=np.float32))
    return pixels.map(
        lambda x, i: (x, tf.gather(targets, i), tf.gather(per_image, i)),
        num_parallel_calls=AUTOTUNE,
    )


def validation_dataset(validation: tf.data.Dataset, num_classes: int) -> tf.data.Dataset:
    """The plain validation pipeline with targets `[one-hot | zeros]`: no teacher targets, so
    the distillation loss scores validation on the hard labels alone."""

    def widen(x, y):
        hard = tf.one_hot(y, num_classes) if y.shape.rank == 1 else tf.cast(y, tf.float32)
        return x, tf.concat([hard, tf.zeros_like(hard)], axis=-1)

    return validation.map(widen, num_parallel_calls=AUTOTUNE)
