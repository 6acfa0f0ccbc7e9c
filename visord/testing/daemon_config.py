"""Daemon configs for tests and benchmarks, built as data and written once by `yaml.safe_dump` (a
section that holds no other section on one line, as the shipped configs write it): no
YAML by f-string, so a path with a space or a colon and a URL with `&` or `#` need no quoting by
hand, and every config here is written the same way."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

# Events nowhere: for runs that measure the daemon, not its sinks.
NO_EVENTS = {"sinks": [{"type": "jsonl", "path": "/dev/null"}]}


def daemon_yaml(
    models: Mapping[str, Path],
    streams: Sequence[Mapping[str, Any]] | str,
    model_keys: Mapping[str, Any] | None = None,
    **sections: Any,
) -> str:
    """A daemon config: `models` {role: path}, each model named after its role (plus
    `model_keys`), the `streams:` items, then the other top-level `sections` in order (a `None`
    one is left out). `streams` as text is what follows `streams:` in a YAML file: its list items,
    and any top-level sections after them."""
    if isinstance(streams, str):
        tail = yaml.safe_load("streams:\n" + streams)
        streams = tail.pop("streams") or []
        sections = {**tail, **sections}
    document = {
        "models": {
            role: {"path": str(path), "role": role, **(model_keys or {})}
            for role, path in models.items()
        },
        "streams": [dict(stream) for stream in streams],
        **{key: value for key, value in sections.items() if value is not None},
    }
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=None)
