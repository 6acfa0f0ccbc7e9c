"""`visord run` as a process: a real RTSP camera, metrics checked by promtool, SIGHUP, SIGTERM, no
secrets, no TF."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from visord.testing.daemon_process import DaemonProcess, fetch, sample
from visord.testing.onnx_models import manifest_dict, tiny_classifier
from visord.testing.rtsp_server import RtspServer, free_port
from visord.testing.wait import wait_for

PASSWORD = "hunter2-secret"
PATTERN = (
    "( videotestsrc is-live=true pattern={pattern} ! "
    "video/x-raw,width=160,height=120,framerate=10/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 ! rtph264pay name=pay0 pt=96 "
    "config-interval=1 )"
)


def events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def config_text(
    models: Path, rtsp_port: int, metrics_port: int, events_file: Path, with_demo: bool
) -> str:
    demo = (
        '  - {name: demo, source: "demo://scenes?fps=10&size=160x120", fps: 2, model: small}\n'
        if with_demo
        else ""
    )
    return f"""
models:
  small: {{path: {models / "small.onnx"}, role: small}}
streams:
  - name: cam
    source: rtsp://viewer:{PASSWORD}@127.0.0.1:{rtsp_port}/stream
    fps: 5
    model: small
    stall_timeout: 2
{demo}events:
  debounce: {{hold_frames: 2, min_score: 0.5}}
  sinks:
    - {{type: jsonl, path: {events_file}}}
metrics: {{port: {metrics_port}}}
"""


@pytest.fixture
def setup(tmp_path):
    # Channel weights make the tiny model answer the frame's dominant colour with confidence.
    tiny_classifier(tmp_path / "small.onnx", manifest_dict(name="small"), weights=np.eye(3) * 0.2)
    return tmp_path


class Scenario:
    """One daemon over a real RTSP camera (red) and a demo stream. A test that changes it (kills
    the camera, reloads, stops) has one of its own (`scenario`); the ones that only look share one
    (`running`), so no test depends on another having run."""

    def __init__(self, folder: Path):
        tiny_classifier(folder / "small.onnx", manifest_dict(name="small"), weights=np.eye(3) * 0.2)
        self.folder, self.rtsp_port, self.metrics_port = folder, free_port(), free_port()
        self.events_file = folder / "events.jsonl"
        self.config = folder / "visord.yaml"
        self.write_config(with_demo=True)
        self.camera = RtspServer(pipeline=PATTERN.format(pattern="red"), port=self.rtsp_port)
        self.camera.start()
        self.daemon = DaemonProcess(self.config, self.metrics_port)

    def write_config(self, with_demo: bool) -> None:
        text = config_text(
            self.folder, self.rtsp_port, self.metrics_port, self.events_file, with_demo
        )
        self.config.write_text(text)

    def health(self) -> tuple[int, dict]:
        status, body = fetch(self.metrics_port, "/healthz")
        return status, json.loads(body) if body else {}

    def value(self, series: str) -> float | None:
        return sample(self.daemon.metrics(), series)

    def labels_of(self, stream: str) -> set[str]:
        return {e["label"] for e in events(self.events_file) if e["stream"] == stream}

    def healthy(self) -> Scenario:
        """Waits until the daemon answers healthy: both streams up."""
        wait_for(lambda: self.health()[0] == 200, what="healthy daemon")
        return self

    def close(self) -> None:
        self.daemon.stop()
        self.camera.kill()


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """A daemon the tests only look at (a rejected reload leaves it as it was)."""
    shared = Scenario(tmp_path_factory.mktemp("service"))
    yield shared.healthy()
    shared.close()


@pytest.fixture
def scenario(tmp_path):
    """A daemon of the test's own, to change."""
    own = Scenario(tmp_path)
    yield own.healthy()
    own.close()


DEMO_CLASSIFIED = 'visord_frames_classified_total{model="small",stream="demo"}'


def test_a_red_camera_gives_a_red_event_and_a_healthy_daemon(running):
    wait_for(lambda: "red" in running.labels_of("cam"), what="a 'red' event from the camera")
    assert running.health()[0] == 200


def test_a_camera_that_loses_power_takes_down_its_own_stream_only_and_is_reconnected(scenario):
    scenario.camera.kill()
    wait_for(lambda: scenario.health()[0] == 503, what="unhealthy cam")
    streams = scenario.health()[1]["streams"]
    assert not streams["cam"]["healthy"] and streams["demo"]["healthy"]
    before = scenario.value(DEMO_CLASSIFIED)
    wait_for(
        lambda: scenario.value(DEMO_CLASSIFIED) > before + 2,
        what="demo stream classifying while cam is down",
    )
    # Back with another picture: reconnected, and its new label is an event.
    scenario.camera = RtspServer(
        pipeline=PATTERN.format(pattern="blue"), port=scenario.rtsp_port
    ).start()
    wait_for(
        lambda: "blue" in scenario.labels_of("cam"),
        timeout=60,
        what="a 'blue' event after the camera came back",
    )
    assert scenario.value('visord_camera_reconnects_total{camera="cam"}') >= 1
    assert scenario.value('visord_stream_up{stream="cam"}') == 1.0


def test_the_exposition_passes_promtool(running):
    check = subprocess.run(
        ["promtool", "check", "metrics"],
        input=running.daemon.metrics(),
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_running_daemon_never_mapped_tensorflow(running):
    maps = Path(f"/proc/{running.daemon.process.pid}/maps").read_text()
    assert "tensorflow" not in maps and "libtensorflow" not in maps


def test_sighup_with_a_broken_file_is_rejected_and_the_running_config_stays(running):
    rejected = 'visord_config_reloads_total{result="rejected"}'
    before = running.value(rejected) or 0.0
    good = running.config.read_text()
    running.config.write_text(good.replace("fps: 5", "fps: -1"))
    try:
        running.daemon.process.send_signal(signal.SIGHUP)
        wait_for(lambda: running.value(rejected) == before + 1, what="rejected reload")
    finally:
        running.config.write_text(good)
    assert running.health()[0] == 200
    log = running.daemon.log.read_text()
    assert "config reload rejected" in log and "streams[0].fps" in log


def test_sighup_with_a_good_file_applies_it_and_leaves_the_camera_running(scenario):
    scenario.write_config(with_demo=False)
    scenario.daemon.process.send_signal(signal.SIGHUP)
    wait_for(
        lambda: scenario.value('visord_config_reloads_total{result="applied"}') == 1.0,
        what="applied reload",
    )
    metrics = scenario.daemon.metrics()
    assert 'stream="demo"' not in metrics.replace(
        'visord_events_total{kind="change",stream="demo"}', ""
    )
    assert sample(metrics, 'visord_stream_up{stream="cam"}') == 1.0


def test_sigterm_stops_it_cleanly_and_no_password_was_ever_shown(scenario):
    metrics = scenario.daemon.metrics()
    assert scenario.daemon.stop() == 0
    log = scenario.daemon.log.read_text()
    for text in (log, scenario.events_file.read_text(), metrics):
        assert PASSWORD not in text
    assert "rtsp://***@127.0.0.1" in log


def test_a_bad_config_exits_78_before_starting(tmp_path):
    (tmp_path / "bad.yaml").write_text("models: {}\nstreams: []\n")
    result = subprocess.run(
        [sys.executable, "-m", "visord.cli", "run", "--config", str(tmp_path / "bad.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 78 and "bad.yaml" in result.stderr


def test_a_corrupt_model_exits_78_at_start(setup):
    tmp = setup
    (tmp / "small.onnx").write_bytes(b"corrupt")
    config = tmp / "visord.yaml"
    config.write_text(config_text(tmp, free_port(), free_port(), tmp / "e.jsonl", with_demo=True))
    result = subprocess.run(
        [sys.executable, "-m", "visord.cli", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 78 and "not a loadable ONNX model" in result.stderr


def test_a_metrics_port_in_use_exits_75_and_says_so(setup):
    """75 (EX_TEMPFAIL), not 78: the unit's Restart= retries it, as the port may be free a moment
    later."""
    tmp = setup
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp / "visord.yaml"
        config.write_text(config_text(tmp, free_port(), port, tmp / "e.jsonl", with_demo=True))
        result = subprocess.run(
            [sys.executable, "-m", "visord.cli", "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 75
    assert (
        f"cannot start: [Errno 98] metrics endpoint 127.0.0.1:{port}: Address already in use"
        in result.stderr
    )
    assert "visord stopped" in result.stderr  # the readers it had started were stopped again


def test_run_refuses_a_cascade_whose_models_disagree_on_labels_as_check_does(setup):
    tmp = setup
    tiny_classifier(tmp / "large.onnx", manifest_dict(name="large", labels=("cat", "dog", "fox")))
    config = tmp / "visord.yaml"
    config.write_text(
        f"models:\n  small: {{path: {tmp / 'small.onnx'}, role: small}}\n"
        f"  large: {{path: {tmp / 'large.onnx'}, role: large}}\n"
        "streams:\n  - {name: door, source: 'demo://scenes', model: cascade}\n"
        f"metrics: {{port: {free_port()}}}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "visord.cli", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 78
    assert "models.large.path: labels ['cat', 'dog', 'fox'] differ from models.small's" in (
        result.stderr
    )
