"""The `jsonl` sink: one JSON object per line, appended to a file and flushed, or written to stdout
("-").

Error policy: a failed write (disk full, a path whose directory is gone or
is a file, a closed stdout) loses that event, counts it as failed, marks the
sink unhealthy and is logged once, as a warning, until a write succeeds
again (then one info line says how many were lost). Every later event tries
again, reopening the file, so the sink recovers by itself when the disk has
room or the directory is back. Directories are never created: a typo in a
path should fail loudly, not grow a tree somewhere.

The file is opened with O_APPEND and each event is one unbuffered write, so
nothing waits in a Python buffer and lines from several processes do not
interleave. Before each write the path's inode is compared with the open
file's: after logrotate moves the file away (or someone deletes it) the
next event goes to a fresh file at the configured path.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

from visord.daemon.events.event import Event
from visord.daemon.events.sink import SINKS, Sink

log = logging.getLogger(__name__)


@SINKS.register("jsonl")
class JsonlSink(Sink):
    type_name = "jsonl"

    def __init__(self, path: str | os.PathLike[str] = "-") -> None:
        super().__init__()
        self.path = os.fspath(path)
        if not self.path:
            raise ValueError("jsonl path must be a file path or '-' for stdout. Received `path=''`")
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._failed_since_ok = 0

    @classmethod
    def from_config(cls, config: Any) -> JsonlSink:
        return cls(path=config.path)

    @property
    def to_stdout(self) -> bool:
        return self.path == "-"

    def describe(self) -> str:
        return "jsonl -> stdout" if self.to_stdout else f"jsonl -> {self.path}"

    def emit(self, event: Event) -> None:
        with self._lock:
            try:
                line = event.to_json() + "\n"
                if self.to_stdout:
                    self._write_stdout(line)
                else:
                    self._write_file(line.encode("utf-8"))
            # OSError mostly; ValueError from a closed stdout or a NaN score; never to the caller
            except Exception as error:
                self._close_fd()
                self._failed(error)
            else:
                self._delivered()

    def close(self, timeout: float = 2.0) -> None:
        with self._lock:
            self._close_fd()

    # -- writing

    @staticmethod
    def _write_stdout(line: str) -> None:
        # sys.stdout is looked up per event: it may be replaced (tests, a reopened journal stream).
        sys.stdout.write(line)
        sys.stdout.flush()

    def _write_file(self, data: bytes) -> None:
        fd = self._current_fd()
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    def _current_fd(self) -> int:
        if self._fd is not None and not self._same_file(self._fd):
            self._close_fd()
        if self._fd is None:
            self._fd = os.open(
                self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644
            )
        return self._fd

    def _same_file(self, fd: int) -> bool:
        try:
            on_disk = os.stat(self.path)
            opened = os.fstat(fd)
        except OSError:
            return False
        return (on_disk.st_dev, on_disk.st_ino) == (opened.st_dev, opened.st_ino)

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    # -- counting and logging once per failure episode

    def _failed(self, error: Exception) -> None:
        self.counters.add(failed=1)
        message = f"{type(error).__name__}: {error}"
        if self.counters.set_health(False, message):
            log.warning(
                "event sink %s: write failed (%s); events are counted as failed and every new "
                "event retries; logged once until a write succeeds",
                self.describe(),
                message,
            )
        self._failed_since_ok += 1

    def _delivered(self) -> None:
        self.counters.add(delivered=1)
        if self.counters.set_health(True):
            log.info(
                "event sink %s: writing again after %d failed events",
                self.describe(),
                self._failed_since_ok,
            )
        self._failed_since_ok = 0
