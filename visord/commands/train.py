"""`visord train`: a Keras classifier from a folder of images, by a training config and `--set`
keys, or the best of a time-boxed search around that config (`--search DURATION`).

Imports no TensorFlow until it runs: `visord train --help` works on a camera box.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from visord.commands.progress import keras_verbosity
from visord.commands.train_extra import load_tensorflow, tensorflow_missing
from visord.contract import exitcodes

MISSING = "Field required"  # pydantic's message for a required key that is absent
# The flags that stand for config keys: (flag, argparse attribute, dotted key).
FLAGS = (
    ("--data", "data", "data.path"),
    ("--architecture", "architecture", "architecture"),
    ("--epochs", "epochs", "epochs"),
    ("--steps", "steps", "steps"),
    ("--minutes", "minutes", "minutes"),
    ("--batch-size", "batch_size", "batch_size"),
    ("--learning-rate", "learning_rate", "optimizer.learning_rate"),
    ("--output", "output", "output_dir"),
)
# `--search`'s value: a number with s, m or h, or a bare number of minutes.
DURATION = re.compile(r"(\d+(?:\.\d*)?)\s*([smh]?)")
UNIT_SECONDS = {"s": 1.0, "m": 60.0, "": 60.0, "h": 3600.0}
SHORTEST_SEARCH = 60.0  # seconds: less leaves no time for a trial besides the final run


def add(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "train",
        parents=[common],
        help="train a classifier from a folder of images (needs the train extra)",
        description="Train a Keras classifier from a folder with one sub-folder per class, by a "
        "config file (--config) or, with --data alone, by a recipe picked for the folder (its "
        "image size, colour, counts; --preset small|large) and printed. Keys can be overridden "
        "with --set KEY=VALUE (e.g. --set optimizer.name=sgd).",
    )
    parser.add_argument(
        "--config", type=Path, help="training config YAML (e.g. config/train-dnn.yaml)"
    )
    parser.add_argument(
        "--data",
        type=Path,
        help="the image folder (one sub-folder per class); without --config a recipe is picked "
        "for it",
    )
    parser.add_argument(
        "--preset",
        choices=("small", "large"),
        default=None,
        help="without --config: small (MobileNet at 32 to 64 px, cheap for many streams; the "
        "default) or large (MobileNetV2 at 64 to 160 px, from ImageNet weights when they are "
        "on this machine)",
    )
    parser.add_argument("--architecture", help="override architecture")
    parser.add_argument(
        "--minutes",
        type=float,
        help="the training budget in wall-clock minutes (both phases): the learning-rate "
        "schedule is fitted to the steps that fit, and the run stops when they are spent or "
        "validation stops improving; replaces the recipe's steps",
    )
    parser.add_argument(
        "--steps",
        type=int,
        help="the training budget in optimizer steps (batches), whatever the folder's size",
    )
    parser.add_argument(
        "--epochs", type=int, help="the budget in passes over the training set (replaces steps)"
    )
    parser.add_argument(
        "--search",
        metavar="DURATION",
        help="search the main knobs (width, input side, learning rate and schedule, weight "
        "decay, augmentation strength, label smoothing, steps) around the recipe or --config "
        "for DURATION (90s, 15m, 1h; a bare number is minutes, at least 1m) with Optuna (TPE, "
        "median pruning), scored on the validation split only; the base config is trial 0 and "
        "the trials train the share of their budget it trained in its time; the best trial "
        "replaces the base only beyond the validation set's noise, and is trained again at its "
        "full budget as the run (its trials in search.json and search/). "
        "--minutes, --steps or --epochs set the base budget the search scales around",
    )
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
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress (default: a bar on a terminal, else one line per epoch); the report "
        "is printed all the same",
    )
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


def _flag_overrides(args: argparse.Namespace) -> list:
    """The flags that stand for config keys, as overrides that name the flag in errors."""
    from visord.training.config import Override

    overrides = []
    for flag, attribute, key in FLAGS:
        value = getattr(args, attribute)
        if value is None:
            continue
        plain = str(value) if isinstance(value, Path) else value
        overrides.append(Override(tuple(key.split(".")), plain, f"{flag} {value}"))
    return overrides


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


def parse_duration(text: str) -> float:
    """`--search`'s value in seconds (90s, 15m, 1h, or a bare number of minutes); ValueError
    naming the flag when it is not one, or is under a minute."""
    match = DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(
            f"--search: expected a duration such as 90s, 15m, 1h or a number of minutes, "
            f"received {text!r}"
        )
    seconds = float(match[1]) * UNIT_SECONDS[match[2]]
    if seconds < SHORTEST_SEARCH:
        raise ValueError(f"--search: {text} is too short; a search needs at least 1m")
    return seconds


def run_train(args: argparse.Namespace) -> int:
    entered = time.monotonic()  # a search's duration counts from here
    if tensorflow_missing("train"):
        return exitcodes.UNAVAILABLE
    if args.list_architectures or args.list_losses or args.list_optimizers:
        load_tensorflow()
        return _list(args)
    if args.preset and args.config:
        print("visord train: --preset picks a recipe when there is no --config", file=sys.stderr)
        return exitcodes.USAGE
    try:
        duration = parse_duration(args.search) if args.search is not None else None
    except ValueError as error:
        print(f"visord train: {error}", file=sys.stderr)
        return exitcodes.USAGE
    load_tensorflow()
    picked = _recipe(args) if args.data and not args.config else None
    if isinstance(picked, int):
        return picked
    config = _config(args, picked[1] if picked else {})
    if isinstance(config, int):
        return config
    if picked:
        from visord.training.recipes import describe

        print(describe(picked[0], config.model_dump(mode="json"), args.preset or "small"))
    if duration is not None:
        return _guarded(lambda: _search(config, duration, args, time.monotonic() - entered))
    return _guarded(lambda: _train(config, args))


def _train(config, args: argparse.Namespace) -> int:
    from visord.training.train import train

    # --quiet silences the progress, never the report and its judgement
    train(config, verbose=keras_verbosity(args.quiet), report=True)
    return 0


def _search(config, duration: float, args: argparse.Namespace, spent: float) -> int:
    """The search around `config`: 0 with the best trial written as the run, DATAERR when no
    trial completed, USAGE when the duration leaves no time for a trial."""
    import optuna

    from visord.training.tune.quick import SearchTooShort, search

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the search prints its own lines
    try:
        result = search(
            config,
            duration,
            spent=spent,
            show=not args.quiet,
        )
    except SearchTooShort as error:
        print(f"visord train: {error}", file=sys.stderr)
        return exitcodes.USAGE
    except KeyboardInterrupt:
        print("visord train: search interrupted; no run written", file=sys.stderr)
        return exitcodes.INTERRUPTED
    return 0 if result.run is not None else exitcodes.DATAERR


def _guarded(run: Callable[[], int]) -> int:
    """Runs a training (or search) and returns its status, or the exit status of what it refused
    after one line saying why."""
    from visord.training.architectures.transfer import WeightsUnavailable
    from visord.training.config import TrainingConfigError

    try:
        return run()
    except WeightsUnavailable as error:
        print(f"visord train: {weights_hint(error)}", file=sys.stderr)
        return exitcodes.UNAVAILABLE
    except TrainingConfigError as error:  # what a value names, checked when training starts
        print(f"visord train: {error}", file=sys.stderr)
        return exitcodes.CONFIG
    except ValueError as error:
        # DataError, unknown names, bad option values: each message says what is wrong
        print(f"visord train: {error}", file=sys.stderr)
        return exitcodes.DATAERR


def _recipe(args: argparse.Namespace):
    """What `--data` holds and the recipe picked for it, or DATAERR after saying what is wrong."""
    from visord.training.data import DataError
    from visord.training.recipes import inspect_folder, recipe

    preset = args.preset or "small"
    try:
        facts = inspect_folder(args.data)
    except DataError as error:
        print(f"visord train: {error}", file=sys.stderr)
        return exitcodes.DATAERR
    return facts, recipe(facts, preset)


def _config(args: argparse.Namespace, base: dict):
    """The training config the arguments give (over `base`, a picked recipe, when there is no
    file), or the exit status after printing why there is none: USAGE when only the command line
    is wrong, CONFIG when the file is."""
    from visord.training.config import (
        TrainingConfigError,
        apply_overrides,
        as_overrides,
        load_config,
        parse_config,
    )

    try:
        overrides = _flag_overrides(args) + as_overrides(args.overrides)
        if args.config:
            return load_config(args.config, overrides)
        if any(override.key[0] == "architecture" for override in overrides):
            # another architecture than the recipe's: its options and fine-tuning do not apply
            base = {k: v for k, v in base.items() if k not in ("architecture_options", "fine_tune")}
        return parse_config(apply_overrides(base, overrides), "command line", overrides)
    except TrainingConfigError as error:
        # Without a file the data folder is missing unless --data (or --set data.path) gave it:
        # say so once, after any other problem of the command line.
        missing_data = [
            p for p in error.problems if p.key in ("data", "data.path") and p.message == MISSING
        ]
        for problem in error.problems:
            if args.config or problem not in missing_data:
                print(problem, file=sys.stderr)
        if not args.config and missing_data:
            print("visord train: give --config FILE or at least --data FOLDER", file=sys.stderr)
            return exitcodes.USAGE
        return exitcodes.USAGE if error.command_line else exitcodes.CONFIG


def weights_hint(error) -> str:
    """One line: which pretrained weights file is missing, and the two ways on without a network."""
    return (
        f"the {error.backbone} backbone's ImageNet weights {error.file} are not cached in "
        f"{error.cache} and {error.reason}: copy the file from {error.url} to this machine and "
        "pass it with --set architecture_options.weights=FILE, or train from scratch with "
        "weights: null (--set architecture_options.weights=null)"
    )
