"""int8 static quantization of an exported fp32 model, checked against it.

Owns the quantization recipes (`QuantConfig`; `RECIPES`, every one
bench/quantize_configs.py compares; `DEFAULT`, the one `visord export --quantize
int8` uses, and why it is the default), calibration on the run's own training images
(decoded exactly as training decodes them), the comparison of the int8 graph
with the fp32 graph on the same validation images (top-1 accuracy, top-1
agreement, latency at batch 1 and 8 measured interleaved in one process), the
decision to keep or refuse the int8 file, and writing it with its own manifest
(precision "int8", its own accuracy and latency).

A refused quantization writes nothing and raises `QuantizationError` naming
every failed check; with `warn_only` the file is written and the failed checks
come back as warnings. `visord.training.export` knows nothing about int8: it only
lends its loaders and manifest helpers.
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from visord.contract.latency import cpu_name, median_latency_ms
from visord.contract.manifest import (
    Calibration,
    Latency,
    Manifest,
    load_manifest,
    manifest_of,
    open_session,
)
from visord.training.calibrate import calibrate
from visord.training.data import ImageSet, load_splits, scan_folder
from visord.training.export import (
    LATENCY_THREADS,
    ExportError,
    Source,
    embed_manifest,
    load_pixels,
    load_source,
    make_manifest,
    onnx_predict,
    validation_images,
)
from visord.training.report import percent

log = logging.getLogger(__name__)
# onnxruntime's quantizer logs each preparation step at INFO: noise in `visord export`'s output.
logging.getLogger("onnxruntime.quantization").setLevel(logging.WARNING)

MAX_ACCURACY_DROP = 0.01  # one point of top-1
CALIBRATION_IMAGES = 128
CALIBRATION_BATCH = 16
LATENCY_BATCHES = (1, 8)
# The ops whose chain stays in uint8 between convolutions. Quantizing only Conv and MatMul (the
# usual recipe) leaves every Relu/Clip (ReLU6) and residual Add in fp32, so onnxruntime runs a
# DequantizeLinear and a QuantizeLinear around every convolution and the int8 kernels' gain is
# eaten by conversions. With Relu and Clip quantized they fold into the QLinearConv output range;
# Add becomes QLinearAdd; Mul is the input rescaling. Softmax stays fp32: quantized, its
# probabilities have 1/256 resolution and near ties flip top-1.
CHAIN_OPS = ("Conv", "MatMul", "Add", "Mul", "Relu", "Clip")
CONV_MATMUL_OPS = ("Conv", "MatMul")

Format = Literal["qoperator", "qdq"]
Precision = Literal["uint8", "int8"]
RangeMethod = Literal["minmax", "entropy", "percentile"]
QUANT_TYPES = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}
FORMATS = {"qoperator": QuantFormat.QOperator, "qdq": QuantFormat.QDQ}
CALIBRATIONS = {
    "minmax": CalibrationMethod.MinMax,
    "entropy": CalibrationMethod.Entropy,
    "percentile": CalibrationMethod.Percentile,
}


class QuantizationError(ExportError):
    """An int8 model that must not be written; the message lists every failed check."""

    def __init__(self, message: str, comparison: Comparison | None = None):
        super().__init__(message)
        self.comparison = comparison


@dataclass(frozen=True)
class QuantConfig:
    """One onnxruntime.quantization recipe (static, calibrated).

    Names read format-activations+weights-granularity[-rr][-nodw]-ops[-calibration]: e.g.
    qdq-u8s8-pc-chain is QDQ, uint8 activations, int8 weights, per-channel, CHAIN_OPS, MinMax.
    """

    name: str
    format: Format = "qoperator"
    activations: Precision = "uint8"
    weights: Precision = "int8"
    per_channel: bool = True
    reduce_range: bool = False
    op_types: tuple[str, ...] | None = CHAIN_OPS  # None: every op type onnxruntime quantizes
    exclude_depthwise: bool = False
    calibration: RangeMethod = "minmax"

    def describe(self) -> str:
        ops = "all ops" if self.op_types is None else "+".join(self.op_types)
        return (
            f"{self.format} {self.activations[0].upper()}8{self.weights[0].upper()}8 "
            f"{'per-channel' if self.per_channel else 'per-tensor'}"
            f"{' reduce_range' if self.reduce_range else ''}"
            f", {ops}{' except depthwise' if self.exclude_depthwise else ''}, {self.calibration}"
        )


# The default recipe, and why. bench/quantize_configs.py compares every recipe in RECIPES on the
# shipped models' graphs; its figures are in bench/RESULTS.md.
# - CHAIN_OPS, not Conv+MatMul: see CHAIN_OPS; it is where the speed-up over fp32 comes from.
# - U8 activations, S8 weights: VNNI's vpdpbusd multiplies unsigned by signed bytes; S8S8 is slow
#   on such CPUs (QOperator S8S8 falls back to a reference kernel, slower than fp32).
# - QDQ rather than QOperator: as fast on CPU, and QDQ is the form other execution providers
#   (TensorRT, OpenVINO, CUDA) read, where QLinearAdd/QLinearMul are com.microsoft CPU-only ops.
#   QDQ relies on onnxruntime fusing DQ->op->Q at session load (ORT_ENABLE_EXTENDED or ALL, the
#   default and what the daemon uses); at ORT_ENABLE_BASIC it is slower than fp32.
# - per-channel weights: free at run time, and depthwise filters differ too much for one scale.
# - no reduce_range: 7 bits are for pre-VNNI CPUs whose 16-bit accumulation saturates, and buy
#   no speed on VNNI.
# - depthwise convolutions quantized: excluding them leaves fp32 islands and costs most of the gain.
# - MinMax calibration on 128 training images: Entropy and Percentile agree no better with fp32
#   and take far longer to calibrate.
# - After quant_pre_process, MatMul + bias is a Gemm, which CHAIN_OPS leaves fp32: the head is a
#   small share of the FLOPs, and it keeps the class scores in full precision.
DEFAULT = QuantConfig("qdq-u8s8-pc-chain", format="qdq")

# Every recipe by name: what bench/quantize_configs.py compares and --int8-recipe accepts.
RECIPES: dict[str, QuantConfig] = {
    config.name: config
    for config in (
        # The usual recipe, as model zoos ship it (S8 is onnxruntime's default activation type
        # for QDQ).
        QuantConfig(
            "qdq-s8s8-pc-convmm", format="qdq", activations="int8", op_types=CONV_MATMUL_OPS
        ),
        QuantConfig("qdq-u8s8-pc-convmm", format="qdq", op_types=CONV_MATMUL_OPS),
        QuantConfig("qop-u8s8-pc-convmm", op_types=CONV_MATMUL_OPS),
        QuantConfig("qop-s8s8-pc-convmm", activations="int8", op_types=CONV_MATMUL_OPS),
        QuantConfig("qop-u8s8-pt-convmm", per_channel=False, op_types=CONV_MATMUL_OPS),
        QuantConfig("qop-u8s8-pc-rr-convmm", reduce_range=True, op_types=CONV_MATMUL_OPS),
        QuantConfig("qop-u8s8-pc-nodw-convmm", exclude_depthwise=True, op_types=CONV_MATMUL_OPS),
        DEFAULT,
        QuantConfig("qdq-s8s8-pc-chain", format="qdq", activations="int8"),
        QuantConfig("qdq-u8s8-pc-nodw-chain", format="qdq", exclude_depthwise=True),
        QuantConfig("qdq-u8s8-pc-chain-entropy", format="qdq", calibration="entropy"),
        QuantConfig("qdq-u8s8-pc-chain-percentile", format="qdq", calibration="percentile"),
        QuantConfig("qop-u8s8-pc-chain"),
        QuantConfig("qop-u8s8-pt-chain", per_channel=False),
        QuantConfig("qop-u8s8-pc-rr-chain", reduce_range=True),
        QuantConfig("qop-u8u8-pt-chain", weights="uint8", per_channel=False),
        QuantConfig("qop-u8s8-pc-all", op_types=None),
    )
}


@dataclass(frozen=True)
class Comparison:
    """int8 against fp32 on the same validation images and the same machine."""

    images: int
    fp32_accuracy: float
    int8_accuracy: float
    agreement: float
    max_abs_diff: float
    fp32_latency: dict[int, float]  # batch -> median ms
    int8_latency: dict[int, float]
    threads: int
    int8_calibration: Calibration  # its own temperature, fitted on the same images

    @property
    def accuracy_drop(self) -> float:
        return self.fp32_accuracy - self.int8_accuracy

    def speedup(self, batch: int) -> float:
        return self.fp32_latency[batch] / self.int8_latency[batch]

    def table(self) -> str:
        """The side-by-side table `visord export --quantize` prints."""
        rows = [
            f"{'':6} {'top-1':>7} {'batch 1 ms':>11} {'batch 8 ms':>11}   on {self.images} "
            f"validation images, {self.threads} threads"
        ]
        for name, accuracy, latency in (
            ("fp32", self.fp32_accuracy, self.fp32_latency),
            ("int8", self.int8_accuracy, self.int8_latency),
        ):
            rows.append(f"{name:6} {percent(accuracy):>7} {latency[1]:11.2f} {latency[8]:11.2f}")
        rows.append(
            f"{'int8':6} {percent(-self.accuracy_drop, sign=True):>7} "
            f"{self.speedup(1):10.2f}x {self.speedup(8):10.2f}x   top-1 agreement "
            f"{percent(self.agreement)}, max |probability diff| {self.max_abs_diff:.3f}"
        )
        return "\n".join(rows)


@dataclass
class QuantizeResult:
    path: Path
    manifest: Manifest
    comparison: Comparison
    config: QuantConfig
    warnings: list[str] = field(default_factory=list)


class PixelReader(CalibrationDataReader):
    """Feeds calibration pixels to onnxruntime's calibrator in batches of one size.

    The remainder past the last full batch is left out: the Entropy and Percentile calibrators stack
    every batch's outputs into one array and fail on a short last batch.
    """

    def __init__(self, input_name: str, pixels: np.ndarray, batch: int = CALIBRATION_BATCH):
        batch = min(batch, len(pixels))
        self.input_name, self.batch = input_name, batch
        self.pixels = pixels[: len(pixels) - len(pixels) % batch].astype(np.float32)
        self.rewind()

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.position >= len(self.pixels):
            return None
        chunk = self.pixels[self.position : self.position + self.batch]
        self.position += self.batch
        return {self.input_name: chunk}

    def rewind(self) -> None:
        self.position = 0


def calibration_images(
    source: Source, data: Path | None = None, limit: int = CALIBRATION_IMAGES, seed: int = 0
) -> np.ndarray:
    """Pixels of up to `limit` training images of the run (all classes mixed), decoded as training
    decodes them.

    A bare .keras file has no training split: it calibrates on `data` instead.
    """
    if source.config is not None:
        images = load_splits(source.config.data, source.config.seed)[0]
    elif data is not None:
        log.warning("no run config: calibrating on %s, the images accuracy is measured on", data)
        images = scan_folder(data, tuple(source.labels))
    else:
        raise ExportError(
            "int8 calibration needs training images: pass a run folder, or --data FOLDER"
        )
    return load_pixels(source.model, shuffled(images, seed), limit)[0]


def shuffled(images: ImageSet, seed: int) -> ImageSet:
    """The same images in a seeded random order: folders list one class after another."""
    return images.subset(np.random.default_rng(seed).permutation(len(images.paths)))


def depthwise_convs(model: onnx.ModelProto) -> list[str]:
    """Names of the Conv nodes with more than one group (depthwise convolutions)."""

    def group(node: onnx.NodeProto) -> int:
        return next((a.i for a in node.attribute if a.name == "group"), 1)

    return [n.name for n in model.graph.node if n.op_type == "Conv" and group(n) > 1]


def quantize_file(fp32: Path, out: Path, pixels: np.ndarray, config: QuantConfig = DEFAULT) -> None:
    """Writes the int8 graph of the fp32 model at `fp32` to `out`, calibrated on `pixels`."""
    with tempfile.TemporaryDirectory(prefix="visord-quantize-") as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        # symbolic shapes + folded constants, as the quantizer wants
        quant_pre_process(str(fp32), str(prepared))
        graph = onnx.load(str(prepared))
        quantize_static(
            str(prepared),
            str(out),
            PixelReader(graph.graph.input[0].name, pixels),
            quant_format=FORMATS[config.format],
            activation_type=QUANT_TYPES[config.activations],
            weight_type=QUANT_TYPES[config.weights],
            per_channel=config.per_channel,
            reduce_range=config.reduce_range,
            calibrate_method=CALIBRATIONS[config.calibration],
            op_types_to_quantize=list(config.op_types) if config.op_types is not None else None,
            nodes_to_exclude=depthwise_convs(graph) if config.exclude_depthwise else None,
        )


def interleaved_latency(
    sessions: dict[str, ort.InferenceSession],
    batches: tuple[int, ...] = LATENCY_BATCHES,
    rounds: int = 7,
    runs: int = 5,
) -> dict[str, dict[int, float]]:
    """Median ms per `session.run` of each session at each batch size, the sessions taking turns.

    Each round times every session once (`runs` runs after a warm-up); the result is the median of
    the rounds' medians, so a burst of load from another process hits every model alike.
    """
    samples: dict[str, dict[int, list[float]]] = {
        name: {b: [] for b in batches} for name in sessions
    }
    for batch in batches:
        for _ in range(rounds):
            for name, session in sessions.items():
                samples[name][batch].append(median_latency_ms(session, batch, runs=runs, warmup=1))
    return {
        name: {b: statistics.median(v) for b, v in by_batch.items()}
        for name, by_batch in samples.items()
    }


def compare(
    fp32: Path,
    int8: Path,
    pixels: np.ndarray,
    labels: np.ndarray,
    threads: int = LATENCY_THREADS,
    rounds: int = 7,
) -> Comparison:
    """Accuracy, agreement and interleaved latency of the two graphs on the same images."""
    expected, actual = onnx_predict(fp32, pixels), onnx_predict(int8, pixels)
    sessions = {
        "fp32": open_session(fp32, threads=threads),
        "int8": open_session(int8, threads=threads),
    }
    latency = interleaved_latency(sessions, rounds=rounds)
    return Comparison(
        images=len(labels),
        fp32_accuracy=top1(expected, labels),
        int8_accuracy=top1(actual, labels),
        agreement=float(np.mean(expected.argmax(-1) == actual.argmax(-1))),
        max_abs_diff=float(np.max(np.abs(expected - actual))),
        fp32_latency=latency["fp32"],
        int8_latency=latency["int8"],
        threads=threads,
        int8_calibration=calibrate(actual, labels),
    )


def top1(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(probabilities.argmax(-1) == labels))


def failed_checks(
    comparison: Comparison, max_drop: float = MAX_ACCURACY_DROP, require_faster: bool = True
) -> list[str]:
    """Why the int8 model should not ship: too much accuracy lost, or no faster than fp32 at batch
    8."""
    problems = []
    if comparison.accuracy_drop > max_drop + 1e-9:
        problems.append(
            f"top-1 drops {percent(comparison.accuracy_drop)} (fp32 "
            f"{percent(comparison.fp32_accuracy)}, int8 {percent(comparison.int8_accuracy)} on "
            f"{comparison.images} images), more than the {percent(max_drop)} allowed "
            "(--max-accuracy-drop)"
        )
    if require_faster and comparison.speedup(8) <= 1.0:
        problems.append(
            f"int8 is not faster than fp32 at batch 8: {comparison.int8_latency[8]:.2f} ms vs "
            f"{comparison.fp32_latency[8]:.2f} ms ({comparison.speedup(8):.2f}x; --allow-slower "
            "to keep it)"
        )
    return problems


def decide(
    comparison: Comparison,
    max_drop: float = MAX_ACCURACY_DROP,
    allow_slower: bool = False,
    warn_only: bool = False,
) -> list[str]:
    """The warnings to report; raises QuantizationError instead when a check fails and `warn_only`
    is off."""
    problems = failed_checks(comparison, max_drop, require_faster=not allow_slower)
    if problems and not warn_only:
        raise QuantizationError("int8 model refused: " + "; ".join(problems), comparison)
    for problem in problems:
        log.warning("int8 model kept although %s", problem)
    return problems


def int8_path(fp32: Path) -> Path:
    """Where `visord export --quantize int8` writes the int8 model: NAME.onnx -> NAME-int8.onnx
    beside it."""
    return fp32.with_name(f"{fp32.stem}-int8{fp32.suffix}")


def quantize(
    run: Path,
    fp32: Path,
    out: Path | None = None,
    *,
    config: QuantConfig = DEFAULT,
    max_drop: float = MAX_ACCURACY_DROP,
    allow_slower: bool = False,
    warn_only: bool = False,
    data: Path | None = None,
    name: str | None = None,
    calibration: np.ndarray | None = None,
    rounds: int = 7,
) -> QuantizeResult:
    """Quantizes the exported fp32 model of `run`, compares it with fp32, and writes it with its
    manifest.

    `fp32` is the file `visord.training.export.export` wrote for `run`; `out` defaults to
    `int8_path(fp32)`. Refuses (QuantizationError, nothing written) as `decide` says. `calibration`
    replaces the training images as calibration pixels (for tests and experiments).
    """
    out = out or int8_path(fp32)
    source = load_source(run)
    pixels, labels = validation_images(source, data)
    calibration = calibration_images(source, data) if calibration is None else calibration
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        quantize_file(fp32, temporary, calibration, config)
        comparison = compare(fp32, temporary, pixels, labels, rounds=rounds)
        warnings = decide(comparison, max_drop, allow_slower, warn_only)
        manifest = int8_manifest(
            source, temporary, load_manifest(fp32), comparison, name or out.stem
        )
        embed_manifest(temporary, manifest)
        manifest_of(open_session(temporary), str(out))
        temporary.replace(out)
    finally:
        temporary.unlink(missing_ok=True)
    return QuantizeResult(out, manifest, comparison, config, warnings)


def int8_manifest(
    source: Source, path: Path, fp32: Manifest, comparison: Comparison, name: str
) -> Manifest:
    """The int8 file's own manifest: its accuracy and the latency measured beside fp32; the rest as
    fp32's."""
    latency = Latency(
        batch1_ms=comparison.int8_latency[1],
        batch8_ms=comparison.int8_latency[8],
        threads=comparison.threads,
        machine=cpu_name(),
    )
    return make_manifest(
        source,
        path,
        name=name,
        version=fp32.version,
        precision="int8",
        accuracy=comparison.int8_accuracy,
        validation_samples=comparison.images,
        opset=graph_opset(path),
        latency=latency,
        calibration=comparison.int8_calibration,
    )


def graph_opset(path: Path) -> int:
    """The default-domain opset the quantized graph declares."""
    return next(o.version for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx"))
