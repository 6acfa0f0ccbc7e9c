"""Export: every architecture round-trips to ONNX with its manifest, and a broken conversion is
refused."""

from __future__ import annotations

import hashlib
import json
import re
import shutil

import numpy as np
import onnxruntime as ort
import pytest

from visord.contract.manifest import MANIFEST_KEY, SCHEMA_VERSION, load_manifest
from visord.testing.quadrants import eager_training, tiny_config
from visord.training.export import ExportError, export, load_source, onnx_predict, validation_images
from visord.training.train import train

ARCHITECTURE_OPTIONS = {
    "dnn": {"filters": 8, "dense_units": 16},
    "mobilenet": {"alpha": 0.25, "blocks": 4},
    "squeezenet": {},
    "transfer": {"alpha": 0.35, "dense_units": 16},
}


@pytest.fixture(scope="module")
def runs(quadrants, tmp_path_factory):
    """One tiny trained run folder per architecture (1 epoch: export, not accuracy, is under
    test), trained eagerly (tracing the backbones' training graphs cost most of this file)."""
    out = tmp_path_factory.mktemp("runs")
    folders = {}
    for name, options in ARCHITECTURE_OPTIONS.items():
        config = tiny_config(
            quadrants,
            out,
            {"name": name, "architecture": name, "architecture_options": options, "epochs": 1},
        )
        with eager_training():
            folders[name] = train(config, verbose=0).folder
    return folders


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURE_OPTIONS))
def test_round_trip_matches_keras_at_batch_1_and_5(runs, tmp_path, architecture):
    result = export(runs[architecture], tmp_path / f"{architecture}.onnx", version="1")
    source = load_source(runs[architecture])
    pixels, _ = validation_images(source)
    for batch in (pixels[:1], pixels[:5]):
        expected = source.model.predict(batch, verbose=0)
        actual = onnx_predict(result.path, batch)
        assert actual.shape == (len(batch), 4)
        assert np.array_equal(actual.argmax(-1), expected.argmax(-1))
        assert np.max(np.abs(actual - expected)) < 1e-4
    assert result.parity.top1_agreement == 1.0 and result.parity.images == len(pixels) == 40


def test_manifest_describes_the_graph_and_the_run(runs, tmp_path):
    result = export(runs["dnn"], tmp_path / "small.onnx", name="small", version="2026.11")
    manifest = load_manifest(result.path)
    assert manifest == result.manifest
    assert (
        manifest.name == "small" and manifest.version == "2026.11" and manifest.precision == "fp32"
    )
    assert manifest.labels == tuple(json.loads((runs["dnn"] / "labels.json").read_text()))
    assert manifest.input.name == "pixels" and manifest.input.shape == (None, 32, 32, 3)
    assert manifest.preprocessing.colour == "RGB" and manifest.output.kind == "probabilities"
    assert manifest.training.architecture == "dnn" and manifest.training.validation_samples == 40
    assert sum(manifest.training.samples.values()) == 120
    assert (
        manifest.parameters == load_source(runs["dnn"]).model.count_params() and manifest.flops > 0
    )
    assert 0 < manifest.latency.batch1_ms and manifest.latency.threads == 2
    calibration = manifest.output.calibration  # fitted on the same validation images
    assert calibration.images == 40 and calibration.temperature > 0
    assert 0 <= calibration.ece_after <= 1 and 0 <= calibration.ece_before <= 1
    session = ort.InferenceSession(str(result.path))
    assert [i.shape[0] for i in session.get_inputs()] != [1]  # dynamic batch
    stored = json.loads(session.get_modelmeta().custom_metadata_map[MANIFEST_KEY])
    assert stored["training"]["validation_accuracy"] == pytest.approx(
        manifest.training.validation_accuracy
    )


def test_accuracy_in_the_manifest_is_the_onnx_graphs_own(runs, tmp_path):
    result = export(runs["dnn"], tmp_path / "m.onnx")
    pixels, labels = validation_images(load_source(runs["dnn"]))
    measured = float(np.mean(onnx_predict(result.path, pixels).argmax(-1) == labels))
    assert result.manifest.training.validation_accuracy == pytest.approx(measured)


def test_parity_failure_refuses_and_writes_nothing(runs, tmp_path, monkeypatch):
    import visord.training.export as export_module

    def skewed(path, pixels, batch=64):
        probabilities = onnx_predict(path, pixels, batch)
        # what a wrong channel order or label order looks like
        return np.roll(probabilities, 1, axis=-1)

    monkeypatch.setattr(export_module, "onnx_predict", skewed)
    with pytest.raises(ExportError, match="ONNX and Keras disagree"):
        export(runs["dnn"], tmp_path / "bad.onnx")
    assert list(tmp_path.iterdir()) == []


def test_keras_file_without_labels_or_data_is_refused(runs, tmp_path):
    import shutil

    lonely = tmp_path / "lonely"
    lonely.mkdir()
    shutil.copy(runs["dnn"] / "model.keras", lonely / "model.keras")
    with pytest.raises(ExportError, match="labels.json"):
        export(lonely / "model.keras", tmp_path / "x.onnx")
    (lonely / "labels.json").write_text((runs["dnn"] / "labels.json").read_text())
    with pytest.raises(ExportError, match="--data"):
        export(lonely / "model.keras", tmp_path / "x.onnx")


def test_keras_file_with_a_data_folder_exports(runs, quadrants, tmp_path):
    import shutil

    lonely = tmp_path / "lonely"
    lonely.mkdir()
    for name in ("model.keras", "labels.json"):
        shutil.copy(runs["dnn"] / name, lonely / name)
    result = export(lonely / "model.keras", tmp_path / "x.onnx", data=quadrants)
    assert (
        result.manifest.training.validation_samples == 160
        and result.manifest.training.architecture == "unknown"
    )


def test_a_limited_image_sample_spreads_over_every_class(runs, quadrants):
    """A folder lists its classes one after the other; a sample smaller than it must not be the
    first classes."""
    _, labels = validation_images(load_source(runs["dnn"]), quadrants, limit=20)
    counts = np.bincount(labels, minlength=4)
    assert len(labels) == 20 and counts.min() >= 4, counts


def stored_manifest(path) -> str:
    return ort.InferenceSession(str(path)).get_modelmeta().custom_metadata_map[MANIFEST_KEY]


def test_manifest_names_the_data_set_and_its_fingerprint_not_a_path(runs, quadrants, tmp_path):
    result = export(runs["dnn"], tmp_path / "m.onnx")
    training = load_manifest(result.path).training
    files = sorted(
        (path.relative_to(quadrants).as_posix(), path.stat().st_size)
        for path in quadrants.rglob("*.png")
    )
    digest = hashlib.sha256("".join(f"{name}\t{size}\n" for name, size in files).encode())
    assert training.dataset == quadrants.name
    assert training.dataset_fingerprint == digest.hexdigest()[:16]
    assert training.dataset_images == {"train": 120, "validation": 40}
    assert result.manifest.schema_version == SCHEMA_VERSION
    text = stored_manifest(result.path)
    assert str(quadrants) not in text and str(tmp_path) not in text
    assert not re.search(r'": ?"/', text), text  # no absolute path as any value


def test_a_run_without_a_data_set_record_is_named_from_its_config(runs, quadrants, tmp_path):
    older = tmp_path / "older-run"
    shutil.copytree(runs["dnn"], older)
    data = json.loads((older / "data.json").read_text())
    del data["dataset"]
    (older / "data.json").write_text(json.dumps(data))
    training = export(older, tmp_path / "m.onnx").manifest.training
    assert training.dataset == quadrants.name and training.dataset_fingerprint is None
    assert str(quadrants) not in stored_manifest(tmp_path / "m.onnx")
