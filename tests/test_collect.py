"""Collecting crops worth labelling: why a frame is kept, near-duplicates, quotas, the disk cap, a
queue that never blocks the frame loop, and the runtime saving real crops with their records."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from visord.contract.dataset import read_record
from visord.daemon.collect import Collector
from visord.daemon.collect.choose import Chooser
from visord.daemon.collect.writer import Candidate, Counts, CropWriter, crop_of
from visord.daemon.config import CollectConfig, ConfigError, parse_config
from visord.daemon.inference.engine import Prediction
from visord.daemon.inference.preprocess import Roi
from visord.daemon.sources.frames import Frame
from visord.testing.onnx_models import small_and_large, small_and_large_yaml
from visord.testing.painted import run_until, runtime_for


def answer(label: str, score: float, model: str = "small") -> Prediction:
    return Prediction(label, score, np.array([score, 1 - score]), model)


SURE, UNSURE = answer("people", 0.9), answer("people", 0.4)
LARGE_EMPTY = answer("empty", 0.8, "large")


def chooser(**settings) -> Chooser:
    return Chooser(CollectConfig(dataset=Path("x"), **({"every": 0, "min_interval": 0} | settings)))


def test_disagreement_then_doubt_then_a_new_label_then_the_baseline():
    choose = chooser(every=10)
    assert choose.reason("hall", [SURE], 0.0) == "baseline"  # the first frame of the stream
    assert choose.reason("hall", [SURE], 1.0) is None
    assert choose.reason("hall", [UNSURE, LARGE_EMPTY], 2.0) == "disagree"
    assert choose.reason("hall", [UNSURE], 3.0) == "unsure"
    assert choose.reason("hall", [answer("empty", 0.95)], 4.0) == "change"
    assert choose.reason("hall", [answer("empty", 0.95)], 5.0) is None
    assert choose.reason("hall", [answer("empty", 0.95)], 10.0) == "baseline"


def test_nothing_closer_than_min_interval_to_the_last_kept_frame_and_streams_are_apart():
    choose = chooser(min_interval=2.0)
    assert choose.reason("hall", [UNSURE], 0.0) == "unsure"
    assert choose.reason("hall", [UNSURE], 1.5) is None
    assert choose.reason("door", [UNSURE], 1.5) == "unsure"
    assert choose.reason("hall", [UNSURE], 2.0) == "unsure"


def test_switches_turn_their_reason_off():
    choose = chooser(disagree=False, after_change=False, unsure_below=0.0)
    assert choose.reason("hall", [UNSURE, LARGE_EMPTY], 0.0) is None
    assert choose.reason("hall", [answer("car", 0.9)], 1.0) is None


# -- the writer


def scene(shift: int = 0, size=(120, 160)) -> np.ndarray:
    image = np.full((*size, 3), 90, np.uint8)
    cv2.rectangle(image, (20 + shift, 30), (60 + shift, 100), (20, 200, 240), -1)
    return image


def settings(tmp_path, **changes) -> CollectConfig:
    return CollectConfig(dataset=tmp_path / "data", **({"min_change": 0.02} | changes))


def write_all(writer: CropWriter, images, stream="hall", reason="unsure"):
    for index, image in enumerate(images):
        candidate = Candidate(stream, image, None, (UNSURE,), reason, 1_800_000_000.0 + index)
        assert writer.submit(candidate)
    writer.close()


def crops(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jpg"))


def test_crops_are_written_with_their_records_and_near_duplicates_are_dropped(tmp_path):
    counts = Counts()
    writer = CropWriter(settings(tmp_path), counts)
    write_all(writer, [scene(0), scene(0), scene(40)])  # the second is the first again
    saved = crops(tmp_path / "data" / "unlabelled" / "hall")
    assert len(saved) == 2
    record = read_record(saved[0].with_suffix(".json"))
    assert (record.stream, record.reason, record.answers[0].label) == ("hall", "unsure", "people")
    assert cv2.imread(str(saved[0])).shape == (120, 160, 3)
    assert counts.copy()[:2] == ({("hall", "unsure"): 2}, {("hall", "duplicate"): 1})
    assert not list((tmp_path / "data").rglob("*.tmp"))  # written through a rename


def test_the_quota_keeps_each_streams_newest_crops(tmp_path):
    counts = Counts()
    writer = CropWriter(settings(tmp_path, per_stream=3), counts)
    write_all(writer, [scene(10 * k) for k in range(6)])
    names = [path.stem for path in crops(tmp_path / "data" / "unlabelled" / "hall")]
    assert len(names) == 3 and names[-1].endswith("000006")
    assert counts.copy()[2] == {("hall",): 3}
    assert len(list((tmp_path / "data" / "unlabelled" / "hall").glob("*.json"))) == 3


def test_the_disk_cap_removes_the_oldest_crops_of_any_stream(tmp_path):
    data = tmp_path / "data"
    writer = CropWriter(settings(tmp_path, max_megabytes=1e-9), Counts())  # below one crop
    write_all(writer, [scene(0)], stream="door")
    assert crops(data / "unlabelled" / "door") == []


def test_a_crop_is_its_region_of_interest_at_most_max_side_pixels():
    frame = scene(0, size=(480, 640))
    crop = crop_of(frame, Roi(0.5, 0.0, 0.5, 1.0), max_side=160)
    assert crop.shape == (160, 107, 3)  # the right half, 320x480, scaled by 1/3
    assert crop_of(frame[:40, :40], None, max_side=160).shape == (40, 40, 3)  # never enlarged


def test_offer_never_waits_for_the_writer_and_counts_what_it_drops(tmp_path, monkeypatch):
    writing, release = threading.Event(), threading.Event()

    def stuck(self, candidate) -> None:
        writing.set()
        release.wait(10)

    monkeypatch.setattr(CropWriter, "_write", stuck)
    collector = Collector(settings(tmp_path, queue=1, min_interval=0))
    image = scene(0)

    def offer(index: int) -> None:
        collector.offer("hall", Frame("hall", image, index, float(index), 0.0), None, [UNSURE])

    offer(0)
    assert writing.wait(10)  # the writer took the first and is stuck writing it
    for index in range(1, 6):
        offer(index)
    dropped = collector.counts.copy()[1]
    release.set()
    collector.close()
    assert dropped[("hall", "queue_full")] == 4  # one being written, one queued


# -- config and the runtime


def test_collect_streams_must_name_streams_with_the_key_path(tmp_path):
    models = small_and_large(tmp_path)
    text = (
        small_and_large_yaml(models, "  - {name: hall, source: demo://scenes, model: small}\n")
        + "collect: {dataset: data, streams: [hall, porch]}\n"
    )
    with pytest.raises(ConfigError, match=r"collect.streams\[1\]: unknown stream 'porch'"):
        parse_config(text, "test.yaml")


def test_the_runtime_saves_crops_of_the_collected_streams_only(tmp_path):
    models = small_and_large(tmp_path)
    streams = (
        '  - {name: hall, source: "demo://scenes", fps: 20, model: cascade}\n'
        '  - {name: door, source: "demo://scenes", fps: 20, model: small}\n'
    )
    config = parse_config(
        small_and_large_yaml(models, streams)
        + f"collect: {{dataset: {tmp_path / 'data'}, streams: [hall], every: 0.2, "
        "min_interval: 0, min_change: 0}\n",
        "test.yaml",
    )
    collector = Collector(config.collect)
    runtime, _, _ = runtime_for(config, {"hall": ["red", "blue"], "door": ["green"]})
    runtime.collector = collector
    runtime.start()
    try:
        folder = tmp_path / "data" / "unlabelled" / "hall"
        assert run_until(runtime, lambda: len(crops(folder)) >= 3, timeout=30)
    finally:
        runtime.stop()
        collector.close()
    records = [read_record(path.with_suffix(".json")) for path in crops(folder)]
    assert {record.stream for record in records} == {"hall"}
    assert {record.reason for record in records} <= {"baseline", "change", "unsure", "disagree"}
    assert not (tmp_path / "data" / "unlabelled" / "door").exists()
    saved = {sample.labels: sample.value for sample in collector.snapshot()[0].samples}
    assert sum(saved.values()) == len(records)


def test_visord_collect_runs_one_stream_for_a_while_and_says_what_it_saved(tmp_path):
    models = small_and_large(tmp_path)
    streams = (
        '  - {name: hall, source: "demo://scenes?fps=10&size=160x120", fps: 5, model: cascade}\n'
        '  - {name: door, source: "demo://scenes?fps=10&size=160x120", fps: 5, model: small}\n'
    )
    config = tmp_path / "visord.yaml"
    config.write_text(small_and_large_yaml(models, streams))
    done = subprocess.run(
        [sys.executable, "-m", "visord", "collect", "--config", str(config), "--stream", "hall"]
        + ["--dataset", str(tmp_path / "data"), "--seconds", "4", "--every", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    saved = crops(tmp_path / "data" / "unlabelled" / "hall")
    assert saved and f"hall: saved {len(saved)} crops in {tmp_path / 'data'}" in done.stdout
    assert not (tmp_path / "data" / "unlabelled" / "door").exists()
    assert "camera=door" not in done.stderr  # the other stream never started


def test_visord_collect_names_what_is_missing(tmp_path):
    models = small_and_large(tmp_path)
    config = tmp_path / "visord.yaml"
    config.write_text(
        small_and_large_yaml(models, '  - {name: hall, source: "demo://scenes", model: small}\n')
    )
    command = [sys.executable, "-m", "visord", "collect", "--config", str(config)]
    unknown = subprocess.run([*command, "--stream", "porch"], capture_output=True, text=True)
    assert unknown.returncode == 78 and "has no stream 'porch' (it has hall)" in unknown.stderr
    nowhere = subprocess.run([*command, "--stream", "hall"], capture_output=True, text=True)
    assert nowhere.returncode == 78 and "give --dataset DIR" in nowhere.stderr
