"""Keras run folder -> ONNX file with its manifest embedded, checked for parity.

Owns the conversion (tf2onnx from a `tf.function` that calls the model with
`training=False`, dynamic batch; `from_keras` trips on some Keras 3 models),
the validation images an export is checked on, the parity check between the
ONNX graph and Keras `model.predict`, and writing the manifest
(`visord.contract.manifest`, the daemon's schema) into the file's `metadata_props`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import onnx
import tensorflow as tf
import tf2onnx

from visord.contract.latency import cpu_name, median_latency_ms
from visord.contract.manifest import (
    MANIFEST_KEY,
    Calibration,
    InputSpec,
    Latency,
    Manifest,
    OutputSpec,
    Preprocessing,
    TrainingSummary,
    manifest_of,
    open_session,
)
from visord.training.architectures.flops import count_flops
from visord.training.calibrate import calibrate
from visord.training.config import DataConfig, TrainConfig, load_config
from visord.training.data import ImageSet, dataset_name, load_splits, make_dataset, scan_folder
from visord.training.evaluate import locate_model
from visord.training.report import percent

log = logging.getLogger(__name__)
# tf2onnx logs every conversion step at INFO: noise in `visord export`'s output.
logging.getLogger("tf2onnx").setLevel(logging.WARNING)

OPSET = 18  # the highest tf2onnx 1.17 accepts
OUTPUT_NAME = "predictions"
LATENCY_THREADS = 2
# fp32 graphs differ from Keras only by operation order (oneDNN vs MLAS kernels): probabilities
# agree to ~1e-6. 1e-4 leaves room for that and still fails on any wrong op, layout or weight,
# which moves probabilities by 1e-2 or more.
FP32_TOLERANCE = 1e-4
PARITY_IMAGES = 512


class ExportError(ValueError):
    """An export that must not produce a model file; the message says why."""


@dataclass
class Source:
    """A trained Keras model and what export needs to know about it."""

    model: keras.Model
    labels: list[str]
    architecture: str
    dataset: str
    samples: dict[str, int]
    config: TrainConfig | None
    dataset_fingerprint: str | None = None
    dataset_images: dict[str, int] | None = None


@dataclass
class Parity:
    max_abs_diff: float
    top1_agreement: float
    images: int


@dataclass
class ExportResult:
    path: Path
    manifest: Manifest
    parity: Parity


def load_source(path: Path) -> Source:
    """A run folder (model.keras, labels.json, config.yaml, data.json) or a .keras file with
    labels.json beside it.

    The data set is named as data.json records it; a run folder without that record is named from
    its config (the folder's name, never its path) and has no fingerprint.
    """
    model_file, labels_file = locate_model(path)
    if labels_file is None:
        raise ExportError(
            f"no labels.json beside {model_file}: export needs the class names in output order"
        )
    folder = model_file.parent
    config = load_config(folder / "config.yaml") if (folder / "config.yaml").is_file() else None
    data = (
        json.loads((folder / "data.json").read_text()) if (folder / "data.json").is_file() else {}
    )
    dataset = data.get("dataset") or {}
    return Source(
        model=keras.models.load_model(model_file),
        labels=json.loads(labels_file.read_text()),
        architecture=config.architecture if config else "unknown",
        dataset=dataset.get("name") or (dataset_name(config.data) if config else "unknown"),
        samples=data.get("train", {}),
        config=config,
        dataset_fingerprint=dataset.get("fingerprint"),
        dataset_images=dataset.get("images"),
    )


def data_config(model: keras.Model, path: Path) -> DataConfig:
    """How images are read for `model`: its own input size and channels."""
    height, width, channels = model.input_shape[1:]
    return DataConfig(
        path=path, image_size=(height, width), color_mode="grayscale" if channels == 1 else "rgb"
    )


def validation_images(
    source: Source, data: Path | None = None, limit: int = PARITY_IMAGES
) -> tuple[np.ndarray, np.ndarray]:
    """(pixels, labels) of the run's validation split, or of every image in `data`, at most
    `limit`."""
    if data is not None:
        images = scan_folder(data, tuple(source.labels))
    elif source.config is not None:
        images = load_splits(source.config.data, source.config.seed)[1]
    else:
        raise ExportError(
            "parity needs validation images: pass --data FOLDER (one sub-folder per class)"
        )
    return load_pixels(source.model, images, limit)


def load_pixels(model: keras.Model, images: ImageSet, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `limit` images spread evenly over the set (which lists classes one after the other,
    so the
    first `limit` would be the first classes only), decoded exactly as training feeds them, with
    their labels."""
    count = len(images.paths)
    images = images.subset(
        np.unique(np.linspace(0, count - 1, min(limit, count)).round().astype(int))
    )
    dataset = make_dataset(images, data_config(model, Path(".")), 64, training=False, seed=0)
    batches = list(dataset.as_numpy_iterator())
    return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])


def convert(model: keras.Model, out: Path, opset: int = OPSET) -> None:
    """Writes the inference graph of `model` (dynamic batch, input "pixels", output "predictions")
    to `out`."""
    spec = (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name=model.inputs[0].name),)

    @tf.function(input_signature=spec)
    def serve(pixels: tf.Tensor) -> dict[str, tf.Tensor]:
        return {OUTPUT_NAME: model(pixels, training=False)}

    out.parent.mkdir(parents=True, exist_ok=True)
    tf2onnx.convert.from_function(serve, input_signature=spec, opset=opset, output_path=str(out))


def onnx_predict(path: Path, pixels: np.ndarray, batch: int = 64) -> np.ndarray:
    """Probabilities of the ONNX graph at `path` for `pixels`, in batches."""
    session = open_session(path)
    name = session.get_inputs()[0].name
    return np.concatenate(
        [session.run(None, {name: pixels[i : i + batch]})[0] for i in range(0, len(pixels), batch)]
    )


def parity(expected: np.ndarray, actual: np.ndarray) -> Parity:
    agreement = float(np.mean(expected.argmax(-1) == actual.argmax(-1)))
    return Parity(float(np.max(np.abs(expected - actual))), agreement, len(expected))


def input_spec(model: keras.Model) -> tuple[InputSpec, Preprocessing]:
    """The manifest's input and preprocessing: raw 0..255 pixels, NHWC, stretched bilinear (as
    training)."""
    height, width, channels = model.input_shape[1:]
    colour = "GREY" if channels == 1 else "RGB"
    return InputSpec(
        name=model.inputs[0].name, shape=(None, height, width, channels)
    ), Preprocessing(colour=colour)


def measure_latency(path: Path, threads: int = LATENCY_THREADS) -> Latency:
    session = open_session(path, threads=threads)
    return Latency(
        batch1_ms=median_latency_ms(session, 1),
        batch8_ms=median_latency_ms(session, 8),
        threads=threads,
        machine=cpu_name(),
    )


def make_manifest(
    source: Source,
    path: Path,
    *,
    name: str,
    version: str,
    precision: str,
    accuracy: float,
    validation_samples: int,
    opset: int = OPSET,
    latency: Latency | None = None,
    calibration: Calibration | None = None,
) -> Manifest:
    """The manifest of the graph at `path`, which was made from `source.model`.

    `latency` replaces the measurement on `path` (int8 export times both graphs side by side).
    """
    spec, preprocessing = input_spec(source.model)
    return Manifest(
        name=name,
        version=version,
        labels=tuple(source.labels),
        input=spec,
        preprocessing=preprocessing,
        output=OutputSpec(name=OUTPUT_NAME, kind="probabilities", calibration=calibration),
        opset=opset,
        precision=precision,
        parameters=source.model.count_params(),
        flops=count_flops(source.model),
        training=TrainingSummary(
            architecture=source.architecture,
            dataset=source.dataset,
            dataset_fingerprint=source.dataset_fingerprint,
            dataset_images=source.dataset_images,
            samples=source.samples,
            validation_samples=validation_samples,
            validation_accuracy=accuracy,
        ),
        latency=latency or measure_latency(path),
    )


def embed_manifest(path: Path, manifest: Manifest) -> None:
    """Stores the manifest in the ONNX file's metadata_props, replacing any earlier one."""
    model = onnx.load(str(path))
    kept = [p for p in model.metadata_props if p.key != MANIFEST_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    model.metadata_props.add(key=MANIFEST_KEY, value=manifest.to_json())
    onnx.save(model, str(path))


def check_parity(result: Parity, tolerance: float) -> None:
    if result.max_abs_diff > tolerance:
        raise ExportError(
            f"ONNX and Keras disagree: max |probability difference| {result.max_abs_diff:.2e} > "
            f"{tolerance:.0e} on {result.images} images (top-1 agreement "
            f"{percent(result.top1_agreement)})"
        )


def export(
    path: Path,
    out: Path,
    *,
    name: str | None = None,
    version: str | None = None,
    data: Path | None = None,
    tolerance: float = FP32_TOLERANCE,
) -> ExportResult:
    """Converts a run to `out`, checks parity on validation images, and embeds the manifest; refuses
    on mismatch."""
    source = load_source(path)
    pixels, labels = validation_images(source, data)
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        convert(source.model, temporary)
        probabilities = onnx_predict(temporary, pixels)
        result = parity(source.model.predict(pixels, verbose=0), probabilities)
        check_parity(result, tolerance)
        manifest = make_manifest(
            source,
            temporary,
            name=name or out.stem,
            version=version or time.strftime("%Y%m%d"),
            precision="fp32",
            accuracy=float(np.mean(probabilities.argmax(-1) == labels)),
            validation_samples=len(labels),
            calibration=calibrate(probabilities, labels),
        )
        embed_manifest(temporary, manifest)
        manifest_of(open_session(temporary), str(out))
        temporary.replace(out)
    finally:
        temporary.unlink(missing_ok=True)
    return ExportResult(out, manifest, result)
