"""`visord models [PATH ...]`: the models a daemon would see, and whether each one can be trusted.

Owns listing `*.onnx` files with their manifests (labels, input size,
precision, accuracy, export-time latency) and the verdict of
`visord.contract.manifest`'s checks: a file whose graph disagrees with its manifest,
or that has none, is listed with the reason instead of hiding it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from visord.contract import exitcodes
from visord.contract.manifest import Manifest, ManifestError, load_manifest


def add(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "models",
        parents=[common],
        help="list ONNX models (files or folders of them) with their manifests",
        description="List each .onnx file given, and every *.onnx file of each folder given, "
        "with its manifest and whether its graph agrees with it. Exit 1 when one is refused.",
    )
    parser.add_argument(
        "paths",
        type=Path,
        nargs="*",
        default=[Path("models")],
        metavar="PATH",
        help="model files or folders of models (default: models)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the manifests (and errors) as JSON"
    )
    parser.set_defaults(handler=run_models)


def inspect(paths: list[Path]) -> list[tuple[Path, Manifest | ManifestError]]:
    """Each model file given, and each of the folders given (sorted), with its checked manifest or
    the error that refuses it."""
    files = [
        p for path in paths for p in (sorted(path.glob("*.onnx")) if path.is_dir() else [path])
    ]
    found: list[tuple[Path, Manifest | ManifestError]] = []
    for path in files:
        try:
            found.append((path, load_manifest(path)))
        except ManifestError as error:
            found.append((path, error))
    return found


def as_json(found: list[tuple[Path, Manifest | ManifestError]]) -> str:
    return json.dumps(
        [
            {"file": str(path), "ok": True, "manifest": item.model_dump(mode="json")}
            if isinstance(item, Manifest)
            else {"file": str(path), "ok": False, "error": str(item)}
            for path, item in found
        ],
        indent=2,
    )


def as_table(found: list[tuple[Path, Manifest | ManifestError]]) -> str:
    lines = [
        f"{'file':28} {'name':16} {'input':>11} {'prec':>5} {'acc':>6} {'b1 ms':>7} {'b8 ms':>7}  "
        "labels / problem"
    ]
    for path, item in found:
        if isinstance(item, ManifestError):
            lines.append(f"{path.name:28} REFUSED: {item}")
            continue
        height, width = item.input.height_width
        lines.append(
            f"{path.name:28} {item.name:16} {f'{height}x{width}x{item.input.channels}':>11} "
            f"{item.precision:>5} "
            f"{item.training.validation_accuracy:6.3f} {item.latency.batch1_ms:7.2f} "
            f"{item.latency.batch8_ms:7.2f}  " + ", ".join(item.labels)
        )
        if (curve := item.cascade_curve) is not None:  # what escalate_below targets resolve by
            lines.append(
                f"{'':28} cascade curve with {curve.partner}: small {curve.small_accuracy:.3f}, "
                f"large {curve.large_accuracy:.3f} on {curve.images} images of {curve.dataset}"
            )
    return "\n".join(lines)


def run_models(args: argparse.Namespace) -> int:
    missing = [path for path in args.paths if not path.exists()]
    if missing:
        print(
            f"visord models: {', '.join(map(str, missing))}: no such file or folder",
            file=sys.stderr,
        )
        return exitcodes.NOINPUT
    found = inspect(args.paths)
    print(as_json(found) if args.json else as_table(found))
    return 0 if all(isinstance(item, Manifest) for _, item in found) else 1
