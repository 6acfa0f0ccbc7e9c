"""The daemon's preprocessing (from the manifest) against the training pipeline's, and odd
frames."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from visord.contract.manifest import parse_manifest
from visord.daemon.inference.preprocess import Roi, as_bgr, prepare
from visord.scenes import render_scene
from visord.testing.onnx_models import manifest_dict

# Training converts colour then resizes float pixels bilinearly; the daemon resizes uint8 first
# (the colour
# conversion then touches only the model's pixels) and converts after. Rounding to whole levels
# (once after
# resize, once for grey conversion) and OpenCV's fixed-point weights bound the difference to 1.5
# of 255
# levels, 0.35 on average (measured: 1.07 and 0.31).
MAX_LEVELS = 1.5
MEAN_LEVELS = 0.35


def manifest(size=(64, 64), channels=3, **preprocessing):
    colour = preprocessing.pop("colour", "RGB" if channels == 3 else "GREY")
    data = manifest_dict(channels=channels, preprocessing={"colour": colour, **preprocessing})
    data["input"]["shape"] = [None, size[0], size[1], channels]
    return parse_manifest(json.dumps(data), "test")


def training_tensor(path, size, color_mode):
    from visord.training.data import decode_image

    return decode_image(str(path), size, color_mode).numpy()


@pytest.mark.parametrize(
    ("frame_size", "model_size"),
    [((96, 96), (96, 96)), ((120, 160), (64, 64)), ((40, 30), (64, 64)), ((480, 640), (96, 96))],
)
@pytest.mark.parametrize("color_mode", ["rgb", "grayscale"])
def test_daemon_matches_training_on_the_same_image(tmp_path, frame_size, model_size, color_mode):
    rng = np.random.default_rng(3)
    channels = 1 if color_mode == "grayscale" else 3
    for index, label in enumerate(("person", "vehicle", "empty")):
        path = tmp_path / f"{index}.png"
        cv2.imwrite(str(path), render_scene(rng, label, frame_size, difficulty=0.5))
        daemon = prepare(cv2.imread(str(path)), manifest(model_size, channels))
        training = training_tensor(path, model_size, color_mode)
        assert (
            daemon.shape == training.shape == (*model_size, channels) and daemon.dtype == np.float32
        )
        difference = np.abs(daemon - training)
        assert difference.max() <= MAX_LEVELS and difference.mean() <= MEAN_LEVELS, (
            difference.max(),
            difference.mean(),
        )


def test_colour_order_reaches_the_model_as_rgb():
    frame = np.zeros((10, 10, 3), np.uint8)
    frame[..., 2] = 200  # red in BGR
    tensor = prepare(frame, manifest((4, 4)))
    assert np.all(tensor[..., 0] == 200) and np.all(tensor[..., 1:] == 0)
    assert np.all(prepare(frame, manifest((4, 4), colour="BGR"))[..., 2] == 200)


def test_normalisation_and_nchw():
    data = manifest_dict(
        preprocessing={"colour": "RGB", "scale": 1 / 255, "mean": [0.5], "std": [0.25]}
    )
    data["input"]["layout"], data["input"]["shape"] = "NCHW", [None, 3, 4, 4]
    model = parse_manifest(json.dumps(data), "test")
    tensor = prepare(np.full((8, 8, 3), 255, np.uint8), model)
    assert tensor.shape == (3, 4, 4) and np.allclose(tensor, (1.0 - 0.5) / 0.25)


def test_letterbox_keeps_aspect_and_pads():
    frame = np.full((50, 100, 3), 255, np.uint8)
    tensor = prepare(frame, manifest((20, 20), resize="letterbox"))
    assert np.all(tensor[:5] == 0) and np.all(tensor[15:] == 0) and np.all(tensor[5:15] == 255)


def test_region_of_interest_is_cropped_before_resize():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[50:, 100:] = 255  # bottom-right quarter white
    tensor = prepare(frame, manifest((8, 8)), Roi(0.5, 0.5, 0.5, 0.5))
    assert np.all(tensor == 255)
    assert np.all(prepare(frame, manifest((8, 8)), Roi(0.0, 0.0, 0.5, 0.5)) == 0)


@pytest.mark.parametrize("shape", [(1, 1), (7, 5, 1), (30, 40, 4), (2160, 3840, 3), (480, 640)])
def test_odd_frames_reach_the_model_shape(shape):
    frame = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    assert prepare(frame, manifest((16, 16))).shape == (16, 16, 3)
    assert prepare(frame, manifest((16, 16), channels=1)).shape == (16, 16, 1)


@pytest.mark.parametrize("shape", [(0, 10, 3), (10, 10, 2), (4, 4, 3, 1)])
def test_unusable_frames_are_refused_with_their_shape(shape):
    with pytest.raises(ValueError, match=r"frame of shape"):
        as_bgr(np.zeros(shape, np.uint8))
