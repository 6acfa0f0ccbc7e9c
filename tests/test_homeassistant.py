"""MQTT that Home Assistant understands, against a real broker (Debian's mosquitto on 127.0.0.1).

What Home Assistant reads is checked as it would reach it: a raw subscriber records every message
(topic, bytes, retained) on the discovery and state topics. The discovery payloads are checked
for the keys Home Assistant's MQTT discovery documents for each component (sensor and
binary_sensor: `state_topic`; image: one of `image_topic`/`url_topic`), plus `unique_id`,
`name`, `device` and the availability topic. Home Assistant itself does not run here: a
binary sensor's `value_template` is evaluated by `template_state`, which understands the one
template form visord writes and fails on any other.

The daemon tests run `visord run` as a process: every label of a stream's model has its binary
sensor from the start (one that never wins too); a stream removed from its config and a SIGHUP
empty that stream's config topics, a stream whose config changed keeps them; SIGKILL makes the
broker send the last will, `offline`.
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from visord.daemon.config import parse_config
from visord.daemon.config.outputs import EventsConfig, MqttSinkConfig
from visord.daemon.events import Event, EventPipeline, MqttSink
from visord.daemon.events.fanout import Sinks
from visord.daemon.events.homeassistant import Announcer, slug
from visord.daemon.events.mqtt import announcer_of
from visord.testing.daemon_process import DaemonProcess
from visord.testing.mqtt_broker import HAVE_MOSQUITTO
from visord.testing.onnx_models import manifest_dict, tiny_classifier
from visord.testing.rtsp_server import free_port
from visord.testing.wait import wait_for

pytestmark = pytest.mark.skipif(
    not HAVE_MOSQUITTO, reason="needs Debian's mosquitto (`make test` installs it)"
)

FAST = {"reconnect_min": 0.1, "reconnect_max": 0.5}
T0 = 1_740_830_400.0
REQUIRED = {  # per component, beyond what every one carries
    "sensor": {"state_topic"},
    "binary_sensor": {"state_topic"},
    "image": {"image_topic"},
}
COMMON = {"unique_id", "name", "device", "availability_topic"}


class Recorder:
    """A paho client subscribed to `topics` that records (topic, payload bytes, retained)."""

    def __init__(self, port: int, *topics: str) -> None:
        self.received: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"recorder-{free_port()}")
        self.client.on_connect = lambda client, *_: client.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._subscribed.wait(15), "the recorder could not subscribe"

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.received.append((message.topic, bytes(message.payload), message.retain))

    def latest(self) -> dict[str, bytes]:
        """Each topic's last payload (what a retained topic holds now, as seen here)."""
        with self._lock:
            return {topic: payload for topic, payload, _ in self.received}

    def configs(self) -> dict[str, dict]:
        """The discovery configs as they are now (emptied ones left out)."""
        return {
            topic: json.loads(payload)
            for topic, payload in self.latest().items()
            if topic.endswith("/config") and payload
        }

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def template_state(template: str, value: str) -> str:
    """`{{ 'ON' if value == "LABEL" else 'OFF' }}` evaluated for `value`."""
    match = re.fullmatch(r"\{\{ 'ON' if value == (\".*\") else 'OFF' \}\}", template)
    assert match, f"not the template visord writes: {template!r}"
    return "ON" if value == json.loads(match.group(1)) else "OFF"


def check_payload(topic: str, payload: dict, prefix: str = "visord") -> None:
    component = topic.split("/")[1]
    missing = (COMMON | REQUIRED[component]) - set(payload)
    assert not missing, f"{topic} lacks {missing}"
    device = payload["device"]
    assert device["identifiers"] and {"name", "manufacturer", "model", "sw_version"} <= set(device)
    assert payload["availability_topic"] == f"{prefix}/status"
    assert (payload["payload_available"], payload["payload_not_available"]) == (
        "online",
        "offline",
    )


def announcer(**changes) -> Announcer:
    return Announcer(
        **({"prefix": "visord", "node_id": "box", "device_name": "visord box"} | changes)
    )


def event(stream: str, label: str, index: int, previous: str | None = None) -> Event:
    return Event(stream, label, 0.9, "small", T0 + index, 0.01, previous)


def test_the_config_switch_makes_the_announcer():
    config = EventsConfig.model_validate(
        {
            "sinks": [
                {"type": "mqtt", "host": "127.0.0.1", "topic_prefix": "site/a"},
                {
                    "type": "mqtt",
                    "host": "127.0.0.1",
                    "topic_prefix": "site/a",
                    "homeassistant": {"enabled": True},
                },
                {
                    "type": "mqtt",
                    "host": "127.0.0.1",
                    "homeassistant": {
                        "enabled": True,
                        "discovery_prefix": "ha",
                        "node_id": "garage",
                        "device_name": "Garage box",
                    },
                },
            ]
        }
    )
    off, default, named = (announcer_of(sink) for sink in config.sinks)
    assert off is None
    assert (default.discovery_prefix, default.node_id, default.device_name) == (
        "homeassistant",
        "site_a",
        "visord site_a",
    )
    assert named.config_topic("sensor", "door_label") == "ha/sensor/garage/door_label/config"
    assert named.device()["name"] == "Garage box"
    plain = MqttSinkConfig(type="mqtt", host="127.0.0.1", homeassistant={"enabled": True})
    assert (announcer_of(plain).node_id, announcer_of(plain).device_name) == ("visord", "visord")


def test_labels_with_odd_characters_get_distinct_safe_ids():
    labels = ["person", "a b", "a_b", "a/b", "ümlaut"]
    ids = [slug(label) for label in labels]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", one) for one in ids)
    assert slug("person") == "person"


def test_discovery_payloads_states_and_availability(broker, closing):
    recorder = Recorder(broker.port, "homeassistant/#", "visord/#")
    closing(recorder)
    sink = MqttSink("127.0.0.1", broker.port, homeassistant=announcer(), **FAST)
    closing(sink)
    wait_for(lambda: recorder.latest().get("visord/status") == b"online", what="online")

    sink.emit(event("door", "people", 0))
    sink.emit(event("yard", "empty", 0))
    sink.emit(event("door", "empty", 1, "people"))
    wanted = {
        "homeassistant/sensor/box/door_label/config",
        "homeassistant/image/box/door_snapshot/config",
        "homeassistant/binary_sensor/box/door_is_people/config",
        "homeassistant/binary_sensor/box/door_is_empty/config",
        "homeassistant/sensor/box/yard_label/config",
        "homeassistant/image/box/yard_snapshot/config",
        "homeassistant/binary_sensor/box/yard_is_empty/config",
    }
    wait_for(lambda: set(recorder.configs()) == wanted, what="the 7 configs")
    configs = recorder.configs()
    for topic, payload in configs.items():
        check_payload(topic, payload)
    unique_ids = [payload["unique_id"] for payload in configs.values()]
    assert len(set(unique_ids)) == len(unique_ids) == 7
    sensor = configs["homeassistant/sensor/box/door_label/config"]
    assert sensor["state_topic"] == "visord/door/label"
    assert sensor["json_attributes_topic"] == "visord/door/event"
    image = configs["homeassistant/image/box/door_snapshot/config"]
    assert (image["image_topic"], image["content_type"]) == ("visord/door/snapshot", "image/jpeg")
    assert "url_topic" not in image

    def binary(stream: str, label: str) -> str:
        payload = configs[f"homeassistant/binary_sensor/box/{stream}_is_{label}/config"]
        state = recorder.latest()[payload["state_topic"]].decode()
        return template_state(payload["value_template"], state)

    wait_for(lambda: recorder.latest().get("visord/door/label") == b"empty", what="door empty")
    assert (binary("door", "people"), binary("door", "empty")) == ("OFF", "ON")
    sink.emit(event("door", "people", 2, "empty"))
    wait_for(lambda: recorder.latest().get("visord/door/label") == b"people", what="door people")
    assert (binary("door", "people"), binary("door", "empty"), binary("yard", "empty")) == (
        "ON",
        "OFF",
        "ON",
    )
    # the event lines are still what they were
    [door_event] = [p for t, p, _ in recorder.received if t == "visord/door/event"][-1:]
    assert json.loads(door_event) == event("door", "people", 2, "empty").to_dict()

    # a clean stop says offline (the will is for a death)
    sink.close()
    wait_for(lambda: recorder.latest().get("visord/status") == b"offline", what="offline")
    assert sink.stats().delivered == 4 and sink.stats().dropped == 0


def test_a_later_subscriber_gets_configs_label_and_status_retained(broker, closing):
    sink = MqttSink("127.0.0.1", broker.port, homeassistant=announcer(), **FAST)
    closing(sink)
    sink.emit(event("door", "people", 0))
    wait_for(lambda: sink.stats().delivered == 1 and sink._outbox.pending() == 0, what="sent")
    late = Recorder(broker.port, "homeassistant/#", "visord/#")
    closing(late)
    wait_for(lambda: len(late.configs()) == 3, what="3 retained configs")
    latest = late.latest()
    assert (latest["visord/status"], latest["visord/door/label"]) == (b"online", b"people")
    assert all(kept for _, _, kept in late.received)
    assert "visord/door/event" not in latest  # events keep the sink's retain setting (off)


def test_forget_empties_the_stream_configs_and_keeps_the_others(broker, closing):
    recorder = Recorder(broker.port, "homeassistant/#", "visord/#")
    closing(recorder)
    sink = MqttSink("127.0.0.1", broker.port, homeassistant=announcer(), **FAST)
    closing(sink)
    sink.emit(event("door", "people", 0))
    sink.emit(event("yard", "empty", 0))
    wait_for(lambda: len(recorder.configs()) == 6, what="6 configs")
    door_topics = {t for t in recorder.configs() if "/door_" in t}
    sink.forget("door")
    wait_for(
        lambda: all(recorder.latest()[t] == b"" for t in door_topics), what="door configs emptied"
    )
    assert set(recorder.configs()) == {t for t in recorder.configs() if "/yard_" in t}
    assert len(recorder.configs()) == 3
    assert recorder.latest()["visord/door/label"] == b""
    # emptied retained: a later subscriber sees nothing of door
    late = Recorder(broker.port, "homeassistant/#")
    closing(late)
    wait_for(lambda: len(late.configs()) == 3, what="yard's 3 retained configs")
    assert not [t for t in late.latest() if "/door_" in t]


def test_no_discovery_no_status_without_the_switch(broker, closing):
    recorder = Recorder(broker.port, "#")
    closing(recorder)
    sink = MqttSink("127.0.0.1", broker.port, **FAST)
    closing(sink)
    sink.emit(event("door", "people", 0))
    wait_for(lambda: sink.stats().delivered == 1, what="the event")
    wait_for(lambda: recorder.received, what="the event at the recorder")
    assert [t for t, _, _ in recorder.received] == ["visord/door/event"]


def two_halves() -> np.ndarray:
    image = np.zeros((120, 160, 3), np.uint8)
    image[:, :80] = (0, 0, 255)
    image[:, 80:] = (255, 0, 0)
    return image


def test_each_event_snapshot_is_published_retained_as_a_jpeg(broker, closing, tmp_path):
    recorder = Recorder(broker.port, "visord/+/snapshot", "visord/+/event")
    closing(recorder)
    sink = MqttSink("127.0.0.1", broker.port, **FAST)
    config = EventsConfig(
        debounce={"hold_frames": 1, "min_score": 0.5},
        snapshots={"enabled": True, "path": str(tmp_path / "snaps")},
    )
    pipeline = EventPipeline(config, sinks=Sinks([sink]))
    closing(pipeline)
    wait_for(lambda: sink.healthy, what="the sink to connect")
    made = pipeline.observe(
        "door",
        SimpleNamespace(label="red", score=0.9, model="small"),
        time.time(),  # recent: retention (max_days) would delete an old one at once
        0.01,
        two_halves(),
        None,
    )
    assert made is not None and made.snapshot is not None
    jpeg = wait_for(lambda: recorder.latest().get("visord/door/snapshot"), what="the snapshot")
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None and decoded.shape == (120, 160, 3)
    assert decoded[60, 150, 0] > 200 and decoded[60, 150, 2] < 60  # the blue half stayed blue
    # the same picture as the file on disk, and retained
    on_disk = tmp_path / "snaps" / f"{made.snapshot}.jpg"
    wait_for(on_disk.exists, what="the file")
    assert on_disk.read_bytes() == jpeg
    late = Recorder(broker.port, "visord/+/snapshot")
    closing(late)
    wait_for(lambda: late.latest().get("visord/door/snapshot") == jpeg, what="retained snapshot")
    assert late.received[0][2] is True
    # the event line is unchanged: JSON, naming its snapshot
    [line] = [p for t, p, _ in recorder.received if t == "visord/door/event"]
    assert json.loads(line)["snapshot"] == made.snapshot


def test_snapshots_waiting_are_replaced_by_newer_ones_and_counted(broker, closing):
    broker.stop()  # nothing goes out: snapshots wait in the outbox
    sink = MqttSink("127.0.0.1", broker.port, **FAST)
    closing(sink)
    for index in range(5):
        sink.publish_snapshot("door", f"door-{index}", b"jpeg-%d" % index)
    sink.publish_snapshot("yard", "yard-0", b"jpeg-yard")
    for index in range(3):
        sink.emit(event("door", f"l{index}", index))
    assert sink.unsent_snapshots() == {"door": 4}
    stats = sink.stats()  # the snapshots push no event out and are not counted as events
    assert (stats.buffered, stats.dropped) == (3, 0)
    broker.start()
    recorder = Recorder(broker.port, "visord/#")
    closing(recorder)
    wait_for(lambda: recorder.latest().get("visord/door/snapshot") == b"jpeg-4", what="newest")
    assert recorder.latest()["visord/yard/snapshot"] == b"jpeg-yard"
    wait_for(lambda: sink.stats().delivered == 3, what="the 3 events")


def test_the_snapshot_switch_off_publishes_none(broker, closing):
    recorder = Recorder(broker.port, "#")
    closing(recorder)
    sink = MqttSink("127.0.0.1", broker.port, snapshots=False, **FAST)
    closing(sink)
    sink.publish_snapshot("door", "door-1", b"jpeg")
    sink.emit(event("door", "people", 0))
    wait_for(lambda: sink.stats().delivered == 1, what="the event")
    wait_for(lambda: recorder.received, what="the event at the recorder")
    assert [t for t, _, _ in recorder.received] == ["visord/door/event"]


# -- the daemon as a process


def write_config(
    folder: Path, model: Path, lines: str, metrics_port: int, broker_port: int
) -> Path:
    """`folder`/visord.yaml: the streams' `lines` on `model` as `small`, events to the broker with
    discovery on."""
    config = folder / "visord.yaml"
    config.write_text(
        f"models:\n  small: {{path: {model}, role: small}}\n"
        f"streams:\n{lines}"
        "events:\n"
        "  debounce: {hold_frames: 2, min_score: 0.3}\n"
        f"  sinks: [{{type: mqtt, host: 127.0.0.1, port: {broker_port},"
        " homeassistant: {enabled: true, node_id: testbox}}]\n"
        f"metrics: {{port: {metrics_port}}}\n"
    )
    parse_config(config.read_text())  # a test config that does not load is this file's fault
    return config


def started_daemon(tmp_path, broker, closing, write, streams):
    """A recorder of the discovery and state topics, then the daemon on the config `write` makes
    of `streams` in tmp_path/daemon: (recorder, that folder, its metrics port, the daemon)."""
    recorder = Recorder(broker.port, "homeassistant/#", "visord/#")
    closing(recorder)
    port = free_port()
    folder = tmp_path / "daemon"
    folder.mkdir()
    daemon = DaemonProcess(write(folder, port, broker.port, streams), port)
    closing(SimpleNamespace(close=daemon.stop))
    return recorder, folder, port, daemon


def daemon_config(folder: Path, metrics_port: int, broker_port: int, streams: list[str]) -> Path:
    """The tiny colour model (written once), `streams` on the demo scenes, events to the broker
    with discovery on."""
    model = folder / "small.onnx"
    if not model.exists():
        tiny_classifier(model, manifest_dict(name="small"), weights=np.eye(3) * 0.2)
    lines = "".join(
        f'  - {{name: {name}, source: "demo://scenes?fps=10&size=64x48", fps: 5, model: small}}\n'
        for name in streams
    )
    return write_config(folder, model, lines, metrics_port, broker_port)


def test_the_daemon_announces_removes_on_reload_and_its_will_says_offline(
    tmp_path, broker, closing
):
    recorder, folder, port, daemon = started_daemon(
        tmp_path, broker, closing, daemon_config, ["front", "back"]
    )
    wait_for(lambda: recorder.latest().get("visord/status") == b"online", 60, "the daemon online")
    for stream in ("front", "back"):
        wait_for(
            lambda stream=stream: (
                f"homeassistant/sensor/testbox/{stream}_label/config" in recorder.configs()
            ),
            60,
            f"{stream}'s sensor announced",
        )
    label = wait_for(lambda: recorder.latest().get("visord/front/label"), 60, "front's label")
    label = label.decode()
    assert label in ("red", "green", "blue")
    configs = recorder.configs()  # its binary sensor came before the label
    for topic, payload in configs.items():
        check_payload(topic, payload)
        assert payload["device"]["identifiers"] == ["visord_testbox"]
    binary = configs[f"homeassistant/binary_sensor/testbox/front_is_{label}/config"]
    assert template_state(binary["value_template"], label) == "ON"

    # back's sensor, image and a binary sensor per label of its model (announced at its start)
    def back() -> set[str]:
        return {t for t in recorder.configs() if "/back_" in t}

    wait_for(lambda: len(back()) == 5, 60, "back's five configs")
    back_topics = back()

    # back removed from the config, SIGHUP: its configs emptied, front's kept
    daemon_config(folder, port, broker.port, ["front"])
    daemon.process.send_signal(signal.SIGHUP)
    wait_for(
        lambda: all(recorder.latest()[t] == b"" for t in back_topics),
        60,
        f"back's configs emptied; log:\n{daemon.log}",
    )
    assert {t for t in configs if "/front_" in t} <= set(recorder.configs())
    wait_for(lambda: not back(), what="no config of back left")
    assert recorder.latest()["visord/status"] == b"online"

    # killed: no clean close, the broker sends the will
    daemon.process.send_signal(signal.SIGKILL)
    daemon.process.wait(15)
    wait_for(lambda: recorder.latest().get("visord/status") == b"offline", 60, "the will (offline)")
    late = Recorder(broker.port, "visord/status")
    closing(late)
    wait_for(lambda: late.received, what="the retained status")
    assert late.received == [("visord/status", b"offline", True)]


def test_removing_a_stream_empties_what_an_earlier_run_announced(broker, closing):
    recorder = Recorder(broker.port, "homeassistant/#")
    closing(recorder)
    earlier = MqttSink("127.0.0.1", broker.port, homeassistant=announcer(), **FAST)
    earlier.emit(event("door", "people", 0))
    earlier.emit(event("door", "empty", 1, "people"))
    earlier.emit(event("yard", "empty", 0))
    wait_for(lambda: len(recorder.configs()) == 7, what="the earlier run's 7 configs")
    earlier.close()
    door_topics = {t for t in recorder.configs() if "/door_" in t}
    assert len(door_topics) == 4

    sink = MqttSink("127.0.0.1", broker.port, homeassistant=announcer(), **FAST)
    closing(sink)
    # this run has seen only "empty" on door; the retained configs tell it the rest
    wait_for(
        lambda: len(sink._discovery.leftover.get("door", ())) == 4, what="door's retained configs"
    )
    sink.emit(event("door", "empty", 5))
    sink.forget("door")
    wait_for(
        lambda: all(recorder.latest()[t] == b"" for t in door_topics),
        what="all 4 of door's configs emptied, is_people too",
    )
    assert {t for t in recorder.configs()} == {t for t in recorder.configs() if "/yard_" in t}
    assert len(recorder.configs()) == 3


def test_a_snapshot_late_for_a_removed_stream_is_not_published(broker, closing):
    recorder = Recorder(broker.port, "visord/+/snapshot")
    closing(recorder)
    sink = MqttSink("127.0.0.1", broker.port, homeassistant=announcer(), **FAST)
    closing(sink)
    sink.emit(event("door", "people", 0))
    sink.publish_snapshot("door", "door-0", b"first")
    wait_for(lambda: recorder.latest().get("visord/door/snapshot") == b"first", what="first")
    sink.forget("door")
    wait_for(lambda: recorder.latest().get("visord/door/snapshot") == b"", what="emptied")
    sink.publish_snapshot("door", "door-1", b"late")  # encoded before the removal
    wait_for(lambda: sink._outbox.pending() == 0, what="nothing left to send")
    sink.emit(event("door", "empty", 2))  # the stream is back: its snapshots go out again
    sink.publish_snapshot("door", "door-2", b"new")
    wait_for(lambda: recorder.latest().get("visord/door/snapshot") == b"new", what="new")
    payloads = [p for t, p, _ in recorder.received if t == "visord/door/snapshot"]
    assert payloads == [b"first", b"", b"new"]


# -- the labels of a stream's models, announced at its start


def test_declared_labels_are_announced_before_any_event_and_labels_gone_are_emptied(
    broker, closing
):
    recorder = Recorder(broker.port, "homeassistant/#")
    closing(recorder)
    sink = MqttSink("127.0.0.1", broker.port, homeassistant=announcer(), **FAST)
    closing(sink)
    sink.declare("door", ["people", "car", "empty"])
    wait_for(lambda: len(recorder.configs()) == 5, what="door's 5 configs, no event yet")
    configs = recorder.configs()
    for topic, payload in configs.items():
        check_payload(topic, payload)
    binary = {t.split("/")[3] for t in configs if t.split("/")[1] == "binary_sensor"}
    assert binary == {"door_is_people", "door_is_car", "door_is_empty"}
    sink.emit(event("door", "car", 0))  # nothing more to announce
    sink.declare("door", ["people", "car", "empty"])  # the same labels again: nothing sent
    wait_for(lambda: sink._outbox.pending() == 0, what="sent")
    assert len([t for t, _, _ in recorder.received if t.endswith("/config")]) == 5

    # the model changed: its labels now are people and empty
    car = "homeassistant/binary_sensor/box/door_is_car/config"
    sink.declare("door", ["people", "empty"])
    wait_for(lambda: recorder.latest()[car] == b"", what="door's car emptied")
    assert len(recorder.configs()) == 4
    sink.close()

    # a later run whose model has one label: what the earlier run left for the others goes
    later = MqttSink("127.0.0.1", broker.port, homeassistant=announcer(), **FAST)
    closing(later)
    later.declare("door", ["people"])
    empty = "homeassistant/binary_sensor/box/door_is_empty/config"
    wait_for(lambda: recorder.latest()[empty] == b"", what="the earlier run's is_empty emptied")
    assert {t.split("/")[3] for t in recorder.configs()} == {
        "door_label",
        "door_snapshot",
        "door_is_people",
    }


def labelled_config(folder: Path, metrics_port: int, broker_port: int, streams: dict) -> Path:
    """`streams` (name -> fps) on the demo scenes, all on a model whose manifest has a fourth
    label, `ghost`, that never wins (its weights are zero); discovery on."""
    model = folder / "ghostly.onnx"
    if not model.exists():
        labels = ("red", "green", "blue", "ghost")
        tiny_classifier(
            model, manifest_dict(labels, name="ghostly"), classes=4, weights=np.eye(3, 4) * 5
        )
    lines = "".join(
        f'  - {{name: {name}, source: "demo://scenes?fps=10&size=64x48", fps: {fps},'
        " model: small}\n"
        for name, fps in streams.items()
    )
    return write_config(folder, model, lines, metrics_port, broker_port)


def test_every_label_of_the_manifest_at_start_and_a_changed_stream_keeps_its_entities(
    tmp_path, broker, closing
):
    recorder, folder, port, daemon = started_daemon(
        tmp_path, broker, closing, labelled_config, {"front": 5, "back": 5}
    )

    def of(stream: str) -> set[str]:
        return {t.split("/")[3] for t in recorder.configs() if f"/{stream}_" in t}

    every = {"label", "snapshot", "is_red", "is_green", "is_blue", "is_ghost"}
    for stream in ("front", "back"):
        wait_for(
            lambda stream=stream: of(stream) == {f"{stream}_{what}" for what in every},
            60,
            f"{stream}'s 6 configs, ghost's binary sensor too; log:\n{daemon.log}",
        )
    assert b"ghost" not in {p for t, p, _ in recorder.received if t.endswith("/label")}
    front = {t: p for t, p in recorder.configs().items() if "/front_" in t}
    wait_for(lambda: recorder.latest().get("visord/front/label"), 60, "front's first label")

    # front's rate changed and back removed, SIGHUP: front restarted with its entities kept
    heard = len(recorder.received)
    labelled_config(folder, port, broker.port, {"front": 4})
    daemon.process.send_signal(signal.SIGHUP)
    back_topics = [f"homeassistant/{t}" for t in ("sensor/testbox/back_label/config",)]
    wait_for(
        lambda: of("back") == set() and all(recorder.latest()[t] == b"" for t in back_topics),
        60,
        f"back's configs emptied; log:\n{daemon.log}",
    )
    wait_for(
        lambda: "config reloaded changes=stopped front" in daemon.log.read_text(),
        30,
        "front restarted by the reload",
    )
    wait_for(lambda: recorder.latest().get("visord/front/label"), 30, "front's label")
    assert recorder.configs() == front
    emptied = [t for t, p, _ in recorder.received[heard:] if "front" in t and not p]
    assert emptied == [], "front's entities must stay through the reload"
