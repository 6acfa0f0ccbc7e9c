"""Training quality: each architecture on the demo scenes, and `dnn` on scikit-learn's digits.

Trains every shipped training config (config/train-{dnn,mobilenet,squeezenet,transfer}.yaml;
transfer with `weights: null`, as no pretrained file may be downloaded here) on
one freshly generated demo dataset, evaluates each on its validation split and
on the hard split, and prints a table with each model's accuracy and training
time against the `dnn` baseline of the same run. Then times `dnn` on digits.

    python -m bench.train_quality [--per-class 1500] [--epochs N] [--only dnn squeezenet]
                                  [--data DIR] [--out bench/out]

Results go to stdout and OUT/train_quality.json. This is a benchmark, not a
test: nothing here fails on a time.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import bench.quiet_tensorflow  # noqa: F401  (first: TensorFlow without its banner)
from visord import scenes
from visord.training.config import load_config
from visord.training.digits import write_digits_folder
from visord.training.evaluate import evaluate
from visord.training.train import train

CONFIGS = Path(__file__).resolve().parent.parent / "config"
ARCHITECTURES = ("dnn", "mobilenet", "squeezenet", "transfer")


def train_one(name: str, data: Path, out: Path, epochs: int | None) -> dict:
    overrides = [f"data.path={data / 'train'}", f"output_dir={out / 'runs'}"]
    if name == "transfer":
        overrides += ["architecture_options.weights=null", "fine_tune.layers=0"]
    if epochs:
        overrides.append(f"epochs={epochs}")
    config = load_config(CONFIGS / f"train-{name}.yaml", overrides)
    started = time.perf_counter()
    result = train(config, verbose=2)
    seconds = time.perf_counter() - started
    hard = evaluate(result.folder, data / "hard")
    return {
        "architecture": name,
        "parameters": result.model.count_params(),
        "epochs_run": len(result.history["loss"]),
        "train_seconds": seconds,
        "val_accuracy": result.report["accuracy"],
        "hard_accuracy": hard["accuracy"],
        "run": str(result.folder),
    }


def digits(out: Path) -> dict:
    data = write_digits_folder(out / "digits")
    config = load_config(
        CONFIGS / "train-digits.yaml", [f"data.path={data}", f"output_dir={out / 'runs'}"]
    )
    started = time.perf_counter()
    result = train(config, verbose=0)
    return {
        "val_accuracy": result.report["accuracy"],
        "train_seconds": time.perf_counter() - started,
    }


def print_table(rows: list[dict]) -> None:
    base = rows[0]
    print(
        f"\n{'architecture':12} {'params':>10} {'epochs':>6} {'train s':>8} {'x dnn':>6} "
        f"{'val acc':>8} {'hard acc':>9} {'hard - dnn':>10}"
    )
    for row in rows:
        print(
            f"{row['architecture']:12} {row['parameters']:10,d} {row['epochs_run']:6d} "
            f"{row['train_seconds']:8.0f} "
            f"{row['train_seconds'] / base['train_seconds']:6.1f} {row['val_accuracy']:8.3f} "
            f"{row['hard_accuracy']:9.3f} "
            f"{row['hard_accuracy'] - base['hard_accuracy']:+10.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=1500)
    parser.add_argument("--epochs", type=int, default=None, help="override every config's epochs")
    parser.add_argument("--only", nargs="*", default=list(ARCHITECTURES), choices=ARCHITECTURES)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument(
        "--data", type=Path, default=None, help="an existing demo dataset (default: OUT/demo)"
    )
    args = parser.parse_args()
    data = args.data or args.out / "demo"
    if not (data / "dataset.json").exists():
        scenes.write_dataset(data, args.per_class, (96, 96), seed=0, hard_per_class=200)
    rows = [train_one(name, data, args.out, args.epochs) for name in args.only]
    print_table(rows)
    digit = digits(args.out)
    print(
        f"\ndnn on digits (32x32 grey, 1,797 images): val accuracy {digit['val_accuracy']:.4f} "
        f"in {digit['train_seconds']:.0f} s on {os.cpu_count()} cores"
    )
    (args.out / "train_quality.json").write_text(
        json.dumps({"demo": rows, "digits": digit}, indent=2)
    )


if __name__ == "__main__":
    main()
