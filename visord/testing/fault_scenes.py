"""Real sources that a test can break and mend: the cameras and files of the fault-injection tests
(issue 8).

Each scene owns one real source on 127.0.0.1 or on disk, its `source` string (what a stream's config
names), `break_()` (the fault) and `mend()` (the source as it was, or as good as new), and
`close()`. The faults are the real thing: a GStreamer RTSP server SIGKILLed, SIGSTOPped, replaced by
a listener that never answers or restarted at another size; an MJPEG server sending garbage; H.264
files truncated, corrupted, missing, deleted while read, or changing resolution in mid-stream.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Protocol

from visord.testing.media import write_h264
from visord.testing.mjpeg_server import MjpegServer
from visord.testing.rtsp_server import RtspServer, SilentServer

CAMERA = {"width": 320, "height": 240, "fps": 15}


class Scene(Protocol):
    source: str

    def break_(self) -> None: ...

    def mend(self) -> None: ...

    def close(self) -> None: ...


# -- RTSP cameras


class KilledCamera:
    """SIGKILL, as a camera losing power; mended by starting the server again on its port."""

    def __init__(self, folder: Path, clip: Path) -> None:
        self.server = RtspServer(**CAMERA).start()
        self.source = self.server.url

    def break_(self) -> None:
        self.server.kill()

    def mend(self) -> None:
        self.server.start()

    def close(self) -> None:
        self.server.__exit__()


class FrozenCamera(KilledCamera):
    """SIGSTOP: the TCP connection stays open and nothing flows (longer than the stall timeout);
    SIGCONT mends it."""

    def break_(self) -> None:
        self.server.pause()

    def mend(self) -> None:
        self.server.resume()


class SilentCamera(KilledCamera):
    """The camera's port answers TCP and then nothing, ever (a hung RTSP service); the real server
    comes back."""

    silent: SilentServer | None = None

    def break_(self) -> None:
        self.server.kill()
        self.silent = SilentServer(self.server.port).__enter__()

    def mend(self) -> None:
        self._close_silent()
        self.server.start()

    def close(self) -> None:
        self._close_silent()
        super().close()

    def _close_silent(self) -> None:
        if self.silent is not None:
            self.silent.__exit__()
            self.silent = None


class ResizedCamera(KilledCamera):
    """The camera restarts its stream at 640x480 (a new resolution applied in its web page):
    breaking is mending."""

    def break_(self) -> None:
        self.server.kill()
        self.server = RtspServer(
            width=640, height=480, fps=CAMERA["fps"], port=self.server.port
        ).start()

    def mend(self) -> None:
        """Nothing: the stream is back, at another size."""


# -- MJPEG over HTTP


class GarbageMjpeg:
    """An MJPEG camera that starts sending random bytes without multipart framing; then good JPEGs
    again."""

    mode = "garbage"

    def __init__(self, folder: Path, clip: Path) -> None:
        self.server = MjpegServer(
            fps=CAMERA["fps"], size=(CAMERA["height"], CAMERA["width"])
        ).start()
        self.source = self.server.url

    def break_(self) -> None:
        self.server.mode = self.mode

    def mend(self) -> None:
        self.server.mode = "jpeg"

    def close(self) -> None:
        self.server.close()


class CorruptMjpeg(GarbageMjpeg):
    """Every 5th JPEG part is random bytes inside good framing (a flaky encoder)."""

    mode = "corrupt"


# -- files (streams with `loop: true`, played at their own frame rate)


class _FileScene:
    def __init__(self, folder: Path, clip: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.clip = clip
        self.path = folder / "camera.mp4"
        self.source = str(self.path)

    def put_good_file(self) -> None:
        """The good clip at the stream's path, atomically (a reader never opens half a copy)."""
        staging = self.folder / "staging.mp4"
        shutil.copyfile(self.clip, staging)
        os.replace(staging, self.path)

    def mend(self) -> None:
        self.put_good_file()

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class TruncatedFile(_FileScene):
    """The file holds the first half of an MP4 (its index, at the end, is missing): a copy cut
    short."""

    def break_(self) -> None:
        data = self.clip.read_bytes()
        self.path.write_bytes(data[: len(data) // 2])


class MissingFile(_FileScene):
    """Nothing at the stream's path (a camera path that disappeared); the file comes back when
    mended."""

    def break_(self) -> None:
        self.path.unlink(missing_ok=True)


class CorruptFile(_FileScene):
    """Every 97th byte of the file's second quarter flipped: the H.264 decoder meets damaged
    slices."""

    def break_(self) -> None:
        data = bytearray(self.clip.read_bytes())
        for index in range(len(data) // 4, len(data) // 2, 97):
            data[index] ^= 0xFF
        self.path.write_bytes(bytes(data))


class DeletedWhilePlaying(_FileScene):
    """The file is deleted while the stream plays it: the open descriptor keeps the data
    readable."""

    def __init__(self, folder: Path, clip: Path) -> None:
        super().__init__(folder, clip)
        self.put_good_file()

    def break_(self) -> None:
        self.path.unlink()


class ResizedMidStream(_FileScene):
    """An MPEG-TS file whose 320x240 H.264 turns into 640x480 half-way, without a reconnect."""

    def __init__(self, folder: Path, clip: Path) -> None:
        super().__init__(folder, clip)
        self.path = folder / "camera.ts"
        self.source = str(self.path)

    def break_(self) -> None:
        parts = [
            write_h264(
                self.folder / f"{width}.ts",
                frames=30,
                width=width,
                height=height,
                fps=CAMERA["fps"],
                container="ts",
            )
            for width, height in ((320, 240), (640, 480))
        ]
        self.path.write_bytes(b"".join(part.read_bytes() for part in parts))

    def mend(self) -> None:
        """Nothing: the stream was never down."""
