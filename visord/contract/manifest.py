"""The model manifest: the contract between training and the daemon.

Owns the manifest's schema (versioned), its JSON form stored in the ONNX
file's `metadata_props` under `MANIFEST_KEY`, reading it back from a model
file, and checking that the graph agrees with it. The daemon preprocesses
frames from the manifest alone; `training/` imports this module to write one.
A model without a valid manifest, or whose graph disagrees with it, is
refused with a `ManifestError` naming the file and the field.

Schema versions: 2 adds the training data set's fingerprint and image counts
(`TrainingSummary.dataset_fingerprint`, `dataset_images`); a version 1 manifest
still loads, its `dataset` being whatever text it holds (a folder path, often).

Reading goes through onnxruntime (a base dependency), not the `onnx` package,
so a camera box needs nothing more to check its models.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import onnxruntime as ort
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

MANIFEST_KEY = "visord.manifest"
SCHEMA_VERSION = 2


class ManifestError(ValueError):
    """A model file the daemon must not run; the message names the file and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# A dimension of the input tensor: a whole number (JSON's true is not 1), at least 1 and at most
# what any
# image classifier takes; a symbolic graph dimension leaves the manifest's number the only limit.
Dimension = Annotated[int, Field(ge=1, le=8192, strict=True)]


class InputSpec(_Strict):
    name: str = Field(description="Name of the graph input.")
    shape: tuple[Dimension | None, Dimension, Dimension, Dimension] = Field(
        description="NHWC or NCHW; None is the dynamic batch."
    )
    layout: Literal["NHWC", "NCHW"] = Field("NHWC", description="Order of the axes.")
    dtype: Literal["float32", "uint8"] = Field(
        "float32", description="Element type fed to the graph."
    )

    @property
    def height_width(self) -> tuple[int, int]:
        return (
            (self.shape[1], self.shape[2])
            if self.layout == "NHWC"
            else (self.shape[2], self.shape[3])
        )

    @property
    def channels(self) -> int:
        return self.shape[3] if self.layout == "NHWC" else self.shape[1]


class Preprocessing(_Strict):
    """From a decoded frame to the input tensor: colour, resize, then (pixels * scale - mean) /
    std."""

    colour: Literal["RGB", "BGR", "GREY"] = Field(
        "RGB", description="Channel order the model expects."
    )
    resize: Literal["stretch", "letterbox"] = Field(
        "stretch", description="Stretch to size, or pad to keep aspect."
    )
    interpolation: Literal["linear", "area", "nearest"] = Field(
        "linear", description="Resampling filter."
    )
    scale: float = Field(1.0, gt=0, description="Multiplies the 0..255 pixels first.")
    mean: tuple[float, ...] = Field(
        (0.0,), description="Subtracted per channel (one value or one per channel)."
    )
    std: tuple[float, ...] = Field(
        (1.0,), description="Divides per channel (one value or one per channel)."
    )

    @model_validator(mode="after")
    def _no_zero_std(self) -> Preprocessing:
        if any(value == 0 for value in self.std):
            raise ValueError("std: must not contain 0")
        return self


class Calibration(_Strict):
    """Temperature scaling fitted at export on validation images (`visord.training.calibrate`)."""

    temperature: float = Field(
        gt=0, description="The logits (log-probabilities) are divided by this before the softmax."
    )
    ece_before: float = Field(ge=0, le=1, description="Expected calibration error without it.")
    ece_after: float = Field(ge=0, le=1, description="Expected calibration error with it.")
    images: int = Field(ge=1, description="Validation images it was fitted and measured on.")


class OutputSpec(_Strict):
    name: str = Field(description="Name of the graph output.")
    kind: Literal["probabilities", "logits"] = Field(
        description="Softmax probabilities, or logits to softmax."
    )
    calibration: Calibration | None = Field(
        None, description="Temperature scaling the daemon applies to the scores; none: 1."
    )

    @property
    def temperature(self) -> float:
        return self.calibration.temperature if self.calibration else 1.0


class Latency(_Strict):
    """onnxruntime latency measured at export on the exporting machine."""

    batch1_ms: float = Field(ge=0, description="Median milliseconds per batch of 1.")
    batch8_ms: float = Field(ge=0, description="Median milliseconds per batch of 8.")
    threads: int = Field(ge=1, description="intra_op_num_threads used.")
    machine: str = Field(description="CPU the figures were measured on.")


class TrainingSummary(_Strict):
    architecture: str = Field(description="Registered architecture name.")
    dataset: str = Field(
        description="Name of the training data set (data.name, else its folder's name)."
    )
    dataset_fingerprint: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{16}$",
        description="First 16 hex digits of sha256 over the sorted relative paths and sizes of "
        "the images trained and validated on; None when unknown.",
    )
    dataset_images: dict[Literal["train", "validation"], Annotated[int, Field(ge=0)]] | None = (
        Field(None, description="Images trained and validated on; None when unknown.")
    )
    samples: dict[str, int] = Field(description="Training images per class.")
    validation_samples: int = Field(ge=0, description="Images the accuracy was measured on.")
    validation_accuracy: float = Field(
        ge=0, le=1, description="Top-1 accuracy of this file's graph."
    )


class OperatingPoint(_Strict):
    """The cascade at one threshold, on the curve's images."""

    threshold: float = Field(ge=0, le=1, description="escalate_below: escalate scores below it.")
    escalated: float = Field(ge=0, le=1, description="Share of the images sent to the large model.")
    accuracy: float = Field(ge=0, le=1, description="Top-1 accuracy of the cascade.")


class OperatingCurve(_Strict):
    """A small model's cascade with one large model, measured on labelled images (`visord curve`):
    what lets a config ask for an escalation share or a share of the large model's accuracy
    instead of a raw threshold."""

    partner: str = Field(description="The large model's manifest name and version.")
    partner_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="The large model file it was measured with."
    )
    images: int = Field(ge=1, description="Labelled images measured on.")
    dataset: str = Field(description="Their folder's name.")
    small_accuracy: float = Field(ge=0, le=1)
    large_accuracy: float = Field(ge=0, le=1)
    points: tuple[OperatingPoint, ...] = Field(
        min_length=2, description="By threshold, increasing."
    )


class Manifest(_Strict):
    schema_version: int = Field(SCHEMA_VERSION, description="Version of this schema.")
    name: str = Field(min_length=1, description="Model name.")
    version: str = Field(min_length=1, description="Model version (free form, e.g. a date).")
    labels: tuple[str, ...] = Field(min_length=2, description="Class names in output order.")
    input: InputSpec
    preprocessing: Preprocessing
    output: OutputSpec
    opset: int = Field(ge=7, description="ONNX opset of the graph.")
    precision: Literal["fp32", "fp16", "int8"] = Field(
        description="Numeric precision of the weights."
    )
    parameters: int = Field(ge=0, description="Trainable and frozen parameters.")
    flops: int = Field(ge=0, description="Floating-point operations per frame (multiply-add = 2).")
    training: TrainingSummary
    latency: Latency
    cascade_curve: OperatingCurve | None = Field(
        None, description="This (small) model's operating curve with a large one, when measured."
    )

    @model_validator(mode="after")
    def _channels_agree(self) -> Manifest:
        expected = 1 if self.preprocessing.colour == "GREY" else 3
        if self.input.channels != expected:
            raise ValueError(
                f"input.shape: {self.input.channels} channels, but preprocessing.colour is "
                f"{self.preprocessing.colour} ({expected})"
            )
        for key in ("mean", "std"):
            if len(getattr(self.preprocessing, key)) not in (1, expected):
                raise ValueError(f"preprocessing.{key}: needs 1 or {expected} values")
        return self

    def to_json(self) -> str:
        return self.model_dump_json()


def parse_manifest(text: str, source: str) -> Manifest:
    """The manifest in `text` (JSON); ManifestError naming `source` and each bad field otherwise."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ManifestError(f"{source}: manifest is not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise ManifestError(
            f"{source}: manifest must be a JSON object, found {type(data).__name__}"
        )
    _check_version(data.get("schema_version"), source)
    try:
        return Manifest.model_validate(data)
    except ValidationError as error:
        raise ManifestError(
            f"{source}: invalid manifest: " + "; ".join(_field_errors(error))
        ) from error


def _check_version(version: Any, source: str) -> None:
    if not isinstance(version, int) or isinstance(version, bool):
        raise ManifestError(f"{source}: manifest field schema_version is missing or not an integer")
    if version > SCHEMA_VERSION:
        raise ManifestError(
            f"{source}: manifest schema_version {version} is newer than this visord understands "
            f"({SCHEMA_VERSION}); upgrade visord to run this model"
        )


def _field_errors(error: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(p) for p in item['loc']) or '(manifest)'}: {item['msg']}"
        for item in error.errors()
    ]


def open_session(
    path: Path,
    providers: list[str] | None = None,
    threads: int | None = None,
    spin: bool | None = None,
) -> ort.InferenceSession:
    """An onnxruntime session on `path`; ManifestError when the file is missing or not an ONNX
    model. `spin`: whether its threads spin waiting for work after a run (None: onnxruntime's
    default, which spins)."""
    if not Path(path).is_file():
        raise ManifestError(f"{path}: model file does not exist")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    if spin is not None:
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    try:
        return ort.InferenceSession(
            str(path), options, providers=providers or ["CPUExecutionProvider"]
        )
    except Exception as error:  # onnxruntime raises its own Fail/InvalidProtobuf/... types
        raise ManifestError(f"{path}: not a loadable ONNX model: {error}") from error


def manifest_of(session: ort.InferenceSession, source: str) -> Manifest:
    """The manifest embedded in a loaded model, checked against its graph."""
    text = session.get_modelmeta().custom_metadata_map.get(MANIFEST_KEY)
    if text is None:
        raise ManifestError(
            f"{source}: ONNX file has no visord manifest (metadata key '{MANIFEST_KEY}'); "
            "export it with `visord export`"
        )
    manifest = parse_manifest(text, source)
    check_graph(manifest, session, source)
    return manifest


def check_graph(manifest: Manifest, session: ort.InferenceSession, source: str) -> None:
    """ManifestError unless the graph's single input and output match the manifest's."""
    inputs = session.get_inputs()
    outputs = session.get_outputs()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ManifestError(
            f"{source}: graph has {len(inputs)} inputs and {len(outputs)} outputs, expected 1 and 1"
        )
    graph_input = inputs[0]
    graph_output = outputs[0]
    if graph_input.name != manifest.input.name:
        raise ManifestError(
            f"{source}: manifest input.name '{manifest.input.name}' but the graph's input is "
            f"'{graph_input.name}'"
        )
    if not _dims_agree(graph_input.shape[1:], manifest.input.shape[1:]):
        raise ManifestError(
            f"{source}: manifest input.shape {list(manifest.input.shape)} but the graph's input is "
            f"{graph_input.shape}"
        )
    _check_output(manifest, graph_output, source)


def _check_output(manifest: Manifest, graph_output: Any, source: str) -> None:
    if graph_output.name != manifest.output.name:
        raise ManifestError(
            f"{source}: manifest output.name '{manifest.output.name}' but the graph's output is "
            f"'{graph_output.name}'"
        )
    classes = graph_output.shape[-1] if graph_output.shape else None
    if isinstance(classes, int) and classes != len(manifest.labels):
        raise ManifestError(
            f"{source}: manifest has {len(manifest.labels)} labels but the graph outputs "
            f"{classes} classes"
        )


def _dims_agree(graph: list[Any], manifest: tuple[int, ...]) -> bool:
    """Fixed graph dimensions must equal the manifest's; symbolic ones accept any size."""
    return len(graph) == len(manifest) and all(
        not isinstance(g, int) or g == m for g, m in zip(graph, manifest)
    )


def model_digest(path: Path) -> str:
    """The sha256 of a model file: what an operating curve names its partner by."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(path: Path) -> Manifest:
    """The checked manifest of the model file at `path` (ManifestError otherwise)."""
    return manifest_of(open_session(Path(path)), str(path))
