"""Event sink faults (issue 8), on a real `visord run`: the MQTT broker (Debian's mosquitto)
going away and coming back while events flow, a full disk and an unwritable JSON Lines path; and
the overflow of the MQTT buffer as the metric shows it. The read-only folder's case runs as nobody
when the tests run as root.

Events flow steadily because the config asks for a heartbeat: every stable label is repeated twice
a second.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import traceback
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from visord.daemon.config import EventsConfig
from visord.daemon.events import Event, EventPipeline, JsonlSink, MqttSink, Sinks
from visord.testing.daemon_process import DaemonProcess, sample
from visord.testing.mqtt_broker import HAVE_MOSQUITTO, Broker, Subscriber
from visord.testing.onnx_models import manifest_dict, tiny_classifier
from visord.testing.rtsp_server import free_port
from visord.testing.wait import wait_for

NOBODY = 65534
CLASSIFIED = 'visord_frames_classified_total{model="small",stream="door"}'


def sink_metric(name: str, sink: str) -> str:
    return f'visord_event_sink_{name}{{sink="{sink}"}}'


def write_config(folder: Path, sinks: list[dict]) -> tuple[Path, int]:
    """Two demo streams on the tiny colour model, a heartbeat every 0.5 s, the given sinks; (file,
    metrics port)."""
    model = tiny_classifier(
        folder / "small.onnx", manifest_dict(name="small"), weights=np.eye(3) * 0.2
    )
    port = free_port()
    streams = "".join(
        f'  - {{name: {name}, source: "demo://scenes?fps=10&size=64x48&seed={seed}", fps: 5, '
        "model: small}\n"
        for seed, name in enumerate(("door", "yard"))
    )
    config = folder / "visord.yaml"
    config.write_text(
        f"models:\n  small: {{path: {model}, role: small}}\nstreams:\n{streams}"
        "events:\n  debounce: {hold_frames: 2, min_score: 0.3}\n  heartbeat: 0.5\n"
        f"  sinks: {json.dumps(sinks)}\nmetrics: {{port: {port}}}\n"
    )
    return config, port


def event_key(body: dict) -> tuple:
    return body["stream"], body["kind"], body["label"], body["time"]


@pytest.mark.skipif(not HAVE_MOSQUITTO, reason="needs Debian's mosquitto (`make test` installs it)")
def test_events_wait_out_a_broker_outage_and_arrive_in_order(tmp_path):
    (tmp_path / "broker").mkdir()
    broker = Broker(tmp_path / "broker").start()
    subscriber = Subscriber(broker.port, persistent=True)
    written = tmp_path / "events.jsonl"
    config, port = write_config(
        tmp_path,
        [
            {"type": "mqtt", "host": "127.0.0.1", "port": broker.port, "qos": 1},
            {"type": "jsonl", "path": str(written)},
        ],
    )
    try:
        with DaemonProcess(config, port) as daemon:
            subscriber.wait_for(3)
            broker.stop()
            wait_for(
                lambda: sample(daemon.metrics(), sink_metric("up", "mqtt")) == 0,
                what="the sink to notice",
            )
            wait_for(
                lambda: sample(daemon.metrics(), sink_metric("buffered", "mqtt")) >= 3,
                what="events buffered",
            )
            classified = sample(daemon.metrics(), CLASSIFIED)
            wait_for(
                lambda: sample(daemon.metrics(), CLASSIFIED) > classified + 2,
                what="classifying in the outage",
            )
            broker.start()
            wait_for(
                lambda: sample(daemon.metrics(), sink_metric("buffered", "mqtt")) == 0,
                timeout=60,
                what="the buffer delivered after the reconnect",
            )
            metrics = daemon.metrics()
            assert sample(metrics, sink_metric("up", "mqtt")) == 1
            assert sample(metrics, sink_metric("dropped_total", "mqtt")) == 0
            assert sample(metrics, sink_metric("failed_total", "mqtt")) == 0
            assert daemon.stop() == 0
        emitted = [event_key(json.loads(line)) for line in written.read_text().splitlines()]
        # every one, in order
        assert subscriber.wait_for_distinct(len(emitted), key=event_key) == emitted
    finally:
        subscriber.close()
        broker.stop()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_and_an_unwritable_path_are_counted_logged_once_and_the_daemon_goes_on(
    tmp_path,
):
    blocked = tmp_path / "blocked.jsonl"
    blocked.mkdir()  # a directory where the file should be: unwritable for root too
    good = tmp_path / "events.jsonl"
    config, port = write_config(
        tmp_path,
        [
            {"type": "jsonl", "path": "/dev/full"},
            {"type": "jsonl", "path": str(blocked)},
            {"type": "jsonl", "path": str(good)},
        ],
    )
    with DaemonProcess(config, port) as daemon:
        wait_for(
            lambda: (sample(daemon.metrics(), sink_metric("delivered_total", "jsonl-3")) or 0) >= 4,
            what="events written to the good file",
        )
        metrics = daemon.metrics()
        for sink in ("jsonl", "jsonl-2"):
            assert sample(metrics, sink_metric("failed_total", sink)) >= 4
            assert sample(metrics, sink_metric("up", sink)) == 0
        blocked.rmdir()
        wait_for(
            lambda: sample(daemon.metrics(), sink_metric("up", "jsonl-2")) == 1,
            what="the path writable again",
        )
        classified = sample(daemon.metrics(), CLASSIFIED)
        wait_for(
            lambda: sample(daemon.metrics(), CLASSIFIED) > classified + 2, what="still classifying"
        )
        assert daemon.stop() == 0
    log = daemon.log.read_text()
    for path in ("/dev/full", str(blocked)):
        assert log.count(f"event sink jsonl -> {path}: write failed") == 1
    assert "No space left on device" in log and "Is a directory" in log
    assert f"event sink jsonl -> {blocked}: writing again after" in log
    assert len(blocked.read_text().splitlines()) >= 1


def test_a_full_mqtt_buffer_drops_the_oldest_and_the_metric_counts_them():
    registry = CollectorRegistry()
    # no broker
    sink = MqttSink("127.0.0.1", free_port(), buffer_size=3, reconnect_min=0.1, reconnect_max=0.5)
    pipeline = EventPipeline(
        EventsConfig.model_validate({"debounce": {"hold_frames": 1}}), registry, Sinks([sink])
    )
    for index, label in enumerate(["person", "empty"] * 5):
        pipeline.observe(
            "door", SimpleNamespace(label=label, score=0.9, model="small"), 1.7e9 + index, 0.01
        )
    value = registry.get_sample_value
    assert value("visord_events_total", {"stream": "door", "kind": "change"}) == 10
    assert value("visord_event_sink_dropped_total", {"sink": "mqtt"}) == 7
    assert value("visord_event_sink_buffered", {"sink": "mqtt"}) == 3
    assert value("visord_event_sink_up", {"sink": "mqtt"}) == 0
    pipeline.close(timeout=0.5)


def write_into_a_read_only_directory(parent: str) -> dict:
    """Three events into PARENT/read-only/events.jsonl, a folder of this user's with mode 0500:
    what the sink counted and how many 'write failed' lines it logged."""
    folder = Path(parent) / "read-only"
    folder.chmod(0o500)
    warnings = []
    handler = logging.Handler()
    handler.emit = warnings.append
    logging.getLogger("visord.daemon.events.jsonl").addHandler(handler)
    try:
        sink = JsonlSink(folder / "events.jsonl")
        for index in range(3):
            sink.emit(Event("door", "person", 0.9, "small", 1.7e9 + index, 0.01))
    finally:
        logging.getLogger("visord.daemon.events.jsonl").removeHandler(handler)
    return {
        "failed": sink.stats().failed,
        "healthy": sink.healthy,
        "last_error": sink.last_error,
        "logged": len([r for r in warnings if "write failed" in r.getMessage()]),
        "written": os.path.exists(folder / "events.jsonl"),
    }


def as_nobody(function, *args):
    """function(*args) in a forked child that gave up root for nobody (uid and gid 65534), so that
    the permission checks root skips apply to it; what it returned, through JSON."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        status = 1
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.write(write, json.dumps(function(*args)).encode())
            status = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        answer = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the unprivileged child failed (its stderr)"
    return json.loads(answer)


def test_a_read_only_directory_is_counted_and_logged_once(tmp_path):
    if os.geteuid() != 0:
        (tmp_path / "read-only").mkdir()
        seen = write_into_a_read_only_directory(str(tmp_path))
    else:  # root writes whatever the modes say: the sink runs as nobody, in a folder of nobody's
        with tempfile.TemporaryDirectory(prefix="visord-sink-") as parent:
            os.chmod(parent, 0o711)
            (Path(parent) / "read-only").mkdir()
            os.chown(Path(parent) / "read-only", NOBODY, NOBODY)
            seen = as_nobody(write_into_a_read_only_directory, parent)
    assert (seen["failed"], seen["healthy"], seen["written"]) == (3, False, False)
    assert seen["last_error"].startswith("PermissionError")
    assert seen["logged"] == 1
