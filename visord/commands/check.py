"""`visord check CONFIG`: validate a daemon config without starting anything.

Owns the checks that go beyond the schema because they look at this box or
at intent: each model file exists and carries a valid manifest (through
`visord.contract.manifest`), cascade models agree on their labels, TLS and CA files
exist, and every router rule can match (through `visord.daemon.config.reachability`;
`visord run` only logs those). Prints every error as `FILE:LINE: key.path:
message` and exits 78 (EX_CONFIG), or prints a short summary (sources
redacted) and exits 0. Warnings (a video file or device not there yet,
metrics exposed without auth, a rule naming a stream or tag that does not
exist besides others that do) are printed but do not fail the check: the
daemon retries sources.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from visord.contract import exitcodes
from visord.daemon.config import ConfigError, DaemonConfig, JsonlSinkConfig, ModelConfig
from visord.daemon.config.errors import Problem, format_problems
from visord.daemon.config.loader import parse_with_lines, read_text
from visord.daemon.config.model_files import file_problems as model_file_problems
from visord.daemon.config.model_files import pair_problems
from visord.daemon.config.reachability import dead_criteria, unreachable_rules
from visord.daemon.config.substitute import substitute
from visord.daemon.config.yaml_lines import LineMap, YamlError, load_with_lines


@dataclass
class CheckReport:
    """What `visord check` found: formatted errors and warnings, and the config when it parsed."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    config: DaemonConfig | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def check_config(path: str | Path, env: Mapping[str, str] | None = None) -> CheckReport:
    """Validates the config at `path` and what it points to on this box; starts nothing. Every
    error at once: model files are checked even when other parts of the file are wrong."""
    source = str(path)
    try:
        text = read_text(path)
    except ConfigError as error:
        return CheckReport(errors=error.messages)
    try:
        config, lines = parse_with_lines(text, source, env)
    except ConfigError as error:
        errors = error.messages + _model_file_errors(text, source, env)
        return CheckReport(errors=sorted(errors, key=lambda line: _line_number(line, source)))
    errors = _model_problems(config) + _file_problems(config) + unreachable_rules(config)
    return CheckReport(
        format_problems(errors, source, lines), _warnings(config, source, lines), config
    )


def _line_number(message: str, source: str) -> int:
    number = message.removeprefix(f"{source}:").partition(":")[0]
    return int(number) if number.isdigit() else 0


def _model_file_errors(text: str, source: str, env: Mapping[str, str] | None) -> list[str]:
    """The model-file problems of a config that did not validate: each `models:` entry that is
    valid on its own is checked on disk."""
    try:
        raw, lines = load_with_lines(text)
    except YamlError:
        return []
    entries = substitute(raw, env).data.get("models") if isinstance(raw, dict) else None
    valid = {}
    for name, entry in (entries or {}).items() if isinstance(entries, dict) else ():
        try:
            valid[name] = ModelConfig.model_validate(entry)
        except ValidationError:
            continue
    return format_problems(model_file_problems(valid)[0], source, lines)


def _model_problems(config: DaemonConfig) -> list[Problem]:
    problems, manifests = model_file_problems(config.models)
    return problems + pair_problems(config, manifests)


def _file_problems(config: DaemonConfig) -> list[Problem]:
    files = []
    if config.metrics.tls:
        files += [
            (("metrics", "tls", "cert_file"), config.metrics.tls.cert_file),
            (("metrics", "tls", "key_file"), config.metrics.tls.key_file),
        ]
    for index, sink in enumerate(config.events.sinks):
        if getattr(sink, "ca_file", None) is not None:
            files.append((("events", "sinks", index, "ca_file"), sink.ca_file))
    return [(key, f"file {path} does not exist") for key, path in files if not Path(path).is_file()]


def _warnings(config: DaemonConfig, source: str, lines: LineMap) -> list[str]:
    problems = _source_warnings(config) + dead_criteria(config)
    for index, sink in enumerate(config.events.sinks):
        if (
            isinstance(sink, JsonlSinkConfig)
            and not sink.to_stdout
            and not Path(sink.path).parent.is_dir()
        ):
            problems.append(
                (
                    ("events", "sinks", index, "path"),
                    f"folder {Path(sink.path).parent} does not exist",
                )
            )
    if not config.metrics.loopback_only and not config.metrics.basic_auth:
        problems.append(
            (
                ("metrics", "listen"),
                f"metrics on {config.metrics.listen} are open to the network without basic_auth",
            )
        )
    if not config.enabled_streams:
        problems.append(
            (("streams",), "every stream is disabled: the daemon would classify nothing")
        )
    return format_problems(
        [(key, f"warning: {message}") for key, message in problems], source, lines
    )


def _source_warnings(config: DaemonConfig) -> list[Problem]:
    """Local files and devices that are not there: worth saying, not fatal (a camera may be plugged
    in later)."""
    used = {config.camera_of(stream).name for stream in config.enabled_streams}
    places = [
        (("cameras", index, "source"), camera) for index, camera in enumerate(config.cameras)
    ] + [
        (("streams", index, "source"), stream)
        for index, stream in enumerate(config.streams)
        if stream.source is not None
    ]
    problems: list[Problem] = []
    for path, holder in places:
        kind = holder.source.kind
        location = holder.source.get_secret_value()
        if kind == "device" and location.isdigit():
            location = f"/dev/video{location}"
        # Only /dev/videoN is quoted: any other path may be a credential that lacks its rtsp://.
        shown = location if location.startswith("/dev/video") else f"the {kind}"
        if holder.name in used and kind in ("file", "device") and not Path(location).exists():
            problems.append(
                (path, f"{shown} does not exist (yet): the daemon will keep retrying it")
            )
    return problems


def add(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "check",
        parents=[common],
        help="validate a daemon config without starting anything (exit 78 when it is bad)",
        description="Validate CONFIG: every error at once as FILE:LINE: key.path: message, then "
        "exit 78 (EX_CONFIG); model files and their manifests are checked too. A good config "
        "prints a summary (sources redacted) and exits 0.",
    )
    parser.add_argument(
        "config",
        type=Path,
        nargs="?",
        default=Path("config/visord.yaml"),
        metavar="CONFIG",
        help="daemon config file (default: config/visord.yaml)",
    )
    parser.set_defaults(handler=lambda args: check_command(args.config))


def check_command(path: Path) -> int:
    """The `visord check` handler: prints the report, returns the exit status."""
    report = check_config(path)
    for line in [*report.errors, *report.warnings]:
        print(line, file=sys.stderr)
    if not report.ok:
        count = len(report.errors)
        print(f"visord check: {path}: {count} error{'s' if count > 1 else ''}", file=sys.stderr)
        return exitcodes.CONFIG
    print(f"{path}: OK")
    print(report.config.summary())
    return 0
