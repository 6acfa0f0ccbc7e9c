"""The `mqtt` sink: events published to `{topic_prefix}/{stream}/event` through paho-mqtt.

The client connects in its own thread (`connect_async` + `loop_start`) and
reconnects by itself with exponential backoff, so a broker that is down or
unreachable never blocks the daemon: `emit` only appends to a bounded
`Outbox` (full: the oldest event is dropped and counted) and one sender
thread publishes, in order, while connected. Events buffered during an
outage are delivered after the reconnect, in the order they were emitted.

qos 1 (the default) and 2 survive a connection loss; qos 0 is at most once.
`healthy` means connected and acknowledging; `last_error` says why not. Connection changes are
logged once each (down once, up once), never per event.

A broker that stays connected but acknowledges nothing for `stall_after` seconds (stuck, or
too slow to read what it is sent) is a stall: a watcher thread notices it (the broker's
silence alone tells nothing: paho's keepalive would take 1.5 times `keepalive` to drop the
connection), counts it (`stalls`, `visord_event_sink_stalls_total`), marks the sink down with
the reason and logs it once, and logs again when acknowledgements resume. Meanwhile events keep
going into the outbox as in an outage; nothing waits for the broker. The password is
handed to paho and kept nowhere else; no log line or `describe()` shows it.

With `events.snapshots` on, each event's snapshot JPEG is published retained on
`{topic_prefix}/{stream}/snapshot` (`publish_snapshot`, called by the snapshot writer's thread
with the bytes it encoded): the outbox keeps the latest one per stream, so a snapshot still
waiting when a newer one comes is replaced and counted (`unsent_snapshots`), and snapshots never
push an event out of the buffer.

With `homeassistant` on (`visord.daemon.events.homeassistant`), the client's last will is
`offline` (retained) on `{topic_prefix}/status`; it says `online` at each connect and `offline`
at a clean close. `declare(stream, labels)` (the stream's start: the labels of its models'
manifests) announces its sensor, its image and a binary sensor per label (retained configs under
the discovery prefix), and empties the binary sensors of labels it no longer has; an event of a
stream or label not declared announces what it lacks. Every event's label goes, retained, to
`{topic_prefix}/{stream}/label`. A stream whose config a reload changed keeps its entities;
`forget(stream)` (a stream removed from the config by a reload) empties its configs (those
this run announced, and those of this node found retained on the broker: the sink subscribes to
them at connect) and its label and snapshot topics. A reconnect announces everything again (a
broker that lost its retained messages gets them back).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from visord.daemon.config.outputs import describe_mqtt, mqtt_topic
from visord.daemon.events import homeassistant as ha
from visord.daemon.events.event import Event
from visord.daemon.events.outbox import Message, Outbox
from visord.daemon.events.sink import SINKS, Sink

log = logging.getLogger(__name__)

RETRY_PAUSE = 0.05  # seconds the sender waits after the client turned out not to be connected


@SINKS.register("mqtt")
class MqttSink(Sink):
    type_name = "mqtt"

    def __init__(
        self,
        host: str,
        port: int = 1883,
        *,
        topic_prefix: str = "visord",
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        ca_file: str | os.PathLike[str] | None = None,
        qos: int = 1,
        retain: bool = False,
        buffer_size: int = 1000,
        inflight: int = 20,
        keepalive: int = 30,
        reconnect_min: float = 1.0,
        reconnect_max: float = 30.0,
        snapshots: bool = True,
        homeassistant: ha.Announcer | None = None,
        stall_after: float = 10.0,
    ) -> None:
        """homeassistant: the discovery settings (None: no discovery, no will, no label
        topics). stall_after: seconds without an acknowledgement, while connected with messages
        in flight, that make a stall."""
        super().__init__(healthy=False)
        _check_options(
            topic_prefix,
            qos,
            password,
            username,
            ca_file,
            tls,
            reconnect_min,
            reconnect_max,
            stall_after,
        )
        self.host = host
        self.port = port
        self.topic_prefix = topic_prefix
        self.qos = qos
        self.retain = retain
        self.tls = tls
        self.client_id = client_id or f"visord-{socket.gethostname()[:40]}-{os.getpid()}"
        self.snapshots = snapshots
        self.announcer = homeassistant
        self._discovery = ha.Discovery(homeassistant) if homeassistant is not None else None
        self._labels: dict[str, str] = {}  # stream -> current label (announced again at connect)
        self._announce_lock = threading.Lock()
        self._unsent_lock = threading.Lock()
        self._unsent: Counter[str] = Counter()  # stream -> snapshots never sent
        self._outbox = Outbox(
            buffer_size, inflight, self.counters, reliable=qos > 0, on_unsent=self._unsent_one
        )
        self._down_logged = False
        self._up = False
        self.stall_after = stall_after
        self._stalled_since: float | None = None  # monotonic time the current stall began
        self._closed = threading.Event()
        self._client = self._make_client(
            username, password, ca_file, inflight, reconnect_min, reconnect_max
        )
        self._sender = threading.Thread(
            target=self._send_loop, name=f"visord-mqtt-{host}:{port}", daemon=True
        )
        self._sender.start()
        self._watcher = threading.Thread(
            target=self._watch_loop, name=f"visord-mqtt-watch-{host}:{port}", daemon=True
        )
        self._watcher.start()
        self._client.connect_async(host, port, keepalive)
        self._client.loop_start()

    @classmethod
    def from_config(cls, config: Any) -> MqttSink:
        password = config.password.get_secret_value() if config.password is not None else None
        return cls(
            config.host,
            config.port,
            topic_prefix=config.topic_prefix,
            client_id=config.client_id,
            username=config.username,
            password=password,
            tls=config.tls,
            ca_file=config.ca_file,
            qos=config.qos,
            retain=config.retain,
            snapshots=config.snapshots,
            homeassistant=announcer_of(config),
            stall_after=config.stall_after,
        )

    def topic(self, stream: str) -> str:
        return mqtt_topic(self.topic_prefix, stream)

    def describe(self) -> str:
        return describe_mqtt(self.host, self.port, self.topic_prefix, self.qos, self.tls)

    def emit(self, event: Event) -> None:
        try:
            self._outbox.put(Message(self.topic(event.stream), event.to_json().encode("utf-8")))
            if self._discovery is not None:
                self._announce(event.stream, event.label)
        except Exception as error:  # a sink never raises into the frame loop
            self.counters.add(failed=1)
            self.counters.set_health(self.healthy, f"{type(error).__name__}: {error}")

    def publish_snapshot(self, stream: str, event_id: str, jpeg: bytes) -> None:
        """The event's snapshot, retained on `<prefix>/<stream>/snapshot`; never waits (the
        latest per stream waits in the outbox; one it replaces is counted as unsent)."""
        if self.snapshots:
            if self._discovery is not None:
                with self._announce_lock:  # a snapshot late for a stream removed meanwhile
                    if self._discovery.gone(stream):
                        return
            topic = ha.snapshot_topic(self.topic_prefix, stream)
            self._outbox.put_latest(Message(topic, jpeg, "snapshot", retain=True))

    def unsent_snapshots(self) -> dict[str, int]:
        """Per stream, the snapshots replaced by a newer one (or left at close) before they went
        out."""
        with self._unsent_lock:
            return dict(self._unsent)

    def declare(self, stream: str, labels: Sequence[str]) -> None:
        """The labels `stream` can have: its entities announced now, a binary sensor per label
        (those of labels it no longer has emptied)."""
        if self._discovery is None:
            return
        with self._announce_lock:
            fresh, stale = self._discovery.declare(stream, labels)
        for topic, payload in fresh:
            self._retain(topic, ha.encode(payload), "config")
        for topic in stale:
            self._retain(topic, b"", "config")
        if stale:
            log.info(
                "event sink %s: stream %s has %d labels fewer in Home Assistant",
                self.describe(),
                stream,
                len(stale),
            )

    def forget(self, stream: str) -> None:
        """A stream gone from the config: its discovery configs, label and snapshot emptied."""
        if self._discovery is None:
            return
        with self._announce_lock:
            topics = self._discovery.remove(stream)
            self._labels.pop(stream, None)
        if not topics:
            return
        for topic in topics:
            self._retain(topic, b"", "config")
        self._retain(ha.label_topic(self.topic_prefix, stream), b"", "state")
        self._retain(ha.snapshot_topic(self.topic_prefix, stream), b"", "snapshot")
        log.info(
            "event sink %s: stream %s removed from Home Assistant (%d entities)",
            self.describe(),
            stream,
            len(topics),
        )

    def _announce(self, stream: str, label: str) -> None:
        with self._announce_lock:
            fresh = self._discovery.see(stream, label)  # type: ignore[union-attr]
            self._labels[stream] = label
        for topic, payload in fresh:
            self._retain(topic, ha.encode(payload), "config")
        self._retain(ha.label_topic(self.topic_prefix, stream), label.encode("utf-8"), "state")

    def _announce_all(self) -> None:
        """At each connect: online, and every config and label out again."""
        assert self.announcer is not None and self._discovery is not None
        self._retain(self.announcer.availability_topic, ha.ONLINE.encode(), "status")
        with self._announce_lock:
            configs = list(self._discovery.everything())
            labels = list(self._labels.items())
        for topic, payload in configs:
            self._retain(topic, ha.encode(payload), "config")
        for stream, label in labels:
            self._retain(ha.label_topic(self.topic_prefix, stream), label.encode(), "state")

    def _retain(self, topic: str, payload: bytes, kind: str) -> None:
        self._outbox.put_latest(Message(topic, payload, kind, retain=True))

    def _unsent_one(self, message: Message) -> None:
        if message.kind == "snapshot" and message.payload:
            stream = message.topic[len(self.topic_prefix) + 1 :].rpartition("/")[0]
            with self._unsent_lock:
                self._unsent[stream] += 1

    def close(self, timeout: float = 2.0) -> None:
        """Waits up to `timeout` for buffered events, then disconnects; what is left is counted as
        dropped.

        Without a connection nothing is waited for: a daemon stopping while its broker is down stops
        at once."""
        if self._closed.is_set():
            return
        deadline = time.monotonic() + timeout
        if self._up:
            if self.announcer is not None:  # a clean stop: the will is not sent
                self._retain(self.announcer.availability_topic, ha.OFFLINE.encode(), "status")
            self._outbox.wait_drained(timeout)
        self._closed.set()
        abandoned = self._outbox.close()
        if abandoned:
            log.warning(
                "event sink %s: closed with %d events undelivered", self.describe(), abandoned
            )
        self._sender.join(max(0.0, deadline - time.monotonic()))
        self._client.disconnect()
        # loop_stop joins paho's thread, which can sit in a connect attempt; never wait
        # past the deadline for it.
        stopper = threading.Thread(target=self._client.loop_stop, daemon=True)
        stopper.start()
        stopper.join(max(0.1, deadline - time.monotonic()))
        self.counters.set_health(False, "closed")

    # -- the client

    def _make_client(
        self,
        username: str | None,
        password: str | None,
        ca_file: Any,
        inflight: int,
        reconnect_min: float,
        reconnect_max: float,
    ) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        if username is not None:
            client.username_pw_set(username, password)
        if self.tls:
            client.tls_set(ca_certs=os.fspath(ca_file) if ca_file is not None else None)
        client.max_inflight_messages_set(inflight)
        if self.announcer is not None:  # the broker says it for us when the daemon dies
            client.will_set(self.announcer.availability_topic, ha.OFFLINE, qos=1, retain=True)
        # # floats work
        client.reconnect_delay_set(reconnect_min, reconnect_max)  # type: ignore[arg-type]
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _send_loop(self) -> None:
        while (taken := self._outbox.take()) is not None:
            message, epoch = taken
            try:
                retain = self.retain if message.retain is None else message.retain
                info = self._client.publish(
                    message.topic, message.payload, qos=self.qos, retain=retain
                )
            except (ValueError, TypeError) as error:
                self._outbox.failed()
                self.counters.set_health(self.healthy, f"{type(error).__name__}: {error}")
                continue
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS or (
                info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN and self.qos
            ):
                # qos 1/2 without a connection: paho keeps it and resends
                self._outbox.sent(info.mid, epoch)
            elif info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
                self._outbox.retry()
                self._closed.wait(RETRY_PAUSE)
            else:
                self._outbox.failed()
                self.counters.set_health(self.healthy, mqtt.error_string(info.rc))

    def _watch_loop(self) -> None:
        """Every quarter of `stall_after` (at most 1 s): is the broker acknowledging?"""
        period = min(1.0, self.stall_after / 4)
        while not self._closed.wait(period):
            self._watch()

    def _watch(self) -> None:
        waited, inflight = self._outbox.waiting()
        if waited >= self.stall_after and self._stalled_since is None:
            self._stalled_since = time.monotonic() - waited
            self.counters.add(stalls=1)
            reason = (
                f"broker stalled: nothing acknowledged for {waited:.1f} s "
                f"({inflight} messages in flight)"
            )
            self.counters.set_health(False, reason)
            log.warning(
                "event sink %s: %s; events are buffered (up to %d) until it takes them again",
                self.describe(),
                reason,
                self._outbox.capacity,
            )
        elif waited < self.stall_after and self._stalled_since is not None:
            lasted = time.monotonic() - self._stalled_since
            self._stalled_since = None
            if not self._up:  # the stall ended in a disconnect, which `_down` reports
                return
            self.counters.set_health(True)
            log.info(
                "event sink %s: broker acknowledging again after a stall of %.1f s "
                "(%d events buffered)",
                self.describe(),
                lasted,
                self.stats().buffered,
            )

    # -- paho callbacks (paho's thread, paho's locks held: touch only the outbox and the counters)

    def _on_connect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self._down(f"broker refused the connection: {reason}")
            return
        self._up = True
        if self.announcer is not None:
            # what earlier runs announced, so that removing a stream removes all of it
            client.subscribe(self.announcer.own_configs, qos=1)
            self._announce_all()
        self._outbox.connection(True)
        self.counters.set_health(True)
        self._down_logged = False
        log.info("event sink %s: connected", self.describe())

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        self._down(f"cannot connect to {self.host}:{self.port}")

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        was_up, self._up = self._up, False
        self._outbox.connection(False)
        if was_up and not self._closed.is_set():  # else keep the refusal's reason as last_error
            self._down(f"disconnected: {reason}")

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        if self._discovery is not None and mqtt.topic_matches_sub(
            self.announcer.own_configs,  # type: ignore[union-attr]
            message.topic,
        ):
            with self._announce_lock:
                stale = self._discovery.found(message.topic, bytes(message.payload))
            if stale:  # a label the stream's models no longer have, left by an earlier run
                self._retain(message.topic, b"", "config")

    def _on_publish(
        self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any
    ) -> None:
        self._outbox.acked(mid)

    def _down(self, error: str) -> None:
        self.counters.set_health(False, error)
        if not self._down_logged:
            self._down_logged = True
            log.warning(
                "event sink %s: %s; buffering up to %d events and retrying with backoff",
                self.describe(),
                error,
                self._outbox.capacity,
            )


def announcer_of(config: Any) -> ha.Announcer | None:
    """The discovery settings of an `MqttSinkConfig` (None when off)."""
    settings = config.homeassistant
    if not settings.enabled:
        return None
    node_id = settings.node_id or ha.default_node_id(config.topic_prefix)
    return ha.Announcer(
        prefix=config.topic_prefix,
        discovery_prefix=settings.discovery_prefix,
        node_id=node_id,
        device_name=settings.device_name
        or ("visord" if node_id == "visord" else f"visord {node_id}"),
    )


def _check_options(
    topic_prefix: str,
    qos: int,
    password: str | None,
    username: str | None,
    ca_file: Any,
    tls: bool,
    reconnect_min: float,
    reconnect_max: float,
    stall_after: float = 10.0,
) -> None:
    if (
        not topic_prefix
        or topic_prefix.startswith("/")
        or topic_prefix.endswith("/")
        or any(c in topic_prefix for c in "+#\0")
    ):
        raise ValueError(
            f"topic_prefix must be a topic without wildcards or outer '/'. "
            f"Received `topic_prefix={topic_prefix!r}`"
        )
    if qos not in (0, 1, 2):
        raise ValueError(f"qos must be 0, 1 or 2. Received `qos={qos!r}`")
    if password is not None and username is None:
        raise ValueError("password needs a username. Received `username=None`")
    if ca_file is not None and not (tls and Path(ca_file).is_file()):
        raise ValueError(
            "ca_file needs tls=True and an existing file. Received "
            f"`ca_file={os.fspath(ca_file)!r}`, "
            f"`tls={tls!r}`"
        )
    if not stall_after > 0:
        raise ValueError(f"stall_after must be > 0. Received `stall_after={stall_after!r}`")
    if not 0 < reconnect_min <= reconnect_max:
        raise ValueError(
            f"need 0 < reconnect_min <= reconnect_max. Received `reconnect_min={reconnect_min!r}`, "
            f"`reconnect_max={reconnect_max!r}`"
        )
