"""The events API on the daemon's HTTP endpoint: the event list and its pages, snapshot files
served from their folder only (traversal and symlinks refused), each stream's latest frame
encoded on demand and cached, the same auth as /metrics, and a real `visord run` end to end."""

from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from visord.daemon.config.outputs import EventsConfig, SnapshotsConfig
from visord.daemon.events import EventPipeline
from visord.daemon.events.event import Event
from visord.daemon.events.fanout import Sinks
from visord.daemon.events.history import History, Query
from visord.daemon.events.jsonl import JsonlSink
from visord.daemon.events.latest import LatestFrames
from visord.daemon.events.snapshots import files_of
from visord.daemon.inference.preprocess import Roi
from visord.daemon.service.api import EventsApi, Refused, parse_query
from visord.daemon.service.http import MetricsServer, ServerOptions
from visord.testing.certs import self_signed
from visord.testing.daemon_process import DaemonProcess
from visord.testing.onnx_models import manifest_dict, tiny_classifier
from visord.testing.rtsp_server import free_port
from visord.testing.wait import wait_for

T0 = 1_800_000_000.0


def event(stream: str, label: str, time: float) -> Event:
    return Event(stream=stream, label=label, score=0.9, model="small", time=time, latency=0.01)


def filled(history: History, items: list[tuple[str, str, float]]) -> list[str]:
    ids = []
    for stream, label, time in items:
        ids.append(history.next_id(stream, time))
        history.add(ids[-1], event(stream, label, time))
    return ids


# --- the ring and its pages


def test_pages_go_newest_first_and_the_cursor_continues_where_the_last_page_ended():
    history = History(100)
    ids = filled(history, [("door", "red", T0 + i) for i in range(5)])
    first, more = history.page(Query(limit=2))
    assert [e.event_id for e in first] == [ids[4], ids[3]] and more
    second, more = history.page(Query(limit=2, before=first[-1].event_id))
    assert [e.event_id for e in second] == [ids[2], ids[1]] and more
    third, more = history.page(Query(limit=2, before=second[-1].event_id))
    assert [e.event_id for e in third] == [ids[0]] and not more


def test_filters_by_stream_label_and_time():
    history = History(100)
    filled(
        history,
        [
            ("door", "red", T0),
            ("yard", "red", T0 + 1),
            ("door", "blue", T0 + 2),
            ("door", "red", T0 + 3),
        ],
    )

    def times(**filters) -> list[float]:
        return [entry.event.time for entry in history.page(Query(**filters))[0]]

    assert times(stream="door") == [T0 + 3, T0 + 2, T0]
    assert times(label="red") == [T0 + 3, T0 + 1, T0]
    assert times(stream="door", label="red", since=T0 + 1) == [T0 + 3]
    assert times(since=T0 + 1, until=T0 + 2) == [T0 + 2, T0 + 1]
    assert times(stream="gate") == []


def test_the_ring_keeps_the_newest_and_an_aged_out_cursor_gives_an_empty_page():
    history = History(3)
    ids = filled(history, [("door", "red", T0 + i) for i in range(5)])
    assert [e.event_id for e in history.page(Query())[0]] == ids[:1:-1]
    assert history.page(Query(before=ids[0])) == ([], False)
    history.resize(2)
    assert [e.event_id for e in history.page(Query())[0]] == [ids[4], ids[3]]


def test_ids_are_unique_per_stream_even_within_one_millisecond():
    history = History(10)
    assert history.next_id("door", T0) == f"door-{round(T0 * 1000)}"
    assert history.next_id("door", T0) == f"door-{round(T0 * 1000) + 1}"
    assert history.next_id("yard", T0) == f"yard-{round(T0 * 1000)}"


@pytest.mark.parametrize(
    "query, message",
    [
        ("limit=0", "limit: must be 1 to 1000"),
        ("limit=ten", "limit: not a whole number"),
        ("since=yesterday", "since: neither epoch seconds nor an ISO 8601 time"),
        ("until=nan", "until: not a finite number"),
        ("stream=Door", "stream: 'Door' is not a valid name"),
        ("before=../etc", "before: not an event id"),
        ("colour=red", "unknown parameter 'colour'"),
        ("label=a&label=b", "parameter 'label' given 2 times"),
    ],
)
def test_a_bad_query_is_refused_with_its_reason(query, message):
    with pytest.raises(Refused) as refused:
        parse_query(query)
    assert refused.value.status == 400 and message in refused.value.message


def test_times_are_epoch_seconds_or_iso_8601():
    assert parse_query("since=1800000000.5").since == 1800000000.5
    assert (
        parse_query("since=2027-01-15T08:00:00Z").since
        == parse_query("since=2027-01-15T09:00:00%2B01:00").since
    )
    assert (
        parse_query("until=2027-01-15T08:00:00").until
        == parse_query("until=2027-01-15T08:00:00Z").until
    ), "a time without a zone is UTC"


# --- the latest frame


def test_the_latest_frame_is_encoded_at_most_once_per_cache_time_and_never_drawn_on():
    now = [100.0]
    latest = LatestFrames(clock=lambda: now[0], min_interval=0.3)
    assert latest.jpeg("door", 1280, 80) is None
    first = np.full((48, 64, 3), 120, np.uint8)
    before = first.copy()
    latest.keep("door", first, Roi(0.25, 0.25, 0.5, 0.5), T0)
    jpeg, wall = latest.jpeg("door", 1280, 80)
    assert wall == T0 and latest.encodes["door"] == 1
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (48, 64, 3) and np.array_equal(first, before)
    assert abs(int(decoded[24, 16, 2]) - 255) < 60, "the region is outlined (yellow: red high)"
    latest.keep("door", np.full((48, 64, 3), 30, np.uint8), None, T0 + 1)
    now[0] += 0.1  # a newer frame within the cache time: the cached JPEG answers
    assert latest.jpeg("door", 1280, 80) == (jpeg, T0) and latest.encodes["door"] == 1
    now[0] += 0.3
    jpeg2, wall2 = latest.jpeg("door", 32, 80)
    assert wall2 == T0 + 1 and latest.encodes["door"] == 2
    assert cv2.imdecode(np.frombuffer(jpeg2, np.uint8), cv2.IMREAD_COLOR).shape == (24, 32, 3)
    now[0] += 10  # no newer frame: the same frame is never encoded twice
    assert latest.jpeg("door", 32, 80) == (jpeg2, T0 + 1) and latest.encodes["door"] == 2
    latest.forget("door")
    assert latest.jpeg("door", 32, 80) is None


def test_without_the_outline_the_regions_of_a_camera_share_one_encode_of_a_frame():
    latest = LatestFrames(clock=lambda: 100.0, min_interval=0.3)
    frame = np.full((48, 64, 3), 120, np.uint8)  # one camera frame, handed to two regions
    latest.keep("left", frame, Roi(0.0, 0.0, 0.5, 1.0), T0)
    latest.keep("right", frame, Roi(0.5, 0.0, 0.5, 1.0), T0)
    plain, _ = latest.jpeg("left", 64, 80, outlined=False)
    assert latest.jpeg("right", 64, 80, outlined=False) == (plain, T0)
    assert (latest.encodes["left"], latest.encodes["right"]) == (1, 0)
    decoded = cv2.imdecode(np.frombuffer(plain, np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(decoded.astype(int) - 120).max() < 8, "nothing drawn"
    # outlined, each region's own; another width, another encode; another frame, not shared
    assert latest.jpeg("right", 64, 80)[0] != plain and latest.encodes["right"] == 1
    latest.jpeg("right", 32, 80, outlined=False)
    assert latest.encodes["right"] == 2
    latest.keep("left", np.full((48, 64, 3), 30, np.uint8), None, T0 + 1)
    latest.clock = lambda: 101.0
    assert latest.jpeg("left", 64, 80, outlined=False)[0] != plain
    assert latest.encodes["left"] == 2


# --- over HTTP


def raw_get(port: int, path: str, headers: dict | None = None, context=None):
    """(status, content type, body) of GET `path` sent exactly as written (no normalising)."""
    if context is None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    else:
        connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        for key, value in (headers or {}).items():
            connection.putheader(key, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        connection.close()


def prediction(label: str) -> SimpleNamespace:
    return SimpleNamespace(label=label, score=0.875, model="small")


class Served:
    """A pipeline writing snapshots of painted frames, and the HTTP endpoint with its API."""

    def __init__(self, folder: Path, **options):
        self.folder = folder / "snaps"
        config = EventsConfig(
            debounce={"hold_frames": 1},
            snapshots=SnapshotsConfig(enabled=True, path=self.folder, max_width=64),
        )
        self.pipeline = EventPipeline(config, sinks=Sinks([JsonlSink(folder / "events.jsonl")]))
        self.api = EventsApi(self.pipeline, lambda: ["door", "yard"])
        self.server = MetricsServer(
            CollectorRegistry(), lambda: (True, {}), ServerOptions(port=0, **options), self.api
        )
        self.port = self.server.port

    def event(self, label: str, time: float) -> Event:
        image = np.zeros((96, 128, 3), np.uint8)
        image[:, 64:] = (255, 0, 0)
        found = self.pipeline.observe(
            "door", prediction(label), time, 0.01, image, Roi(0.5, 0.0, 0.5, 1.0)
        )
        assert found is not None and found.snapshot is not None
        frame, crop = files_of(self.folder, found.snapshot)
        wait_for(lambda: frame.exists() and crop.exists(), what="snapshot files")
        return found

    def get(self, path: str, **kwargs):
        return raw_get(self.port, path, **kwargs)

    def close(self):
        self.server.close()
        self.pipeline.close()


@pytest.fixture
def served(tmp_path):
    running = Served(tmp_path)
    yield running
    running.close()


def image_of(body: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, body[:200]
    return image


def test_the_list_and_the_snapshot_files(served):
    red = served.event("red", T0)
    blue = served.event("blue", T0 + 1)
    status, kind, body = served.get("/api/events")
    assert (status, kind) == (200, "application/json")
    listed = json.loads(body)
    assert [e["id"] for e in listed["events"]] == [blue.snapshot, red.snapshot]
    assert listed["next"] is None
    newest = listed["events"][0]
    assert newest["label"] == "blue" and newest["snapshot"] == blue.snapshot
    assert newest["snapshot_url"] == f"/api/events/{blue.snapshot}/snapshot.jpg"
    status, kind, body = served.get(newest["snapshot_url"])
    assert (status, kind) == (200, "image/jpeg")
    assert image_of(body).shape == (48, 64, 3), "scaled to max_width 64"
    status, _, body = served.get(newest["crop_url"])
    assert status == 200 and image_of(body).shape == (96, 64, 3), "cut from the full frame"
    status, _, body = served.get("/api/events?label=red&limit=1")
    assert [e["id"] for e in json.loads(body)["events"]] == [red.snapshot]


def test_the_next_url_pages_through_with_the_same_filters(served):
    for index in range(3):
        served.event("red" if index % 2 == 0 else "blue", T0 + index)
    status, _, body = served.get("/api/events?stream=door&limit=2")
    page = json.loads(body)
    assert status == 200 and len(page["events"]) == 2
    assert "stream=door" in page["next"] and "limit=2" in page["next"]
    status, _, body = served.get(page["next"])
    last = json.loads(body)
    assert [e["time"] for e in last["events"]] == [T0] and last["next"] is None


@pytest.mark.parametrize(
    "path, status",
    [
        ("/api/events/..%2F..%2Fetc%2Fpasswd/snapshot.jpg", 400),
        ("/api/events/%2e%2e/snapshot.jpg", 400),
        ("/api/events/door-1800000000000.jpg/snapshot.jpg", 400),
        ("/api/events/door-1800000000000%00/snapshot.jpg", 400),
        ("/api/events/%252e%252e/snapshot.jpg", 400),
        ("/api/events/../../etc/passwd/snapshot.jpg", 404),
        ("/api/events/door-1800000000000/../../../etc/passwd", 404),
        ("/api/events/door-1800000000000/passwd", 404),
        ("/api/events/door-1800000009999/snapshot.jpg", 404),
        ("/api/events/evil-1/snapshot.jpg", 404),
        ("/api/events/dir-1/snapshot.jpg", 404),
    ],
)
def test_nothing_outside_the_snapshot_folder_is_served(served, tmp_path, path, status):
    served.event("red", T0)
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"not for you")
    (served.folder / "evil-1.jpg").symlink_to(secret)
    (served.folder / "dir-1.jpg").mkdir()
    got, kind, body = served.get(path)
    assert got == status and kind == "application/json", body
    assert b"not for you" not in body and "error" in json.loads(body)


def test_the_latest_frame_and_unknown_streams(served):
    status, _, body = served.get("/api/streams/gate/latest.jpg")
    assert status == 404 and json.loads(body) == {
        "error": "unknown stream 'gate'",
        "streams": ["door", "yard"],
    }
    status, _, body = served.get("/api/streams/yard/latest.jpg")
    assert status == 503 and "no classified frame yet" in json.loads(body)["error"]
    served.event("red", T0)
    status, kind, body = served.get("/api/streams/door/latest.jpg")
    assert (status, kind) == (200, "image/jpeg") and image_of(body).shape == (48, 64, 3)
    # a page's tiles ask for a narrower frame; never wider than the frame itself
    status, _, body = served.get("/api/streams/door/latest.jpg?width=16")
    assert status == 400 and "at least 32" in json.loads(body)["error"]
    status, _, body = served.get("/api/streams/door/latest.jpg?width=32&t=7")
    assert status == 200 and image_of(body).shape == (24, 32, 3)
    status, _, body = served.get("/api/streams/door/latest.jpg?width=640")
    assert status == 200 and image_of(body).shape == (48, 64, 3)  # max_width, at most
    status, _, body = served.get("/api/streams/door/latest.jpg?size=2")
    assert status == 400 and "unknown parameter 'size'" in json.loads(body)["error"]
    status, _, body = served.get("/api/streams/door/latest.jpg?width=32&outline=0")
    assert status == 200 and image_of(body).shape == (24, 32, 3)
    for bad in ("outline=no", "outline=", "outline=0&outline=1"):
        status, _, body = served.get(f"/api/streams/door/latest.jpg?{bad}")
        assert status == 400 and "outline: 0" in json.loads(body)["error"], bad


def test_the_api_asks_for_the_same_basic_auth_as_metrics_and_speaks_tls(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    self_signed(cert, key)
    running = Served(
        tmp_path, username="viewer", password="s3cret", cert_file=str(cert), key_file=str(key)
    )
    context = ssl.create_default_context(cafile=str(cert))
    try:
        running.event("red", T0)
        assert running.get("/api/events", context=context)[0] == 401
        token = base64.b64encode(b"viewer:s3cret").decode()
        status, _, body = running.get(
            "/api/events", headers={"Authorization": f"Basic {token}"}, context=context
        )
        assert status == 200 and len(json.loads(body)["events"]) == 1
    finally:
        running.close()


def test_an_api_without_snapshots_says_so(tmp_path):
    pipeline = EventPipeline(EventsConfig(), sinks=Sinks([]))
    api = EventsApi(pipeline, lambda: [])
    reply = api.handle("/api/events/door-1/snapshot.jpg")
    assert reply.status == 404 and "snapshots are off" in json.loads(reply.body)["error"]
    assert api.handle("/api/nothing").status == 404


# --- end to end: `visord run` with snapshots on


def fetch_bytes(port: int, path: str) -> tuple[int, bytes]:
    try:
        status, _, body = raw_get(port, path)
        return status, body
    except OSError:
        return 0, b""


def test_a_running_daemon_snapshots_its_events_and_serves_them(tmp_path):
    tiny_classifier(tmp_path / "small.onnx", manifest_dict(name="small"), weights=np.eye(3) * 0.2)
    port = free_port()
    events_file, snaps = tmp_path / "events.jsonl", tmp_path / "snaps"
    config = tmp_path / "visord.yaml"
    config.write_text(f"""\
models:
  small: {{path: {tmp_path / "small.onnx"}, role: small}}
streams:
  - name: porch
    source: "demo://scenes?fps=10&size=160x120"
    fps: 5
    model: small
    roi: {{x: 0.5, y: 0.0, width: 0.5, height: 1.0}}
events:
  debounce: {{hold_frames: 2, min_score: 0.3}}
  sinks: [{{type: jsonl, path: {events_file}}}]
  snapshots: {{enabled: true, path: {snaps}, max_width: 80, quality: 70}}
metrics: {{port: {port}}}
""")

    def first_line() -> dict | None:
        text = events_file.read_text() if events_file.exists() else ""
        return json.loads(text.splitlines()[0]) if text.strip() else None

    with DaemonProcess(config, port) as daemon:
        try:
            line = wait_for(first_line, 60, "an event line")
            event_id = line["snapshot"]
            assert event_id.startswith("porch-")
            status, body = wait_for(
                lambda: (
                    (got := fetch_bytes(port, f"/api/events/{event_id}/snapshot.jpg"))[0] == 200
                    and got
                ),
                30,
                "the snapshot served",
            )
            assert image_of(body).shape == (60, 80, 3), "160x120 scaled to max_width 80"
            status, body = fetch_bytes(port, f"/api/events/{event_id}/crop.jpg")
            assert status == 200 and image_of(body).shape == (120, 80, 3)
            status, body = fetch_bytes(port, "/api/events?stream=porch")
            listed = json.loads(body)["events"]
            assert status == 200 and event_id in [e["id"] for e in listed]
            status, body = fetch_bytes(port, "/api/streams/porch/latest.jpg")
            assert status == 200 and image_of(body).shape == (60, 80, 3)
            status, body = fetch_bytes(port, "/api/streams/garage/latest.jpg")
            assert status == 404 and "unknown stream" in json.loads(body)["error"]
            status, body = fetch_bytes(port, "/api/events/..%2Fvisord.yaml/snapshot.jpg")
            assert status == 400 and b"models" not in body
            assert sorted(os.listdir(snaps))[:2] == [f"{event_id}.crop.jpg", f"{event_id}.jpg"]
            metrics = daemon.metrics()
            assert 'visord_snapshots_written_total{stream="porch"}' in metrics
        except AssertionError:
            print(daemon.log.read_text()[-3000:])
            raise
