"""The manifest contract: valid files load; every way a model file can be wrong is refused by
name."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from visord.contract.manifest import SCHEMA_VERSION, ManifestError, load_manifest, parse_manifest
from visord.testing.onnx_models import manifest_dict, tiny_classifier


def test_a_valid_model_loads(tmp_path):
    manifest = load_manifest(
        tiny_classifier(tmp_path / "m.onnx", manifest_dict(schema_version=SCHEMA_VERSION))
    )
    assert manifest.labels == ("red", "green", "blue") and manifest.input.height_width == (8, 8)
    assert manifest.input.channels == 3 and manifest.schema_version == SCHEMA_VERSION


def test_a_version_1_manifest_loads_without_the_data_set_fields(tmp_path):
    """The shipped models' manifests are version 1: a dataset that is a path, no fingerprint."""
    old = manifest_dict(schema_version=1)
    old["training"]["dataset"] = "/tmp/demoP/train"
    manifest = load_manifest(tiny_classifier(tmp_path / "m.onnx", old))
    assert manifest.schema_version == 1 and manifest.training.dataset == "/tmp/demoP/train"
    assert (
        manifest.training.dataset_fingerprint is None and manifest.training.dataset_images is None
    )


def test_the_data_set_fields_are_checked():
    good = manifest_dict()
    good["training"].update(dataset_fingerprint="0123456789abcdef", dataset_images={"train": 3})
    assert parse_manifest(json.dumps(good), "m").training.dataset_images == {"train": 3}
    for field, value, message in (
        ("dataset_fingerprint", "/tmp/x", "training.dataset_fingerprint: String should match"),
        ("dataset_images", {"test": 1}, "training.dataset_images.test"),
        ("dataset_images", {"train": -1}, "training.dataset_images.train"),
    ):
        bad = manifest_dict()
        bad["training"][field] = value
        with pytest.raises(ManifestError, match=message):
            parse_manifest(json.dumps(bad), "m")


def test_round_trip_through_json():
    manifest = parse_manifest(json.dumps(manifest_dict()), "x")
    assert parse_manifest(manifest.to_json(), "y") == manifest


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda p: tiny_classifier(p, None), "has no visord manifest"),
        (lambda p: tiny_classifier(p, "{not json"), "not valid JSON"),
        (lambda p: tiny_classifier(p, "[1, 2]"), "must be a JSON object"),
        (
            lambda p: tiny_classifier(
                p, {k: v for k, v in manifest_dict().items() if k != "labels"}
            ),
            r"labels: Field required",
        ),
        (
            lambda p: tiny_classifier(p, manifest_dict(opset="eighteen")),
            r"opset: Input should be a valid integer",
        ),
        (
            lambda p: tiny_classifier(p, manifest_dict(precision="int4")),
            r"precision: Input should be 'fp32'",
        ),
        (
            lambda p: tiny_classifier(p, manifest_dict(schema_version=SCHEMA_VERSION + 1)),
            "newer than this visord understands",
        ),
        (
            lambda p: tiny_classifier(
                p, {k: v for k, v in manifest_dict().items() if k != "schema_version"}
            ),
            "schema_version is missing",
        ),
        (lambda p: tiny_classifier(p, manifest_dict(unexpected=1)), "unexpected: Extra inputs"),
        (
            lambda p: tiny_classifier(p, manifest_dict(), input_name="image"),
            "manifest input.name 'pixels' but the graph's input is 'image'",
        ),
        (
            lambda p: tiny_classifier(p, manifest_dict(size=16)),
            r"input.shape \[None, 16, 16, 3\] but the graph",
        ),
        (
            lambda p: tiny_classifier(p, manifest_dict(labels=("a", "b"))),
            "has 2 labels but the graph outputs 3",
        ),
        (
            lambda p: tiny_classifier(p, manifest_dict(preprocessing={"colour": "GREY"})),
            "input.shape: 3 channels, but preprocessing.colour is GREY",
        ),
    ],
    ids=[
        "no-manifest",
        "bad-json",
        "not-object",
        "missing-field",
        "ill-typed",
        "bad-enum",
        "newer-version",
        "no-version",
        "unknown-field",
        "input-name",
        "input-shape",
        "label-count",
        "channels",
    ],
)
def test_bad_models_are_refused_by_name(tmp_path, build, message):
    path = build(tmp_path / "m.onnx")
    with pytest.raises(ManifestError, match=message) as caught:
        load_manifest(path)
    assert str(path) in str(caught.value)


def test_a_file_that_is_not_onnx_is_refused(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"\x89PNG not a model at all")
    with pytest.raises(ManifestError, match="not a loadable ONNX model"):
        load_manifest(path)
    with pytest.raises(ManifestError, match="does not exist"):
        load_manifest(tmp_path / "missing.onnx")


def test_a_truncated_model_is_refused(tmp_path):
    path = tiny_classifier(tmp_path / "m.onnx", manifest_dict())
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ManifestError):
        load_manifest(path)


def test_reading_a_manifest_imports_no_tensorflow(tmp_path):
    path = tiny_classifier(tmp_path / "m.onnx", manifest_dict())
    code = (
        "import sys; from visord.contract.manifest import load_manifest; "
        f"load_manifest({str(path)!r}); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
