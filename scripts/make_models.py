"""Regenerates the shipped demo models: `make models`.

Writes the demo dataset (data/demo, unless it is there already), trains
config/models/demo-{small,large}.yaml side by side, one process each (on 2
cores: 19 min 17 s for all of make models, against 22 min with one training
after the other), then, one at a time so that the
latencies measured are the model's own, exports each to models/NAME.onnx with
its manifest (the data set recorded by name and fingerprint) and tries an
int8 copy of each (INT8_RECIPES in order), kept only when it holds accuracy
and is faster (visord.training.quantize decides). Prints a table of what it
made, including each model's accuracy on the hard split.

    python scripts/make_models.py [--data data/demo] [--per-class 1500] [--out models]
                                  [--only demo-large]
                                  [--run demo-large=runs/models/demo-large-...]  (export a run)
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from visord.training import import_tensorflow

import_tensorflow()  # before anything else loads it, here and in each spawned training process

from visord import scenes  # noqa: E402
from visord.contract.manifest import load_manifest  # noqa: E402
from visord.training.config import load_config  # noqa: E402
from visord.training.evaluate import evaluate  # noqa: E402
from visord.training.export import export  # noqa: E402
from visord.training.quantize import RECIPES, QuantizationError, quantize  # noqa: E402
from visord.training.train import train  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("demo-small", "demo-large")
# int8 recipes tried in order until one holds accuracy and is faster: the default (MinMax
# calibration), then percentile calibration, which clips the rare extreme activations MinMax
# stretches its scales to.
INT8_RECIPES = ("qdq-u8s8-pc-chain", "qdq-u8s8-pc-chain-percentile")


def train_model(config: Path, data: Path) -> tuple[Path, float]:
    """Trains the recipe at `config` on the image folder `data`; its run folder and the seconds
    it took."""
    started = time.perf_counter()
    run = train(load_config(config, [f"data.path={data}"]), verbose=2).folder
    return run, time.perf_counter() - started


def train_side_by_side(jobs: dict[str, tuple[Path, Path]]) -> dict[str, tuple[Path, float]]:
    """`train_model(config, data)` for each name's job, each in its own process, all at once."""
    if len(jobs) < 2:
        return {name: train_model(*job) for name, job in jobs.items()}
    with ProcessPoolExecutor(len(jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {name: pool.submit(train_model, *job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def make_model(name: str, data: Path, out: Path, run: Path, seconds: float | None) -> dict:
    """Exports `run` (a run folder of config/models/NAME.yaml) to fp32, tries int8."""
    fp32 = export(run, out / f"{name}.onnx", name=name).path
    row = {
        "name": name,
        "run": str(run),
        "train_seconds": seconds,
        "fp32": fp32,
        "hard_accuracy": evaluate(run, data / "hard")["accuracy"],
    }
    for recipe in INT8_RECIPES:
        try:
            row["int8"] = quantize(run, fp32, config=RECIPES[recipe]).path
            print(f"{name}: int8 kept ({recipe})")
            break
        except QuantizationError as error:
            print(f"{name}: int8 with {recipe} not kept: {error}")
    return row


def print_table(rows: list[dict]) -> None:
    print(
        f"\n{'file':24} {'params':>10} {'MFLOPs':>8} {'val acc':>8} {'hard acc':>9} {'b1 ms':>7} "
        f"{'b8 ms':>7} {'train s':>8}"
    )
    for row in rows:
        for key in ("fp32", "int8"):
            if key in row:
                manifest = load_manifest(row[key])
                print(
                    f"{row[key].name:24} {manifest.parameters:10,d} {manifest.flops / 1e6:8.1f} "
                    f"{manifest.training.validation_accuracy:8.3f} "
                    f"{row['hard_accuracy'] if key == 'fp32' else float('nan'):9.3f} "
                    f"{manifest.latency.batch1_ms:7.2f} {manifest.latency.batch8_ms:7.2f} "
                    f"{'-' if row['train_seconds'] is None else round(row['train_seconds']):>8}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "demo")
    parser.add_argument("--per-class", type=int, default=1500)
    parser.add_argument("--out", type=Path, default=ROOT / "models")
    parser.add_argument("--only", nargs="*", default=list(MODELS), choices=MODELS)
    parser.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="NAME=RUN_DIR",
        help="export this run folder of config/models/NAME.yaml instead of training it",
    )
    args = parser.parse_args()
    runs = dict(item.split("=", 1) for item in args.run)
    if unknown := set(runs) - set(MODELS):
        parser.error(
            f"--run names {', '.join(sorted(unknown))}; the models are {', '.join(MODELS)}"
        )
    if not (args.data / "dataset.json").exists():
        scenes.write_dataset(args.data, args.per_class, (96, 96), seed=0, hard_per_class=200)
    trained = train_side_by_side(
        {
            name: (ROOT / "config" / "models" / f"{name}.yaml", args.data / "train")
            for name in args.only
            if name not in runs
        }
    )
    done = {**{name: (Path(folder), None) for name, folder in runs.items()}, **trained}
    print_table([make_model(name, args.data, args.out, *done[name]) for name in args.only])


if __name__ == "__main__":
    main()
