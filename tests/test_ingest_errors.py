"""Why an RTSP stream does not open, said in visord's own words: against the real GStreamer RTSP
server (a wrong path, basic auth, UDP refused), a closed port and a server that never answers; in
the source's error, the reader's log line, `visord run`'s JSON log, /healthz and the failure
counter's cause label; and nothing of FFmpeg's or OpenCV's printed raw, FFmpeg's own lines as JSON
under `--log-level debug`."""

from __future__ import annotations

import json
import logging
import signal
import socket
import subprocess
import sys
import threading

import pytest

from visord.daemon.sources import ReaderConfig, SourceError, SourceOptions, StreamReader
from visord.daemon.sources.decoder import DecoderSource
from visord.testing.daemon_process import fetch, sample, tiny_config
from visord.testing.rtsp_server import RtspServer, SilentServer, free_port
from visord.testing.wait import wait_for

PASSWORD = "hunter2-secret"
FAST = SourceOptions(open_timeout=3.0, read_timeout=3.0)


@pytest.fixture(scope="module")
def camera():
    with RtspServer() as server:
        yield server


@pytest.fixture(scope="module")
def locked_camera():
    """The same camera asking for RTSP basic auth (user viewer)."""
    with RtspServer(credentials=("viewer", PASSWORD)) as server:
        yield server


def open_error(url: str, transport: str = "tcp", options: SourceOptions = FAST) -> str:
    source = DecoderSource(url, options, transport)
    with pytest.raises(SourceError) as error:
        source.open()
    return str(error.value)


def test_a_wrong_path_is_404(camera):
    message = open_error(f"rtsp://127.0.0.1:{camera.port}/nope")
    assert message == (
        f"rtsp://127.0.0.1:{camera.port}/nope over TCP: 404 not found (check the path)"
    )


def test_a_closed_port_is_refused():
    port = free_port()
    assert open_error(f"rtsp://127.0.0.1:{port}/stream") == (
        f"rtsp://127.0.0.1:{port}/stream over TCP: connection refused "
        "(nothing listens on that port)"
    )


def test_a_server_that_never_answers_times_out():
    with SilentServer() as silent:
        message = open_error(silent.url, options=SourceOptions(open_timeout=1.0))
    assert (
        message == f"{silent.url} over TCP: timed out after 1 s (no answer within the open timeout)"
    )


def test_missing_or_wrong_credentials_are_401_and_the_password_is_never_shown(locked_camera):
    port = locked_camera.port
    without = open_error(f"rtsp://127.0.0.1:{port}/stream")
    wrong = open_error(f"rtsp://viewer:wrong-{PASSWORD}@127.0.0.1:{port}/stream")
    assert without.endswith("over TCP: 401 unauthorized (check the user and password)")
    assert wrong == (
        f"rtsp://***@127.0.0.1:{port}/stream over TCP: 401 unauthorized "
        "(check the user and password)"
    )
    right = DecoderSource(f"rtsp://viewer:{PASSWORD}@127.0.0.1:{port}/stream", FAST, "tcp")
    right.open()  # the server's auth is real: the right password plays
    try:
        assert right.grab()
    finally:
        right.release()


def test_a_server_that_offers_tcp_only_refuses_udp_with_461():
    with RtspServer(protocols="tcp") as server:
        message = open_error(server.url, transport="udp")
    assert message.endswith(
        "over UDP: 461 unsupported transport (the server does not offer RTSP over UDP; "
        "try the other transport)"
    )


def test_the_cause_reaches_the_readers_log_line_and_last_error(camera, caplog):
    caplog.set_level(logging.INFO, logger="visord.daemon.sources.reader")
    url = f"rtsp://admin:{PASSWORD}@127.0.0.1:{camera.port}/nope"
    reader = StreamReader(ReaderConfig("cam", url, backoff_initial=0.2, backoff_max=0.5)).start()
    try:
        wait_for(lambda: reader.stats.errors >= 1, what="a failed open")
    finally:
        reader.stop()
    reason = f"open failed: rtsp://***@127.0.0.1:{camera.port}/nope over TCP: 404 not found"
    assert reader.last_error == reason + " (check the path)"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        message.startswith("camera=cam ") and f"error='{reason}" in message for message in warnings
    ), warnings
    assert PASSWORD not in caplog.text


class JsonDaemon:
    """`visord run --log-format json` over the tiny demo config plus `extra_streams`; stderr to a
    file, read once the daemon stopped."""

    def __init__(self, folder, extra_streams: str, level: str = "info") -> None:
        self.port = free_port()
        config = tiny_config(folder, self.port, extra_streams)
        self.stderr_path = folder / "stderr.log"
        self.stdout_path = folder / "stdout.log"
        with open(self.stderr_path, "w") as stderr, open(self.stdout_path, "w") as stdout:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "visord.cli", "run", "--config", str(config)]
                + ["--log-format", "json", "--log-level", level],
                stdout=stdout,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
            )

    def metrics(self) -> str:
        return fetch(self.port, "/metrics")[1]

    def health(self) -> tuple[int, dict]:
        status, body = fetch(self.port, "/healthz")
        return status, json.loads(body) if status else {}

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        return self.stderr_path.read_text()


def test_visord_run_json_logs_say_why_and_print_nothing_raw(camera, tmp_path):
    gone = free_port()
    extra = (
        f'  - {{name: cam, source: "rtsp://viewer:{PASSWORD}@127.0.0.1:{camera.port}/nope", '
        "fps: 2, model: small}\n"
        f'  - {{name: gone, source: "rtsp://127.0.0.1:{gone}/stream", fps: 2, model: small}}\n'
    )
    daemon = JsonDaemon(tmp_path, extra)
    try:
        health = wait_for(
            lambda: (
                (answer := daemon.health())[0] == 503
                and all("reason" in answer[1]["streams"][name] for name in ("cam", "gone"))
                and answer
            ),
            timeout=60,
            what="/healthz to give the two bad streams' reasons",
        )[1]
        metrics = daemon.metrics()
    finally:
        stderr = daemon.stop()
    assert "404 not found (check the path)" in health["streams"]["cam"]["reason"]
    assert "connection refused" in health["streams"]["gone"]["reason"]
    assert health["streams"]["demo"]["healthy"]
    assert PASSWORD not in json.dumps(health)
    failures = 'visord_camera_failures_total{{camera="{}",cause="{}"}}'
    assert sample(metrics, failures.format("cam", "not_found")) >= 1
    assert sample(metrics, failures.format("gone", "refused")) >= 1
    assert sample(metrics, failures.format("cam", "refused")) == 0

    lines = stderr.splitlines()
    assert lines, "the daemon logged nothing"
    raw = [line for line in lines if not _is_json_object(line)]
    assert raw == [], f"lines on stderr that are not JSON (FFmpeg's or OpenCV's?): {raw[:5]}"
    records = [json.loads(line) for line in lines]
    assert PASSWORD not in stderr
    failures = [r for r in records if r.get("camera") == "cam" and "error" in r]
    assert failures and all(r["level"] == "warning" for r in failures), records
    assert failures[0]["error"] == (
        f"open failed: rtsp://***@127.0.0.1:{camera.port}/nope over TCP: "
        "404 not found (check the path)"
    )
    assert failures[0]["message"].startswith("camera=cam source=rtsp://***@")  # still readable
    assert failures[0]["streams"] == "cam"  # the streams it takes down with it
    backoff = [r for r in records if r.get("camera") == "gone" and r.get("state") == "backoff"]
    assert backoff and "connection refused" in backoff[0]["reason"], records
    assert float(backoff[0]["retry_in"]) > 0
    opened = [r for r in records if r.get("camera") == "demo" and "started" in r["message"]]
    assert opened and opened[0]["source"].startswith("demo://scenes"), records
    assert opened[0]["streams"] == "demo"
    started = [r for r in records if r.get("stream") == "demo" and "started" in r["message"]]
    assert started and started[0]["model"] == "small" and started[0]["camera"] == "demo", records


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def test_ffmpeg_lines_come_as_json_records_under_log_level_debug(camera, tmp_path):
    extra = (
        f'  - {{name: cam, source: "rtsp://viewer:{PASSWORD}@127.0.0.1:{camera.port}/nope", '
        "fps: 2, model: small}\n"
    )
    daemon = JsonDaemon(tmp_path, extra, level="debug")
    try:
        wait_for(
            lambda: "404" in daemon.stderr_path.read_text(),
            timeout=60,
            what="the failed open in the log",
        )
    finally:
        stderr = daemon.stop()
    lines = stderr.splitlines()
    raw = [line for line in lines if not _is_json_object(line)]
    assert raw == [], f"lines on stderr that are not JSON: {raw[:5]}"
    ffmpeg = [
        record for line in lines if (record := json.loads(line))["logger"].startswith("libav")
    ]
    assert ffmpeg and any("404" in record["message"] for record in ffmpeg), ffmpeg[:5]
    assert PASSWORD not in stderr


def test_a_server_that_closes_the_connection_unanswered_is_said_to_give_no_rtsp_answer():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def hang_up() -> None:
        connection, _ = listener.accept()
        connection.close()

    threading.Thread(target=hang_up, daemon=True).start()
    with listener:
        message = open_error(f"rtsp://127.0.0.1:{listener.getsockname()[1]}/stream")
    assert message.endswith(
        "over TCP: no valid RTSP answer (the server closed the connection, or it is not an RTSP "
        "server)"
    )
