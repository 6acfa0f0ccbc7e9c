"""`visord tune`: the sub-command's arguments, exit codes and printed output.

Imports neither TensorFlow nor Optuna at module level, like the other training
commands: `visord tune --help` works on a camera box, and without the `train`
extra the command says what to install.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from visord.commands.progress import interactive, keras_verbosity
from visord.commands.train_extra import load_tensorflow, tensorflow_missing
from visord.contract import exitcodes


def add(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "tune",
        parents=[common],
        help="search hyperparameters of a training config with Optuna (needs the train extra)",
        description="Search a training config's hyperparameters (grid, random or TPE; hold-out or "
        "stratified k-fold; "
        "median pruning). The study lives in a journal file in the output folder (or an RDB URL): "
        "running the same "
        "command again resumes it, and workers on several machines can share one study.",
    )
    parser.add_argument(
        "--config", type=Path, required=True, help="tune config YAML (e.g. config/tune-dnn.yaml)"
    )
    parser.add_argument("--trials", type=int, help="override trials (the study's total budget)")
    parser.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    parser.add_argument(
        "--storage", help="override storage: an Optuna RDB URL or a journal file path"
    )
    parser.add_argument("--output", type=Path, help="override output_dir (the study folder)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a tune key, dotted (train.epochs=5, sampler.seed=7); repeatable",
    )
    parser.add_argument(
        "--retrain-best",
        action="store_true",
        help="afterwards, train the best config into a normal run folder (for visord export)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress (default: a bar on a terminal, else a line per trial), no table",
    )
    parser.set_defaults(handler=run_tune)


def _overrides(args: argparse.Namespace) -> list[str]:
    pairs = [("trials", args.trials), ("storage", args.storage), ("output_dir", args.output)]
    return [f"{key}={value}" for key, value in pairs if value is not None] + args.overrides


def _fail(message: str, status: int) -> int:
    print(f"visord tune: {message}", file=sys.stderr)
    return status


def _check_workers(tune, workers: int) -> str | None:
    if workers < 1:
        return f"--workers must be at least 1, received {workers}"
    if workers > 1 and (tune.storage or "").startswith("sqlite"):
        return (
            "SQLite cannot take several worker processes; "
            "use the default journal file or PostgreSQL"
        )
    return None


def run_tune(args: argparse.Namespace) -> int:
    if tensorflow_missing("tune"):
        return exitcodes.UNAVAILABLE
    from visord.training.config import TrainingConfigError
    from visord.training.tune.load import load_tune_config

    try:
        tune = load_tune_config(args.config, _overrides(args))
        load_tensorflow()
        from visord.training.tune.preflight import preflight

        preflight(tune)
    except TrainingConfigError as error:
        print(error, file=sys.stderr)
        return exitcodes.USAGE if error.command_line else exitcodes.CONFIG
    problem = _check_workers(tune, args.workers)
    return _fail(problem, exitcodes.USAGE) if problem else _search(tune, args)


def _search(tune, args: argparse.Namespace) -> int:
    import optuna

    from visord.training.config import TrainingConfigError
    from visord.training.tune.launch import run_search
    from visord.training.tune.study import StorageError, storage_label

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not args.quiet:
        print(
            f"study '{tune.settings.name}' in {storage_label(tune)}: {tune.budget} trials, "
            f"{args.workers} worker(s)"
        )
    show = None if args.quiet else "bar" if interactive() else "lines"
    try:
        prepared = run_search(tune, args.workers, show=show)
    except TrainingConfigError as error:  # the storage holds a different search under this name
        print(error, file=sys.stderr)
        return exitcodes.CONFIG
    except StorageError as error:
        return _fail(str(error), exitcodes.UNAVAILABLE)
    except RuntimeError as error:
        return _fail(str(error), exitcodes.SOFTWARE)
    except KeyboardInterrupt:
        return _fail(
            "interrupted; run the same command again to resume the study", exitcodes.INTERRUPTED
        )
    if prepared.abandoned:
        print(
            f"trials {prepared.abandoned} had lost their worker process: recorded as interrupted, "
            "queued again"
        )
    return _report(prepared.handle.study, tune, args)


def _report(study, tune, args: argparse.Namespace) -> int:
    from visord.training.tune.best import retrain
    from visord.training.tune.outputs import summary, write_outputs

    outputs = write_outputs(study, tune)
    if not args.quiet:
        print(outputs.table)
    print(summary(outputs, tune))
    if outputs.best is None:
        return exitcodes.DATAERR
    if args.retrain_best:
        folder = retrain(outputs.best_path, verbose=keras_verbosity(args.quiet))
        print(f"retrained best config: {folder}")
    return 0
