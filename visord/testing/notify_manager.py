"""The service manager's end of sd_notify for tests: a datagram socket that collects what a daemon
says."""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from visord.daemon.service.notify import socket_address


class Manager:
    """The service manager's end: a datagram socket bound in the test, collecting what the daemon
    says."""

    def __init__(self, name: str):
        self.name = name
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(socket_address(name))
        self.sock.settimeout(0.1)
        self.messages: list[dict[str, str]] = []

    def receive(
        self, until, timeout: float = 30.0, what: str = "a message"
    ) -> list[dict[str, str]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            self.messages.append(dict(line.split("=", 1) for line in data.split("\n")))
            if until(self.messages[-1]):
                return self.messages
        raise AssertionError(
            f"timed out after {timeout:.0f} s waiting for {what}; got {self.messages}"
        )

    def drain(self) -> list[dict[str, str]]:
        self.sock.settimeout(0)
        try:
            while True:
                self.messages.append(
                    dict(line.split("=", 1) for line in self.sock.recv(4096).decode().split("\n"))
                )
        except BlockingIOError:
            return self.messages
        finally:
            self.sock.settimeout(0.1)

    def close(self) -> None:
        self.sock.close()
        if not self.name.startswith("@"):
            Path(self.name).unlink(missing_ok=True)


@contextmanager
def listening_manager() -> Iterator[Manager]:
    """A Manager on a socket path in a fresh folder under /tmp, removed afterwards."""
    folder = tempfile.mkdtemp(prefix="vn-", dir="/tmp")  # AF_UNIX paths are limited to 107 bytes
    listener = Manager(os.path.join(folder, "notify.sock"))
    try:
        yield listener
    finally:
        listener.close()
        os.rmdir(folder)
