"""Frame sources read through OpenCV's VideoCapture: network streams (RTSP, HTTP MJPEG) and video
files through the FFmpeg backend, cameras through V4L2.

FFmpeg sources get OpenCV's open and read timeouts (`CAP_PROP_OPEN_TIMEOUT_MSEC`,
`CAP_PROP_READ_TIMEOUT_MSEC`) so a camera that accepts a connection and sends nothing
fails instead of hanging; RTSP sources open under `transport_options` (see `ffmpeg_env`).
The V4L2 backend takes neither timeout (it has its own select timeout): the reader's
watchdog is what bounds it. OpenCV opens FFmpeg captures one at a time process-wide (a
mutex in its FFmpeg backend): the FFmpeg sources name `FFMPEG_OPENS` as their `open_lock`
so the reader queues for it in the open and can tell waiting from hanging. Every message
names the source through `redact_url`.

FFmpeg and OpenCV print nothing (`ffmpeg_env.quiet_logs`, done on import, before any capture
opens): the cause of a network source's failed open comes from `diagnose` instead, into the
`SourceError`, hence into the stream's log line and its /healthz reason.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import cv2
import numpy as np

from visord.contract.redact import redact_url
from visord.daemon.sources.base import SourceError, SourceOptions, Transport
from visord.daemon.sources.diagnose import network_failure
from visord.daemon.sources.ffmpeg_env import quiet_logs, transport_options
from visord.daemon.sources.pacing import Clock, Pacer, Sleep

quiet_logs()

FFMPEG_OPENS = (
    threading.Lock()
)  # the turn to open an FFmpeg capture (OpenCV takes its own mutex inside anyway)


def ffmpeg_params(options: SourceOptions) -> list[int]:
    """VideoCapture params for the FFmpeg backend: the open and read timeouts in milliseconds."""
    return [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        round(options.open_timeout * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        round(options.read_timeout * 1000),
    ]


class CaptureSource:
    """A `FrameSource` over one cv2.VideoCapture, opened with the given backend and params."""

    ended = False
    open_lock: threading.Lock | None = None

    def __init__(self, target: str | int, api: int, params: Sequence[int] = ()) -> None:
        self.target = target
        self.api = api
        self.params = list(params)
        self.name = redact_url(str(target))
        self._capture: cv2.VideoCapture | None = None

    def open(self) -> None:
        started = time.monotonic()
        try:
            with self._options():
                capture = cv2.VideoCapture(self.target, self.api, self.params)
        except cv2.error as error:
            raise SourceError(
                f"{self.name}: OpenCV error {str(error).replace(str(self.target), self.name)}"
            ) from None
        if not capture.isOpened():
            capture.release()
            raise SourceError(self._open_failure(time.monotonic() - started))
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

    def _options(self) -> AbstractContextManager[None]:
        return nullcontext()

    def _open_failure(self, elapsed: float) -> str:
        return f"could not open {self.name} ({cv2.videoio_registry.getBackendName(self.api)})"


class NetworkSource(CaptureSource):
    """RTSP(S) or HTTP(S) through FFmpeg. `transport` is given for RTSP only."""

    open_lock = FFMPEG_OPENS

    def __init__(
        self, url: str, options: SourceOptions, transport: Transport | None = None
    ) -> None:
        super().__init__(url, cv2.CAP_FFMPEG, ffmpeg_params(options))
        self.transport = transport
        self.open_timeout = options.open_timeout

    def _options(self) -> AbstractContextManager[None]:
        return transport_options(self.transport) if self.transport else nullcontext()

    def _open_failure(self, elapsed: float) -> str:
        via = f" over {self.transport.upper()}" if self.transport else ""
        if elapsed >= 0.9 * self.open_timeout:  # known without asking again (and waiting as long)
            return (
                f"{self.name}{via}: timed out after {self.open_timeout:g} s "
                "(no answer within the open timeout)"
            )
        # it failed fast: asking again, through PyAV, costs about as little and says why
        return (
            f"{self.name}{via}: {network_failure(self.target, self.transport, self.open_timeout)}"
        )


class DeviceSource(CaptureSource):
    """A V4L2 camera: `/dev/videoN` or an index."""

    def __init__(self, device: str | int) -> None:
        super().__init__(device, cv2.CAP_V4L2)

    def _open_failure(self, elapsed: float) -> str:
        if isinstance(self.target, str) and not Path(self.target).exists():
            return f"{self.name}: no such V4L2 device"
        return (
            f"{self.name}: V4L2 device exists but could not be opened "
            "(busy, no permission, or not a capture device)"
        )


class FileSource(CaptureSource):
    """A video file through FFmpeg, played at its own frame rate when `options.realtime`, rewound at
    its
    end when `options.loop`; without loop, `ended` turns True after its last frame."""

    open_lock = FFMPEG_OPENS

    def __init__(
        self,
        path: str,
        options: SourceOptions,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        super().__init__(path, cv2.CAP_FFMPEG, ffmpeg_params(options))
        self.loop = options.loop
        self.realtime = options.realtime
        self._clock = clock
        self._sleep = sleep
        self._pacer: Pacer | None = None
        self._frames = 0

    def open(self) -> None:
        super().open()
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self._pacer = Pacer(fps, self._clock, self._sleep) if self.realtime and fps > 0 else None

    def grab(self) -> bool:
        if self._pacer is not None:
            self._pacer.wait()
        if super().grab() or (self.loop and self._frames and self._rewind()):
            self._frames += 1
            return True
        self.ended = self._frames > 0 and not self.loop
        return False

    def _rewind(self) -> bool:
        return self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0) and super().grab()

    def _open_failure(self, elapsed: float) -> str:
        if not Path(self.target).is_file():
            return f"{self.name}: no such file"
        return f"{self.name}: not a video file OpenCV's FFmpeg backend can read"
