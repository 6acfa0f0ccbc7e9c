"""`visord deploy SOURCE --config FILE --as MODEL`: a new model into a running daemon, no restart.

SOURCE is an exported `.onnx` file or a training run folder (exported here first, parity checked;
that needs the train extra). `--rollback` puts back the model the last deploy replaced.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from visord.commands.train_extra import load_tensorflow, tensorflow_missing
from visord.contract import exitcodes
from visord.daemon.config import ConfigError
from visord.deploy import (
    DeployError,
    Target,
    check_candidate,
    copy_model,
    reload_daemon,
    staging_path,
    swap_back,
    swap_in,
    target_of,
)


def add(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "deploy",
        parents=[common],
        help="put a new model in place of a config's model and reload the running daemon",
        description="Check SOURCE (an .onnx file, or a run folder, exported first), write it "
        "where the config's models.MODEL.path points (the file it replaces is kept as "
        "PATH.previous), then reload the daemon that runs CONFIG (SIGHUP, or systemctl reload "
        "under systemd) and report its answer. A model the daemon refuses is taken back out; "
        "the old one keeps running. Exit 0 when deployed, 65 when SOURCE is refused, 78 when the "
        "config or the daemon refuses it.",
    )
    parser.add_argument("source", type=Path, nargs="?", help="an .onnx file or a run folder")
    parser.add_argument(
        "--config", type=Path, required=True, help="the daemon's config file (visord.yaml)"
    )
    parser.add_argument(
        "--as", dest="model", required=True, metavar="MODEL", help="the models: entry to replace"
    )
    parser.add_argument(
        "--rollback",
        action="store_true",
        help="put back PATH.previous (the model the last deploy replaced) instead of SOURCE",
    )
    parser.add_argument(
        "--no-reload", action="store_true", help="write the file only; do not signal the daemon"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds to wait for the daemon's answer to the reload (default 30)",
    )
    parser.set_defaults(handler=run_deploy)


def run_deploy(args: argparse.Namespace) -> int:
    if (args.source is None) == (not args.rollback):
        return _fail("give SOURCE, or --rollback without it", exitcodes.USAGE)
    try:
        target = target_of(args.config, args.model)
    except ConfigError as error:
        return _fail("\n".join(error.messages), exitcodes.CONFIG)
    except DeployError as error:
        return _fail(str(error), exitcodes.CONFIG)
    if args.rollback:
        return _rollback(target, args)
    if not args.source.exists():
        return _fail(f"{args.source}: no such file or run folder", exitcodes.NOINPUT)
    if args.source.is_dir() and tensorflow_missing("deploy"):
        return exitcodes.UNAVAILABLE
    staged = staging_path(target)
    try:
        _stage(args.source, staged, target)
        summary = check_candidate(staged, target)
    except (DeployError, ValueError, FileNotFoundError) as error:
        staged.unlink(missing_ok=True)
        return _fail(f"{error}; nothing was changed", exitcodes.DATAERR)
    swap_in(staged, target)
    print(f"wrote {target.path}: {summary} (the one it replaced: {target.previous})")
    return _reload(target, args, undo="the previous model is back in place")


def _stage(source: Path, staged: Path, target: Target) -> None:
    if source.is_file():
        copy_model(source, staged)
        return
    load_tensorflow()
    from visord.training.export import export

    result = export(source, staged, name=target.path.stem)
    print(
        f"exported {source}: parity with Keras max |diff| {result.parity.max_abs_diff:.1e}, "
        f"top-1 agreement {result.parity.top1_agreement:.2%}"
    )


def _rollback(target: Target, args: argparse.Namespace) -> int:
    try:
        swap_back(target)
    except DeployError as error:
        return _fail(str(error), exitcodes.NOINPUT)
    print(f"put back {target.path} (the rolled-back one is now {target.previous})")
    return _reload(target, args, undo="the model from before the rollback is back in place")


def _reload(target: Target, args: argparse.Namespace, undo: str) -> int:
    if args.no_reload:
        print("not reloaded (--no-reload): the daemon loads it at its next reload or start")
        return exitcodes.OK
    try:
        outcome = reload_daemon(target, args.timeout)
    except DeployError as error:
        return _fail(str(error), exitcodes.UNAVAILABLE)
    if outcome.result == "applied":
        print(f"the daemon reloaded: models.{target.name} runs the new file")
        return exitcodes.OK
    if outcome.result == "no daemon":
        print(f"{outcome.detail[0]}: the daemon loads the new file when it starts")
        return exitcodes.OK
    if target.previous.exists():
        swap_back(target)
    else:  # nothing ran from this path before: take the refused file out
        target.path.unlink()
        undo = "the refused file is removed"
    reasons = "\n".join(f"  {line}" for line in outcome.detail)
    return _fail(f"the daemon refused the reload; {undo}:\n{reasons}", exitcodes.CONFIG)


def _fail(message: str, status: int) -> int:
    print(f"visord deploy: {message}", file=sys.stderr)
    return status
