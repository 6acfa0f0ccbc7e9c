"""Reading a daemon config: YAML with line numbers -> `${...}` substitution -> validation.

Owns `parse_config` and `load_config`. Both are pure (they read the file, the
environment and credential files, and nothing else), so the daemon's SIGHUP
reload can try a new config and keep the running one when it is refused.
Every problem is reported at once, each as `FILE:LINE: key.path: message`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from visord.daemon.config.errors import ConfigError, format_problems, pydantic_problems
from visord.daemon.config.references import raw_reference_problems
from visord.daemon.config.schema import DaemonConfig
from visord.daemon.config.substitute import substitute
from visord.daemon.config.yaml_lines import LineMap, YamlError, load_with_lines


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> DaemonConfig:
    """The validated config in the YAML file at `path`; ConfigError lists every problem."""
    return parse_with_lines(read_text(path), str(path), env)[0]


def parse_config(
    text: str, source: str = "<config>", env: Mapping[str, str] | None = None
) -> DaemonConfig:
    """Validates YAML `text` (named `source` in messages); `env` defaults to os.environ."""
    return parse_with_lines(text, source, env)[0]


def read_text(path: str | Path) -> str:
    """The config file's text; ConfigError when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError([f"{path}: cannot read the config: {error.strerror or error}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not a UTF-8 text file"]) from None


def parse_with_lines(
    text: str, source: str = "<config>", env: Mapping[str, str] | None = None
) -> tuple[DaemonConfig, LineMap]:
    """`parse_config`, plus where each key path sits in `text`, for callers that report more
    problems."""
    try:
        raw, lines = load_with_lines(text)
    except YamlError as error:
        raise ConfigError([f"{source}:{error.line}: {error.message}"]) from None
    if not isinstance(raw, dict):
        found = "an empty file" if raw is None else f"a {type(raw).__name__}"
        raise ConfigError(
            [
                f"{source}:1: (top level): expected a mapping with models: and streams:, found "
                f"{found}"
            ]
        )
    substituted = substitute(raw, env)
    problems = list(substituted.problems)
    try:
        config = DaemonConfig.model_validate(substituted.data)
    except ValidationError as error:
        config = None
        unresolved = {path for path, _ in substituted.problems}
        problems += [
            problem
            for problem in pydantic_problems(
                error, DaemonConfig, substituted.data, substituted.secret_paths
            )
            if not any(_depends_on(problem[0], path) for path in unresolved)
        ]
    # a field's own error says more than a reference to it
    reported = {path for path, _ in problems}
    problems += [
        problem
        for problem in raw_reference_problems(substituted.data)
        if problem[0] not in reported
    ]
    # never expected: the raw reference checks mirror the model's
    if config is None and not problems:
        problems = [((), "invalid configuration (the reference checks disagree with the schema)")]
    if problems:
        raise ConfigError(format_problems(problems, source, lines))
    return config, lines


def _depends_on(problem: tuple, unresolved: tuple) -> bool:
    """Whether a problem at key path `problem` may come from the value left out at `unresolved`:
    it is that value's own, one below it, or its mapping's (a check across that mapping's keys)."""
    return problem[: len(unresolved)] == unresolved or problem == unresolved[:-1]
