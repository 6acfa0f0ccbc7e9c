"""The training commands as a user runs them, in a fresh interpreter with stdout a pipe: what they
print (no TensorFlow banner, no progress bars, no Python warnings) and how they end when pretrained
weights cannot be had (one line, exit 69)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

# What must never reach a pipe: TensorFlow's start-up lines, Keras's shuffle warning, and the
# colour codes and carriage returns of a progress bar.
NOISE = re.compile(
    r"oneDNN|absl|cpu_feature_guard|This TensorFlow binary|cuDNN|cuBLAS|shuffle|UserWarning"
)
WEIGHTS_FILE = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5"
# A network that refuses every connection, as on a box without a route out.
UNREACHABLE = (
    "import errno, socket\n"
    "def unreachable(*args, **kwargs):\n"
    "    raise OSError(errno.ENETUNREACH, 'Network is unreachable')\n"
    "socket.create_connection = unreachable\n"
    "socket.socket.connect = lambda self, address: unreachable()\n"
)


def visord(*args: str, env: dict[str, str] | None = None, prelude: str = "", timeout: int = 300):
    """`visord ARGS` in a fresh interpreter, stdout and stderr pipes, TensorFlow's log level left
    for visord to set."""
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    environment.update(env or {})
    code = f"import sys\n{prelude}\nfrom visord.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
    )


def assert_plain(done: subprocess.CompletedProcess) -> None:
    for stream in (done.stdout, done.stderr):
        assert "\x1b[" not in stream and "\r" not in stream, stream
        assert not NOISE.search(stream), stream


@pytest.mark.parametrize(
    ("offline", "prelude"),
    [("1", ""), ("0", UNREACHABLE)],
    ids=["VISORD_OFFLINE", "network-unreachable"],
)
def test_transfer_without_weights_offline_ends_in_one_line(quadrants, tmp_path, offline, prelude):
    done = visord(
        "train",
        "--config",
        "config/train-transfer.yaml",
        "--data",
        str(quadrants),
        "--output",
        str(tmp_path / "runs"),
        env={"VISORD_OFFLINE": offline, "KERAS_HOME": str(tmp_path / "keras")},
        prelude=prelude,
    )
    assert done.returncode == 69, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("visord train: the mobilenetv2 backbone's ImageNet weights ")
    assert WEIGHTS_FILE in line and str(tmp_path / "keras" / "models") in line
    assert "--set architecture_options.weights=FILE" in line and "weights: null" in line
    assert "this machine is offline" in line  # unreachable weights host: offline, no download
    assert not (tmp_path / "runs").exists() and not (tmp_path / "keras" / "models").exists()


@pytest.fixture(scope="module")
def piped_run(quadrants, tmp_path_factory):
    """`visord train` on the quadrant folder with stdout a pipe: the process and its run folder."""
    runs = tmp_path_factory.mktemp("runs")
    done = visord(
        "train",
        "--data",
        str(quadrants),
        "--set",
        "data.image_size=[32, 32]",
        "--architecture",
        "dnn",
        "--set",
        "architecture_options={filters: 8, dense_units: 16}",
        "--epochs",
        "2",
        "--output",
        str(runs),
    )
    assert done.returncode == 0, done.stderr
    (folder,) = runs.iterdir()
    return done, folder


def test_train_in_a_pipe_prints_one_line_per_epoch_and_no_noise(piped_run):
    done, folder = piped_run
    assert_plain(done)
    assert done.stderr == ""
    epochs = [line for line in done.stdout.splitlines() if re.match(r"\d+/\d+ - ", line)]
    assert len(epochs) == 2 and all("val_accuracy" in line for line in epochs), done.stdout
    assert f"run folder: {folder}" in done.stdout


def test_evaluate_and_export_in_a_pipe_print_no_noise(piped_run, quadrants, tmp_path):
    _, folder = piped_run
    evaluated = visord("evaluate", str(folder), str(quadrants))
    assert evaluated.returncode == 0, evaluated.stderr
    assert_plain(evaluated)
    assert evaluated.stderr == "" and "accuracy" in evaluated.stdout
    exported = visord("export", str(folder), "--out", str(tmp_path / "m.onnx"))
    assert exported.returncode == 0, exported.stderr
    assert_plain(exported)
    assert exported.stderr == "" and "top-1 agreement" in exported.stdout


def test_tune_in_a_pipe_prints_a_line_per_trial_and_no_bar(quadrants, tmp_path):
    config = {
        "name": "piped",
        "train": {
            "data": {"path": str(quadrants), "image_size": [32, 32], "validation_split": 0.25},
            "architecture": "dnn",
            "architecture_options": {"filters": 8, "dense_units": 16},
            "epochs": 1,
        },
        "space": {"optimizer.learning_rate": [0.01, 0.001]},
        "sampler": {"name": "grid"},
        "pruning": {"enabled": False},
        "output_dir": str(tmp_path / "out"),
    }
    path = tmp_path / "tune.yaml"
    path.write_text(yaml.safe_dump(config))
    done = visord("tune", "--config", str(path), "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert_plain(done)
    assert "tune: 2/2 trials finished, best " in done.stdout
    assert Path(tmp_path / "out" / "best.yaml").is_file()
