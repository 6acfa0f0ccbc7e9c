"""`Sinks`: every event to every sink, so one bad sink never stops the others.

Sinks promise not to raise; this is the second fence: an exception from one
sink is counted as a failure of that sink, logged once per sink, and the
next sink still gets the event. `close(timeout)` shares one deadline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence

from visord.daemon.events.event import Event
from visord.daemon.events.sink import Sink

log = logging.getLogger(__name__)


class Sinks:
    def __init__(self, sinks: Iterable[Sink]) -> None:
        self._sinks = tuple(sinks)
        self._complained: set[int] = set()

    def emit(self, event: Event) -> None:
        for sink in self._sinks:
            try:
                sink.emit(event)
            except Exception:
                sink.counters.add(failed=1)
                self._complain(sink)

    def publish_snapshot(self, stream: str, event_id: str, jpeg: bytes) -> None:
        """An event's encoded snapshot to every sink that publishes pictures."""
        for sink in self._sinks:
            try:
                sink.publish_snapshot(stream, event_id, jpeg)
            except Exception:
                self._complain(sink)

    def declare(self, stream: str, labels: Sequence[str]) -> None:
        for sink in self._sinks:
            try:
                sink.declare(stream, labels)
            except Exception:
                self._complain(sink)

    def forget(self, stream: str) -> None:
        for sink in self._sinks:
            try:
                sink.forget(stream)
            except Exception:
                self._complain(sink)

    def _complain(self, sink: Sink) -> None:
        if id(sink) not in self._complained:
            self._complained.add(id(sink))
            log.exception("event sink %s raised; counted as failed, logged once", sink.describe())

    def close(self, timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        for sink in self._sinks:
            try:
                sink.close(max(0.0, deadline - time.monotonic()))
            except Exception:
                log.exception("event sink %s failed to close", sink.describe())

    @property
    def healthy(self) -> bool:
        return all(sink.healthy for sink in self._sinks)

    def __iter__(self) -> Iterator[Sink]:
        return iter(self._sinks)

    def __len__(self) -> int:
        return len(self._sinks)
