"""What every event sink is: `emit`, `close`, thread-safe counters, and the registry of sink types.

A sink's `emit(event)` never raises and never blocks the caller for long;
`close(timeout)` flushes what it can within `timeout` seconds. Each sink
counts into a `SinkCounters` (read as a `SinkStats` copy by metrics and
/healthz): delivered, failed (a write or publish error lost the event),
dropped (a full buffer, or still undelivered at close), buffered (a gauge),
stalls (times a connected destination stopped taking what it was sent: a stuck MQTT broker),
`healthy` and the last error.

Sink types are looked up by name in `SINKS` (filled by `@SINKS.register`),
so the config's `type:` maps to a class without an if-chain.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from visord.contract.registry import Registry
from visord.daemon.events.event import Event


@dataclass(frozen=True)
class SinkStats:
    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    buffered: int = 0
    healthy: bool = True
    last_error: str | None = None
    stalls: int = 0


class SinkCounters:
    """Counters shared by a sink's threads; every change and every read takes one lock."""

    def __init__(self, healthy: bool = True) -> None:
        self._lock = threading.Lock()
        self._stats = SinkStats(healthy=healthy)

    def add(self, delivered: int = 0, failed: int = 0, dropped: int = 0, stalls: int = 0) -> None:
        with self._lock:
            s = self._stats
            self._stats = replace(
                s,
                delivered=s.delivered + delivered,
                failed=s.failed + failed,
                dropped=s.dropped + dropped,
                stalls=s.stalls + stalls,
            )

    def set_buffered(self, buffered: int) -> None:
        with self._lock:
            self._stats = replace(self._stats, buffered=buffered)

    def set_health(self, healthy: bool, error: str | None = None) -> bool:
        """Sets the flag (and the last error, when given); returns whether the flag changed."""
        with self._lock:
            s = self._stats
            self._stats = replace(
                s, healthy=healthy, last_error=error if error is not None else s.last_error
            )
            return s.healthy != healthy

    def snapshot(self) -> SinkStats:
        with self._lock:
            return self._stats


class Sink(ABC):
    """Base of the sink types. Subclasses take plain keyword arguments and may add `from_config`."""

    type_name: ClassVar[str] = ""

    def __init__(self, healthy: bool = True) -> None:
        self.counters = SinkCounters(healthy)

    @abstractmethod
    def emit(self, event: Event) -> None:
        """Delivers or buffers `event`; never raises, never blocks for long."""

    @abstractmethod
    def close(self, timeout: float = 2.0) -> None:
        """Flushes what can be flushed within `timeout` seconds and releases the sink's
        resources."""

    @abstractmethod
    def describe(self) -> str:
        """One line for logs: the type and destination, never a secret."""

    def publish_snapshot(self, stream: str, event_id: str, jpeg: bytes) -> None:
        """An event's snapshot, encoded (the snapshot writer's thread); most sinks ignore it."""
        return None

    def declare(self, stream: str, labels: Sequence[str]) -> None:
        """The labels `stream` can have (its models' manifests), at its start and after each
        reload; most sinks need not know them."""
        return None

    def forget(self, stream: str) -> None:
        """A stream removed from the config by a reload; most sinks keep nothing per stream."""
        return None

    def stats(self) -> SinkStats:
        return self.counters.snapshot()

    @property
    def healthy(self) -> bool:
        return self.stats().healthy

    @property
    def last_error(self) -> str | None:
        return self.stats().last_error

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


SINKS: Registry[type[Sink]] = Registry("event sink")


def create_sink(type_name: str, **options: Any) -> Sink:
    """A sink of the registered type `type_name`, built from keyword arguments."""
    cls = SINKS.get(type_name)
    try:
        return cls(**options)
    except TypeError as error:
        raise ValueError(
            f"event sink '{type_name}': {error}. Received options: {sorted(options)}"
        ) from None
