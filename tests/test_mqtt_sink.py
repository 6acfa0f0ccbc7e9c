"""The mqtt sink against a real broker: Debian's mosquitto, started here on 127.0.0.1 at a free
port.

Subscribers in the outage tests keep a persistent session (clean_session off)
and the broker keeps it across its restart (see `visord.testing.mqtt_broker`), so what
the sink delivers after a reconnect reaches the subscriber whichever of the
two reconnects first.
"""

from __future__ import annotations

import logging
import shutil
import signal
import threading
import time

import pytest

from visord.daemon.config import EventsConfig
from visord.daemon.events import Event, MqttSink, build_sinks
from visord.testing.mqtt_broker import HAVE_MOSQUITTO, Broker, Subscriber
from visord.testing.rtsp_server import free_port
from visord.testing.wait import wait_for

pytestmark = pytest.mark.skipif(
    not HAVE_MOSQUITTO, reason="needs Debian's mosquitto (`make test` installs it)"
)

FAST = {"reconnect_min": 0.1, "reconnect_max": 0.5}
T0 = 1_740_830_400.0


def events(count: int, stream: str = "door", first: int = 0) -> list[Event]:
    return [
        Event(stream, f"label-{index}", 0.9, "small", T0 + index, 0.05, f"label-{index - 1}")
        for index in range(first, first + count)
    ]


def test_events_arrive_on_prefix_stream_event_with_the_json_body(broker, closing):
    subscriber = Subscriber(broker.port, "cams/#")
    closing(subscriber)
    sink = MqttSink("127.0.0.1", broker.port, topic_prefix="cams", qos=1, **FAST)
    closing(sink)
    wait_for(lambda: sink.healthy, what="the sink to connect")
    sent = [*events(2, "door"), *events(1, "yard", first=5)]
    for item in sent:
        sink.emit(item)
    received = subscriber.wait_for(3)
    assert [(topic, body) for topic, body, _ in received] == [
        (f"cams/{item.stream}/event", item.to_dict()) for item in sent
    ]
    wait_for(lambda: sink.stats().delivered == 3, what="3 acknowledged")
    stats = sink.stats()
    assert (stats.failed, stats.dropped, stats.buffered, stats.last_error) == (0, 0, 0, None)


def test_retained_events_reach_a_later_subscriber(broker, closing):
    sink = MqttSink("127.0.0.1", broker.port, qos=0, retain=True, **FAST)
    closing(sink)
    wait_for(lambda: sink.healthy, what="the sink to connect")
    sink.emit(events(1)[0])
    wait_for(lambda: sink.stats().delivered == 1, what="the publish")
    subscriber = Subscriber(broker.port)
    closing(subscriber)
    [(topic, body, retained)] = subscriber.wait_for(1)
    assert (topic, body["label"], retained) == ("visord/door/event", "label-0", True)


def test_username_and_password_from_the_config_and_a_wrong_password(tmp_path, closing, caplog):
    caplog.set_level(logging.DEBUG)
    good, wrong = "s3cret-Pass-9f1", "wrong-Pass-77c"
    broker = Broker(tmp_path, users={"visord": good, "reader": "reader-pass"}).start()
    closing(broker)
    subscriber = Subscriber(broker.port, "site/#", username="reader", password="reader-pass")
    closing(subscriber)
    config = EventsConfig.model_validate(
        {
            "sinks": [
                {
                    "type": "mqtt",
                    "host": "127.0.0.1",
                    "port": broker.port,
                    "topic_prefix": "site/a",
                    "client_id": "visord-test",
                    "username": "visord",
                    "password": good,
                    "qos": 2,
                }
            ]
        }
    )
    sinks = build_sinks(config)
    closing(sinks)
    [sink] = list(sinks)
    assert (sink.client_id, sink.qos, sink.topic("door")) == ("visord-test", 2, "site/a/door/event")
    refused = MqttSink("127.0.0.1", broker.port, username="visord", password=wrong, **FAST)
    closing(refused)

    wait_for(lambda: sink.healthy, what="the sink with the right password to connect")
    sink.emit(events(1)[0])
    assert [(topic, body["label"]) for topic, body, _ in subscriber.wait_for(1)] == [
        ("site/a/door/event", "label-0")
    ]
    wait_for(lambda: refused.last_error, what="the refusal")
    assert "not authori" in refused.last_error.lower()
    refused.emit(events(1)[0])
    assert (refused.healthy, refused.stats().buffered, refused.stats().delivered) == (False, 1, 0)

    everything = caplog.text + repr(sink) + repr(refused) + sink.describe() + refused.describe()
    assert good not in everything and wrong not in everything
    assert any(
        "refused" in r.getMessage() for r in caplog.records if r.name == "visord.daemon.events.mqtt"
    )


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl to make a certificate")
def test_tls_with_a_ca_file_and_an_untrusted_broker(tmp_path, closing):
    broker = Broker(tmp_path, tls=True).start()
    closing(broker)
    subscriber = Subscriber(broker.port, ca_file=broker.cert)
    closing(subscriber)
    sink = MqttSink("127.0.0.1", broker.port, tls=True, ca_file=broker.cert, **FAST)
    closing(sink)
    # the system CAs do not know this broker
    untrusting = MqttSink("127.0.0.1", broker.port, tls=True, **FAST)
    closing(untrusting)
    wait_for(lambda: sink.healthy, what="the TLS sink to connect")
    sink.emit(events(1)[0])
    assert [(topic, body["label"]) for topic, body, _ in subscriber.wait_for(1)] == [
        ("visord/door/event", "label-0")
    ]
    wait_for(lambda: untrusting.last_error, what="the untrusted broker to be refused")
    assert not untrusting.healthy and sink.describe().startswith("mqtt -> mqtts://")


def test_broker_restart_buffers_and_delivers_in_order(broker, closing):
    subscriber = Subscriber(broker.port, persistent=True)
    closing(subscriber)
    sink = MqttSink("127.0.0.1", broker.port, qos=1, **FAST)
    closing(sink)
    wait_for(lambda: sink.healthy, what="the sink to connect")
    sent = events(10)
    for item in sent[:3]:
        sink.emit(item)
    subscriber.wait_for(3)
    wait_for(lambda: sink.stats().delivered == 3, what="3 acknowledged")

    broker.stop()
    wait_for(lambda: not sink.healthy, what="the sink to notice the broker left")
    for item in sent[3:]:
        sink.emit(item)
    assert sink.stats().buffered == 7 and sink.stats().delivered == 3

    broker.start()
    assert subscriber.wait_for_distinct(10) == [item.label for item in sent]
    wait_for(lambda: sink.stats().delivered == 10, what="all 10 acknowledged")
    stats = sink.stats()
    assert (stats.healthy, stats.buffered, stats.dropped, stats.failed) == (True, 0, 0, 0)


def test_a_full_buffer_drops_the_oldest_and_counts_them(broker, closing):
    subscriber = Subscriber(broker.port, persistent=True)
    closing(subscriber)
    broker.stop()  # the subscriber's session (and subscription) is saved for the restart
    sink = MqttSink("127.0.0.1", broker.port, qos=1, buffer_size=5, **FAST)
    closing(sink)
    sent = events(12)
    for item in sent:
        sink.emit(item)
    stats = sink.stats()
    assert (stats.dropped, stats.buffered, stats.delivered, stats.healthy) == (7, 5, 0, False)

    broker.start()
    assert subscriber.wait_for_distinct(5) == [item.label for item in sent[7:]]
    wait_for(lambda: sink.stats().delivered == 5, what="the 5 newest acknowledged")
    assert sink.stats().dropped == 7


def test_a_broker_that_is_never_there_does_not_block_emit_or_close(caplog):
    sink = MqttSink("127.0.0.1", free_port(), **FAST)
    emitter = threading.Thread(target=lambda: [sink.emit(item) for item in events(50)])
    emitter.start()
    emitter.join(timeout=10)
    assert not emitter.is_alive(), "emit blocked on a missing broker"
    wait_for(lambda: sink.last_error, what="a connection error")
    assert "cannot connect to 127.0.0.1" in sink.last_error
    assert (sink.healthy, sink.stats().buffered) == (False, 50)
    closer = threading.Thread(target=sink.close, kwargs={"timeout": 0.5})
    closer.start()
    closer.join(timeout=10)
    assert not closer.is_alive(), "close did not honour its timeout"
    assert (sink.stats().dropped, sink.stats().buffered) == (50, 0)
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "visord.daemon.events.mqtt" and r.levelno >= logging.WARNING
    ]
    # one line for the outage (not one per attempt or event), one for what close() gave up
    assert (
        len(warnings) == 2
        and "cannot connect" in warnings[0]
        and "50 events undelivered" in warnings[1]
    )


def test_order_holds_when_the_broker_leaves_mid_stream(broker, closing):
    """Events keep coming while the broker stops and starts: none lost, none overtaking another."""
    subscriber = Subscriber(broker.port, persistent=True)
    closing(subscriber)
    sink = MqttSink("127.0.0.1", broker.port, qos=1, buffer_size=10_000, **FAST)
    closing(sink)
    wait_for(lambda: sink.healthy, what="the sink to connect")
    sent = events(400)

    def emit_slowly():
        for item in sent:
            sink.emit(item)
            time.sleep(0.002)

    emitter = threading.Thread(target=emit_slowly)
    emitter.start()
    wait_for(lambda: sink.stats().delivered >= 50, what="a first part delivered")
    broker.stop()
    wait_for(lambda: not sink.healthy, what="the sink to notice the broker gone")
    broker.start()
    emitter.join(timeout=60)
    wait_for(lambda: sink.stats().delivered == len(sent), what="everything acknowledged")
    assert subscriber.wait_for_distinct(len(sent)) == [item.label for item in sent]
    assert sink.stats().dropped == sink.stats().failed == 0


def test_events_in_flight_when_the_broker_goes_are_resent_before_newer_ones(broker, closing):
    """A frozen broker (SIGSTOP) leaves a window of events unacknowledged when it goes: they are
    resent after the reconnect, and the events buffered behind them wait their turn."""
    subscriber = Subscriber(broker.port, persistent=True)
    closing(subscriber)
    sink = MqttSink("127.0.0.1", broker.port, qos=1, inflight=20, **FAST)
    closing(sink)
    wait_for(lambda: sink.healthy, what="the sink to connect")
    sent = events(60)
    for item in sent[:5]:
        sink.emit(item)
    wait_for(lambda: sink.stats().delivered == 5, what="5 acknowledged")
    broker.process.send_signal(signal.SIGSTOP)
    for item in sent[5:40]:
        sink.emit(item)
    wait_for(
        lambda: sink._outbox.pending() == 35 and len(sink._outbox._inflight) == 20,
        what="a full window",
    )
    # acted on when the broker runs again: it saves and leaves
    broker.process.send_signal(signal.SIGTERM)
    broker.process.send_signal(signal.SIGCONT)
    broker.stop()
    for item in sent[40:]:
        sink.emit(item)
    broker.start()
    wait_for(lambda: sink.stats().delivered == len(sent), what="everything acknowledged")
    assert subscriber.wait_for_distinct(len(sent)) == [item.label for item in sent]


# -- the outbox's second lane: the latest retained message per topic (snapshots, Home Assistant)


def test_the_latest_lane_waits_behind_events_and_keeps_one_message_per_topic():
    from visord.daemon.events.outbox import Message, Outbox
    from visord.daemon.events.sink import SinkCounters

    counters, unsent = SinkCounters(), []
    outbox = Outbox(2, 10, counters, reliable=True, on_unsent=unsent.append)
    outbox.connection(True)
    outbox.put_latest(Message("p/door/snapshot", b"1", "snapshot", retain=True))
    outbox.put(Message("p/door/event", b"e1"))
    outbox.put_latest(Message("p/yard/snapshot", b"y", "snapshot", retain=True))
    outbox.put_latest(Message("p/door/snapshot", b"2", "snapshot", retain=True))
    outbox.put(Message("p/door/event", b"e2"))
    outbox.put(Message("p/door/event", b"e3"))  # the event FIFO holds 2: e1 goes
    assert [m.payload for m in unsent] == [b"1"]
    assert counters.snapshot().dropped == 1 and counters.snapshot().buffered == 2
    taken = []
    for mid in range(1, 5):
        message, epoch = outbox.take()
        outbox.sent(mid, epoch)
        taken.append(message.payload)
    assert taken == [b"e2", b"e3", b"y", b"2"]  # events first, then the older put first
    for mid in range(1, 5):
        outbox.acked(mid)
    assert counters.snapshot().delivered == 2  # only events count as delivered
    assert outbox.pending() == 0


def test_a_latest_message_the_client_could_not_take_goes_back_unless_a_newer_came():
    from visord.daemon.events.outbox import Message, Outbox
    from visord.daemon.events.sink import SinkCounters

    unsent = []
    outbox = Outbox(5, 10, SinkCounters(), reliable=True, on_unsent=unsent.append)
    outbox.connection(True)
    outbox.put_latest(Message("a", b"a1", "state", retain=True))
    outbox.put_latest(Message("b", b"b1", "state", retain=True))
    message, _ = outbox.take()
    outbox.retry()  # not connected after all: a1 back at the front
    assert outbox.take()[0] == message
    outbox.put_latest(Message("a", b"a2", "state", retain=True))
    outbox.retry()  # a newer "a" came meanwhile: a1 is dropped, a2 keeps its place
    assert [m.payload for m in unsent] == [b"a1"]
    assert [outbox.take()[0].payload for _ in range(2)] == [b"b1", b"a2"]
    assert outbox.close() == 0  # nothing of the latest lane counts as an undelivered event


def test_snapshots_the_broker_never_took_are_counted_in_the_snapshot_series(tmp_path):
    import numpy as np

    from visord.daemon.events import EventPipeline
    from visord.daemon.events.fanout import Sinks

    sink = MqttSink("127.0.0.1", free_port(), **FAST)  # no broker: snapshots wait
    config = EventsConfig(
        debounce={"hold_frames": 1, "min_score": 0.5},
        snapshots={"enabled": True, "path": str(tmp_path / "snaps")},
    )
    pipeline = EventPipeline(config, sinks=Sinks([sink]))
    image = np.full((48, 64, 3), 128, np.uint8)
    now = time.time()
    try:
        for index, label in enumerate(["red", "blue", "red"]):
            result = type("R", (), {"label": label, "score": 0.9, "model": "small"})()
            pipeline.observe("door", result, now + index, 0.01, image, None)
            wait_for(
                lambda index=index: len(list((tmp_path / "snaps").glob("*.crop.jpg"))) > index,
                what=f"snapshot {index} written",
            )

        def dropped():
            [metric] = [m for m in pipeline.snapshot() if m.name == "visord_snapshots_dropped"]
            return {sample.labels: sample.value for sample in metric.samples}

        # three encoded, the last one waits: two replaced before they could go
        assert wait_for(lambda: dropped().get(("door", "mqtt_unsent")), what="counted") == 2.0
        assert sink.stats().dropped == 0 and sink.stats().buffered == 3  # the events wait too
    finally:
        pipeline.close(0.5)
