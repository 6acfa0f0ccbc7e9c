"""YAML loading that remembers where each value came from.

Owns turning YAML text into plain Python values (PyYAML's safe tags only) plus
a `LineMap` from key paths (`("streams", 2, "fps")`) to 1-based line numbers,
so a config error can say `visord.yaml:14: streams[2].fps: ...`. It also
refuses what `yaml.safe_load` lets slip by silently: duplicate keys, and
alias bombs (a bounded number of nodes).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

Path = tuple[str | int, ...]
MAX_NODES = 100_000  # far above any real config; stops "billion laughs" alias expansion


class YamlError(ValueError):
    """Text that is not a usable YAML document; `line` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


class LineMap:
    """Key path -> line of the key (mapping entries) or of the item (sequence entries)."""

    def __init__(self) -> None:
        self._lines: dict[Path, int] = {(): 1}

    def set(self, path: Path, line: int) -> None:
        self._lines[path] = line

    def line_of(self, path: Iterable[str | int]) -> int:
        """The line of `path`, or of its nearest ancestor present in the file (a missing key's
        section)."""
        path = tuple(path)
        while path not in self._lines:
            path = path[:-1]
        return self._lines[path]

    def __contains__(self, path: object) -> bool:
        return path in self._lines


def format_path(path: Iterable[str | int]) -> str:
    """`("streams", 2, "fps")` -> `streams[2].fps`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def load_with_lines(text: str) -> tuple[Any, LineMap]:
    """The document's value (None when empty) and where each key path sits; YamlError when
    malformed."""
    try:
        loader = yaml.SafeLoader(text)  # refuses control characters at once, before any mark exists
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, max(0, error.position)) + 1
        raise YamlError(
            line, f"character {error.character:#06x} is not allowed in YAML ({error.reason})"
        ) from None
    try:
        node = loader.get_single_node()
        lines = LineMap()
        value = None if node is None else _Builder(loader, lines).build(node, ())
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise YamlError(mark.line + 1 if mark else 1, _describe(error)) from None
    except yaml.YAMLError as error:
        raise YamlError(1, str(error)) from None
    finally:
        loader.dispose()
    return value, lines


def _describe(error: yaml.MarkedYAMLError) -> str:
    text = ", ".join(part for part in (error.context, error.problem) if part)
    start = error.context_mark
    end = error.problem_mark
    if start and end and start.line != end.line:
        text += f" (the construct started on line {start.line + 1})"
    return text if isinstance(error, _StructureError) else f"YAML syntax error: {text}"


class _StructureError(yaml.MarkedYAMLError):
    """Well-formed YAML that a config still cannot be: duplicate keys, recursive aliases, ..."""

    def __init__(self, problem: str, node: yaml.Node) -> None:
        super().__init__(problem=problem, problem_mark=node.start_mark)


class _Builder:
    """Walks the composed node tree, constructing scalars with the loader's resolver and noting
    lines."""

    def __init__(self, loader: yaml.SafeLoader, lines: LineMap) -> None:
        self.loader = loader
        self.lines = lines
        self.visited = 0
        # ids of the collections being built: a recursive alias meets one again
        self.open: set[int] = set()

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise _StructureError(f"more than {MAX_NODES} values (alias expansion?)", node)
        if isinstance(node, yaml.ScalarNode):
            return self.loader.construct_object(node, deep=True)
        if id(node) in self.open:
            raise _StructureError("an alias refers to a value that contains it", node)
        self.open.add(id(node))
        try:
            return (
                self._mapping(node, path)
                if isinstance(node, yaml.MappingNode)
                else self._sequence(node, path)
            )
        finally:
            self.open.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        own = sum(1 for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge")
        self.loader.flatten_mapping(node)  # resolves `<<: *anchor`; merged pairs come first
        merged = len(node.value) - own
        result: dict[Any, Any] = {}
        own_keys: set[Any] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            key = self._key(key_node, path, own_keys if index >= merged else set())
            if index >= merged:
                own_keys.add(key)
            self.lines.set((*path, key), key_node.start_mark.line + 1)
            result[key] = self.build(value_node, (*path, key))
        return result

    def _key(self, node: yaml.Node, path: Path, seen: set[Any]) -> Any:
        key = self.loader.construct_object(node, deep=True)
        if key is not None and not isinstance(key, (str, int, float, bool)):
            raise _StructureError("a key must be a plain value", node)
        if key in seen:
            raise _StructureError(
                f"duplicate key '{key}' in {format_path(path) or 'the top level'}", node
            )
        return key

    def _sequence(self, node: yaml.SequenceNode, path: Path) -> list[Any]:
        items = []
        for index, item in enumerate(node.value):
            self.lines.set((*path, index), item.start_mark.line + 1)
            items.append(self.build(item, (*path, index)))
        return items
