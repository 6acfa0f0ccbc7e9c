"""`visord run`: the daemon in the foreground until SIGTERM (what the systemd unit starts)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from visord.daemon.service.daemon import run_daemon
from visord.daemon.sources.ffmpeg_log import route_ffmpeg_logs


def add(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "run",
        parents=[common],
        help="run the daemon",
        description="Read the streams of CONFIG, classify them, emit events and serve Prometheus "
        "metrics until SIGTERM.",
    )
    parser.add_argument(
        "--config", type=Path, default=Path("config/visord.yaml"), help="daemon config YAML"
    )
    parser.add_argument(
        "--status-interval",
        type=float,
        default=None,
        help="seconds between status lines (default: 10 on a terminal, 0 = never)",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if logging.getLogger().isEnabledFor(logging.DEBUG):  # --log-level debug: FFmpeg's lines too
        route_ffmpeg_logs()
    return run_daemon(args.config, args.status_interval)
