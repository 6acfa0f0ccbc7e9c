"""`visord evaluate MODEL DATA`: a trained model's accuracy, per-class figures and confusion
matrix."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from visord.commands.train_extra import load_tensorflow, tensorflow_missing
from visord.contract import exitcodes


def add(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        parents=[common],
        help="report a trained model's accuracy on a folder of images (needs the train extra)",
        description="Print accuracy, per-class precision/recall/F1 and the confusion matrix of a "
        "model, with classical baselines (logistic regression, RBF SVMs; scikit-learn) fitted on "
        "the run's own training split and scored on the same images beside it.",
    )
    parser.add_argument("model", type=Path, help="a run folder or a .keras file")
    parser.add_argument("data", type=Path, help="folder with one sub-folder per class")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--no-baselines",
        dest="baselines",
        action="store_false",
        help="skip the classical baselines (fitted on the run's training split and scored on "
        "DATA beside the model; seconds)",
    )
    parser.set_defaults(handler=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    if tensorflow_missing("evaluate"):
        return exitcodes.UNAVAILABLE
    load_tensorflow()
    from visord.training.evaluate import evaluate
    from visord.training.report import format_report

    try:
        report = evaluate(args.model, args.data, args.batch_size, args.baselines)
    except (ValueError, FileNotFoundError) as error:
        print(f"visord evaluate: {error}", file=sys.stderr)
        return exitcodes.DATAERR
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
