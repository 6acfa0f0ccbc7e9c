"""The status line printed every few seconds when visord runs in a terminal.

Owns its content: streams up out of enabled, then per stream the classified
rate over the last interval, the model that answered last, and the current
label with its score. One line, so it reads well in a terminal and in journald.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from visord.daemon.sources.state import StreamState

if TYPE_CHECKING:
    from visord.daemon.runtime import Runtime


class StatusLine:
    def __init__(
        self,
        runtime: Runtime,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        write: Callable[[str], None] = print,
    ):
        self.runtime = runtime
        self.interval = interval
        self._clock = clock
        self._write = write
        self._last_time = clock()
        self._last_counts: dict[str, int] = {}

    def maybe_print(self) -> None:
        if self.interval > 0 and self._clock() - self._last_time >= self.interval:
            self._write(self.render())

    def render(self) -> str:
        now = self._clock()
        elapsed, self._last_time = max(now - self._last_time, 1e-9), now
        streams = self.runtime.streams
        up = sum(running.reader.state == StreamState.STREAMING for running in streams.values())
        parts = [f"streams {up}/{len(streams)} up"]
        for name, running in streams.items():
            rate = (running.classified - self._last_counts.get(name, 0)) / elapsed
            self._last_counts[name] = running.classified
            answer = (
                f"{running.last.label} {running.last.score:.2f} ({running.last.model})"
                if running.last
                else "-"
            )
            parts.append(
                f"{name}: {rate:.1f}/s {answer}"
                if running.reader.state == StreamState.STREAMING
                else f"{name}: {running.reader.state.value}"
            )
        return " | ".join(parts)
