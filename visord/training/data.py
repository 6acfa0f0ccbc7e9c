"""Image folders into tf.data pipelines.

Owns reading a folder with one sub-folder per class (the layout
`keras.utils.image_dataset_from_directory` reads), checking every image once,
the stratified train/validation split, class weights, and the tf.data
pipeline (decode, resize, cache, shuffle, batch, augment, prefetch) with no
Python loop per image.

Also owns what identifies a data set outside this machine (`dataset_summary`): its name and a
fingerprint of the images a run used, which export records in the model's manifest in place of a
folder path that means nothing elsewhere.

A corrupt or unreadable image is skipped with a warning naming the file, not
refused: one bad JPEG from a camera dump should not cost a night of training.
The skipped files are listed in the run folder's data summary.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from visord.contract.dataset import IMAGE_EXTENSIONS, UNLABELLED
from visord.training.config import DataConfig

log = logging.getLogger(__name__)

# Folder names that name a split, not a data set: data/demo/train is called "demo/train".
SPLIT_NAMES = frozenset({"train", "training", "val", "valid", "validation", "test", "images"})
FINGERPRINT_DIGITS = 16
AUTOTUNE = tf.data.AUTOTUNE


class DataError(ValueError):
    """A data folder that cannot be trained on; the message names the folder and the problem."""


@dataclass
class ImageSet:
    """Image files with integer labels into `classes`."""

    classes: tuple[str, ...]
    paths: list[str]
    labels: np.ndarray
    skipped: list[str] = field(default_factory=list)

    def subset(self, indices: np.ndarray) -> ImageSet:
        return ImageSet(
            self.classes, [self.paths[i] for i in indices], self.labels[indices], self.skipped
        )

    def counts(self) -> dict[str, int]:
        return {name: int(np.sum(self.labels == k)) for k, name in enumerate(self.classes)}


def _class_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        raise DataError(f"data folder '{root}' does not exist or is not a folder")
    # a teaching data set's crops waiting for a label and its bookkeeping are not classes
    return sorted(
        p
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name != UNLABELLED
    )


def _image_files(folder: Path) -> list[str]:
    return sorted(
        str(p) for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
    )


def _decodable(paths: list[str]) -> np.ndarray:
    """Which files TensorFlow can decode, checked in parallel inside tf.data."""

    def probe(index: tf.Tensor, path: tf.Tensor) -> tf.Tensor:
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        tf.debugging.assert_positive(tf.size(image))
        return index

    probes = (
        tf.data.Dataset.from_tensor_slices(paths)
        .enumerate()
        .map(probe, num_parallel_calls=AUTOTUNE)
    )
    good = np.zeros(len(paths), dtype=bool)
    good[list(probes.ignore_errors().as_numpy_iterator())] = True
    return good


def scan_folder(root: Path, classes: tuple[str, ...] | None = None) -> ImageSet:
    """Lists and checks the images of a class-per-folder tree.

    With `classes` given (a validation folder), the folder must hold exactly those classes.
    """
    root = Path(root)
    folders = _class_folders(root)
    files = {folder.name: _image_files(folder) for folder in folders}
    files = {name: found for name, found in files.items() if found}
    if not files:
        raise DataError(
            f"no images found in '{root}': expected one sub-folder per class "
            f"({root}/cat/001.jpg, {root}/dog/001.jpg, ...) with "
            f"{', '.join(sorted(IMAGE_EXTENSIONS))} files"
        )
    found = tuple(sorted(files))
    if classes is not None and found != classes:
        raise DataError(f"'{root}' has classes {list(found)} but training has {list(classes)}")
    if len(found) < 2:
        raise DataError(
            f"only one class ('{found[0]}') in '{root}': a classifier needs at least two class "
            "sub-folders"
        )
    paths = [path for name in found for path in files[name]]
    labels = np.array([k for k, name in enumerate(found) for _ in files[name]], dtype=np.int32)
    good = _decodable(paths)
    skipped = [path for path, ok in zip(paths, good) if not ok]
    for path in skipped:
        log.warning(
            "skipping image %s: it cannot be decoded (corrupt, truncated or not an image)", path
        )
    return ImageSet(found, [p for p, ok in zip(paths, good) if ok], labels[good], skipped)


def stratified_split(images: ImageSet, share: float, seed: int) -> tuple[ImageSet, ImageSet]:
    """Holds out `share` of every class (at least one image of each class with two or more)."""
    rng = np.random.default_rng(seed)
    held: list[int] = []
    for k in range(len(images.classes)):
        members = rng.permutation(np.flatnonzero(images.labels == k))
        take = int(round(len(members) * share))
        if share > 0 and len(members) > 1:
            take = min(max(take, 1), len(members) - 1)
        held.extend(members[:take].tolist())
    mask = np.zeros(len(images.paths), dtype=bool)
    mask[held] = True
    return images.subset(np.flatnonzero(~mask)), images.subset(np.flatnonzero(mask))


def load_splits(config: DataConfig, seed: int) -> tuple[ImageSet, ImageSet]:
    """The training and validation image sets a config describes; a class with fewer than
    `data.min_per_class` images is refused, named."""
    images = scan_folder(config.path)
    thin = {name: n for name, n in images.counts().items() if n < config.min_per_class}
    if thin:
        name, count = min(thin.items(), key=lambda item: item[1])
        others = f" (and {', '.join(sorted(set(thin) - {name}))})" if len(thin) > 1 else ""
        raise DataError(
            f"class '{name}' has only {count} images in '{config.path}'{others}; train on at "
            f"least {config.min_per_class} per class (data.min_per_class): label more of it, or "
            "remove its folder"
        )
    if config.validation_path is not None:
        return images, scan_folder(config.validation_path, images.classes)
    train, validation = stratified_split(images, config.validation_split, seed)
    if not validation.paths:
        raise DataError(
            f"data.validation_split={config.validation_split} leaves no validation images in "
            f"'{config.path}'"
        )
    return train, validation


def class_weights(images: ImageSet, setting: str | dict[str, float]) -> dict[int, float] | None:
    """Keras `class_weight` from 'none', 'balanced' (n / (k * count)) or a weight per class name."""
    if setting == "none":
        return None
    if isinstance(setting, dict):
        unknown = sorted(set(setting) - set(images.classes))
        if unknown:
            raise DataError(
                f"class_weight names unknown classes {unknown}; classes are {list(images.classes)}"
            )
        return {k: float(setting.get(name, 1.0)) for k, name in enumerate(images.classes)}
    counts = np.bincount(images.labels, minlength=len(images.classes))
    return {k: float(len(images.labels) / (len(counts) * max(c, 1))) for k, c in enumerate(counts)}


def decode_image(path: tf.Tensor, image_size: tuple[int, int], color_mode: str) -> tf.Tensor:
    """File to float32 pixels 0..255, resized (bilinear, stretched) to image_size, RGB or grey."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    image = tf.cast(image, tf.float32)
    # on floats: no rounding to whole levels, as OpenCV's BGR2GRAY does once
    if color_mode == "grayscale":
        image = tf.image.rgb_to_grayscale(image)
    return tf.image.resize(image, image_size, method="bilinear")


def make_dataset(
    images: ImageSet,
    config: DataConfig,
    batch_size: int,
    *,
    training: bool,
    seed: int,
    augmentation: keras.Model | None = None,
    one_hot: bool = False,
) -> tf.data.Dataset:
    """Batched (pixels, labels); shuffled and augmented only when training."""
    num_classes = len(images.classes)
    ds = tf.data.Dataset.from_tensor_slices((images.paths, images.labels))
    ds = ds.map(
        lambda path, label: (decode_image(path, config.image_size, config.color_mode), label),
        num_parallel_calls=AUTOTUNE,
    )
    if config.cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(len(images.paths), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if training and augmentation is not None:
        ds = ds.map(lambda x, y: (augmentation(x, training=True), y), num_parallel_calls=AUTOTUNE)
    if one_hot:
        ds = ds.map(lambda x, y: (x, tf.one_hot(y, num_classes)), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def dataset_name(config: DataConfig) -> str:
    """`data.name`, else the data folder's name (with its parent's when the folder is named after
    a split, as in data/demo/train)."""
    if config.name:
        return config.name
    folder = Path(os.path.abspath(config.path))
    if folder.name.lower() in SPLIT_NAMES and folder.parent.name:
        return f"{folder.parent.name}/{folder.name}"
    return folder.name or str(config.path)


def fingerprint(files: list[tuple[str, int]]) -> str:
    """The first 16 hex digits of sha256 over the sorted (relative path, size in bytes) pairs: the
    same images give the same fingerprint on any machine, wherever the folder lies."""
    digest = hashlib.sha256()
    for relative, size in sorted(files):
        digest.update(f"{relative}\t{size}\n".encode())
    return digest.hexdigest()[:FINGERPRINT_DIGITS]


def _relative_files(images: ImageSet, root: Path) -> list[tuple[str, int]]:
    return [
        (Path(path).relative_to(root).as_posix(), Path(path).stat().st_size)
        for path in images.paths
    ]


def dataset_summary(config: DataConfig, train: ImageSet, validation: ImageSet) -> dict:
    """The data set a run used: name, fingerprint of every image trained or validated on (paths
    relative to their folder, so not the machine's layout), and image counts."""
    validation_root = config.validation_path or config.path
    files = _relative_files(train, Path(config.path))
    files += _relative_files(validation, Path(validation_root))
    return {
        "name": dataset_name(config),
        "fingerprint": fingerprint(files),
        "images": {"train": len(train.paths), "validation": len(validation.paths)},
    }
