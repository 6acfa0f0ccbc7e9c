"""The `visord` command line: one entry point, one sub-command per job.

Owns argument parsing, logging set-up and dispatch. Training sub-commands
come from `training.commands`, which imports TensorFlow only when one of them
runs, so this module stays importable on a camera box without it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from daemon.logs import configure_logging
from daemon.models_command import add_models
from daemon.service import add_run
from training.commands import add_commands as add_training_commands


def _add_demo_data(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo-data",
        help="write the synthetic surveillance-scenes dataset and video clips",
        description="Write OUT/train/<class>/*.png (difficulty 0..1), OUT/hard/<class>/*.png (difficulty 0.7..1) "
        "and OUT/clips/*.mp4 with per-frame labels. Synthetic: for demos and tests, not a substitute for real data.",
    )
    parser.add_argument("out", type=Path, help="output folder")
    parser.add_argument("--per-class", type=int, default=300, help="training images per class")
    parser.add_argument("--hard-per-class", type=int, default=None, help="hard-split images per class (default per-class/4)")
    parser.add_argument("--size", type=int, default=96, help="square image size in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clips", type=int, default=2, help="number of video clips")
    parser.add_argument("--clip-seconds", type=float, default=10.0)
    parser.add_argument(
        "--overwrite", action="store_true", help="delete images already in OUT's class folders instead of refusing"
    )
    parser.set_defaults(handler=run_demo_data)


EX_CANTCREAT = 73  # sysexits.h: an output file cannot be created


def run_demo_data(args: argparse.Namespace) -> int:
    from daemon import scenes

    try:
        summary = scenes.write_dataset(
            args.out, args.per_class, (args.size, args.size), seed=args.seed, hard_per_class=args.hard_per_class,
            overwrite=args.overwrite,
        )
    except FileExistsError as error:
        print(f"visord demo-data: {error} (on the command line: --overwrite)", file=sys.stderr)
        return EX_CANTCREAT
    clips = args.out / "clips"
    clips.mkdir(parents=True, exist_ok=True)
    for index in range(args.clips):
        scenes.write_clip(clips / f"scene-{index}.mp4", args.clip_seconds, seed=args.seed + index)
    print(json.dumps(summary, indent=2))
    return 0


def _add_check(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check", help="validate a daemon config without starting anything (exit 78 when it is bad)",
        description="Validate CONFIG: every error at once as FILE:LINE: key.path: message, then exit 78 "
        "(EX_CONFIG); model files and their manifests are checked too. A good config prints a summary "
        "(sources redacted) and exits 0.",
    )
    parser.add_argument("config", type=Path, nargs="?", default=Path("config/visord.yaml"), metavar="CONFIG",
                        help="daemon config file (default: config/visord.yaml)")
    parser.set_defaults(handler=run_check)


def run_check(args: argparse.Namespace) -> int:
    from daemon.check import check_command

    return check_command(args.config)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="visord", description="Streaming video recognition for surveillance boxes, and the models it runs."
    )
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.add_argument("--log-format", default="text", choices=("text", "json"), help="log lines as key=value or JSON")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_run(subparsers)
    add_training_commands(subparsers)
    _add_demo_data(subparsers)
    _add_check(subparsers)
    add_models(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
