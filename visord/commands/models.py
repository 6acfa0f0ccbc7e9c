"""`visord models [DIR]`: the models a daemon would see, and whether each one can be trusted.

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
        help="list the ONNX models in a folder with their manifests",
        description="List every *.onnx file of DIR with its manifest, and whether its graph "
        "agrees with it.",
    )
    parser.add_argument(
        "dir",
        type=Path,
        nargs="?",
        default=Path("models"),
        help="folder of models (default: models)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the manifests (and errors) as JSON"
    )
    parser.set_defaults(handler=run_models)


def inspect_folder(folder: Path) -> list[tuple[Path, Manifest | ManifestError]]:
    """Each model file of `folder`, sorted, with its checked manifest or the error that refuses
    it."""
    found: list[tuple[Path, Manifest | ManifestError]] = []
    for path in sorted(folder.glob("*.onnx")):
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
    return "\n".join(lines)


def run_models(args: argparse.Namespace) -> int:
    if not args.dir.is_dir():
        print(f"visord models: {args.dir} is not a folder", file=sys.stderr)
        return exitcodes.NOINPUT
    found = inspect_folder(args.dir)
    print(as_json(found) if args.json else as_table(found))
    return 0 if all(isinstance(item, Manifest) for _, item in found) else 1
