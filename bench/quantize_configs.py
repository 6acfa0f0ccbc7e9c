"""Which int8 recipe is faster than fp32 on this CPU: onnxruntime static quantization configurations
side by side.

For two models at 96x96, a MobileNetV2 (`transfer`, alpha 1.0, the large model's graph) and the
small `mobilenet` (alpha 0.5), trains a tiny run on generated quadrant images (seconds; easy
classes, so the accuracy columns bound the quantization error rather than measure a hard task) or
takes the runs given with --run, exports fp32, quantizes it with every configuration in CONFIGS
(calibrated on the run's training images), and times every graph interleaved in one process (2
intra-op threads, medians of rounds in which each graph takes its turn), at the daemon's graph
optimisation level (ORT_ENABLE_ALL) unless a row says otherwise. Prints, per model: config, batch-1
ms, batch-8 ms, speed-up over fp32 of the same run (median over --repeats, with the spread), top-1
agreement with fp32, max |probability difference|, top-1 accuracy.

    python -m bench.quantize_configs [--repeats 2] [--rounds 5] [--out bench/out]
    python -m bench.quantize_configs --run transfer=runs/transfer-2026... \
                                     --run mobilenet=runs/mobilenet-2026...

Results go to stdout and OUT/quantize_configs.json. A benchmark, not a test: nothing fails on a
time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

import bench.quiet_tensorflow  # noqa: F401  (first: TensorFlow without its banner)
from visord.contract.latency import cpu_name
from visord.training.export import (
    LATENCY_THREADS,
    export,
    load_source,
    onnx_predict,
    validation_images,
)
from visord.training.quantize import (
    DEFAULT,
    RECIPES,
    QuantConfig,
    calibration_images,
    interleaved_latency,
    quantize_file,
    top1,
)

ort.set_default_logger_severity(3)
CONFIGS: tuple[QuantConfig, ...] = tuple(RECIPES.values())
# Rows timed at another session graph optimisation level than the daemon's (ORT_ENABLE_ALL).
LEVELS = {
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
}
LEVEL_ROWS = (
    ("fp32", "basic"),
    (DEFAULT.name, "basic"),
    (DEFAULT.name, "extended"),
    ("qop-u8s8-pc-chain", "basic"),
)
QUADRANTS = {"bottom_left": (1, 0), "bottom_right": (1, 1), "top_left": (0, 0), "top_right": (0, 1)}
MODELS = {
    "transfer": {
        "alpha": 1.0,
        "weights": None,
        "dense_units": 1024,
    },  # MobileNetV2 backbone, the large model
    "mobilenet": {"alpha": 0.5},  # the small model
}


def write_quadrants(root: Path, per_class: int, size: int = 96, seed: int = 0) -> Path:
    """Noisy images whose bright square sits in the quadrant the class names (as tests/conftest.py
    draws them)."""
    import cv2

    rng = np.random.default_rng(seed)
    half = size // 2
    for name, (row, col) in QUADRANTS.items():
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            image = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
            image[row * half + 2 : (row + 1) * half - 2, col * half + 2 : (col + 1) * half - 2] = (
                rng.integers(180, 255, 3)
            )
            cv2.imwrite(str(root / name / f"{index:03d}.png"), image)
    return root


def train_run(name: str, data: Path, out: Path, epochs: int) -> Path:
    """A tiny run of `name` at 96x96 on the quadrant images (no augmentation: a flip would swap the
    labels)."""
    from visord.training.config import parse_config
    from visord.training.train import train

    config = parse_config(
        {
            "name": name,
            "architecture": name,
            "architecture_options": MODELS[name],
            "epochs": epochs,
            "batch_size": 16,
            "output_dir": str(out),
            "data": {"path": str(data), "image_size": [96, 96], "validation_split": 0.25},
        }
    )
    return train(config, verbose=0).folder


def session_for(path: Path, level: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = LATENCY_THREADS
    options.inter_op_num_threads = 1
    options.graph_optimization_level = LEVELS.get(level, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def quantize_all(run: Path, fp32: Path, folder: Path) -> tuple[dict[str, Path], dict[str, dict]]:
    """Every config's int8 file, and its fidelity against fp32 on the run's validation images."""
    source = load_source(run)
    pixels, labels = validation_images(source)
    calibration = calibration_images(source)
    reference = onnx_predict(fp32, pixels)
    files = {"fp32": fp32}
    quality = {"fp32": fidelity(reference, reference, labels, 0.0)}
    for config in CONFIGS:
        path = folder / f"{config.name}.onnx"
        started = time.perf_counter()
        quantize_file(fp32, path, calibration, config)
        files[config.name] = path
        quality[config.name] = fidelity(
            reference, onnx_predict(path, pixels), labels, time.perf_counter() - started
        )
    return files, quality


def fidelity(reference: np.ndarray, actual: np.ndarray, labels: np.ndarray, seconds: float) -> dict:
    return {
        "agreement": float(np.mean(reference.argmax(-1) == actual.argmax(-1))),
        "max_abs_diff": float(np.max(np.abs(reference - actual))),
        "accuracy": top1(actual, labels),
        "images": len(labels),
        "quantize_seconds": round(seconds, 1),
    }


def time_all(
    files: dict[str, Path], rounds: int, repeats: int
) -> dict[str, list[dict[int, float]]]:
    """Per row (config, or config@level), one {batch: ms} per repeat; all rows interleaved in every
    repeat."""
    rows = {name: (path, "all") for name, path in files.items()}
    rows.update({f"{name}@{level}": (files[name], level) for name, level in LEVEL_ROWS})
    sessions = {row: session_for(path, level) for row, (path, level) in rows.items()}
    passes = [interleaved_latency(sessions, rounds=rounds) for _ in range(repeats)]
    return {row: [timing[row] for timing in passes] for row in sessions}


def summarise(timings: dict[str, list[dict[int, float]]], quality: dict[str, dict]) -> list[dict]:
    """One table row per timed graph: median ms, and the speed-up over fp32 of the same repeat
    (median, range)."""
    rows = []
    for row, repeats in timings.items():
        entry = {"config": row, **quality[row.split("@")[0]]}
        for batch in (1, 8):
            speedups = [fp32[batch] / mine[batch] for fp32, mine in zip(timings["fp32"], repeats)]
            entry[f"batch{batch}_ms"] = statistics.median(r[batch] for r in repeats)
            entry[f"speedup{batch}"] = statistics.median(speedups)
            entry[f"speedup{batch}_range"] = (min(speedups), max(speedups))
        rows.append(entry)
    return rows


def print_table(model: str, rows: list[dict]) -> None:
    print(
        f"\n{model}: {rows[0]['images']} validation images, {LATENCY_THREADS} threads, "
        f"{cpu_name()}; "
        f"* = visord.training.quantize.DEFAULT; x = speed-up over fp32 (median of repeats, min-max)"
    )
    print(
        f"{'config':34} {'b1 ms':>7} {'b8 ms':>7} {'b1 x (range)':>16} {'b8 x (range)':>16} "
        f"{'agree':>7} {'max|dp|':>8} {'top-1':>7}"
    )
    for r in rows:
        spread = {b: "{:.2f}-{:.2f}".format(*r[f"speedup{b}_range"]) for b in (1, 8)}
        label = f"{r['config']} *" if r["config"] == DEFAULT.name else r["config"]
        print(
            f"{label:34} {r['batch1_ms']:7.2f} {r['batch8_ms']:7.2f} {r['speedup1']:5.2f}x "
            f"{spread[1]:>9}"
            f" {r['speedup8']:5.2f}x {spread[8]:>9} {r['agreement']:7.1%} "
            f"{r['max_abs_diff']:8.3f} {r['accuracy']:7.1%}"
        )


def bench_model(model: str, run: Path, folder: Path, rounds: int, repeats: int) -> dict:
    fp32 = export(run, folder / "fp32.onnx").path
    files, quality = quantize_all(run, fp32, folder)
    rows = summarise(time_all(files, rounds, repeats), quality)
    print_table(model, rows)
    return {"run": str(run), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="MODEL=RUN_DIR",
        help="use this trained run for MODEL (transfer or mobilenet) instead of a tiny one",
    )
    parser.add_argument(
        "--per-class", type=int, default=80, help="quadrant images per class for the tiny runs"
    )
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved timing rounds per repeat"
    )
    parser.add_argument(
        "--repeats", type=int, default=2, help="timing passes (the speed-up range is their spread)"
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out")
    args = parser.parse_args()
    given = dict(item.split("=", 1) for item in args.run)
    results = {
        "machine": cpu_name(),
        "threads": LATENCY_THREADS,
        "configs": {c.name: c.describe() for c in CONFIGS},
        "default": DEFAULT.name,
        "models": {},
    }
    with tempfile.TemporaryDirectory(prefix="visord-quantize-bench-") as scratch:
        scratch = Path(scratch)
        data = None
        for model in MODELS:
            if model in given:
                run = Path(given[model])
            else:
                data = data or write_quadrants(scratch / "quadrants", args.per_class)
                run = train_run(model, data, scratch / "runs", args.epochs)
            (scratch / model).mkdir()
            results["models"][model] = bench_model(
                model, run, scratch / model, args.rounds, args.repeats
            )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quantize_configs.json").write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.out / 'quantize_configs.json'}")


if __name__ == "__main__":
    main()
