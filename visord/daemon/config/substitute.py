"""Secrets and per-box values in config strings: `${VAR}`, `${VAR:-default}`, `${credential:NAME}`.

Owns substitution in string values (never in keys). `${credential:NAME}` reads
`$CREDENTIALS_DIRECTORY/NAME`, the file systemd's `LoadCredential=` provides;
`$${` is a literal `${`. Pure: it reads the environment mapping and credential
files, and returns a new document, the problems found and the key paths whose
values came from substitution (error messages must never echo those).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KeyPath = tuple[str | int, ...]
_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CREDENTIAL = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]*$")


class SubstitutionError(ValueError):
    """One `${...}` that cannot be resolved."""


@dataclass
class Substituted:
    data: Any
    problems: list[tuple[KeyPath, str]] = field(default_factory=list)
    secret_paths: set[KeyPath] = field(default_factory=set)


def substitute(data: Any, env: Mapping[str, str] | None = None) -> Substituted:
    """A copy of `data` with every `${...}` in its string values resolved from `env` (default
    os.environ)."""
    result = Substituted(None)
    result.data = _walk(data, (), os.environ if env is None else env, result)
    return result


_UNRESOLVED = object()


def _walk(value: Any, path: KeyPath, env: Mapping[str, str], result: Substituted) -> Any:
    if isinstance(value, dict):
        items = ((key, _walk(item, (*path, key), env, result)) for key, item in value.items())
        # An unresolved value is left out, so validation reports nothing that depends on
        # it (it would be
        # checking the literal '${...}' text); the substitution problem already names the key.
        return {key: item for key, item in items if item is not _UNRESOLVED}
    if isinstance(value, list):
        items = [_walk(item, (*path, index), env, result) for index, item in enumerate(value)]
        return [value[index] if item is _UNRESOLVED else item for index, item in enumerate(items)]
    if isinstance(value, str) and "${" in value:
        try:
            resolved = expand(value, env)
        except SubstitutionError as error:
            result.problems.append((path, str(error)))
            return _UNRESOLVED
        if resolved != value.replace("$${", "${"):
            result.secret_paths.add(path)
        return resolved
    return value


def expand(text: str, env: Mapping[str, str]) -> str:
    """`text` with its references resolved; SubstitutionError names the first that cannot be."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        if match.group(1) is None:
            raise SubstitutionError("'${' is not closed by '}' (write '$${' for a literal '${')")
        return _resolve(match.group(1), env)

    return _REFERENCE.sub(replace, text)


def _resolve(expression: str, env: Mapping[str, str]) -> str:
    if expression.startswith("credential:"):
        return read_credential(expression.removeprefix("credential:"), env)
    name, has_default, default = expression.partition(":-")
    if not _VARIABLE.match(name):
        raise SubstitutionError(
            f"'${{{expression[:40]}}}' is not a variable reference: use ${{NAME}}, "
            "${NAME:-default} or ${credential:NAME}"
        )
    value = env.get(name)
    if value:
        return value
    if has_default:
        return default
    if value is None:
        raise SubstitutionError(
            f"environment variable {name} is not set (or give a default: ${{{name}:-...}})"
        )
    return value


def read_credential(name: str, env: Mapping[str, str]) -> str:
    """The content of the systemd credential NAME, without its trailing newline."""
    if not _CREDENTIAL.match(name):
        raise SubstitutionError(
            f"'{name[:40]}' is not a credential name (letters, digits, '_', '.', '@', '-')"
        )
    directory = env.get("CREDENTIALS_DIRECTORY")
    if not directory:
        raise SubstitutionError(
            f"${{credential:{name}}} needs $CREDENTIALS_DIRECTORY, which is not set "
            f"(systemd sets it for LoadCredential={name}:...)"
        )
    try:
        return (Path(directory) / name).read_text(encoding="utf-8").rstrip("\r\n")
    except FileNotFoundError:
        raise SubstitutionError(
            f"credential '{name}' not found: no file {name} in $CREDENTIALS_DIRECTORY ({directory})"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise SubstitutionError(f"credential '{name}' cannot be read: {reason}") from None
