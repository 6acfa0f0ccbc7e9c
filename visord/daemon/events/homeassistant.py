"""Home Assistant MQTT discovery: the retained config messages that make visord's streams entities.

Home Assistant subscribes to `<discovery_prefix>/<component>/<node_id>/<object_id>/config` and
builds one entity from each retained JSON config there
(https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery); an empty retained payload on
the same topic removes it. The MQTT sink (`visord.daemon.events.mqtt`) publishes them when its
`homeassistant.enabled` is on; this module only says what they are.

One device per daemon (per `node_id`), not per camera: the availability is the daemon's (one
last will makes every entity unavailable when the process dies, and that is the one thing a
per-camera device could not show differently), the event pipeline knows streams and not cameras,
and a stream moved to another camera keeps its entities. Per stream:

- `sensor` `<stream>_label`: state `<prefix>/<stream>/label`, the stream's current label
  (retained); the last event's JSON as its attributes (`json_attributes_topic`).
- `binary_sensor` `<stream>_is_<label>`: the same label topic, ON while it is this label
  (`value_template`).
- `image` `<stream>_snapshot`: `image_topic` `<prefix>/<stream>/snapshot`, the last event's JPEG
  (an image entity has no `state_topic`).

The binary sensors are announced when the stream starts, one per label its models' manifests
list (`Discovery.declare`: the runtime hands the labels to the event pipeline, which hands them
to the sinks), so a label that has not happened yet already has its entity; a reload that changes
the labels empties the binary sensors of labels gone, and those an earlier run left retained for
labels the stream no longer has (`found`). A label first seen in an event is announced then
(`Discovery.see`: a stream nobody declared, as in tests that drive the sink alone).
Every config carries `unique_id`, `name`, `device`, `origin` and the availability topic
`<prefix>/status` (`online`, and `offline` as the MQTT client's last will and at a clean stop).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from visord import __version__

ONLINE = "online"
OFFLINE = "offline"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def status_topic(prefix: str) -> str:
    """The availability topic: `online` while the daemon is connected, `offline` otherwise."""
    return f"{prefix}/status"


def label_topic(prefix: str, stream: str) -> str:
    """The stream's current label, retained (what the sensor and binary sensors read)."""
    return f"{prefix}/{stream}/label"


def snapshot_topic(prefix: str, stream: str) -> str:
    """The stream's latest event snapshot, a JPEG, retained."""
    return f"{prefix}/{stream}/snapshot"


def slug(text: str) -> str:
    """`text` as a topic level and id part (letters, digits, `_`, `-`); a label with other
    characters gets a short hash, so two labels never share a slug."""
    safe = _UNSAFE.sub("_", text)[:64]
    if safe == text:
        return safe
    return f"{safe}_{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def default_node_id(topic_prefix: str) -> str:
    """The node id when the config gives none: the topic prefix as a slug (`site/a` -> `site_a`),
    stable across restarts and unique per broker as the prefix must be."""
    return _UNSAFE.sub("_", topic_prefix)


@dataclass(frozen=True)
class Announcer:
    """What one daemon's configs say: its topics, ids and device."""

    prefix: str  # the sink's topic prefix
    discovery_prefix: str = "homeassistant"
    node_id: str = "visord"
    device_name: str = "visord"

    def config_topic(self, component: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{self.node_id}/{object_id}/config"

    @property
    def own_configs(self) -> str:
        """The subscription that finds this node's retained configs."""
        return f"{self.discovery_prefix}/+/{self.node_id}/+/config"

    @property
    def availability_topic(self) -> str:
        return status_topic(self.prefix)

    def device(self) -> dict:
        return {
            "identifiers": [f"visord_{self.node_id}"],
            "name": self.device_name,
            "manufacturer": "visord",
            "model": "visord recognition daemon",
            "sw_version": __version__,
        }

    def _common(self, stream: str, what: str, name: str) -> dict:
        return {
            "name": name,
            "unique_id": f"visord_{self.node_id}_{stream}_{what}",
            "availability_topic": self.availability_topic,
            "payload_available": ONLINE,
            "payload_not_available": OFFLINE,
            "device": self.device(),
            "origin": {"name": "visord", "sw_version": __version__},
        }

    def sensor(self, stream: str) -> tuple[str, dict]:
        payload = self._common(stream, "label", f"{stream} label") | {
            "state_topic": label_topic(self.prefix, stream),
            "json_attributes_topic": f"{self.prefix}/{stream}/event",
            "icon": "mdi:cctv",
        }
        return self.config_topic("sensor", f"{stream}_label"), payload

    def binary_sensor(self, stream: str, label: str) -> tuple[str, dict]:
        what = f"is_{slug(label)}"
        payload = self._common(stream, what, f"{stream} {label}") | {
            "state_topic": label_topic(self.prefix, stream),
            # a JSON string is a Jinja string literal: the label needs no other quoting
            "value_template": f"{{{{ 'ON' if value == {json.dumps(label)} else 'OFF' }}}}",
            "payload_on": "ON",
            "payload_off": "OFF",
        }
        return self.config_topic("binary_sensor", f"{stream}_{what}"), payload

    def image(self, stream: str) -> tuple[str, dict]:
        payload = self._common(stream, "snapshot", f"{stream} snapshot") | {
            "image_topic": snapshot_topic(self.prefix, stream),
            "content_type": "image/jpeg",
        }
        return self.config_topic("image", f"{stream}_snapshot"), payload


@dataclass
class Discovery:
    """Which configs are out, per stream: `see` returns the ones an event makes new, `remove` the
    topics to empty. Not thread-safe: the sink calls it under its own lock."""

    announcer: Announcer
    configs: dict[str, dict[str, dict]] = field(default_factory=dict)  # stream -> topic -> payload
    leftover: dict[str, set[str]] = field(default_factory=dict)  # stream -> topics found retained
    removed: set[str] = field(default_factory=set)  # streams removed, without an event since
    declared: dict[str, set[str]] = field(default_factory=dict)  # stream -> its labels' topics

    def see(self, stream: str, label: str) -> list[tuple[str, dict]]:
        """The configs to publish for an event of `stream` with `label` (none when all are out)."""
        self.removed.discard(stream)
        known = self.configs.get(stream)
        fresh = []
        if known is None:
            known = self.configs[stream] = {}
            fresh += [self.announcer.sensor(stream), self.announcer.image(stream)]
        topic, payload = self.announcer.binary_sensor(stream, label)
        if topic not in known:
            fresh.append((topic, payload))
        known.update(fresh)
        return fresh

    def declare(
        self, stream: str, labels: Sequence[str]
    ) -> tuple[list[tuple[str, dict]], list[str]]:
        """The configs to publish for a stream that can have `labels` (its sensor and image, a
        binary sensor per label, those not out yet), and the topics to empty: the binary sensors of
        labels it no longer has, announced by this run or found retained from an earlier one."""
        self.removed.discard(stream)
        known = self.configs.setdefault(stream, {})
        wanted = [self.announcer.sensor(stream), self.announcer.image(stream)]
        wanted += [self.announcer.binary_sensor(stream, label) for label in labels]
        topics = {topic for topic, _ in wanted}
        self.declared[stream] = topics
        fresh = [(topic, payload) for topic, payload in wanted if topic not in known]
        stale = [topic for topic in known if topic not in topics]
        stale += [t for t in sorted(self.leftover.get(stream, ())) if t not in topics | set(stale)]
        for topic in stale:
            known.pop(topic, None)
        known.update(fresh)
        return fresh, stale

    def remove(self, stream: str) -> list[str]:
        """The config topics of `stream`, forgotten here (each to be emptied): those announced by
        this sink and those found retained on the broker (`found`)."""
        self.removed.add(stream)
        self.declared.pop(stream, None)
        topics = dict.fromkeys(self.configs.pop(stream, {}))
        topics.update(dict.fromkeys(sorted(self.leftover.pop(stream, set()))))
        return list(topics)

    def found(self, topic: str, payload: bytes) -> bool:
        """A retained config of this node on the broker (announced by an earlier run, or by
        this one): remembered for `remove`, so that a stream's entities go whole even when
        this run has not seen all its labels. An empty payload forgets the topic. True when the
        config is stale (to be emptied): one for a declared stream that its labels no longer
        call for."""
        if not payload:
            for topics in self.leftover.values():
                topics.discard(topic)
            return False
        stream = self.stream_of(payload)
        if stream is None:
            return False
        self.leftover.setdefault(stream, set()).add(topic)
        declared = self.declared.get(stream)
        return (
            declared is not None
            and topic not in declared
            and topic not in self.configs.get(stream, {})
        )

    def stream_of(self, payload: bytes) -> str | None:
        """The stream a config of this node reads (from its state or image topic)."""
        try:
            config = json.loads(payload)
        except ValueError:
            return None
        if not isinstance(config, dict):
            return None
        start = f"{self.announcer.prefix}/"
        for key in ("state_topic", "image_topic"):
            topic = config.get(key)
            if isinstance(topic, str) and topic.startswith(start):
                stream, _, what = topic[len(start) :].partition("/")
                if stream and what in ("label", "snapshot"):
                    return stream
        return None

    def gone(self, stream: str) -> bool:
        """Whether `stream` was removed and has had no event since (a snapshot of it arriving
        late is not published, or it would come back retained)."""
        return stream in self.removed

    def everything(self) -> Iterator[tuple[str, dict]]:
        for known in self.configs.values():
            yield from known.items()


def encode(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
