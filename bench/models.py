"""Per-model inference speed: Keras `model.predict` vs a direct Keras call vs onnxruntime, and how
close to the CPU's peak.

For every shipped model in models/ (fp32 and, where there is one, its int8
copy), in one process, on the same 96x96 frames:

- Keras `model.predict` on one frame (the classic recipes' way), a direct
  Keras call `model(x, training=False)` on one frame, onnxruntime at batch 1
  and at batch 8 (2 intra-op threads, ORT_ENABLE_ALL, as the daemon runs it);
  frames per second and the ratio of each to `model.predict`;
- FLOPs per frame (from the manifest) over the measured time against the CPU's
  fp32 peak: cores x clock x fp32 lanes of the FMA datapath x FMA units x 2,
  from /proc/cpuinfo: AVX-512 on Intel and on AMD Zen 5 (family 26) 16
  lanes; Zen 4 (whose AVX-512 runs on 256-bit halves) and AVX2 8 lanes; 2 FMA
  units per core and every vCPU a core (assumptions the output states);
  int8 rows against 4x that with VNNI (vpdpbusd: four byte products per
  32-bit lane; 2x without). A virtual machine reports its nominal clock, so a
  measured float32 matrix product (NumPy's BLAS, same cores) is printed beside
  it as the ceiling reached in practice;
- accuracy: the manifest's validation accuracy and, with --data, top-1 on the
  demo hard split.

The Keras model is the run's own when `--runs` holds the run folder that made
it (scripts/make_models.py writes runs/models/); otherwise it is rebuilt from
config/models/NAME.yaml with fresh weights (speed does not depend on the
weights), and its parameter count must equal the manifest's.

    python -m bench.models [--models models] [--data data/demo] [--runs runs/models]
                           [--out bench/out]

A benchmark, not a test: it prints a table and ratios and fails on nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from visord.contract.latency import cpu_name, median_latency_ms, median_seconds
from visord.contract.manifest import Manifest, load_manifest, open_session

ROOT = Path(__file__).resolve().parent.parent
THREADS = 2
FMA_UNITS = (
    2  # per core: two FMA pipes on server Xeons (Skylake-SP and later) and on AMD Zen 2 to 5
)
ZEN5_FAMILY = 26  # AMD's first family with a full 512-bit FMA datapath


def sgemm_gflops(size: int = 2048, runs: int = 5) -> float:
    """GFLOP/s of a float32 matrix product on this box (NumPy's BLAS): the fp32 ceiling reached in
    practice."""
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    return 2 * size**3 / median_seconds(lambda: a @ a, runs, warmup=1) / 1e9


def int8_factor() -> int:
    """How many int8 multiply-adds the CPU does per fp32 one: 4 with VNNI, 2 without."""
    flags = next(
        (
            line
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("flags")
        ),
        "",
    )
    return 4 if " avx512_vnni" in flags or " avx_vnni" in flags else 2


def cpu_peak_gflops(cores: int = THREADS) -> tuple[float, str]:
    """fp32 peak of `cores` cores, and how it was computed."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    flags = next((line for line in info.splitlines() if line.startswith("flags")), "")
    mhz = [float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz")]
    clock = (max(mhz) if mhz else 2000.0) / 1000.0
    family = next(
        (int(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu family")), 0
    )
    half_width = "AuthenticAMD" in info and family < ZEN5_FAMILY
    lanes = 16 if " avx512f" in flags and not half_width else 8 if " avx2" in flags else 4
    peak = cores * clock * lanes * FMA_UNITS * 2
    return (
        peak,
        f"{cores} cores x {clock:.2f} GHz x {lanes} fp32 lanes x {FMA_UNITS} FMA units x 2 = "
        f"{peak:.0f} GFLOP/s",
    )


def keras_model(name: str, manifest: Manifest, runs: Path | None):
    """The model's Keras original (its run folder) or the same architecture rebuilt; and where it
    came from."""
    from visord.training import import_tensorflow

    import_tensorflow()  # without its start-up banner, before the imports below load it
    from visord.training.architectures import create_model
    from visord.training.config import load_config
    from visord.training.export import load_source

    if runs is not None:
        folders = sorted(runs.glob(f"{name}-*"))
        if folders:
            return load_source(folders[-1]).model, f"run {folders[-1].name}"
    config = load_config(ROOT / "config" / "models" / f"{name}.yaml")
    model = create_model(
        config.architecture,
        tuple(manifest.input.shape[1:]),
        len(manifest.labels),
        **config.architecture_options,
    )
    if model.count_params() != manifest.parameters:
        raise SystemExit(
            f"{name}: rebuilt model has {model.count_params():,d} parameters, the manifest "
            f"{manifest.parameters:,d}: config/models/{name}.yaml no longer matches the shipped "
            "file"
        )
    return model, "rebuilt from config (fresh weights)"


def hard_accuracy(session: ort.InferenceSession, manifest: Manifest, hard: Path) -> float:
    import cv2

    from visord.daemon.inference.preprocess import prepare

    correct = total = 0
    for index, label in enumerate(manifest.labels):
        for path in sorted((hard / label).glob("*.png")):
            tensor = prepare(cv2.imread(str(path)), manifest)[None]
            probabilities = session.run(None, {manifest.input.name: tensor})[0]
            correct += int(np.argmax(probabilities) == index)
            total += 1
    return correct / total if total else float("nan")


def measure(path: Path, runs: Path | None, hard: Path | None, repeats: int) -> dict:
    manifest = load_manifest(path)
    session = open_session(path, threads=THREADS)
    row = {
        "file": path.name,
        "precision": manifest.precision,
        "parameters": manifest.parameters,
        "mflops": manifest.flops / 1e6,
        "val_accuracy": manifest.training.validation_accuracy,
        "ort_b1_ms": median_latency_ms(session, 1, runs=repeats),
        "ort_b8_ms": median_latency_ms(session, 8, runs=repeats) / 8,
    }
    if hard is not None:
        row["hard_accuracy"] = hard_accuracy(session, manifest, hard)
    if manifest.precision == "fp32":
        model, row["keras_source"] = keras_model(manifest.name, manifest, runs)
        frame = (
            np.random.default_rng(0)
            .uniform(0, 255, (1, *manifest.input.shape[1:]))
            .astype(np.float32)
        )
        row["keras_predict_ms"] = 1000 * median_seconds(
            lambda: model.predict(frame, verbose=0), max(repeats // 2, 5)
        )
        row["keras_call_ms"] = 1000 * median_seconds(lambda: model(frame, training=False), repeats)
    return row


def row_peak(row: dict, peak: float, factor: int) -> float:
    return peak * factor if row["precision"] == "int8" else peak


def print_table(rows: list[dict], peak: float, factor: int) -> None:
    print(
        f"\n{'file':24} {'prec':5} {'params':>10} {'MFLOP':>7} {'val':>6} {'hard':>6} {'path':16} "
        f"{'ms/frame':>9} "
        f"{'frames/s':>9} {'x predict':>9} {'% peak':>7}"
    )
    baseline = {row["file"].replace("-int8", ""): row.get("keras_predict_ms") for row in rows}
    for row in rows:
        paths = [
            ("keras predict", row.get("keras_predict_ms")),
            ("keras call", row.get("keras_call_ms")),
            ("onnxruntime b1", row["ort_b1_ms"]),
            ("onnxruntime b8", row["ort_b8_ms"]),
        ]
        predict = baseline.get(row["file"].replace("-int8", ""))
        for index, (name, ms) in enumerate(path for path in paths if path[1] is not None):
            head = (
                (
                    f"{row['file']:24} {row['precision']:5} {row['parameters']:10,d} "
                    f"{row['mflops']:7.1f} "
                    f"{row['val_accuracy']:6.3f} {row.get('hard_accuracy', float('nan')):6.3f}"
                )
                if index == 0
                else " " * 64
            )
            gflops = row["mflops"] / ms  # MFLOP per ms = GFLOP/s
            print(
                f"{head} {name:16} {ms:9.2f} {1000 / ms:9.1f} "
                f"{predict / ms if predict else float('nan'):9.1f} "
                f"{100 * gflops / row_peak(row, peak, factor):6.1f}%"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--data", type=Path, default=None, help="a demo dataset with a hard/ split")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "models")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    ort.set_default_logger_severity(3)
    peak, how = cpu_peak_gflops()
    factor = int8_factor()
    sgemm = sgemm_gflops()
    runs = args.runs if args.runs.is_dir() else None
    hard = args.data / "hard" if args.data else None
    rows = [measure(path, runs, hard, args.repeats) for path in sorted(args.models.glob("*.onnx"))]
    print(
        f"{cpu_name()}, onnxruntime {ort.__version__}, {THREADS} threads; peak: {how} (FMA units "
        "and one core per vCPU "
        f"assumed), int8 {factor}x that; a float32 matrix product reaches {sgemm:.0f} GFLOP/s here"
    )
    print_table(rows, peak, factor)
    for row in rows:
        if "keras_source" in row:
            print(f"{row['file']}: Keras model {row['keras_source']}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "models.json").write_text(
        json.dumps(
            {
                "peak_gflops": peak,
                "peak": how,
                "int8_factor": factor,
                "sgemm_gflops": sgemm,
                "rows": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
