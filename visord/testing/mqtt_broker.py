"""Debian's mosquitto on 127.0.0.1 for tests, and a subscriber that records what it receives.

`Broker` runs mosquitto at a free port with persistence on, so `stop()` (SIGTERM: it saves) and
`start()` again keep the port and the subscribers' persistent sessions: what a sink delivers after
a broker outage reaches a persistent `Subscriber` whichever of the two reconnects first. Optional
users (a password file) and TLS (a self-signed certificate made with openssl).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Hashable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from visord.testing.certs import self_signed
from visord.testing.rtsp_server import free_port
from visord.testing.wait import wait_for

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
HAVE_MOSQUITTO = os.path.exists(MOSQUITTO)


class Broker:
    """mosquitto on 127.0.0.1:`port`; `stop()` and `start()` again keep the port and the saved
    sessions."""

    def __init__(
        self, directory: Path, users: dict[str, str] | None = None, tls: bool = False
    ) -> None:
        self.directory = directory
        self.port = free_port()
        self.log = directory / "mosquitto.log"
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'false' if users else 'true'}",
            "persistence true",
            f"persistence_location {directory}/",
            "log_dest stderr",
            "log_type all",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # stay root: the files in tmp_path are root's
        if users:
            password_file = directory / "passwords"
            for index, (user, password) in enumerate(users.items()):
                create = ["-c"] if index == 0 else []
                subprocess.run(
                    [MOSQUITTO_PASSWD, "-b", *create, str(password_file), user, password],
                    check=True,
                    capture_output=True,
                )
            lines.append(f"password_file {password_file}")
        if tls:
            self.cert = directory / "broker-cert.pem"
            key = directory / "broker-key.pem"
            self_signed(self.cert, key)
            lines += [f"cafile {self.cert}", f"certfile {self.cert}", f"keyfile {key}"]
        self.config = directory / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen | None = None

    def start(self) -> Broker:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.config)], stdout=log, stderr=log
            )
        wait_for(self._listening, 15, f"mosquitto on port {self.port}; log:\n{self.log}")
        return self

    def _listening(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(
                f"mosquitto exited {self.process.returncode}:\n{self.log.read_text()[-3000:]}"
            )
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)
        self.process = None


class Subscriber:
    """A paho client subscribed to `topic` (qos 1) that records (topic, JSON body) in arrival
    order."""

    def __init__(
        self,
        port: int,
        topic: str = "visord/#",
        persistent: bool = False,
        ca_file: Path | None = None,
        **credentials,
    ) -> None:
        self.topic = topic
        self.received = []
        self._subscribed = threading.Event()
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-subscriber-{port}",
            clean_session=not persistent,
        )
        if credentials:
            self.client.username_pw_set(credentials["username"], credentials["password"])
        if ca_file is not None:
            self.client.tls_set(ca_certs=str(ca_file))
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.on_connect = lambda client, *_: client.subscribe(self.topic, qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()
        assert self._subscribed.wait(15), "the test subscriber could not subscribe"

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.received.append((message.topic, json.loads(message.payload), message.retain))

    def wait_for(self, count: int, timeout: float = 30.0) -> list[tuple[str, dict, bool]]:
        wait_for(
            lambda: len(self.received) >= count, timeout, f"{count} messages (have {self.received})"
        )
        with self._lock:
            return list(self.received)

    def wait_for_distinct(
        self,
        count: int,
        key: Callable[[dict], Hashable] = lambda body: body["label"],
        timeout: float = 30.0,
    ) -> list:
        """The first `count` distinct keys (a body's label by default) in arrival order: qos 1 may
        deliver a
        message twice on either leg (the sink's or this subscriber's) when an acknowledgement is
        lost with a connection."""

        def distinct():
            with self._lock:
                return list(dict.fromkeys(key(body) for _, body, _ in self.received))

        wait_for(
            lambda: len(distinct()) >= count,
            timeout,
            f"{count} distinct messages (have {self.received})",
        )
        return distinct()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
