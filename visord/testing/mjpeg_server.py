"""An MJPEG-over-HTTP camera on 127.0.0.1 for tests, whose output can be switched while clients read
it.

Serves `multipart/x-mixed-replace` JPEG parts at `fps`, as cheap IP cameras do, in one of three
modes, read before every part so a change reaches connected clients at once:

- "jpeg": good frames (a solid colour, `size` = (height, width));
- "garbage": random bytes with no multipart framing at all (a camera whose firmware went wrong);
- "corrupt": good framing, but every `corrupt_every`-th part is random bytes instead of a JPEG.
"""

from __future__ import annotations

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

import cv2
import numpy as np

Mode = Literal["jpeg", "garbage", "corrupt"]


class MjpegServer:
    def __init__(
        self,
        fps: float = 25.0,
        size: tuple[int, int] = (48, 64),
        corrupt_every: int = 5,
        colour: tuple[int, int, int] = (0, 0, 255),
    ) -> None:
        self.mode: Mode = "jpeg"
        self.period = 1.0 / fps
        self.corrupt_every = corrupt_every
        self.jpeg = cv2.imencode(".jpg", np.full((*size, 3), colour, np.uint8))[1].tobytes()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._http.daemon_threads = True
        self._thread = threading.Thread(
            target=self._http.serve_forever, name="mjpeg-server", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_port}/video.mjpg"

    def part(self, index: int) -> bytes:
        """What goes on the wire for the `index`-th part of a response, in the current mode."""
        if self.mode == "garbage":
            return os.urandom(len(self.jpeg))
        corrupt = self.mode == "corrupt" and index % self.corrupt_every == 0
        body = os.urandom(len(self.jpeg)) if corrupt else self.jpeg
        return b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n" % (
            len(body),
            body,
        )

    def start(self) -> MjpegServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> MjpegServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _handler(server: MjpegServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            index = 0
            try:
                while True:
                    index += 1
                    self.wfile.write(server.part(index))
                    time.sleep(server.period)
            except OSError:  # the reader hung up, or the server closed
                pass

        def log_message(self, *args: object) -> None:
            pass

    return Handler
