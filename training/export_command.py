"""`visord export`: a trained run to an ONNX model the daemon can load.

Owns the sub-command's arguments and exit codes; imports TensorFlow only when
it runs (through `training.export`), like the other training commands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from training.commands import EX_DATAERR, EX_UNAVAILABLE, quiet_tensorflow, train_extra_missing


def add_export(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="convert a trained run to ONNX with its manifest (needs visord[train])",
        description="Convert a run folder (or a .keras file with labels.json beside it) to ONNX, check that the ONNX "
        "graph agrees with Keras on validation images, measure its latency, and embed the manifest the daemon reads.",
    )
    parser.add_argument("source", type=Path, help="run folder or .keras file")
    parser.add_argument("--out", type=Path, required=True, help="ONNX file to write, e.g. models/NAME.onnx")
    parser.add_argument("--name", help="model name in the manifest (default: the file's stem)")
    parser.add_argument("--version", help="model version in the manifest (default: today, YYYYMMDD)")
    parser.add_argument("--data", type=Path, help="validation images (default: the run's own validation split)")
    parser.add_argument("--tolerance", type=float, default=None,
                        help="largest |probability difference| ONNX vs Keras accepted (default 1e-4)")
    parser.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    message = train_extra_missing("export")
    if message:
        print(message, file=sys.stderr)
        return EX_UNAVAILABLE
    quiet_tensorflow()
    from training.export import FP32_TOLERANCE, export

    try:
        result = export(args.source, args.out, name=args.name, version=args.version, data=args.data,
                        tolerance=args.tolerance or FP32_TOLERANCE)
    except (ValueError, FileNotFoundError) as error:  # ExportError, DataError, ManifestError
        print(f"visord export: {error}", file=sys.stderr)
        return EX_DATAERR
    manifest, parity = result.manifest, result.parity
    print(f"wrote {result.path}: {manifest.name} {manifest.version}, {len(manifest.labels)} labels, "
          f"accuracy {manifest.training.validation_accuracy:.4f} on {manifest.training.validation_samples} images")
    print(f"parity with Keras: max |diff| {parity.max_abs_diff:.2e}, top-1 agreement {parity.top1_agreement:.2%}")
    print(f"latency ({manifest.latency.threads} threads): batch 1 {manifest.latency.batch1_ms:.2f} ms, "
          f"batch 8 {manifest.latency.batch8_ms:.2f} ms")
    return 0
