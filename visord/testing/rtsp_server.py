"""A real RTSP server on 127.0.0.1 for tests: GStreamer's rtsp-server serving live H.264.

Two halves in one file:

- run as a script by Debian's `/usr/bin/python3` (which has `gi`; the project's venv does
  not), it serves `videotestsrc ! x264enc tune=zerolatency ! rtph264pay` (or any pipeline
  given with `--pipeline`) at rtsp://127.0.0.1:PORT/stream until killed;
- imported by the tests, `RtspServer` starts that script as a subprocess on a free port,
  waits until it answers RTSP `OPTIONS`, and can kill it (like a camera losing power),
  restart it on the same port, or freeze it with SIGSTOP (a camera that keeps the TCP
  connection open and stops sending), and count the RTSP sessions clients opened on it
  (`sessions()`: one per client that set a stream up, what a camera's session limit counts).
  Given `credentials=("user", "password")` it asks for
  RTSP basic auth (GstRTSPAuth), as most cameras do. `SilentServer` is a plain TCP listener
  that accepts connections and never answers: the camera that hangs a naive reader.

Fault-injection tests reuse both (issue 8).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
SESSION_LINE = "rtsp-test-server: session opened"
DEFAULT_PIPELINE = (
    "( videotestsrc is-live=true pattern=ball ! "
    "video/x-raw,width={width},height={height},framerate={fps}/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} "
    "! rtph264pay name=pay0 pt=96 config-interval=1 )"
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rtsp_answers(
    port: int, path: str = "/stream", timeout: float = 1.0, statuses: tuple[int, ...] = (200,)
) -> bool:
    """Whether an RTSP server on 127.0.0.1:port answers OPTIONS with one of `statuses`."""
    request = f"OPTIONS rtsp://127.0.0.1:{port}{path} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
            connection.sendall(request)
            answer = connection.recv(64)
    except OSError:
        return False
    return any(answer.startswith(f"RTSP/1.0 {status}".encode()) for status in statuses)


class RtspServer:
    """The GStreamer RTSP server as a subprocess, bound to one port for its whole life (restarts
    keep it)."""

    def __init__(
        self,
        width: int = 320,
        height: int = 240,
        fps: int = 15,
        protocols: str = "all",
        pipeline: str | None = None,
        port: int | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.path = "/stream"
        # with auth on, an OPTIONS without credentials is answered 401: it is up
        self._up = (200, 401) if credentials else (200,)
        self._argv = [
            SYSTEM_PYTHON,
            str(Path(__file__).resolve()),
            "--port",
            str(self.port),
            "--protocols",
            protocols,
            "--pipeline",
            pipeline or DEFAULT_PIPELINE.format(width=width, height=height, fps=fps),
        ]
        if credentials:
            self._argv += ["--user", ":".join(credentials)]
        self._process: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}{self.path}"

    def start(self, timeout: float = 20.0) -> RtspServer:
        """Starts the server and returns once it answers RTSP (raises with its stderr if it dies or
        times out)."""
        # a file, not a pipe: a chatty server never blocks on it; kept across restarts
        if self._log is None:
            self._log = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            self._argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log
        )
        deadline = time.monotonic() + timeout
        while not rtsp_answers(self.port, self.path, statuses=self._up):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(
                    f"RTSP server on port {self.port} did not start: {self._stderr()}"
                )
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        """SIGKILL, as a camera losing power: its TCP connections are reset by the kernel."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)

    def restart(self, timeout: float = 20.0) -> RtspServer:
        self.kill()
        return self.start(timeout)

    def pause(self) -> None:
        """SIGSTOP: connections stay open but no packet flows, as a frozen camera."""
        os.kill(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self._process.pid, signal.SIGCONT)

    def sessions(self) -> int:
        """RTSP sessions opened on this server since it was built (restarts included)."""
        self._log.seek(0)
        return self._log.read().count(SESSION_LINE.encode())

    def _stderr(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self.resume()  # a stopped process cannot die until continued
        self.kill()


class SilentServer:
    """A TCP listener on 127.0.0.1 that accepts every connection and never sends a byte; given a
    `port`
    (a camera's, just killed), it takes that camera's place."""

    def __init__(self, port: int = 0) -> None:
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = self._listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/stream"

    def _accept(self) -> None:
        while True:
            try:
                self.accepted.append(self._listener.accept()[0])
            except OSError:  # the listener was closed
                return

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.close()
        for connection in self.accepted:
            connection.close()


def _serve(port: int, pipeline: str, protocols: str, user: str | None = None) -> None:
    """The subprocess side: needs Debian's python3-gi and gir1.2-gst-rtsp-server-1.0."""
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtsp", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer(address="127.0.0.1", service=str(port))
    # one pipeline per client: a shared one, torn down as its last client leaves, answers the
    # next DESCRIBE 503
    factory = GstRtspServer.RTSPMediaFactory(launch=pipeline, shared=False)
    lower = {"tcp": GstRtsp.RTSPLowerTrans.TCP, "udp": GstRtsp.RTSPLowerTrans.UDP}
    factory.set_protocols(
        lower.get(protocols, GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
    )
    if user:  # "name:password": RTSP basic auth, the one account allowed to play the stream
        name, _, password = user.partition(":")
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken.new()
        token.set_string("media.factory.role", name)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(name, password), token)
        server.set_auth(auth)
        role = Gst.Structure.new_empty(name)
        role.set_value("media.factory.access", True)
        role.set_value("media.factory.construct", True)
        factory.add_role_from_structure(role)
    server.get_mount_points().add_factory("/stream", factory)

    def session_opened(client, session):
        print(SESSION_LINE, flush=True)

    server.connect(
        "client-connected", lambda _, client: client.connect("new-session", session_opened)
    )
    if server.attach(None) == 0:
        sys.exit(f"could not listen on 127.0.0.1:{port}")
    GLib.MainLoop().run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--pipeline", default=DEFAULT_PIPELINE.format(width=320, height=240, fps=15)
    )
    parser.add_argument("--protocols", choices=("all", "tcp", "udp"), default="all")
    parser.add_argument("--user", help="NAME:PASSWORD: require RTSP basic auth")
    args = parser.parse_args()
    _serve(args.port, args.pipeline, args.protocols, args.user)


if __name__ == "__main__":
    main()
