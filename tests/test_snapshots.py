"""Event snapshots: the annotated frame and the crop, atomic writes, retention by age and size, a
full queue and an unwritable folder counted (never raised), the `events.snapshots` config."""

from __future__ import annotations

import json
import logging
import os
import textwrap
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from visord.daemon.config import ConfigError, parse_config
from visord.daemon.config.outputs import EventsConfig, SnapshotsConfig
from visord.daemon.events import EventPipeline
from visord.daemon.events.fanout import Sinks
from visord.daemon.events.jsonl import JsonlSink
from visord.daemon.events.snapshots import (
    OUTLINE,
    Counts,
    Job,
    SnapshotKeeper,
    SnapshotWriter,
    annotated,
    crop,
    files_of,
    region_box,
    render,
)
from visord.daemon.inference.preprocess import Roi
from visord.daemon.metrics import DaemonMetrics
from visord.daemon.runtime import Runtime
from visord.testing.onnx_models import small_and_large, small_and_large_yaml
from visord.testing.painted import painted_readers, run_until
from visord.testing.wait import wait_for

RED, BLUE = (0, 0, 255), (255, 0, 0)
DAY = 86400.0
T0 = 1_800_000_000.0  # an epoch second for ids and the injected clock


def two_halves(height: int = 240, width: int = 320) -> np.ndarray:
    """Left half red, right half blue."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = RED
    image[:, width // 2 :] = BLUE
    return image


def decoded(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image


def near(pixel: np.ndarray, colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(colour)) <= tolerance))


def settings(path: Path, **overrides) -> SnapshotsConfig:
    return SnapshotsConfig(enabled=True, path=path, **overrides)


def job(event_id: str, image: np.ndarray | None = None, roi: Roi | None = None) -> Job:
    stream = event_id.rpartition("-")[0]
    return Job(event_id, stream, two_halves() if image is None else image, roi, "person", 0.91)


def ident(stream: str, seconds: float) -> str:
    return f"{stream}-{round(seconds * 1000)}"


# --- drawing and cropping


def test_the_snapshot_outlines_the_region_and_captions_it_on_a_copy():
    image = two_halves()
    before = image.copy()
    roi = Roi(0.5, 0.25, 0.5, 0.5)  # the right half's middle: blue
    frame_jpeg, crop_jpeg = render(job("door-1", image, roi), max_width=1280, quality=95)
    assert np.array_equal(image, before), "the reader's frame was drawn on"
    frame = decoded(frame_jpeg)
    assert frame.shape == image.shape
    left, top, right, bottom = region_box(image.shape, roi)
    middle_row = (top + bottom) // 2
    # the outline runs along the region's edges, and nothing is drawn far from them
    assert near(frame[middle_row, left], OUTLINE, 60)
    assert near(frame[bottom, (left + right) // 2], OUTLINE, 60)
    assert near(frame[middle_row, left + 20], BLUE) and near(frame[middle_row, 40], RED)
    assert near(frame[bottom + 20, 40], RED)
    # the caption is a dark box with light text at the region's top left corner
    caption = frame[top : top + 14, left : left + 60].astype(int)
    assert caption.mean() < 120 and caption.max() > 150
    cropped = decoded(crop_jpeg)
    assert cropped.shape == (120, 160, 3)
    assert near(cropped[60, 80], BLUE) and near(cropped[2, 2], BLUE), "the crop is not annotated"


def test_a_stream_without_a_region_gets_the_whole_frame_as_its_crop():
    frame_jpeg, crop_jpeg = render(job("door-1"), max_width=1280, quality=90)
    frame, cropped = decoded(frame_jpeg), decoded(crop_jpeg)
    assert frame.shape == cropped.shape == (240, 320, 3)
    assert near(cropped[5, 5], RED) and near(cropped[5, 315], BLUE)
    assert frame[5:10, 5:40].mean() < 120, "the caption is at the frame's top left"


def test_wider_frames_are_scaled_down_to_max_width():
    image = two_halves(480, 640)
    frame = annotated(image, Roi(0.0, 0.0, 1.0, 1.0), "person 0.91", max_width=320)
    assert frame.shape == (240, 320, 3)
    assert crop(image, Roi(0.5, 0.0, 0.5, 1.0), max_width=200).shape == (300, 200, 3)
    assert crop(image, Roi(0.5, 0.0, 0.5, 1.0), max_width=1280).shape == (480, 320, 3)


def test_quality_changes_the_size():
    noisy = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    low = render(job("door-1", noisy), max_width=1280, quality=20)
    high = render(job("door-1", noisy), max_width=1280, quality=95)
    assert len(low[0]) < len(high[0]) and len(low[1]) < len(high[1])


# --- the writer


def test_a_snapshot_is_two_files_named_by_its_id_and_no_temporary_file(tmp_path):
    counts = Counts()
    writer = SnapshotWriter(settings(tmp_path / "snaps"), counts, start=False)
    assert writer.write(job("door-1800000000000", roi=Roi(0.5, 0.0, 0.5, 1.0)))
    assert sorted(os.listdir(tmp_path / "snaps")) == [
        "door-1800000000000.crop.jpg",
        "door-1800000000000.jpg",
    ]
    frame, cropped = files_of(tmp_path / "snaps", "door-1800000000000")
    assert decoded(frame.read_bytes()).shape == (240, 320, 3)
    assert decoded(cropped.read_bytes()).shape == (240, 160, 3)
    assert counts.copy()[0] == {("door",): 1}
    assert writer.shelf.total == frame.stat().st_size + cropped.stat().st_size


def test_a_failed_write_leaves_neither_file_nor_temporary(tmp_path, monkeypatch, caplog):
    counts = Counts()
    writer = SnapshotWriter(settings(tmp_path), counts, start=False)
    real_replace = os.replace
    calls = []

    def full_disk_on_second(source, target):
        calls.append(target)
        if len(calls) % 2 == 0:
            raise OSError(28, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr("visord.daemon.events.snapshots.os.replace", full_disk_on_second)
    with caplog.at_level(logging.INFO, "visord.daemon.events.snapshots"):
        assert not writer.write(job("door-1800000000000"))
        assert not writer.write(job("door-1800000001000"))
        assert os.listdir(tmp_path) == [], "a half-written snapshot was left behind"
        assert counts.copy()[1] == {("door", "write_error"): 2}
        assert writer.failing
        said = [r.message for r in caplog.records if "not written" in r.message]
        assert len(said) == 1 and "No space left on device" in said[0]
        monkeypatch.setattr("visord.daemon.events.snapshots.os.replace", real_replace)
        assert writer.write(job("door-1800000002000"))
    assert not writer.failing and "snapshots written again" in caplog.text
    assert len(os.listdir(tmp_path)) == 2


def test_a_folder_removed_under_the_writer_is_made_again(tmp_path):
    counts = Counts()
    folder = tmp_path / "snaps"
    writer = SnapshotWriter(settings(folder), counts, start=False)
    assert writer.write(job("door-1800000000000"))
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    folder.write_text("a file where the folder was")
    assert not writer.write(job("door-1800000001000"))
    folder.unlink()
    assert writer.write(job("door-1800000002000"))
    assert sorted(os.listdir(folder)) == ["door-1800000002000.crop.jpg", "door-1800000002000.jpg"]
    assert counts.copy()[:2] == ({("door",): 2}, {("door", "write_error"): 1})
    assert writer.shelf.total == sum(p.stat().st_size for p in folder.iterdir())


def test_retention_by_size_deletes_the_oldest_first(tmp_path):
    counts = Counts()
    noisy = np.random.default_rng(1).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    probe = render(job("door-1", noisy), 1280, 80)
    one = len(probe[0]) + len(probe[1])
    cap_bytes = 3.5 * one  # room for three
    writer = SnapshotWriter(
        settings(tmp_path, max_megabytes=cap_bytes / 1e6), counts, clock=lambda: T0, start=False
    )
    # written out of time order across two streams: age is the time in the id, not the write order
    times = {"door": [T0 - 50, T0 - 10, T0 - 30], "yard": [T0 - 40, T0 - 20]}
    for stream, seconds in times.items():
        for second in seconds:
            assert writer.write(job(ident(stream, second), noisy))
    kept = sorted(name for name in os.listdir(tmp_path) if not name.endswith(".crop.jpg"))
    assert kept == sorted(
        f"{ident(s, t)}.jpg" for s, t in [("door", T0 - 10), ("yard", T0 - 20), ("door", T0 - 30)]
    )
    assert writer.shelf.total <= cap_bytes
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) == writer.shelf.total
    assert counts.copy()[2] == {("size",): 2}


def test_retention_by_age_with_an_injected_clock(tmp_path):
    counts = Counts()
    now = [T0]
    writer = SnapshotWriter(
        settings(tmp_path, max_days=2), counts, clock=lambda: now[0], start=False
    )
    for days_ago in (3, 1.5, 0.5):
        writer.write(job(ident("door", T0 - days_ago * DAY)))
    assert len(list(tmp_path.glob("*.crop.jpg"))) == 2, "the one older than 2 days was not deleted"
    now[0] = T0 + 1 * DAY  # no new event: the sweep alone ages the next one out
    writer.sweep()
    assert [p.name for p in tmp_path.glob("*.crop.jpg")] == [
        f"{ident('door', T0 - 0.5 * DAY)}.crop.jpg"
    ]
    assert counts.copy()[2] == {("age",): 2}


def test_a_restart_counts_what_is_there_and_leaves_other_files_alone(tmp_path):
    old = SnapshotWriter(settings(tmp_path), Counts(), clock=lambda: T0, start=False)
    old.write(job(ident("door", T0 - 100)))
    (tmp_path / ".door-1.jpg.tmp").write_bytes(b"half")  # a crash between write and rename
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "evil-1.jpg").symlink_to("/etc/hostname")
    counts = Counts()
    writer = SnapshotWriter(
        settings(tmp_path, max_megabytes=1e-6), counts, clock=lambda: T0, start=False
    )
    writer.write(job(ident("door", T0 - 1)))
    names = set(os.listdir(tmp_path))
    assert ".door-1.jpg.tmp" not in names and {"notes.txt", "evil-1.jpg"} <= names
    # the cap (1 byte) leaves nothing of ours, oldest first, the old run's too
    assert not any(name.startswith("door-") for name in names)
    assert counts.copy()[2] == {("size",): 2}


def test_a_full_queue_drops_and_counts_and_never_waits(tmp_path):
    keeper = SnapshotKeeper(settings(tmp_path, queue=1), start=False)
    image = two_halves()
    assert keeper.offer("door-1", "door", "person", 0.9, image, None)
    assert not keeper.offer("door-2", "door", "person", 0.9, image, None)
    assert keeper.counts.copy()[1] == {("door", "queue_full"): 1}
    metrics = {m.name: m.samples for m in keeper.snapshot()}
    assert [s.value for s in metrics["visord_snapshots_dropped"]] == [1.0]


def test_only_the_listed_labels_get_a_snapshot(tmp_path):
    keeper = SnapshotKeeper(settings(tmp_path, labels=["person"]), start=False)
    assert not keeper.offer("door-1", "door", "car", 0.9, two_halves(), None)
    assert keeper.offer("door-2", "door", "person", 0.9, two_halves(), None)
    off = SnapshotKeeper(SnapshotsConfig(path=tmp_path), start=False)
    assert off.writer is None and not off.offer("door-3", "door", "person", 0.9, two_halves(), None)


# --- through the event pipeline


def prediction(label: str) -> SimpleNamespace:
    return SimpleNamespace(label=label, score=0.9, model="small")


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def pipeline_with(tmp_path: Path, **snapshot_settings) -> tuple[EventPipeline, Path]:
    events_file = tmp_path / "events.jsonl"
    config = EventsConfig(
        debounce={"hold_frames": 1, "min_score": 0.5},
        snapshots=settings(tmp_path / "snaps", **snapshot_settings),
    )
    return EventPipeline(config, sinks=Sinks([JsonlSink(events_file)])), events_file


def test_an_event_line_carries_its_snapshot_id_and_the_files_follow(tmp_path):
    pipeline, events_file = pipeline_with(tmp_path, labels=["red"])
    image = two_halves()
    try:
        pipeline.observe("door", prediction("red"), T0, 0.01, image, Roi(0.0, 0.0, 0.5, 1.0))
        pipeline.observe("door", prediction("blue"), T0 + 1, 0.01, image, None)
        first, second = lines(events_file)
        assert first["snapshot"] == f"door-{round(T0 * 1000)}"
        assert "snapshot" not in second, "blue is not a listed label"
        frame, cropped = files_of(tmp_path / "snaps", first["snapshot"])
        wait_for(cropped.exists and frame.exists, what="the snapshot written by the thread")
        assert decoded(cropped.read_bytes()).shape == (240, 160, 3)
    finally:
        pipeline.close()


def test_events_without_a_frame_or_with_snapshots_off_carry_no_snapshot(tmp_path):
    pipeline, events_file = pipeline_with(tmp_path)
    pipeline.observe("door", prediction("red"), T0, 0.01)  # a sink given no image: old callers
    pipeline.close()
    off = EventPipeline(
        EventsConfig(debounce={"hold_frames": 1}), sinks=Sinks([JsonlSink(tmp_path / "off.jsonl")])
    )
    off.observe("door", prediction("red"), T0, 0.01, two_halves(), None)
    off.close()
    assert (
        "snapshot" not in lines(events_file)[0]
        and "snapshot" not in lines(tmp_path / "off.jsonl")[0]
    )


def test_an_unwritable_folder_never_stops_events_and_is_said_once(tmp_path, caplog):
    (tmp_path / "a-file").write_text("not a folder")
    events_file = tmp_path / "events.jsonl"
    config = EventsConfig(
        debounce={"hold_frames": 1},
        snapshots=settings(tmp_path / "a-file" / "snaps"),  # a path under a file: never creatable
    )
    pipeline = EventPipeline(config, sinks=Sinks([JsonlSink(events_file)]))
    try:
        with caplog.at_level(logging.WARNING, "visord.daemon.events.snapshots"):
            for index, label in enumerate(["red", "blue", "red", "blue"]):
                event = pipeline.observe(
                    "door", prediction(label), T0 + index, 0.01, two_halves(), None
                )
                assert event is not None and event.label == label
            dropped = pipeline.snapshots.counts.dropped
            wait_for(lambda: dropped[("door", "write_error")] == 4, what="4 failed writes counted")
        assert [line["label"] for line in lines(events_file)] == ["red", "blue", "red", "blue"]
        said = [r for r in caplog.records if "snapshots not written" in r.message]
        assert len(said) == 1 and "a-file" in said[0].getMessage()
        metrics = {m.name: m.samples for m in pipeline.snapshot()}
        assert metrics["visord_snapshots_writable"][0].value == 0.0
    finally:
        pipeline.close()


def test_a_reload_moves_the_folder_and_can_switch_snapshots_off(tmp_path):
    pipeline, _ = pipeline_with(tmp_path)
    try:
        first = pipeline.snapshots.writer
        pipeline.reconfigure(
            EventsConfig(debounce={"hold_frames": 1}, snapshots=settings(tmp_path / "elsewhere"))
        )
        assert pipeline.snapshots.writer is not first
        assert pipeline.snapshots.root == tmp_path / "elsewhere"
        kept = pipeline.snapshots.writer
        pipeline.reconfigure(
            EventsConfig(
                debounce={"hold_frames": 1},
                snapshots=settings(tmp_path / "elsewhere", quality=50),
                history=10,
            )
        )
        assert pipeline.snapshots.writer is kept and kept.settings.quality == 50
        assert pipeline.history.size == 10
        pipeline.reconfigure(EventsConfig(debounce={"hold_frames": 1}))
        assert pipeline.snapshots.root is None
    finally:
        pipeline.close()


# --- the config


MODELS = (
    "models:\n  small: {path: s.onnx, role: small}\n"
    "streams:\n  - {name: cam, source: demo://scenes, model: small}\n"
)


def events_section(text: str):
    return parse_config(MODELS + textwrap.dedent(text), "test.yaml", {})


def test_snapshot_defaults_are_off_with_sane_limits():
    config = events_section("").events
    snapshots = config.snapshots
    assert not snapshots.enabled and snapshots.labels is None and config.history == 1000
    assert (snapshots.quality, snapshots.max_width) == (80, 1280)
    assert (snapshots.max_days, snapshots.max_megabytes) == (7.0, 500.0)
    on = events_section("""\
        events:
          snapshots: {enabled: true, path: /tmp/snaps, labels: [person, car], quality: 60}
    """).events.snapshots
    assert on.enabled and on.path == Path("/tmp/snaps") and on.wants("car") and not on.wants("cat")


@pytest.mark.parametrize(
    "body, expected",
    [
        ("quality: 0", "test.yaml:8: events.snapshots.quality: must be >= 1"),
        ("quality: 101", "test.yaml:8: events.snapshots.quality: must be <= 100"),
        ("quality: high", "test.yaml:8: events.snapshots.quality: must be a valid integer"),
        ("max_width: 10", "test.yaml:8: events.snapshots.max_width: must be >= 64"),
        ("max_days: 0", "test.yaml:8: events.snapshots.max_days: must be > 0"),
        ("max_megabytes: -1", "test.yaml:8: events.snapshots.max_megabytes: must be > 0"),
        (
            "labels: [person, person]",
            "test.yaml:8: events.snapshots.labels: label 'person' is listed twice",
        ),
        ("labels: ['']", "test.yaml:8: events.snapshots.labels[0]: must have at least 1 character"),
        ("path: [a, b]", "test.yaml:8: events.snapshots.path: "),
        ("max_width: 99999", "test.yaml:8: events.snapshots.max_width: must be <= 16384"),
        ("queue: 0", "test.yaml:8: events.snapshots.queue: must be >= 1"),
        ("folder: /tmp", "test.yaml:8: events.snapshots.folder: unknown key"),
    ],
)
def test_a_bad_snapshot_value_names_its_line(body, expected):
    text = "events:\n  snapshots:\n    enabled: true\n    " + body + "\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(MODELS + text, "test.yaml", {})
    [message] = caught.value.messages
    assert message.startswith(expected), message


def test_a_bad_history_names_its_line():
    with pytest.raises(ConfigError) as caught:
        parse_config(MODELS + "events:\n  history: 0\n", "test.yaml", {})
    assert caught.value.messages == ["test.yaml:6: events.history: must be >= 1 (received 0)"]


# --- from the frame loop


def test_the_runtime_hands_the_pipeline_its_frame_and_region(tmp_path):
    streams = (
        '  - {name: door, source: "demo://scenes", fps: 20, model: small,'
        " roi: {x: 0.5, y: 0.0, width: 0.5, height: 1.0}}\n"
    )
    config = parse_config(
        small_and_large_yaml(small_and_large(tmp_path), streams)
        + f"events:\n  debounce: {{hold_frames: 2}}\n"
        f"  snapshots: {{enabled: true, path: {tmp_path / 'snaps'}}}\n",
        "test.yaml",
    )
    pipeline = EventPipeline(config.events, sinks=Sinks([JsonlSink(tmp_path / "events.jsonl")]))
    runtime = Runtime(
        config,
        DaemonMetrics(CollectorRegistry(), "test"),
        pipeline,
        reader_factory=painted_readers({"door": ["red"]}),
    )
    runtime.start()
    try:
        assert run_until(runtime, lambda: lines(tmp_path / "events.jsonl"))
    finally:
        runtime.stop()
        pipeline.close()
    [event] = lines(tmp_path / "events.jsonl")
    assert event["label"] == "red" and event["snapshot"].startswith("door-")
    latest = pipeline.latest.get("door")
    assert latest is not None and latest.image.shape == (24, 32, 3)
    assert latest.roi == Roi(0.5, 0.0, 0.5, 1.0)
    frame, cropped = files_of(tmp_path / "snaps", event["snapshot"])
    assert decoded(frame.read_bytes()).shape == (24, 32, 3)
    assert decoded(cropped.read_bytes()).shape == (24, 16, 3), "the region's crop"
