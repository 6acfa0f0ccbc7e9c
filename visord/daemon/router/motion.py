"""Motion gating: does this frame need a model, or can a static scene keep its last answer?

Owns one stream's gate. A frame is cropped to the stream's region of
interest, shrunk to a small grey image (area averaging, which also averages
sensor noise away) and compared with the frame the model last saw: a pixel
counts as changed when it moved by more than `threshold` grey levels, and
the frame as motion when at least `min_area` of the pixels changed. The
lighting guard first maps the reference onto the new frame's brightness and
contrast (a global gain and offset from their means and spreads), so a light
switching on, or the sun going behind a cloud, is not motion while an object
coming in still is. The first frame, and any frame `max_skip_seconds` after
the last classified one, go to the model regardless.
"""

from __future__ import annotations

import cv2
import numpy as np

from visord.contract.likeness import WIDTH, changed_share
from visord.daemon.config import MotionConfig
from visord.daemon.inference.preprocess import Roi
from visord.daemon.sources.frames import as_bgr


def shrink(frame: np.ndarray, roi: Roi | None, width: int = WIDTH) -> np.ndarray:
    """The frame's region of interest as a small float32 grey image."""
    image = as_bgr(frame)
    if roi is not None:
        image = roi.crop(image)
    height = max(1, round(width * image.shape[0] / image.shape[1]))
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)


class MotionGate:
    def __init__(self, settings: MotionConfig, roi: Roi | None = None):
        self.settings = settings
        self.roi = roi
        self._reference: np.ndarray | None = None
        self._classified_at = -np.inf

    def needs_model(self, frame: np.ndarray, now: float) -> bool:
        """True when the frame must be classified (motion, first frame, or forced); it then becomes
        the reference."""
        current = shrink(frame, self.roi)
        due = self._reference is None or now - self._classified_at >= self.settings.max_skip_seconds
        if (
            not due
            and changed_share(
                current, self._reference, self.settings.threshold, self.settings.lighting_guard
            )
            < self.settings.min_area
        ):
            return False
        self._reference = current
        self._classified_at = now
        return True
