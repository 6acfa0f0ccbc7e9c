"""Walking and editing nested documents (parsed YAML or JSON) for the fuzz tests: every key path,
one value changed."""

from __future__ import annotations

from typing import Any

GONE = object()  # as a replacement value: the key is removed instead


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a document (mapping keys and list indexes)."""
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    found = [prefix] if prefix else []
    for key, child in children:
        found += paths(child, (*prefix, key))
    return found


def replaced(node: Any, path: tuple, value: Any) -> Any:
    """A copy of `node` with the value at `path` replaced by `value` (or removed, for GONE); `node`
    is untouched."""
    if not path:
        return value
    copy = dict(node) if isinstance(node, dict) else list(node)
    if len(path) == 1 and value is GONE:
        del copy[path[0]]
    else:
        copy[path[0]] = replaced(copy[path[0]], path[1:], value)
    return copy
