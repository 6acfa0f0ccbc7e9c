"""`visord export`: a trained run to an ONNX model the daemon can load.

Owns the sub-command's arguments and exit codes; imports TensorFlow only when
it runs (through `visord.training.export`), like the other training commands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from visord.commands.train_extra import load_tensorflow, tensorflow_missing
from visord.contract import exitcodes


def add(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "export",
        parents=[common],
        help="convert a trained run to ONNX with its manifest (needs the train extra)",
        description="Convert a run folder (or a .keras file with labels.json beside it) to ONNX, "
        "check that the ONNX "
        "graph agrees with Keras on validation images, measure its latency, and embed the "
        "manifest the daemon reads.",
    )
    parser.add_argument("source", type=Path, help="run folder or .keras file")
    parser.add_argument(
        "--out", type=Path, required=True, help="ONNX file to write, e.g. models/NAME.onnx (fp32)"
    )
    parser.add_argument("--name", help="model name in the manifest (default: the file's stem)")
    parser.add_argument(
        "--version", help="model version in the manifest (default: today, YYYYMMDD)"
    )
    parser.add_argument(
        "--data", type=Path, help="validation images (default: the run's own validation split)"
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help="largest |probability difference| ONNX vs Keras accepted (default 1e-4)",
    )
    add_quantize_options(parser)
    parser.set_defaults(handler=run_export)


def add_quantize_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "int8",
        "--quantize int8 also writes a statically quantized copy (calibrated on the run's "
        "training images), "
        "compared with the fp32 file on the same validation images; it is refused (not written, "
        "exit 65) when top-1 "
        "drops by more than --max-accuracy-drop or when it is not faster than fp32 at batch 8",
    )
    group.add_argument("--quantize", choices=["int8"], help="also write an int8 model")
    group.add_argument(
        "--int8-out", type=Path, help="int8 file to write (default: NAME-int8.onnx beside --out)"
    )
    group.add_argument(
        "--int8-recipe",
        default=None,
        metavar="NAME",
        help="quantization recipe (default: the one measured fastest here, see "
        "visord/training/quantize.py; "
        "bench/quantize_configs.py compares them all)",
    )
    group.add_argument(
        "--max-accuracy-drop",
        type=_fraction,
        default=0.01,
        metavar="FRACTION",
        help="largest top-1 loss int8 may have against fp32, as a fraction (default 0.01: one "
        "point)",
    )
    group.add_argument(
        "--allow-slower",
        action="store_true",
        help="keep an int8 model that is not faster than fp32 (warn instead of refusing)",
    )
    group.add_argument(
        "--warn-only",
        action="store_true",
        help="keep the int8 model whatever the checks say, and print what failed as warnings",
    )


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(
            f"must be a fraction from 0 to 1 (0.01 is one point of top-1), got {text}"
        )
    return value


def run_export(args: argparse.Namespace) -> int:
    if tensorflow_missing("export"):
        return exitcodes.UNAVAILABLE
    load_tensorflow()
    from visord.training.export import FP32_TOLERANCE, export

    if args.quantize and unknown_recipe(args.int8_recipe):
        return exitcodes.USAGE
    try:
        result = export(
            args.source,
            args.out,
            name=args.name,
            version=args.version,
            data=args.data,
            tolerance=args.tolerance or FP32_TOLERANCE,
        )
    except (ValueError, FileNotFoundError) as error:  # ExportError, DataError, ManifestError
        print(f"visord export: {error}", file=sys.stderr)
        return exitcodes.DATAERR
    from visord.training.report import percent

    manifest, parity = result.manifest, result.parity
    print(
        f"wrote {result.path}: {manifest.name} {manifest.version}, {len(manifest.labels)} labels, "
        f"accuracy {manifest.training.validation_accuracy:.4f} on "
        f"{manifest.training.validation_samples} images"
    )
    print(
        f"parity with Keras: max |diff| {parity.max_abs_diff:.2e}, top-1 agreement "
        f"{percent(parity.top1_agreement)}"
    )
    calibration = manifest.output.calibration
    if calibration is not None:
        print(
            f"calibration: temperature {calibration.temperature:.3g}, expected calibration error "
            f"{calibration.ece_before:.3f} -> {calibration.ece_after:.3f} on "
            f"{calibration.images} images"
        )
    print(
        f"latency ({manifest.latency.threads} threads): batch 1 {manifest.latency.batch1_ms:.2f} "
        f"ms, batch 8 {manifest.latency.batch8_ms:.2f} ms"
    )
    return run_quantize(args) if args.quantize else 0


def unknown_recipe(name: str | None) -> bool:
    """True (and says so) when --int8-recipe names no recipe: checked before the fp32 export
    starts."""
    from visord.training.quantize import RECIPES

    if name is None or name in RECIPES:
        return False
    print(
        f"visord export: unknown --int8-recipe '{name}'; known: {', '.join(RECIPES)}",
        file=sys.stderr,
    )
    return True


def run_quantize(args: argparse.Namespace) -> int:
    """The int8 half of `visord export --quantize int8`, once the fp32 file is written."""
    from visord.training.quantize import DEFAULT, RECIPES, QuantizationError, quantize

    try:
        result = quantize(
            args.source,
            args.out,
            args.int8_out,
            config=RECIPES[args.int8_recipe or DEFAULT.name],
            max_drop=args.max_accuracy_drop,
            allow_slower=args.allow_slower,
            warn_only=args.warn_only,
            data=args.data,
            name=f"{args.name}-int8" if args.name else None,
        )
    except QuantizationError as error:
        if error.comparison is not None:
            print(error.comparison.table())
        print(f"visord export: {error} (the fp32 model {args.out} is written)", file=sys.stderr)
        return exitcodes.DATAERR
    except (ValueError, FileNotFoundError) as error:
        print(
            f"visord export: int8: {error} (the fp32 model {args.out} is written)", file=sys.stderr
        )
        return exitcodes.DATAERR
    print(f"wrote {result.path}: {result.manifest.name}, int8 ({result.config.describe()})")
    print(result.comparison.table())
    for warning in result.warnings:
        print(f"visord export: warning: int8 kept although {warning}", file=sys.stderr)
    return 0
