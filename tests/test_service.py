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

from visord.testing.daemon_process import fetch, sample
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


def test_daemon_over_a_real_rtsp_camera(setup):
    tmp = setup
    rtsp_port, metrics_port = free_port(), free_port()
    events_file, config_file, log_file = (
        tmp / "events.jsonl",
        tmp / "visord.yaml",
        tmp / "visord.log",
    )
    config_file.write_text(config_text(tmp, rtsp_port, metrics_port, events_file, with_demo=True))
    camera = RtspServer(pipeline=PATTERN.format(pattern="red"), port=rtsp_port).start()
    with open(log_file, "w") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "visord.cli", "run", "--config", str(config_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: fetch(metrics_port, "/healthz")[0] == 200, what="healthy daemon")
        wait_for(
            lambda: any(e["stream"] == "cam" and e["label"] == "red" for e in events(events_file)),
            what="a 'red' event from the camera",
        )

        # The camera loses power: the stream goes down, the demo stream keeps going.
        camera.kill()
        wait_for(lambda: fetch(metrics_port, "/healthz")[0] == 503, what="unhealthy cam")
        health = json.loads(fetch(metrics_port, "/healthz")[1])
        assert not health["streams"]["cam"]["healthy"] and health["streams"]["demo"]["healthy"]
        classified = sample(
            fetch(metrics_port, "/metrics")[1],
            'visord_frames_classified_total{model="small",stream="demo"}',
        )
        wait_for(
            lambda: (
                sample(
                    fetch(metrics_port, "/metrics")[1],
                    'visord_frames_classified_total{model="small",stream="demo"}',
                )
                > classified + 2
            ),
            what="demo stream classifying while cam is down",
        )

        # It comes back showing blue: the reader reconnects by itself and the label change
        # is an event.
        camera = RtspServer(pipeline=PATTERN.format(pattern="blue"), port=rtsp_port).start()
        wait_for(
            lambda: any(e["stream"] == "cam" and e["label"] == "blue" for e in events(events_file)),
            timeout=60,
            what="a 'blue' event after the camera came back",
        )
        metrics = fetch(metrics_port, "/metrics")[1]
        assert sample(metrics, 'visord_stream_reconnects_total{stream="cam"}') >= 1
        assert sample(metrics, 'visord_stream_up{stream="cam"}') == 1.0
        check = subprocess.run(
            ["promtool", "check", "metrics"], input=metrics, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr

        maps = Path(f"/proc/{daemon.pid}/maps").read_text()
        assert "tensorflow" not in maps and "libtensorflow" not in maps

        # SIGHUP with a broken file: rejected, the running config stays.
        good = config_file.read_text()
        config_file.write_text(good.replace("fps: 5", "fps: -1"))
        daemon.send_signal(signal.SIGHUP)
        wait_for(
            lambda: (
                sample(
                    fetch(metrics_port, "/metrics")[1],
                    'visord_config_reloads_total{result="rejected"}',
                )
                == 1.0
            ),
            what="rejected reload",
        )
        assert fetch(metrics_port, "/healthz")[0] == 200

        # SIGHUP with a good file without the demo stream: applied, the camera untouched.
        config_file.write_text(
            config_text(tmp, rtsp_port, metrics_port, events_file, with_demo=False)
        )
        daemon.send_signal(signal.SIGHUP)
        wait_for(
            lambda: (
                sample(
                    fetch(metrics_port, "/metrics")[1],
                    'visord_config_reloads_total{result="applied"}',
                )
                == 1.0
            ),
            what="applied reload",
        )
        metrics = fetch(metrics_port, "/metrics")[1]
        assert 'stream="demo"' not in metrics.replace(
            'visord_events_total{kind="change",stream="demo"}', ""
        )
        assert sample(metrics, 'visord_stream_up{stream="cam"}') == 1.0

        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=15) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
        camera.kill()
    log = log_file.read_text()
    assert "config reload rejected" in log and "streams[0].fps" in log
    for text in (log, events_file.read_text(), metrics):
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
