"""`visord collect --config FILE --stream NAME`: one stream's crops worth labelling, in one run.

The same frame loop and collector as `visord run` with `collect:` in its config, for one stream
and a while, without events or a metrics endpoint: how a data set is started before the daemon
collects on its own.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from visord import __version__
from visord.contract import exitcodes
from visord.contract.manifest import ManifestError
from visord.daemon.collect import Collector
from visord.daemon.config import ConfigError, DaemonConfig, load_config
from visord.daemon.inference.engine import Prediction
from visord.daemon.metrics import DaemonMetrics
from visord.daemon.runtime import Runtime


def add(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "collect",
        parents=[common],
        help="save one stream's frames worth labelling into a data set, for a while",
        description="Run STREAM of CONFIG through its models and keep the frames worth a label "
        "(the models disagree or doubt, the label changes, a baseline sample every `every` "
        "seconds) as crops of its region of interest in DATASET/unlabelled/STREAM/, with a "
        "record each, by the config's `collect:` settings. Then `visord label DATASET`.",
    )
    parser.add_argument("--config", type=Path, required=True, help="the daemon config")
    parser.add_argument("--stream", required=True, help="the stream to collect from")
    parser.add_argument(
        "--dataset", type=Path, help="the data set folder (default: the config's collect.dataset)"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=60.0,
        help="how long to collect (default 60; Ctrl-C stops earlier)",
    )
    parser.add_argument(
        "--every", type=float, help="a baseline crop every this many seconds (collect.every)"
    )
    parser.set_defaults(handler=run_collect)


class _NoEvents:
    """Collecting needs the answers only: nothing is debounced or sent anywhere."""

    def observe(self, stream: str, prediction: Prediction, wall: float, latency: float) -> None:
        pass

    def forget(self, stream: str) -> None:
        pass


def one_stream(config: DaemonConfig, args: argparse.Namespace) -> DaemonConfig:
    """`config` with only `args.stream` enabled and collecting into the chosen data set."""
    streams = [
        stream.model_copy(update={"enabled": stream.name == args.stream})
        for stream in config.streams
    ]
    collect = {"dataset": args.dataset or config.collect.dataset, "streams": [args.stream]}
    if args.every is not None:
        collect["every"] = args.every
    return config.model_copy(
        update={"streams": streams, "collect": config.collect.model_copy(update=collect)}
    )


def run_collect(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print("\n".join(error.messages), file=sys.stderr)
        return exitcodes.CONFIG
    names = [stream.name for stream in config.streams]
    if args.stream not in names:
        return _fail(f"{args.config} has no stream '{args.stream}' (it has {', '.join(names)})")
    if (args.dataset or config.collect.dataset) is None:
        return _fail(f"give --dataset DIR: {args.config} has no collect.dataset")
    config = one_stream(config, args)
    collector = Collector(config.collect)
    runtime = Runtime(
        config, DaemonMetrics(CollectorRegistry(), __version__), _NoEvents(), collector=collector
    )
    try:
        runtime.start()
    except (ConfigError, ManifestError) as error:
        collector.close()
        return _fail(str(error))
    deadline = time.monotonic() + args.seconds
    try:
        while time.monotonic() < deadline:
            runtime.step()
    except KeyboardInterrupt:
        pass
    finally:
        runtime.stop()
        collector.close()
    saved, dropped, _ = collector.counts.copy()
    print(
        f"{args.stream}: saved {sum(saved.values())} crops in "
        f"{config.collect.dataset}/unlabelled/{args.stream} ("
        + ", ".join(f"{reason} {n}" for (_, reason), n in sorted(saved.items()))
        + f"); dropped {sum(dropped.values())}"
        + "".join(f", {reason} {n}" for (_, reason), n in sorted(dropped.items()))
    )
    return exitcodes.OK


def _fail(message: str) -> int:
    print(f"visord collect: {message}", file=sys.stderr)
    return exitcodes.CONFIG
