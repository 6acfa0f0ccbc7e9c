"""FFmpeg's own messages, routed through visord's logging when an operator asks for them.

Off by default (PyAV's default: FFmpeg prints nothing). A failure's cause reaches visord's log
line without them, as a typed exception (`causes`), and FFmpeg's lines quote URLs, passwords
included. `route_ffmpeg_logs()` (`visord run --log-level debug` calls it) turns on FFmpeg's
warnings and errors as records of the `libav.<component>` loggers, in visord's format (text or
JSON), never raw on stderr: each message's URLs are redacted, and each component logs at most
`BURST` lines per `PERIOD` seconds (a broken stream can print one per packet); the lines held
back are counted in the next one let through.
"""

from __future__ import annotations

import logging
import re
import time

import av.logging

from visord.contract.redact import redact_url

PREFIX = "libav"
BURST = 10
PERIOD = 10.0
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+")


class FFmpegLines(logging.Filter):
    """Redacts URLs in FFmpeg's records and holds back those over a component's rate."""

    def __init__(self, burst: int = BURST, period: float = PERIOD, clock=time.monotonic) -> None:
        super().__init__()
        self.burst = burst
        self.period = period
        self._clock = clock
        self._windows: dict[str, tuple[float, int, int]] = {}  # start, let through, held back

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(PREFIX):
            return True
        now = self._clock()
        start, passed, held = self._windows.get(record.name, (now, 0, 0))
        if now - start >= self.period:
            start, passed = now, 0
        if passed >= self.burst:
            self._windows[record.name] = (start, passed, held + 1)
            return False
        message = _URL.sub(lambda match: redact_url(match[0]), record.getMessage())
        if held:
            message += f" ({held} more line(s) of {record.name} held back)"
        record.msg = message
        record.args = ()
        self._windows[record.name] = (start, passed + 1, 0)
        return True


def route_ffmpeg_logs(level: int = av.logging.WARNING) -> FFmpegLines:
    """FFmpeg's messages at `level` and above into Python logging, through the root logger's
    handlers with `FFmpegLines` on each."""
    lines = FFmpegLines()
    for handler in logging.getLogger().handlers:
        handler.addFilter(lines)
    av.logging.set_level(level)
    return lines
