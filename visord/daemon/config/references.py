"""Checks that need the whole config: model roles, model references, unique names, cameras.

Owns the checks that tie `streams:`, `rules:` and `hardware.costs` to `models:`, and `streams:`
to `cameras:`. They work on plain values (model name -> role, stream name and
model choice, each rule's model choice, the models the cost table names) so
they can run on the raw YAML too: a config with a bad `fps` still gets its
unknown-model error in the same report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from visord.daemon.config.models import ROLES
from visord.daemon.config.policy import MODEL_MODES, TWO_MODEL_MODES

KeyPath = tuple[str | int, ...]
Problem = tuple[KeyPath, str]


def models_for(choice: str, roles: Mapping[str, str]) -> tuple[str, ...]:
    """Model names a stream with `model: choice` may run, given role -> model name (cascade: small,
    large)."""
    if choice in ROLES:
        return (roles[choice],) if choice in roles else ()
    if choice in TWO_MODEL_MODES:
        return tuple(roles[role] for role in ("small", "large") if role in roles)
    return (choice,)


def reference_problems(
    models: Mapping[str, str | None] | None,
    streams: Sequence[tuple[Any, Any]],
    rules: Sequence[Any] = (),
    costs: Sequence[Any] = (),
    collected: Sequence[Any] = (),
) -> list[Problem]:
    """Problems in `models` (name -> role), `streams` ((name, model choice) per index), `rules` (the
    model
    choice each rule sets, or None), `costs` (the model names of `hardware.costs`) and `collected`
    (the stream names of `collect.streams`).

    `models` is None when the section is unusable (its own errors are reported elsewhere): then only
    the stream names are checked, rather than flagging every stream's model as unknown.
    """
    problems = _role_problems(models or {})
    roles = {role: name for name, role in (models or {}).items() if role in ROLES}
    seen: dict[str, int] = {}
    for index, (name, choice) in enumerate(streams):
        if isinstance(name, str):
            if name in seen:
                message = f"duplicate stream name '{name}' (also streams[{seen[name]}])"
                problems.append((("streams", index, "name"), message))
            seen.setdefault(name, index)
        if isinstance(choice, str) and models is not None:
            problems += [
                (("streams", index, "model"), message)
                for message in _choice_problems(choice, models, roles)
            ]
    problems += [
        (("collect", "streams", index), f"unknown stream '{name}' (streams: {', '.join(seen)})")
        for index, name in enumerate(collected)
        if isinstance(name, str) and name not in seen
    ]
    if models is not None:
        problems += [
            (("rules", index, "set", "model"), message)
            for index, choice in enumerate(rules)
            if isinstance(choice, str)
            for message in _choice_problems(choice, models, roles)
        ]
        problems += [
            (("hardware", "costs", name), f"unknown model '{name}' (models: {', '.join(models)})")
            for name in costs
            if name not in models
        ]
    return problems


def camera_problems(
    cameras: Sequence[Any], streams: Sequence[tuple[Any, Any, bool]]
) -> list[Problem]:
    """Problems between `cameras` (each camera's name, by index) and `streams` ((name, camera it
    names or None, whether it has its own source) by index): duplicate or unused cameras, unknown
    ones, and a camera named like a stream that is a camera of its own."""
    problems: list[Problem] = []
    named: dict[str, int] = {}
    for index, name in enumerate(cameras):
        if not isinstance(name, str):
            continue
        if name in named:
            message = f"duplicate camera name '{name}' (also cameras[{named[name]}])"
            problems.append((("cameras", index, "name"), message))
        named.setdefault(name, index)
    own = {
        name: index
        for index, (name, _, has_source) in enumerate(streams)
        if has_source and isinstance(name, str)
    }
    for name, index in named.items():
        if name in own:
            problems.append(
                (
                    ("cameras", index, "name"),
                    f"'{name}' is also streams[{own[name]}], a camera of its own (it has a "
                    "source:): rename one, or make that stream name this camera",
                )
            )
    used = {camera for _, camera, _ in streams if isinstance(camera, str)}
    problems += [
        (
            ("cameras", index, "name"),
            f"no stream names camera '{name}': give its regions `camera: {name}`, or remove it",
        )
        for name, index in named.items()
        if name not in used
    ]
    for index, (_, camera, _) in enumerate(streams):
        if isinstance(camera, str) and camera not in named:
            valid = f"cameras: {', '.join(named)}" if named else "there is no cameras: section"
            problems.append((("streams", index, "camera"), f"unknown camera '{camera}' ({valid})"))
    return problems


def _role_problems(models: Mapping[str, str | None]) -> list[Problem]:
    problems: list[Problem] = []
    holders: dict[str, str] = {}
    for name, role in models.items():
        if name in TWO_MODEL_MODES:
            problems.append(
                (
                    ("models", name),
                    f"'{name}' is a stream mode, not a model name: rename this model",
                )
            )
        elif name in ROLES and role != name:
            problems.append(
                (
                    ("models", name, "role"),
                    f"a model named '{name}' must have role: {name} "
                    f"(a stream's `model: {name}` means the model with role {name})",
                )
            )
        if role in ROLES:
            if role in holders:
                problems.append(
                    (
                        ("models", name, "role"),
                        f"models.{holders[role]} already has role {role}: "
                        "at most one model per role",
                    )
                )
            holders.setdefault(role, name)
    return problems


def _choice_problems(
    choice: str, models: Mapping[str, str | None], roles: Mapping[str, str]
) -> list[str]:
    if choice in ROLES:
        return (
            [] if choice in roles else [f"no model has role {choice}: {_role_hint(choice, models)}"]
        )
    if choice in TWO_MODEL_MODES:
        missing = [role for role in ROLES if role not in roles]
        if missing:
            return [
                f"{choice} needs a large and a small model; no model has role "
                f"{' or '.join(missing)}: "
                f"{_role_hint(missing[0], models)}"
            ]
        return []
    if choice not in models:
        names = f"; models: {', '.join(models)}" if models else ""
        return [f"unknown model '{choice}' (valid: {', '.join(MODEL_MODES)}{names})"]
    return []


def _role_hint(role: str, models: Mapping[str, str | None]) -> str:
    if not models:
        return "add one under models:"
    return f"set `role: {role}` on one of models {', '.join(models)}"


def raw_reference_problems(data: Any) -> list[Problem]:
    """`reference_problems` on unvalidated YAML data: whatever is not the expected shape is
    skipped."""
    if not isinstance(data, Mapping):
        return []
    raw_models = data.get("models")
    raw_streams = data.get("streams")
    models: dict[str, str | None] | None = None
    if isinstance(raw_models, Mapping):
        models = {
            str(name): body.get("role") if isinstance(body, Mapping) else None
            for name, body in raw_models.items()
        }
        if any(role is not None and role not in ROLES for role in models.values()):
            # a misspelt role is reported by the schema; guessing here would add noise
            models = None
    streams = [
        (item.get("name"), item.get("model")) if isinstance(item, Mapping) else (None, None)
        for item in _items(raw_streams)
    ]
    rules = [_get(_get(item, "set"), "model") for item in _items(data.get("rules"))]
    costs = _get(data.get("hardware"), "costs")
    collected = _items(_get(data.get("collect"), "streams"))
    cameras = [_get(item, "name") for item in _items(data.get("cameras"))]
    regions = [
        (_get(item, "name"), _get(item, "camera"), _get(item, "source") is not None)
        for item in _items(raw_streams)
    ]
    return reference_problems(
        models, streams, rules, list(costs) if isinstance(costs, Mapping) else [], collected
    ) + camera_problems(cameras, regions)


def _items(value: Any) -> list:
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else []


def _get(node: Any, key: str) -> Any:
    return node.get(key) if isinstance(node, Mapping) else None
