"""Why a network stream would not open: the cause OpenCV's FFmpeg backend does not tell.

OpenCV's `VideoCapture` answers a failed open with `isOpened() == False` and nothing more; FFmpeg's
own reason went to stderr, which `ffmpeg_env.quiet_logs` silences. `network_failure` opens the same
URL once more through PyAV (FFmpeg's libraries, whose errors are typed Python exceptions), with the
same RTSP transport, and turns what it raises into a short reason an operator can act on: "401
unauthorized (check the user and password)", "404 not found (check the path)", "connection
refused", "timed out after N s", "not a video stream". A reason never quotes the URL, so it never
holds a password; the caller names the source, redacted.

It runs only after OpenCV's open failed, so a healthy camera never pays for it. This module is the
only user of PyAV: should PyAV become the decoder, the cause comes with the failed open itself and
this probe goes.
"""

from __future__ import annotations

import errno
import time

import av
import av.error

from visord.daemon.sources.base import Transport

# Most specific first: the first class the exception is an instance of gives the reason.
REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (av.error.HTTPUnauthorizedError, "401 unauthorized (check the user and password)"),
    (av.error.HTTPForbiddenError, "403 forbidden (the user may not read this stream)"),
    (av.error.HTTPNotFoundError, "404 not found (check the path)"),
    (ConnectionRefusedError, "connection refused (nothing listens on that port)"),
    (ConnectionResetError, "connection reset by the server"),
    (av.error.InvalidDataError, "not a video stream (FFmpeg cannot read what the server sends)"),
)
TIMED_OUT_AT = 0.9  # an error this close to the timeout is the timeout, whatever FFmpeg calls it


def network_failure(url: str, transport: Transport | None, timeout: float) -> str:
    """Why `url` does not open, found by opening it with PyAV within `timeout` seconds (RTSP over
    `transport`; None for HTTP). Never raises."""
    options = {"timeout": str(round(timeout * 1_000_000))}  # socket I/O timeout, microseconds
    if transport is not None:
        options["rtsp_transport"] = transport
    started = time.monotonic()
    try:
        with av.open(url, options=options, timeout=timeout) as container:
            has_video = bool(container.streams.video)
    except Exception as error:  # any failure is the answer sought
        return reason_of(error, time.monotonic() - started, timeout, transport)
    if not has_video:
        return "not a video stream (it has no video track)"
    return (
        "OpenCV's FFmpeg backend could not open it, although it answers with video "
        "(a codec or option that backend lacks?)"
    )


def reason_of(
    error: BaseException, elapsed: float, timeout: float, transport: Transport | None = None
) -> str:
    """A short reason for what PyAV raised after `elapsed` of `timeout` seconds; without the URL
    (FFmpeg's messages quote it, so only their `strerror` part is used)."""
    if isinstance(error, TimeoutError | av.error.ExitError) or elapsed >= TIMED_OUT_AT * timeout:
        # FFmpeg's RTSP demuxer reports a reply that never came as invalid data: the clock decides
        return f"timed out after {timeout:g} s"
    for kind, reason in REASONS:
        if isinstance(error, kind):
            return reason
    code = getattr(error, "errno", None)
    if code == errno.EPROTONOSUPPORT and transport is not None:  # RTSP's 461
        return (
            f"461 unsupported transport (the server does not offer RTSP over "
            f"{transport.upper()}; try the other transport)"
        )
    text = getattr(error, "strerror", None) or type(error).__name__
    if isinstance(error, av.error.HTTPClientError | av.error.HTTPError):
        return f"the server answered an error: {text}"
    return text
