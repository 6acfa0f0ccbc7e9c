"""`visord run`: the daemon in the foreground until SIGTERM (what the systemd unit starts)."""

from __future__ import annotations

import argparse
from pathlib import Path

from visord.daemon.service.supervisor import run_daemon


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
    parser.set_defaults(handler=lambda args: run_daemon(args.config, args.status_interval))
