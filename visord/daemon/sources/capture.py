"""Cameras read through OpenCV's VideoCapture and its V4L2 backend: `/dev/videoN`, an index, or a
udev name under /dev/v4l.

V4L2 takes no open or read timeout (it has its own select timeout): the reader's watchdog is what
bounds it. OpenCV's own log lines are kept off stderr (`quiet_logs`, done on import): a failed open
says why in the `SourceError`. Network streams and files are decoded by PyAV (`decoder`).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from visord.contract.redact import redact_url
from visord.daemon.sources.base import Cause, Failure, SourceError

OPENCV_LOG_LEVEL_VARIABLE = "OPENCV_LOG_LEVEL"


def quiet_logs() -> None:
    """OpenCV prints nothing to stderr unless the operator set OPENCV_LOG_LEVEL for debugging:
    its videoio errors come back as return values or cv2.error too."""
    if OPENCV_LOG_LEVEL_VARIABLE not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


quiet_logs()


class DeviceSource:
    """A `FrameSource` over one V4L2 camera."""

    ended = False

    def __init__(self, device: str | int) -> None:
        self.target = device
        self.name = redact_url(str(device))
        self._capture: cv2.VideoCapture | None = None

    def open(self) -> None:
        try:
            capture = cv2.VideoCapture(self.target, cv2.CAP_V4L2)
        except cv2.error as error:
            raise SourceError(f"{self.name}: OpenCV error {error}") from None
        if not capture.isOpened():
            capture.release()
            failure = self._open_failure()
            raise SourceError(f"{self.name}: {failure.reason}", failure)
        self._capture = capture

    def grab(self) -> bool:
        return self._capture is not None and self._capture.grab()

    def retrieve(self) -> np.ndarray | None:
        ok, image = self._capture.retrieve() if self._capture is not None else (False, None)
        return image if ok else None

    def release(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def _open_failure(self) -> Failure:
        if isinstance(self.target, str) and not Path(self.target).exists():
            return Failure(Cause.NOT_FOUND, "no such V4L2 device")
        return Failure(
            Cause.OTHER,
            "V4L2 device exists but could not be opened "
            "(busy, no permission, or not a capture device)",
        )
