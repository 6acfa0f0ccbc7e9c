"""Issue 23, item 5: what people watching visord do to it. A slow MQTT broker (real mosquitto behind
a TCP proxy that stops reading and forwarding for a while), a real Chromium holding the live page
open, clients that open `latest.jpg` and never read the answer or connect and never say anything:
none of them stops or slows the frame loop, loses an event line or keeps `/metrics` from answering,
and the stall is said in the log and the metrics.

Nothing here times the daemon (test machines are noisy): every check is a count. Frames retrieved
keep advancing while the broker is stuck, every event the daemon counts is a line in the JSON
Lines file and reaches the broker once it reads again, and `latest.jpg` is encoded at most once a
frame whatever the number of requests.

A snapshot folder that becomes unwritable under a running daemon is here too; the writer's own
cases (a full disk, a path that cannot be made, retention) are in tests/test_snapshots.py, a full
disk and an unwritable JSON Lines path in tests/test_sink_faults.py, the path traversal of the
snapshot gate in tests/test_events_api.py.
"""

from __future__ import annotations

import json
import select
import socket
import ssl
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from visord.daemon.events.outbox import Message, Outbox
from visord.daemon.events.sink import SinkCounters
from visord.daemon.service.http import MetricsServer, ServerOptions
from visord.testing.browser import MISSING, chromium
from visord.testing.certs import self_signed
from visord.testing.daemon_process import DaemonProcess, fetch
from visord.testing.mqtt_broker import HAVE_MOSQUITTO, Subscriber
from visord.testing.onnx_models import manifest_dict, tiny_classifier
from visord.testing.rtsp_server import free_port
from visord.testing.wait import wait_for

needs_mosquitto = pytest.mark.skipif(
    not HAVE_MOSQUITTO, reason="needs Debian's mosquitto (`make test` installs it)"
)
STREAMS = ("door", "yard")


class StallingProxy:
    """127.0.0.1:`port` forwarded to 127.0.0.1:`target`; while paused it reads nothing and forwards
    nothing, either way (a broker that hangs, or a link that does: the client's writes fill the
    socket buffers and no acknowledgement comes back)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.forwarding = threading.Event()
        self.forwarding.set()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def pause(self) -> None:
        self.forwarding.clear()

    def resume(self) -> None:
        self.forwarding.set()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                return
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while not self._closed.is_set():
                if not self.forwarding.wait(0.1):
                    continue
                if not select.select([source], [], [], 0.1)[0] or not self.forwarding.is_set():
                    continue
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for end in self._sockets:
            end.close()


def total(metrics: str, name: str, **labels: str) -> float:
    """The sum of the series `name` whose labels include `labels` (0 when there is none)."""
    found = 0.0
    for line in metrics.splitlines():
        series, _, value = line.rpartition(" ")
        if series.split("{")[0] != name:
            continue
        if all(f'{key}="{wanted}"' in series for key, wanted in labels.items()):
            found += float(value)
    return found


def write_config(
    folder: Path, port: int, mqtt: dict | None = None, snapshots: bool = False
) -> Path:
    """Two demo streams on the tiny colour model, a heartbeat every 0.5 s (events flow steadily),
    events to events.jsonl and to `mqtt` when given."""
    model = tiny_classifier(
        folder / "small.onnx", manifest_dict(name="small"), weights=np.eye(3) * 0.2
    )
    streams = "".join(
        f'  - {{name: {name}, source: "demo://scenes?fps=10&size=96x72&seed={seed}", fps: 5, '
        "model: small}\n"
        for seed, name in enumerate(STREAMS)
    )
    sinks = [{"type": "jsonl", "path": str(folder / "events.jsonl")}]
    if mqtt is not None:
        sinks.append({"type": "mqtt", "host": "127.0.0.1", **mqtt})
    shots = f"  snapshots: {{enabled: true, path: {folder / 'snapshots'}}}\n" if snapshots else ""
    config = folder / "visord.yaml"
    config.write_text(
        f"models:\n  small: {{path: {model}, role: small}}\nstreams:\n{streams}"
        "events:\n  debounce: {hold_frames: 2, min_score: 0.3}\n  heartbeat: 0.5\n"
        f"  sinks: {json.dumps(sinks)}\n{shots}metrics: {{port: {port}}}\n"
    )
    return config


def event_key(body: dict) -> tuple:
    return body["stream"], body["kind"], body["label"], body["time"]


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def each_counted_event_written(daemon: DaemonProcess) -> None:
    """Waits until every event the pipeline counted is a line (one scrape may fall between the
    two)."""
    wait_for(
        lambda: (
            total(m := daemon.metrics(), "visord_events_total")
            == total(m, "visord_event_sink_delivered_total", sink="jsonl")
        ),
        what="each counted event written",
    )


# -- a broker that stops reading


def test_the_outbox_says_how_long_nothing_in_flight_was_acknowledged():
    now = [100.0]
    outbox = Outbox(10, 2, SinkCounters(), reliable=True, clock=lambda: now[0])
    outbox.put(Message("t", b"1"))
    assert outbox.waiting() == (0.0, 0)  # not connected: an outage, not a stall
    outbox.connection(True)
    outbox.take()
    outbox.sent(1, 0)
    now[0] += 3
    assert outbox.waiting() == (3.0, 1)
    outbox.acked(1)
    assert outbox.waiting() == (0.0, 0)
    outbox.put(Message("t", b"2"))
    outbox.take()
    outbox.sent(2, 0)
    now[0] += 2
    assert outbox.waiting() == (2.0, 1)  # counted from when the window started to wait
    outbox.connection(False)
    assert outbox.waiting() == (0.0, 1)
    outbox.connection(True)  # what is in flight is resent: its time starts again
    now[0] += 1
    assert outbox.waiting() == (1.0, 1)


@needs_mosquitto
def test_a_stalled_broker_never_holds_up_frames_or_event_lines_and_is_reported(tmp_path, broker):
    proxy = StallingProxy(broker.port)
    subscriber = Subscriber(broker.port, "visord/+/event")
    port = free_port()
    config = write_config(
        tmp_path, port, {"port": proxy.port, "qos": 1, "stall_after": 1.0}, snapshots=True
    )
    written = tmp_path / "events.jsonl"
    try:
        with DaemonProcess(config, port) as daemon:
            subscriber.wait_for(3)
            proxy.pause()
            wait_for(
                lambda: total(daemon.metrics(), "visord_event_sink_stalls_total", sink="mqtt") == 1,
                30,
                "the stall counted",
            )
            metrics = daemon.metrics()
            assert total(metrics, "visord_event_sink_up", sink="mqtt") == 0
            assert total(metrics, "visord_event_sink_up", sink="jsonl") == 1
            frames = total(metrics, "visord_frames_retrieved_total")
            lines = total(metrics, "visord_event_sink_delivered_total", sink="jsonl")
            sent = total(metrics, "visord_event_sink_delivered_total", sink="mqtt")

            # the broker still stuck: frames keep coming, every event is a line
            def going_on() -> str | None:
                now = daemon.metrics()
                return (
                    total(now, "visord_frames_retrieved_total") >= frames + 20
                    and total(now, "visord_event_sink_delivered_total", sink="jsonl") >= lines + 6
                    and now
                )

            metrics = wait_for(going_on, 60, "frames and event lines while the broker is stuck")
            assert not proxy.forwarding.is_set()
            assert total(metrics, "visord_event_sink_delivered_total", sink="mqtt") == sent
            assert total(metrics, "visord_event_sink_buffered", sink="mqtt") > 0
            assert total(metrics, "visord_event_sink_stalls_total", sink="mqtt") == 1

            proxy.resume()
            wait_for(
                lambda: (
                    total(m := daemon.metrics(), "visord_event_sink_buffered", sink="mqtt") == 0
                    and total(m, "visord_event_sink_up", sink="mqtt") == 1
                ),
                60,
                "the buffer delivered once the broker reads again",
            )
            metrics = daemon.metrics()
            for sink in ("jsonl", "mqtt"):
                assert total(metrics, "visord_event_sink_failed_total", sink=sink) == 0
                assert total(metrics, "visord_event_sink_dropped_total", sink=sink) == 0
            each_counted_event_written(daemon)
            assert daemon.stop() == 0
        emitted = [event_key(body) for body in lines_of(written)]
        assert subscriber.wait_for_distinct(len(emitted), key=event_key) == emitted
        log = daemon.log.read_text()
        assert log.count("broker stalled: nothing acknowledged for") == 1, log
        assert log.count("broker acknowledging again after a stall of") == 1, log
    finally:
        subscriber.close()
        proxy.close()


# -- a snapshot folder that goes away under a running daemon


def test_a_snapshot_folder_gone_unwritable_mid_run_costs_no_frame_and_no_event_line(tmp_path):
    """The units in tests/test_snapshots.py fake the failing write; here a running daemon's folder
    is replaced by a file (unwritable even for root: the writer cannot make it again) and back."""
    port = free_port()
    config = write_config(tmp_path, port, snapshots=True)
    folder = tmp_path / "snapshots"
    with DaemonProcess(config, port) as daemon:
        wait_for(
            lambda: total(daemon.metrics(), "visord_snapshots_written_total") >= 2,
            60,
            "snapshots written",
        )
        folder.rename(tmp_path / "moved")
        folder.write_text("a file where the folder was")
        wait_for(
            lambda: total(daemon.metrics(), "visord_snapshots_writable") == 0,
            30,
            "the failing writes noticed",
        )
        before = daemon.metrics()

        def going_on() -> str | None:
            now = daemon.metrics()
            return (
                total(now, "visord_frames_retrieved_total")
                >= total(before, "visord_frames_retrieved_total") + 20
                and total(now, "visord_snapshots_dropped_total", reason="write_error")
                >= total(before, "visord_snapshots_dropped_total", reason="write_error") + 4
                and now
            )

        during = wait_for(going_on, 60, "frames and failed snapshots counted")
        assert total(during, "visord_event_sink_failed_total", sink="jsonl") == 0
        folder.unlink()  # the writer makes it again at its next snapshot
        wait_for(
            lambda: total(daemon.metrics(), "visord_snapshots_writable") == 1,
            30,
            "snapshots written again",
        )
        assert folder.is_dir() and any(folder.glob("*.jpg"))
        each_counted_event_written(daemon)
        assert daemon.stop() == 0
    log = daemon.log.read_text()
    assert log.count("snapshots not written to") == 1, log
    assert log.count("snapshots written again") == 1, log
    assert "Traceback" not in log


# -- people watching


def test_a_tls_client_that_never_says_anything_does_not_stop_the_endpoint(tmp_path):
    cert, key = self_signed(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = MetricsServer(
        CollectorRegistry(),
        lambda: (True, {"healthy": True}),
        ServerOptions(port=0, cert_file=str(cert), key_file=str(key)),
    )
    silent = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    try:
        for path in ("/healthz", "/metrics"):
            url = f"https://127.0.0.1:{server.port}{path}"
            with urllib.request.urlopen(url, context=context, timeout=10) as response:
                assert response.status == 200
    finally:
        for connection in silent:
            connection.close()
        server.close()


def hog(port: int, paths: list[str]) -> list[socket.socket]:
    """One connection a path, its request sent and its answer never read; and as many that
    connect and never send a byte."""
    connections = []
    for path in paths:
        connection = socket.create_connection(("127.0.0.1", port))
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        connections += [connection, socket.create_connection(("127.0.0.1", port))]
    return connections


def page_state(driver) -> dict:
    return driver.execute_script("""
        return {
          tiles: [...document.querySelectorAll('#tiles .tile')].map(t => t.dataset.stream),
          loaded: [...document.querySelectorAll('#tiles img.latest')]
            .filter(img => img.complete && img.naturalWidth > 0).length,
          events: [...document.querySelectorAll('#events li')].map(item => item.dataset.id),
        };""")


@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
def test_the_live_page_and_clients_that_never_read_do_not_hold_up_the_loop(tmp_path):
    port = free_port()
    config = write_config(tmp_path, port, snapshots=True)
    with (
        DaemonProcess(config, port) as daemon,
        chromium(tmp_path / "profile") as browser,
    ):
        wait_for(lambda: fetch(port, "/api/status")[0] == 200, 60, "the daemon's endpoint")
        browser.get(f"http://127.0.0.1:{port}/")
        first = wait_for(
            lambda: (s := page_state(browser))["loaded"] == 2 and s["events"] and s,
            60,
            "both tiles' frames and an event on the page",
        )
        assert first["tiles"] == list(STREAMS)
        before = daemon.metrics()
        requests = [f"/api/streams/{stream}/latest.jpg" for stream in STREAMS for _ in range(25)]
        hogs = hog(port, requests)
        try:
            # 50 answers never read, 50 connections silent; meanwhile
            def going_on() -> str | None:
                status, now = fetch(port, "/metrics")
                return (
                    status == 200
                    and total(now, "visord_frames_retrieved_total")
                    >= total(before, "visord_frames_retrieved_total") + 20
                    and total(now, "visord_event_sink_delivered_total", sink="jsonl")
                    >= total(before, "visord_event_sink_delivered_total", sink="jsonl") + 6
                    and now
                )

            during = wait_for(going_on, 60, "frames and events while the clients hang on")
            # the page goes on too: an event it had not shown, with the tiles still loaded
            wait_for(
                lambda: (
                    (s := page_state(browser))["loaded"] == 2
                    and set(s["events"]) - set(first["events"])
                ),
                60,
                "a new event on the page while the clients hang on",
            )
        finally:
            for connection in hogs:
                connection.close()
        # each stream's frame encoded at most once a frame (and a width), however many asked
        for stream in STREAMS:
            encodes = total(during, "visord_latest_frame_encodes_total", stream=stream) - total(
                before, "visord_latest_frame_encodes_total", stream=stream
            )
            frames = total(during, "visord_frames_retrieved_total", stream=stream) - total(
                before, "visord_frames_retrieved_total", stream=stream
            )
            assert encodes <= 2 * (frames + 1), (stream, encodes, frames)
            assert encodes < 25, (stream, encodes)
        each_counted_event_written(daemon)
        assert total(daemon.metrics(), "visord_event_sink_failed_total", sink="jsonl") == 0
        assert daemon.stop() == 0
    assert "Traceback" not in daemon.log.read_text()
