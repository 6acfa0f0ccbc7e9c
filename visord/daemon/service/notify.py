"""systemd's readiness and watchdog protocol (sd_notify), spoken over `$NOTIFY_SOCKET` directly.

Owns the messages visord sends to its service manager: READY=1, STATUS=,
WATCHDOG=1 (at half of `$WATCHDOG_USEC`, and only while the caller says the
loop is healthy), RELOADING=1 with MONOTONIC_USEC= (what systemd 253+ asks
for; older versions ignore the extra field), and STOPPING=1. Each message is
one datagram of newline-separated assignments to an AF_UNIX socket; a name
starting with '@' is in the abstract namespace. Without `$NOTIFY_SOCKET`
(not under systemd, or Type= not notify) every call is a no-op, and a send
that fails is logged once and never raises: the daemon must not stop because
its supervisor went away.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


def socket_address(name: str) -> str | bytes:
    """The address to send to: '@name' is abstract (a leading NUL byte), anything else a path."""
    return b"\0" + name[1:].encode() if name.startswith("@") else name


def watchdog_period(environ: Mapping[str, str]) -> float | None:
    """Seconds between pings (half the watchdog timeout), or None when systemd asks for none.

    WATCHDOG_PID, when set, names the process the watchdog is meant for (as sd_watchdog_enabled
    checks)."""
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6


class Notifier:
    """Sends sd_notify messages to `address`; does nothing when it is None."""

    def __init__(
        self,
        address: str | None,
        watchdog_every: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.address = address or None
        self.watchdog_every = watchdog_every
        self._clock = clock
        self._last_ping: float | None = None
        self._failed = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Notifier:
        return cls(environ.get("NOTIFY_SOCKET"), watchdog_period(environ))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *assignments: str) -> bool:
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(assignments).encode(), socket_address(self.address))
        except OSError as error:
            if not self._failed:  # once: a vanished socket would otherwise log every few seconds
                log.warning("systemd notify to %s failed: %s", self.address, error)
            self._failed = True
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *([_status(status)] if status else []))

    def status(self, text: str) -> bool:
        return self.send(_status(text))

    def reloading(self) -> bool:
        return self.send(
            "RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"
        )

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def watchdog(self, healthy: Callable[[], bool]) -> bool:
        """WATCHDOG=1 when a ping is due and `healthy()` says so; True when one was sent.

        `healthy` is asked only when a ping is due. An unhealthy answer sends nothing, so systemd's
        timeout runs out and it restarts the service, which is the point."""
        if self.address is None or self.watchdog_every is None:
            return False
        now = self._clock()
        if self._last_ping is not None and now - self._last_ping < self.watchdog_every:
            return False
        if not healthy():
            return False
        self._last_ping = now
        return self.send("WATCHDOG=1")


def _status(text: str) -> str:
    return "STATUS=" + " ".join(text.split())  # one line: a newline would start a new assignment
