"""`DATASET/.visord/labels.jsonl`: every action of the label page, one JSON object a line.

An entry says when (`time`), what (`action`: label, skip, delete, add-class or undo), which crop
(`name`) and class (`class`), and the moves it made, as paths relative to DATASET: the image
(`from_path` -> `to_path`) and its record (`record_from` -> `record_to`). Entries are numbered
(`id`); an `undo` entry names the entry it reversed (`undoes`) and lists the moves it made back.

A bulk action (many crops with one key: `label-many`, `skip-many`, `delete-many`) is one entry:
its `class`, its `count`, and `crops`, a list with each crop's `name`, `stream` and moves (the
same fields as a single action's). One undo takes it all back. `accept-many` is one too (the
crops whose suggestion scored at least its `threshold`, each with its own `class`), and so are
`relabel` and `delete-labelled` (labelled images moved to another class or to the trash from the
mistakes view: each crop's `was` class and image moves; their records do not move).

The file is only ever appended to (and synced), so it is also the undo stack: replaying it from
the top, each action pushes, each undo pops. A server started again can therefore undo what an
earlier one did. A line torn by a crash is skipped with a warning.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Entry = dict[str, Any]


class Journal:
    """The action log of one data set and the undo stack replayed from it. The caller
    (`actions.Labeller`) holds its lock around every call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stack: list[Entry] = []
        self.next_id = 1
        self._torn = False  # the last line lacks its newline: a crash cut it
        self._replay()

    def _replay(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        self._torn = bool(data) and not data.endswith(b"\n")
        lines = data.decode("utf-8", errors="replace").splitlines()
        for number, line in enumerate(lines, 1):
            try:
                entry = json.loads(line)
                entry_id = int(entry["id"])
                action = entry["action"]
            except (ValueError, KeyError, TypeError):
                log.warning("%s:%d: not a journal entry; skipped", self.path, number)
                continue
            self.next_id = max(self.next_id, entry_id + 1)
            if action == "undo":
                self._pop(entry.get("undoes"))
            else:
                self.stack.append(entry)

    def _pop(self, entry_id: object) -> None:
        if self.stack and self.stack[-1]["id"] == entry_id:
            self.stack.pop()  # the usual case: undo reverses the last action
        else:
            self.stack = [kept for kept in self.stack if kept["id"] != entry_id]

    def skipped(self) -> dict[str, int]:
        """Crop name -> id of its last skip that was not undone (the listing puts those last)."""
        skipped = {}
        for entry in self.stack:
            if entry["action"] == "skip":
                skipped[entry["name"]] = entry["id"]
            elif entry["action"] == "skip-many":
                for crop in entry.get("crops") or ():
                    if isinstance(crop, dict) and isinstance(crop.get("name"), str):
                        skipped[crop["name"]] = entry["id"]
        return skipped

    def last(self) -> Entry | None:
        """The action the next undo reverses."""
        return self.stack[-1] if self.stack else None

    def append(self, action: str, **fields: Any) -> Entry:
        """Writes one entry (synced before returning) and updates the undo stack."""
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "id": self.next_id,
            "action": action,
            **fields,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            # After a torn line, start on a line of its own rather than finish the torn one.
            handle.write(("\n" if self._torn else "") + json.dumps(entry) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self._torn = False
        self.next_id += 1
        if action == "undo":
            self._pop(fields["undoes"])
        else:
            self.stack.append(entry)
        return entry
