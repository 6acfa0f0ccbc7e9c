"""`visord train`: a Keras classifier from a folder of images, by a training config and `--set`
keys.

Imports no TensorFlow until it runs: `visord train --help` works on a camera box.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from visord.commands.extra import tensorflow_missing
from visord.contract import exitcodes


def add(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "train",
        parents=[common],
        help="train a classifier from a folder of images (needs the train extra)",
        description="Train a Keras classifier from a folder with one sub-folder per class. "
        "Keys of the config file can be overridden with --set KEY=VALUE (e.g. --set "
        "optimizer.name=sgd).",
    )
    parser.add_argument(
        "--config", type=Path, help="training config YAML (e.g. config/train-dnn.yaml)"
    )
    parser.add_argument("--data", type=Path, help="override data.path")
    parser.add_argument("--architecture", help="override architecture")
    parser.add_argument("--epochs", type=int, help="override epochs")
    parser.add_argument("--batch-size", type=int, help="override batch_size")
    parser.add_argument("--learning-rate", type=float, help="override optimizer.learning_rate")
    parser.add_argument("--output", type=Path, help="override output_dir (run folders go under it)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, dotted (repeatable)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    listing = parser.add_argument_group("listing (instead of training)")
    listing.add_argument(
        "--list-architectures",
        action="store_true",
        help="list architectures with parameters and FLOPs at --input-size",
    )
    listing.add_argument("--list-losses", action="store_true", help="list the loss names")
    listing.add_argument("--list-optimizers", action="store_true", help="list the optimizer names")
    listing.add_argument(
        "--input-size", type=int, default=96, help="square input size for --list-architectures"
    )
    listing.add_argument(
        "--channels", type=int, default=3, choices=(1, 3), help="input channels for the listing"
    )
    listing.add_argument("--classes", type=int, default=4, help="number of classes for the listing")
    parser.set_defaults(handler=run_train)


def _flag_overrides(args: argparse.Namespace) -> list[str]:
    pairs = [
        ("data.path", args.data),
        ("architecture", args.architecture),
        ("epochs", args.epochs),
        ("batch_size", args.batch_size),
        ("optimizer.learning_rate", args.learning_rate),
        ("output_dir", args.output),
    ]
    return [f"{key}={value}" for key, value in pairs if value is not None]


def _list(args: argparse.Namespace) -> int:
    from visord.training import architectures
    from visord.training.objectives import LOSSES, OPTIMIZERS

    if args.list_losses:
        print("\n".join(LOSSES.names()))
    if args.list_optimizers:
        print("\n".join(OPTIMIZERS.names()))
    if args.list_architectures:
        shape = (args.input_size, args.input_size, args.channels)
        print(
            f"{'architecture':14} {'parameters':>12} {'MFLOPs':>10}  at {shape}, {args.classes} "
            "classes"
        )
        for name in architectures.list_architectures():
            info = architectures.describe(name, shape, args.classes)
            print(f"{name:14} {info.parameters:12,d} {info.flops / 1e6:10.1f}  {info.summary}")
    return 0


def run_train(args: argparse.Namespace) -> int:
    if tensorflow_missing("train"):
        return exitcodes.UNAVAILABLE
    if args.list_architectures or args.list_losses or args.list_optimizers:
        return _list(args)
    from visord.training.config import ConfigError, apply_overrides, load_config, parse_config

    overrides = _flag_overrides(args) + args.overrides
    try:
        if args.config:
            config = load_config(args.config, overrides)
        elif args.data:
            config = parse_config(apply_overrides({}, overrides), "command line")
        else:
            print("visord train: give --config FILE or at least --data FOLDER", file=sys.stderr)
            return exitcodes.USAGE
    except ConfigError as error:
        print(error, file=sys.stderr)
        return exitcodes.CONFIG
    from visord.training.train import train

    try:
        train(config, verbose=0 if args.quiet else 1)
    except (
        ValueError
    ) as error:  # DataError, unknown names, bad option values: all say what is wrong
        print(f"visord train: {error}", file=sys.stderr)
        return exitcodes.DATAERR
    return 0
