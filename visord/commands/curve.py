"""`visord curve SMALL LARGE --data FOLDER [--write]`: the cascade's operating curve of a pair."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from visord.contract import exitcodes


def add(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "curve",
        parents=[common],
        help="measure a small and a large model's cascade at every threshold",
        description="Run SMALL and LARGE on the labelled images of FOLDER (one sub-folder per "
        "class) as the daemon would, and print the cascade's escalation share, accuracy, share "
        "of LARGE's accuracy and CPU cost at each escalate_below. --write stores the curve in "
        "SMALL's manifest, so that a config may ask for escalate_below: '20% escalated' or "
        "'97% of large' (needs the train extra's onnx package).",
    )
    parser.add_argument("small", type=Path, help="the small model (.onnx)")
    parser.add_argument("large", type=Path, help="the large model (.onnx)")
    parser.add_argument("--data", type=Path, required=True, help="labelled images")
    parser.add_argument("--write", action="store_true", help="store the curve in SMALL")
    parser.set_defaults(handler=run_curve)


def run_curve(args: argparse.Namespace) -> int:
    from visord.contract.manifest import ManifestError, load_manifest
    from visord.curve_measurement import CurveError, measure, table, write_curve

    if args.write and importlib.util.find_spec("onnx") is None:
        return _fail("--write needs the onnx package: make train-extra", exitcodes.UNAVAILABLE)
    try:
        small, large = load_manifest(args.small), load_manifest(args.large)
        curve = measure(args.small, args.large, args.data)
    except (ManifestError, CurveError, OSError) as error:
        return _fail(str(error), exitcodes.DATAERR)
    print(table(curve, small, large))
    if args.write:
        write_curve(args.small, curve, small)
        print(f"wrote the curve into {args.small} (partner {curve.partner})")
    return exitcodes.OK


def _fail(message: str, status: int) -> int:
    print(f"visord curve: {message}", file=sys.stderr)
    return status
