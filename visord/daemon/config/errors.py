"""Config errors as an operator reads them: `FILE:LINE: key.path[2].field: message`.

Owns `ConfigError` (it carries every message, one per problem) and the
translation of pydantic's errors: key paths taken from the YAML (not
pydantic's union tags), messages reworded ("unknown key (valid: ...)"), and
the received value quoted only when it cannot be a secret.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from visord.contract.redact import redact_url
from visord.daemon.config.yaml_lines import LineMap, format_path

KeyPath = tuple[str | int, ...]
Problem = tuple[KeyPath, str]
SECRET_KEYS = {"source", "password", "username"}


class ConfigError(ValueError):
    """A config that must not be used; `messages` lists every problem, each naming its key path."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = list(messages)


def format_problems(problems: Iterable[Problem], source: str, lines: LineMap) -> list[str]:
    """Sorted by line, duplicates dropped: `source:line: path: message`."""
    rows = sorted(
        {
            (lines.line_of(path), format_path(path) or "(top level)", message)
            for path, message in problems
        }
    )
    return [f"{source}:{line}: {path}: {message}" for line, path, message in rows]


def pydantic_problems(
    error: ValidationError, root: type[BaseModel], data: Any, secrets: set[KeyPath]
) -> list[Problem]:
    """One (key path, message) per pydantic error; 'cross_reference' errors are left to the
    caller."""
    problems = []
    for item in error.errors(include_url=False):
        if item["type"] == "cross_reference":
            continue
        path = _data_path(item["loc"], data)
        problems.append(_translate(item, path, root, data, secrets))
    return problems


def _data_path(loc: tuple, data: Any) -> KeyPath:
    """pydantic's location as a path in the YAML: union tags (`mqtt`) and `[key]` markers
    dropped."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(node, Mapping) and part not in node and node.get("type") == part:
            continue  # a discriminated union's tag, not a key of the document
        path.append(part)
        node = node[part] if isinstance(node, Mapping | list) and _has(node, part) else None
    return tuple(path)


def _has(node: Any, part: Any) -> bool:
    return (
        part in node
        if isinstance(node, Mapping)
        else isinstance(part, int) and 0 <= part < len(node)
    )


def _translate(
    item: Mapping[str, Any], path: KeyPath, root: type[BaseModel], data: Any, secrets: set[KeyPath]
) -> Problem:
    kind = item["type"]
    ctx = item.get("ctx", {})
    if kind == "extra_forbidden":
        return path, _unknown_key(path, root, data)
    if kind == "missing":
        return path, "required key is missing"
    if kind == "union_tag_invalid":
        return (
            *path,
            "type",
        ), f"unknown type '{ctx.get('tag')}' (valid: {_union_tags(root, path, data)})"
    if kind == "union_tag_not_found":
        return (*path, "type"), f"required key is missing (valid: {_union_tags(root, path, data)})"
    message = _reword(item["msg"])
    value = item.get("input")
    if not _is_secret(path, secrets):
        return path, message + _received(value, kind)
    if isinstance(value, str) and len(value) >= 4:
        for length in (len(value), 80, 40):  # visord's messages quote at most 80 or 40 characters
            message = message.replace(value[:length], "***")
    return path, message


def _union_tags(root: type[BaseModel], path: KeyPath, data: Any) -> str:
    annotation = _annotation_at(root, path, data)
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return ", ".join(str(_tag_of(option)) for option in typing.get_args(annotation))


def _reword(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    for old, new in (
        ("Input should be", "must be"),
        ("String should", "must"),
        ("List should", "must"),
        ("Dictionary should", "must"),
        ("Value should", "must"),
    ):
        if message.startswith(old):
            message = new + message[len(old) :]
            break
    message = message.replace(" after validation", "")
    for old, new in (
        ("greater than or equal to", ">="),
        ("less than or equal to", "<="),
        ("greater than", ">"),
        ("less than", "<"),
    ):
        message = message.replace(old, new)
    return message


def _is_secret(path: KeyPath, secrets: set[KeyPath]) -> bool:
    return bool(path) and (path[-1] in SECRET_KEYS or path in secrets)


def _received(value: Any, kind: str) -> str:
    if kind in ("value_error", "too_short", "too_long"):  # the message already says what matters
        return ""
    if isinstance(value, Mapping):
        return " (received a mapping)"
    if isinstance(value, list):
        return " (received a list)"
    if value is None:
        return " (received an empty value)"
    if isinstance(value, str) and (len(value) > 80 or redact_url(value) != value):
        return ""
    return f" (received {value!r})" if isinstance(value, str | int | float | bool) else ""


def _unknown_key(path: KeyPath, root: type[BaseModel], data: Any) -> str:
    model = _model_at(root, path[:-1], data)
    if model is None:
        return "unknown key"
    valid = list(model.model_fields)
    key = str(path[-1])
    close = (
        difflib.get_close_matches(key, valid, n=1)
        or [name for name in valid if name.startswith(key)][:1]
    )
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown key ({hint}valid: {', '.join(valid)})"


def _model_at(root: type[BaseModel], path: KeyPath, data: Any) -> type[BaseModel] | None:
    """The model class that validates the mapping at `path` of `data`."""
    annotation = _concrete(_annotation_at(root, path, data), _node_at(data, path))
    return (
        annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    )


def _node_at(data: Any, path: KeyPath) -> Any:
    for part in path:
        data = data[part] if isinstance(data, Mapping | list) and _has(data, part) else None
    return data


def _annotation_at(root: type[BaseModel], path: KeyPath, data: Any) -> Any:
    """The type annotation that validates the value at `path` of `data`."""
    annotation: Any = root
    node = data
    for part in path:
        annotation = _concrete(annotation, node)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            annotation = field.annotation if field else None
        else:
            args = typing.get_args(annotation)
            annotation = args[-1] if args else None
        node = _node_at(node, (part,))
    return annotation


def _concrete(annotation: Any, node: Any) -> Any:
    """Through Annotated[...] and unions to the type that applies to `node` (a union picks by
    `type`)."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            annotation = next(
                (arg for arg in options if _tag_of(arg) == _get(node, "type")), options[0]
            )
        else:
            return annotation


def _tag_of(model: Any) -> Any:
    field = getattr(model, "model_fields", {}).get("type")
    return (
        typing.get_args(field.annotation)[0]
        if field and typing.get_args(field.annotation)
        else None
    )


def _get(node: Any, key: str) -> Any:
    return node.get(key) if isinstance(node, Mapping) else None
