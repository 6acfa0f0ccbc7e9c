"""The `visord` command line: one entry point, one sub-command per module of `visord.commands`.

Owns the options every command shares (`--log-level`, `--log-format`, accepted before or after the
sub-command), logging set-up and dispatch. The training commands import TensorFlow only when one of
them runs, so this module stays importable on a camera box without it.
"""

from __future__ import annotations

import argparse
import sys

from visord.commands import (
    check,
    collect,
    curve,
    demo_data,
    deploy,
    evaluate,
    export,
    label,
    models,
    run,
    train,
    tune,
)
from visord.logs import configure_logging

COMMANDS = (
    run,
    check,
    models,
    collect,
    label,
    train,
    evaluate,
    export,
    tune,
    curve,
    deploy,
    demo_data,
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")


def _log_options(default: str | None) -> argparse.ArgumentParser:
    """The logging options, for the top level (with defaults) and each sub-command (without: one
    given
    after the sub-command wins, one given only before it is kept)."""
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("logging")
    level, log_format = ("INFO", "text") if default else (argparse.SUPPRESS, argparse.SUPPRESS)
    group.add_argument("--log-level", default=level, choices=LOG_LEVELS, type=str.upper)
    group.add_argument(
        "--log-format",
        default=log_format,
        choices=LOG_FORMATS,
        help="log lines as key=value or JSON",
    )
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="visord",
        description="Streaming video recognition for surveillance boxes, and the models it runs.",
        parents=[_log_options(default="top")],
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _log_options(default=None)
    for command in COMMANDS:
        command.add(subparsers, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
