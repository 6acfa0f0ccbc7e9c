"""Model faults (issue 8): execution providers that are not there fall back to CPU with a warning; a
reload
onto a corrupt model, or one whose graph disagrees with its manifest, is refused and the running
model keeps classifying; a model file replaced in place is read again by the reload.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from visord.contract.manifest import ManifestError
from visord.daemon.config import parse_config
from visord.daemon.metrics import DaemonMetrics
from visord.daemon.runtime import Runtime
from visord.testing.daemon_process import DaemonProcess, fetch, sample
from visord.testing.onnx_models import manifest_dict, tiny_classifier
from visord.testing.rtsp_server import free_port
from visord.testing.wait import wait_for

CLASSIFIED = 'visord_frames_classified_total{model="small",stream="door"}'
REJECTED = 'visord_config_reloads_total{result="rejected"}'


def config_text(model: Path, folder: Path, port: int) -> str:
    return f"""\
models:
  small: {{path: {model}, role: small, providers: [cuda, openvino, cpu]}}
streams:
  - {{name: door, source: "demo://scenes?fps=10&size=64x48", fps: 5, model: small}}
events:
  sinks: [{{type: jsonl, path: {folder / "events.jsonl"}}}]
metrics: {{port: {port}}}
"""


def test_missing_providers_fall_back_and_bad_models_on_reload_are_refused(tmp_path):
    good = tiny_classifier(tmp_path / "small.onnx", manifest_dict(name="small"))
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(good.read_bytes()[:200])
    mismatched = tiny_classifier(
        tmp_path / "mismatched.onnx", manifest_dict(labels=("a", "b", "c", "d"))
    )
    config, port = tmp_path / "visord.yaml", free_port()
    config.write_text(config_text(good, tmp_path, port))
    with DaemonProcess(config, port) as daemon:
        daemon.wait_classified("door")
        log = daemon.log.read_text()
        assert (
            "provider=cuda unavailable here" in log and "provider=openvino unavailable here" in log
        )
        assert "providers=CPUExecutionProvider" in log
        for rejected, bad in enumerate((corrupt, mismatched), start=1):
            config.write_text(config_text(bad, tmp_path, port))
            daemon.process.send_signal(signal.SIGHUP)
            wait_for(
                lambda rejected=rejected: sample(daemon.metrics(), REJECTED) == rejected,
                what=f"reload {rejected} rejected",
            )
            classified = sample(daemon.metrics(), CLASSIFIED)
            wait_for(
                lambda classified=classified: sample(daemon.metrics(), CLASSIFIED) > classified + 2,
                what="the old model classifying",
            )
        assert fetch(port, "/healthz")[0] == 200
        assert daemon.stop() == 0
    log = daemon.log.read_text()
    assert f"{corrupt}: not a loadable ONNX model" in log
    assert "manifest has 4 labels but the graph outputs 3 classes" in log


def test_a_model_file_replaced_in_place_is_read_again_by_the_reload(tmp_path):
    path = tiny_classifier(tmp_path / "small.onnx", manifest_dict(name="small"))
    text = config_text(path, tmp_path, free_port())
    runtime = Runtime(
        parse_config(text), DaemonMetrics(CollectorRegistry(), "test"), results=_Ignore()
    )
    runtime.start()
    try:
        os.replace(
            tiny_classifier(tmp_path / "new.onnx", manifest_dict(labels=("x", "y", "z"))), path
        )
        runtime.apply(parse_config(text))
        assert runtime.models["small"].labels == ("x", "y", "z")
        path.write_bytes(b"not onnx")
        with pytest.raises(ManifestError, match="not a loadable ONNX model"):
            runtime.apply(parse_config(text))
        assert runtime.models["small"].labels == ("x", "y", "z")
    finally:
        runtime.stop()


class _Ignore:
    def observe(self, *args: object) -> None:
        pass

    def forget(self, stream: str) -> None:
        pass
