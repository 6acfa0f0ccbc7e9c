"""`visord deploy` against a running daemon: the new model in place and reloaded, a bad one refused
before anything is touched, a reload the daemon rejects undone, rollback, no daemon running."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from visord.cli import main
from visord.contract.manifest import load_manifest
from visord.deploy import Reload
from visord.testing.daemon_process import DaemonProcess, fetch, tiny_config
from visord.testing.onnx_models import manifest_dict, tiny_classifier
from visord.testing.rtsp_server import free_port
from visord.testing.wait import wait_for


def deploy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "visord", "deploy", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def health(daemon: DaemonProcess) -> dict:
    return json.loads(fetch(daemon.port, "/healthz")[1])


@pytest.fixture
def daemon(tmp_path):
    with DaemonProcess.tiny(tmp_path) as running:
        running.wait_classified()
        yield running


def new_model(folder, name: str = "retrained", **manifest):
    folder.mkdir(parents=True, exist_ok=True)
    return tiny_classifier(
        folder / f"{name}.onnx", manifest_dict(name=name, **manifest), weights=np.eye(3) * 0.5
    )


def test_a_new_model_goes_in_place_and_the_running_daemon_reloads_it(daemon, tmp_path):
    target = tmp_path / "small.onnx"
    old = target.read_bytes()
    candidate = new_model(tmp_path / "incoming")
    done = deploy(candidate, "--config", daemon.config, "--as", "small")
    assert done.returncode == 0, done.stderr
    assert "the daemon reloaded: models.small runs the new file" in done.stdout
    assert target.read_bytes() == candidate.read_bytes()
    assert (tmp_path / "small.onnx.previous").read_bytes() == old
    assert health(daemon)["last_reload"]["result"] == "applied"
    wait_for(
        lambda: daemon.log.read_text().count("model=small loaded") == 2,
        what="the daemon loading the new file",
    )
    daemon.wait_classified()


def test_rollback_puts_the_replaced_model_back_and_reloads(daemon, tmp_path):
    target = tmp_path / "small.onnx"
    old = target.read_bytes()
    assert (
        deploy(new_model(tmp_path / "in"), "--config", daemon.config, "--as", "small").returncode
        == 0
    )
    done = deploy("--rollback", "--config", daemon.config, "--as", "small")
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == old
    assert health(daemon)["last_reload"]["number"] == 2
    assert load_manifest(target).name == "small"


def test_a_corrupt_model_is_refused_before_anything_changes(daemon, tmp_path):
    target = tmp_path / "small.onnx"
    old = target.read_bytes()
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not a model")
    done = deploy(corrupt, "--config", daemon.config, "--as", "small")
    assert done.returncode == 65
    assert "the new model is refused" in done.stderr and "nothing was changed" in done.stderr
    assert target.read_bytes() == old and not (tmp_path / "small.onnx.previous").exists()
    assert health(daemon)["last_reload"]["number"] == 0  # no signal was sent


def test_a_model_whose_labels_break_a_cascade_is_refused(tmp_path):
    small = tiny_classifier(tmp_path / "small.onnx", manifest_dict(name="small"))
    large = tiny_classifier(tmp_path / "large.onnx", manifest_dict(name="large"))
    config = tmp_path / "visord.yaml"
    config.write_text(
        f"models:\n  small: {{path: {small}, role: small}}\n"
        f"  large: {{path: {large}, role: large}}\n"
        "streams:\n  - {name: door, source: 'demo://scenes', model: cascade}\n"
        f"metrics: {{port: {free_port()}}}\n"
    )
    odd = new_model(tmp_path / "in", labels=("cat", "dog", "fox"))
    done = deploy(odd, "--config", config, "--as", "large", "--no-reload")
    assert done.returncode == 65
    assert "models.large.path: labels ['cat', 'dog', 'fox'] differ" in done.stderr
    assert load_manifest(large).labels == ("red", "green", "blue")


def test_a_config_that_no_longer_loads_is_refused_before_the_model_is_touched(daemon, tmp_path):
    target = tmp_path / "small.onnx"
    old = target.read_bytes()
    good = daemon.config.read_text()
    daemon.config.write_text(good.replace("fps: 5", "fps: -5"))  # someone's half-done edit
    done = deploy(new_model(tmp_path / "in"), "--config", daemon.config, "--as", "small")
    assert done.returncode == 78 and "streams[0].fps: must be > 0" in done.stderr
    assert target.read_bytes() == old and health(daemon)["last_reload"]["number"] == 0


def test_a_reload_the_daemon_rejects_is_undone_and_the_old_model_stays(
    tmp_path, monkeypatch, capsys
):
    config = tiny_config(tmp_path, free_port())
    target = tmp_path / "small.onnx"
    old = target.read_bytes()
    monkeypatch.setattr(  # the daemon's verdict, as /healthz would carry it
        "visord.commands.deploy.reload_daemon",
        lambda target, timeout: Reload("rejected", ["models.small.path: not loadable here"]),
    )
    status = main(
        ["deploy", str(new_model(tmp_path / "in")), "--config", str(config), "--as", "small"]
    )
    assert status == 78
    err = capsys.readouterr().err
    assert "the daemon refused the reload; the previous model is back in place" in err
    assert "models.small.path: not loadable here" in err
    assert target.read_bytes() == old


def test_without_a_running_daemon_the_file_waits_for_its_start(tmp_path):
    path = tiny_config(tmp_path, free_port())  # the daemon tests' config, never started here
    done = deploy(new_model(tmp_path / "in"), "--config", path, "--as", "small")
    assert done.returncode == 0, done.stderr
    assert "nothing answers at http://127.0.0.1:" in done.stdout
    assert "the daemon loads the new file when it starts" in done.stdout


def test_bad_arguments_say_what_is_wrong(tmp_path):
    path = tiny_config(tmp_path, free_port())
    assert deploy("--config", path, "--as", "small").returncode == 64
    missing = deploy(tmp_path / "nope.onnx", "--config", path, "--as", "small")
    assert missing.returncode == 66 and "no such file or run folder" in missing.stderr
    unknown = deploy(new_model(tmp_path / "in"), "--config", path, "--as", "huge")
    assert unknown.returncode == 78 and "no model 'huge' under models: (it has small)" in (
        unknown.stderr
    )
    nothing = deploy("--rollback", "--config", path, "--as", "small")
    assert nothing.returncode == 66 and "no previous model to go back to" in nothing.stderr


@pytest.mark.slow
def test_a_run_folder_is_exported_with_parity_checked_then_deployed(tmp_path, quadrants):
    from visord.testing.quadrants import tiny_config as tiny_training_config
    from visord.training.train import train

    run = train(tiny_training_config(quadrants, tmp_path / "runs"), verbose=0).folder
    config = tiny_config(tmp_path, free_port())
    done = deploy(run, "--config", config, "--as", "small", "--no-reload")
    assert done.returncode == 0, done.stderr
    assert "exported" in done.stdout and "parity with Keras" in done.stdout
    manifest = load_manifest(tmp_path / "small.onnx")
    assert manifest.labels == ("bottom_left", "bottom_right", "top_left", "top_right")
    assert load_manifest(tmp_path / "small.onnx.previous").labels == ("red", "green", "blue")
