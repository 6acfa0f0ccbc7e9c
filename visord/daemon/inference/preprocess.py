"""Decoded frame -> model input tensor, from the manifest alone.

Owns the daemon's side of the preprocessing contract: any frame OpenCV hands
over (BGR, grey, BGRA; any size; made BGR uint8 by `visord.daemon.sources.frames.as_bgr`)
is cropped to the stream's region of interest, resized (stretch or
letterbox), converted to the manifest's colour order and normalised as
`(pixels * scale - mean) / std`. Resizing runs first, on uint8: the colour
conversion and the float conversion then touch the model's few thousand
pixels instead of the camera's million (on 640x480 to 96x96 that halves the
cost), and the result stays within about one grey level of training's float
bilinear resize (tests/test_preprocess.py measures it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from visord.contract.manifest import Manifest, Preprocessing
from visord.daemon.sources.frames import as_bgr

if TYPE_CHECKING:
    from visord.daemon.config import RegionOfInterest

INTERPOLATION = {"linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA, "nearest": cv2.INTER_NEAREST}


@dataclass(frozen=True)
class Roi:
    """A region of interest as fractions of the frame: left, top, width, height in 0..1."""

    x: float
    y: float
    width: float
    height: float

    @classmethod
    def of(cls, region: RegionOfInterest | None) -> Roi | None:
        """A stream's `roi:` from its config (None: the whole frame)."""
        return None if region is None else cls(region.x, region.y, region.width, region.height)

    def crop(self, frame: np.ndarray) -> np.ndarray:
        rows, cols = frame.shape[:2]
        top = int(self.y * rows)
        left = int(self.x * cols)
        bottom = max(top + 1, min(rows, round((self.y + self.height) * rows)))
        right = max(left + 1, min(cols, round((self.x + self.width) * cols)))
        return frame[min(top, rows - 1) : bottom, min(left, cols - 1) : right]


def convert_colour(bgr: np.ndarray, colour: str) -> np.ndarray:
    if colour == "RGB":
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if colour == "GREY":
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)[:, :, np.newaxis]
    return bgr


def resize(image: np.ndarray, size: tuple[int, int], mode: str, interpolation: str) -> np.ndarray:
    """`image` at (height, width) = size: stretched, or letterboxed (aspect kept, padded with black,
    centred)."""
    height, width = size
    flag = INTERPOLATION[interpolation]
    if mode == "stretch":
        return _keep_channels(cv2.resize(image, (width, height), interpolation=flag), image)
    factor = min(height / image.shape[0], width / image.shape[1])
    inner = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
    scaled = _keep_channels(cv2.resize(image, inner, interpolation=flag), image)
    canvas = np.zeros((height, width, image.shape[2]), dtype=image.dtype)
    top = (height - inner[1]) // 2
    left = (width - inner[0]) // 2
    canvas[top : top + inner[1], left : left + inner[0]] = scaled
    return canvas


def _keep_channels(resized: np.ndarray, original: np.ndarray) -> np.ndarray:
    """cv2.resize drops a trailing axis of length 1; put it back."""
    return resized.reshape(*resized.shape[:2], original.shape[2])


def normalise(image: np.ndarray, preprocessing: Preprocessing) -> np.ndarray:
    pixels = image.astype(np.float32)
    if preprocessing.scale != 1.0:
        pixels *= np.float32(preprocessing.scale)
    if any(preprocessing.mean):
        pixels -= np.asarray(preprocessing.mean, dtype=np.float32)
    if any(value != 1.0 for value in preprocessing.std):
        pixels /= np.asarray(preprocessing.std, dtype=np.float32)
    return pixels


def prepare(frame: np.ndarray, manifest: Manifest, roi: Roi | None = None) -> np.ndarray:
    """One model input (no batch axis) from a decoded frame, in the manifest's layout and dtype."""
    image = as_bgr(frame)
    if roi is not None:
        image = roi.crop(image)
    steps = manifest.preprocessing
    image = convert_colour(
        resize(image, manifest.input.height_width, steps.resize, steps.interpolation), steps.colour
    )
    tensor = image if manifest.input.dtype == "uint8" else normalise(image, steps)
    return (
        np.ascontiguousarray(tensor.transpose(2, 0, 1))
        if manifest.input.layout == "NCHW"
        else tensor
    )
