"""Property-based fuzzing of the manifest loader (issue 8): whatever the text in a model's metadata,
`parse_manifest` returns a `Manifest` or raises `ManifestError` naming the model file; never another
exception. And what it accepts, the daemon can preprocess a frame with.

Three kinds of input: any text; JSON built from the manifest's own keys and values of every type;
and a valid manifest with one field (at any depth) set to a random value or removed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from visord.contract.manifest import ManifestError, parse_manifest
from visord.daemon.inference.preprocess import prepare
from visord.testing.documents import GONE, paths, replaced
from visord.testing.onnx_models import manifest_dict

SOURCE = "models/fuzz.onnx"
VALID = manifest_dict()
KEYS = (
    *VALID,
    *VALID["input"],
    *VALID["preprocessing"],
    *VALID["output"],
    *VALID["latency"],
    "scale",
    "mean",
    "std",
    "interpolation",
)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

numbers = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 0.0, 1e-300, 1e300]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    st.text(max_size=20),
    st.sampled_from(
        [
            "NHWC",
            "NCHW",
            "RGB",
            "BGR",
            "GREY",
            "stretch",
            "letterbox",
            "logits",
            "probabilities",
            "float32",
            "uint8",
            "fp32",
            "int8",
            "linear",
            "area",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=6),
    ),
    max_leaves=25,
)


def check(text: str) -> None:
    """The property: a manifest the preprocessing can use, or a ManifestError that names the
    file."""
    try:
        manifest = parse_manifest(text, SOURCE)
    except ManifestError as error:
        assert str(error).startswith(f"{SOURCE}: "), error
        return
    # a larger input is valid, only slow to fill here
    if np.prod(manifest.input.shape[1:]) <= 4_000_000:
        tensor = prepare(np.zeros((12, 16, 3), np.uint8), manifest)
        assert tensor.shape == manifest.input.shape[1:] and np.isfinite(tensor).all(), (
            tensor.shape,
            manifest,
        )


@FUZZ
@given(st.text(max_size=200))
def test_any_text(text):
    check(text)


@FUZZ
@given(values)
def test_any_json(value):
    check(json.dumps(value))


@FUZZ
@given(st.sampled_from(paths(VALID)), values | st.just(GONE))
def test_a_valid_manifest_with_one_field_changed_or_removed(path, value):
    check(json.dumps(replaced(VALID, path, value)))


@pytest.mark.parametrize("dimension", [0, -3, True, 2.0, 100_000])
def test_an_input_dimension_that_no_frame_can_be_resized_to_is_refused(dimension):
    """Found by the fuzzing above: a height of 0 (or `false`) passed, and every frame then failed in
    cv2.resize."""
    data = manifest_dict()
    data["input"]["shape"] = [None, dimension, 8, 3]
    with pytest.raises(ManifestError, match=r"input\.shape\.1"):
        parse_manifest(json.dumps(data), SOURCE)
