"""The engine: shared sessions classify frames of any shape; providers fall back; bad models are
refused."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

from visord.contract.manifest import ManifestError
from visord.contract.scores import softmax
from visord.daemon.inference.engine import CPU, Model, resolve_providers
from visord.daemon.inference.preprocess import Roi
from visord.testing.onnx_models import manifest_dict, tiny_classifier


def painted(bgr: tuple[int, int, int], shape=(48, 64)) -> np.ndarray:
    frame = np.zeros((*shape, 3), np.uint8)
    frame[:] = bgr
    return frame


@pytest.fixture
def model(tmp_path):
    return Model("small", tiny_classifier(tmp_path / "m.onnx", manifest_dict()))


def test_classifies_a_batch_of_frames_of_different_sizes(model):
    frames = [painted((0, 0, 255)), painted((0, 255, 0), (480, 640)), painted((255, 0, 0), (7, 9))]
    predictions = model.classify(frames)
    assert [p.label for p in predictions] == ["red", "green", "blue"]  # BGR frames, RGB model
    assert all(p.model == "small" and 1 / 3 < p.score <= 1 for p in predictions)
    assert np.allclose([p.probabilities.sum() for p in predictions], 1.0, atol=1e-5)


def test_region_of_interest_changes_the_answer(model):
    frame = painted((0, 0, 255))
    frame[:, 32:] = (255, 0, 0)  # right half blue
    left, right = model.classify([frame, frame], [Roi(0, 0, 0.5, 1), Roi(0.5, 0, 0.5, 1)])
    assert (left.label, right.label) == ("red", "blue")


def test_logits_models_get_a_softmax(tmp_path):
    path = tiny_classifier(
        tmp_path / "m.onnx", manifest_dict(output={"name": "predictions", "kind": "logits"})
    )
    [prediction] = Model("x", path).classify([painted((0, 0, 255))])
    assert np.isclose(prediction.probabilities.sum(), 1.0, atol=1e-6)
    assert np.allclose(softmax(np.array([[1.0, 1.0]])), 0.5)


def test_missing_providers_fall_back_to_cpu_with_a_warning(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    assert resolve_providers(["openvino", "cuda", "cpu"], "m") == [CPU]
    assert "provider=openvino unavailable" in caplog.text
    model = Model("m", tiny_classifier(tmp_path / "m.onnx", manifest_dict()), providers=["cuda"])
    assert model.session.get_providers() == [CPU]


def test_a_provider_that_fails_to_start_falls_back(tmp_path, monkeypatch, caplog):
    import visord.daemon.inference.engine as engine

    real = engine.open_session

    def picky(path, providers, threads, spin):
        if providers != [CPU]:
            raise ManifestError(f"{path}: provider exploded")
        return real(path, providers, threads, spin)

    monkeypatch.setattr(
        engine, "resolve_providers", lambda names, model: ["CUDAExecutionProvider", CPU]
    )
    monkeypatch.setattr(engine, "open_session", picky)
    caplog.set_level(logging.WARNING)
    model = Model("m", tiny_classifier(tmp_path / "m.onnx", manifest_dict()), providers=["cuda"])
    assert model.session.get_providers() == [CPU] and "falling back to CPU" in caplog.text


def test_corrupt_and_manifestless_models_are_refused(tmp_path):
    path = tiny_classifier(tmp_path / "m.onnx", manifest_dict())
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(ManifestError, match=str(path)):
        Model("m", path)
    with pytest.raises(ManifestError, match="no visord manifest"):
        Model("m", tiny_classifier(tmp_path / "bare.onnx", None))


def test_a_model_knows_when_its_file_changed_on_disk(tmp_path):
    path = tiny_classifier(tmp_path / "m.onnx", manifest_dict())
    model = Model("m", path)
    assert not model.changed_on_disk()
    replacement = tiny_classifier(tmp_path / "new.onnx", manifest_dict(labels=("a", "b", "c")))
    os.replace(replacement, path)  # how a new model is deployed: renamed into place
    assert model.changed_on_disk()
    rewritten = Model("m", path)
    os.utime(path, ns=(0, 0))  # rewritten in place: same inode and size, another modification time
    assert rewritten.changed_on_disk()
    path.unlink()
    assert rewritten.changed_on_disk()


def test_sessions_do_not_spin_unless_the_config_says_so(tmp_path):
    path = tiny_classifier(tmp_path / "m.onnx", manifest_dict())
    setting = "session.intra_op.allow_spinning"
    quiet = Model("quiet", path).session.get_session_options()
    busy = Model("busy", path, spin=True).session.get_session_options()
    assert quiet.get_session_config_entry(setting) == "0"
    assert busy.get_session_config_entry(setting) == "1"


def test_auto_spin_keeps_a_quiet_and_a_spinning_session_and_switches_by_load(tmp_path):
    path = tiny_classifier(tmp_path / "m.onnx", manifest_dict())
    setting = "session.intra_op.allow_spinning"
    model = Model("auto", path, spin="auto")
    assert model.session.get_session_options().get_session_config_entry(setting) == "0"
    model.set_busy(True)
    assert model.session.get_session_options().get_session_config_entry(setting) == "1"
    assert model.classify([painted((0, 0, 255))])[0].label == "red"
    model.set_busy(False)
    assert model.session.get_session_options().get_session_config_entry(setting) == "0"
