"""The newest events in memory, each with its id: what `GET /api/events` lists and pages through.

An event's id is `<stream>-<epoch ms of its frame>`, one more millisecond when a stream's previous
event took that one already, so ids are unique per daemon run and sort by time within a stream.
A snapshot's files are named by its event's id. The ring holds the last `events.history` events
in the order they were emitted; a query filters them (stream, label, time) and pages newest
first: `before` is the id of the last event of the previous page.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from visord.daemon.events.event import Event


@dataclass(frozen=True)
class Entry:
    event_id: str
    event: Event


@dataclass(frozen=True)
class Query:
    """A page's filters. since, until: epoch seconds of the frame (inclusive). before: an event id
    (the page starts after it, older)."""

    stream: str | None = None
    label: str | None = None
    since: float | None = None
    until: float | None = None
    before: str | None = None
    limit: int = 100

    def matches(self, event: Event) -> bool:
        return (
            (self.stream is None or event.stream == self.stream)
            and (self.label is None or event.label == self.label)
            and (self.since is None or event.time >= self.since)
            and (self.until is None or event.time <= self.until)
        )


class History:
    """A ring of the newest events; thread-safe."""

    def __init__(self, size: int):
        self._lock = threading.Lock()
        self._entries: deque[Entry] = deque(maxlen=size)
        self._last_millis: dict[str, int] = {}

    @property
    def size(self) -> int:
        return self._entries.maxlen or 0

    def next_id(self, stream: str, time: float) -> str:
        """A new event id for `stream` at `time` (epoch seconds)."""
        with self._lock:
            millis = max(round(time * 1000), self._last_millis.get(stream, -1) + 1, 0)
            self._last_millis[stream] = millis
        return f"{stream}-{millis}"

    def add(self, event_id: str, event: Event) -> None:
        with self._lock:
            self._entries.append(Entry(event_id, event))

    def resize(self, size: int) -> None:
        """Keeps the newest `size` events."""
        with self._lock:
            if size != self._entries.maxlen:
                self._entries = deque(self._entries, maxlen=size)

    def page(self, query: Query) -> tuple[list[Entry], bool]:
        """The newest `query.limit` matching events, newest first, and whether older ones match
        too. An unknown `before` (aged out of the ring, or never there) gives an empty page."""
        with self._lock:
            entries = list(self._entries)
        entries.reverse()
        if query.before is not None:
            position = next(
                (i for i, entry in enumerate(entries) if entry.event_id == query.before), None
            )
            entries = [] if position is None else entries[position + 1 :]
        found: list[Entry] = []
        for entry in entries:
            if query.matches(entry.event):
                if len(found) == query.limit:
                    return found, True
                found.append(entry)
        return found, False
