"""Teaching visord a camera, end to end on real footage with the real components: the PETS 2009
clip (Debian's opencv-doc) served as an H.264 RTSP camera by GStreamer, `visord run` collecting
crops of the six regions of `config/teach/camera.yaml`, every crop labelled through the label
page's HTTP API by the background-subtraction rule (`visord.testing.footage`), `visord train` on
the data set, `visord export`, and `visord deploy` into the daemon that collected them, which then
classifies the camera with the new model's labels. And a class with too few images is refused by
name."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from visord.testing import footage
from visord.testing.daemon_process import DaemonProcess, fetch, sample
from visord.testing.rtsp_server import free_port
from visord.testing.wait import wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CAMERA = ROOT / "config" / "teach" / "camera.yaml"
RECIPE = ROOT / "config" / "teach" / "tiny.yaml"
SHIPPED = ROOT / "models" / "demo-small.onnx"
CROPS = 72  # collected before labelling: a few seconds of the six regions once all stream


def visord(*args: object, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "visord", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
        env=os.environ | (env or {}),
        cwd=ROOT,
    )


def unlabelled(dataset: Path) -> list[Path]:
    return sorted(dataset.glob("unlabelled/*/*.jpg"))


@pytest.fixture(scope="module")
def clip() -> Path:
    return footage.h264_clip()  # encoded once into the cache folder


@pytest.fixture(scope="module")
def scene() -> footage.Scene:
    return footage.Scene.from_config(CAMERA)


def test_collect_label_train_export_deploy_on_real_footage(tmp_path, clip, scene):
    dataset = tmp_path / "crops"
    model = tmp_path / "camera.onnx"
    shutil.copyfile(SHIPPED, model)  # the walkthrough starts from the shipped demo model
    config = tmp_path / "camera.yaml"
    shutil.copyfile(CAMERA, config)  # as shipped; the daemon's log goes beside it
    port = free_port()
    with footage.camera(clip) as camera:
        env = {
            "TEACH_CAMERA": camera.url,
            "TEACH_MODEL": str(model),
            "TEACH_DATASET": str(dataset),
            "TEACH_METRICS_PORT": str(port),
            "TEACH_EVENTS": str(tmp_path / "events.jsonl"),
        }
        with DaemonProcess(config, port, env=env) as daemon:
            wait_for(lambda: len(unlabelled(dataset)) >= CROPS, 90, f"{CROPS} crops collected")
            for image in unlabelled(dataset)[:5]:
                record = json.loads(image.with_suffix(".json").read_text())
                assert record["reason"] == "baseline" and record["answers"][0]["model"] == "camera"

            # Label every crop listed now through the page, as a person would by key.
            page = footage.LabelPage(dataset)
            labelled = footage.label_through_page(page.url, scene)
            status, printed = page.stop()
            assert status == 0 and "unlabelled; no classes yet" in printed, printed
            counts = labelled.counts
            assert min(counts.values()) >= 10, counts  # both classes, enough to train on
            assert labelled.ambiguous < 0.25 * sum(counts.values()), labelled
            for name, count in counts.items():
                assert len(list((dataset / name).glob("*.jpg"))) == count
            assert unlabelled(dataset), "the daemon keeps collecting while it trains"

            runs = tmp_path / "runs"
            trained = visord("train", "--config", RECIPE, "--data", dataset, "--output", runs)
            assert trained.returncode == 0, trained.stderr[-3000:]
            (run,) = runs.iterdir()
            # unlabelled/ and .visord/ are not classes; every labelled crop was used
            assert json.loads((run / "labels.json").read_text()) == ["empty", "people"]
            data = json.loads((run / "data.json").read_text())
            used = {name: data["train"][name] + data["validation"][name] for name in counts}
            assert used == counts

            exported = visord("export", run, "--out", tmp_path / "new" / "camera.onnx")
            assert exported.returncode == 0, exported.stderr[-3000:]
            deployed = visord(
                "deploy", tmp_path / "new" / "camera.onnx", "--config", config, "--as", "camera",
                env=env,
            )  # fmt: skip
            assert deployed.returncode == 0, deployed.stderr
            assert "the daemon reloaded: models.camera runs the new file" in deployed.stdout
            assert (tmp_path / "camera.onnx.previous").read_bytes() == SHIPPED.read_bytes()
            health = json.loads(fetch(port, "/healthz")[1])
            assert health["last_reload"]["number"] == 1
            assert health["last_reload"]["result"] == "applied"

            def people() -> float:  # the shipped model says `person`, never `people`
                metrics = daemon.metrics()
                return sum(
                    sample(metrics, f'visord_predictions_total{{label="people",stream="{s}"}}') or 0
                    for s in scene.rois
                )

            wait_for(people, 30, "predictions with the new model's labels")


def test_a_class_with_too_few_images_is_refused_naming_it(tmp_path, clip, scene):
    dataset = tmp_path / "crops"
    frames = footage.read_frames(clip, 200, 260)
    wanted = {"people": 12, "empty": 3}
    for stream, index, crop, label in scene.frame_crops(frames):
        if label is not None and len(list((dataset / label).glob("*.jpg"))) < wanted[label]:
            (dataset / label).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(dataset / label / f"{stream}-{index}.jpg"), crop)
    (dataset / "unlabelled" / "lawn").mkdir(parents=True)
    cv2.imwrite(str(dataset / "unlabelled" / "lawn" / "waiting.jpg"), crop)
    done = visord("train", "--config", RECIPE, "--data", dataset, "--output", tmp_path / "runs")
    assert done.returncode == 65, done.stderr[-2000:]
    assert "class 'empty' has only 3 images" in done.stderr
    assert not (tmp_path / "runs").exists()
