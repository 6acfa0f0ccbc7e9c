"""Streams of one server come back together: when one connects, its siblings stop waiting.

Cameras are often served by one host: an NVR, a restreaming server, one camera's several channels.
When that host goes down every stream on it backs off, each on its own doubling schedule, and when
it comes back each would notice only at its next attempt (up to its `reconnect.max` later). The
first stream of a host to connect again tells the others (`connected`): those waiting out a
backoff try at once, so the whole host is back within about one open. Streams of other hosts, and
files and devices, are never touched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import urlsplit

Wake = Callable[[], None]
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}


def host_of(source: str) -> str | None:
    """`host:port` of a network source (the scheme's port when none is given), else None."""
    try:
        parts = urlsplit(source)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return f"{parts.hostname.lower()}:{port or DEFAULT_PORTS[scheme]}"


class Siblings:
    """Who waits on which host. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_host: dict[str, set[Wake]] = {}

    def join(self, host: str, wake: Wake) -> None:
        with self._lock:
            self._by_host.setdefault(host, set()).add(wake)

    def leave(self, host: str, wake: Wake) -> None:
        with self._lock:
            waiting = self._by_host.get(host, set())
            waiting.discard(wake)
            if not waiting:
                self._by_host.pop(host, None)

    def connected(self, host: str, by: Wake) -> None:
        """A stream of `host` (the one `by` wakes) connected: wakes the others."""
        with self._lock:
            others = [wake for wake in self._by_host.get(host, ()) if wake != by]
        for wake in others:
            wake()


SIBLINGS = Siblings()
