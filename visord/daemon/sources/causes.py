"""Why a source failed, from what PyAV raised: a `Failure` with its `Cause` and a short reason.

FFmpeg's errors reach Python as typed exceptions; `failure_of` turns one into a reason an operator
can act on ("401 unauthorized (check the user and password)", "404 not found (check the path)",
"connection refused", "timed out after N s", "not a video stream") and the cause that labels the
stream's failure counter. A reason never quotes the URL, so it never holds a password; the caller
names the source, redacted.
"""

from __future__ import annotations

import errno

import av.error

from visord.daemon.sources.base import Cause, Failure, Transport

# Most specific first: the first class the exception is an instance of gives the failure.
FAILURES: tuple[tuple[type[BaseException], Failure], ...] = (
    (
        av.error.HTTPUnauthorizedError,
        Failure(Cause.AUTH, "401 unauthorized (check the user and password)"),
    ),
    (
        av.error.HTTPForbiddenError,
        Failure(Cause.AUTH, "403 forbidden (the user may not read this stream)"),
    ),
    (av.error.HTTPNotFoundError, Failure(Cause.NOT_FOUND, "404 not found (check the path)")),
    (
        ConnectionRefusedError,
        Failure(Cause.REFUSED, "connection refused (nothing listens on that port)"),
    ),
    (ConnectionResetError, Failure(Cause.RESET, "connection reset by the server")),
    (
        av.error.InvalidDataError,
        Failure(Cause.NOT_VIDEO, "not a video stream (FFmpeg cannot read what the server sends)"),
    ),
)
TIMED_OUT_AT = 0.9  # an error this close to the timeout is the timeout, whatever FFmpeg calls it


def failure_of(
    error: BaseException,
    timeout: float,
    transport: Transport | None = None,
    elapsed: float | None = None,
) -> Failure:
    """The failure PyAV's `error` stands for, raised after `elapsed` of `timeout` seconds (None:
    a read, where only the interrupt callback says it timed out); without the URL (FFmpeg's
    messages quote it, so only their `strerror` part is used)."""
    timed_out = elapsed is not None and elapsed >= TIMED_OUT_AT * timeout
    if isinstance(error, TimeoutError | av.error.ExitError) or timed_out:
        # FFmpeg's RTSP demuxer reports a reply that never came as invalid data: the clock decides
        within = "no answer within the open timeout" if elapsed is not None else "no data"
        return Failure(Cause.TIMEOUT, f"timed out after {timeout:g} s ({within})")
    if isinstance(error, av.error.InvalidDataError):
        if elapsed is None:
            return Failure(
                Cause.CORRUPT, "the source sent data FFmpeg cannot read (corrupt stream)"
            )
        # FFmpeg's RTSP client says this of a connection closed unanswered
        if transport is not None:
            return Failure(
                Cause.RESET,
                "no valid RTSP answer (the server closed the connection, or it is not an RTSP "
                "server)",
            )
    for kind, failure in FAILURES:
        if isinstance(error, kind):
            return failure
    code = getattr(error, "errno", None)
    if code == errno.EPROTONOSUPPORT and transport is not None:  # RTSP's 461
        return Failure(
            Cause.TRANSPORT,
            f"461 unsupported transport (the server does not offer RTSP over "
            f"{transport.upper()}; try the other transport)",
        )
    text = getattr(error, "strerror", None) or type(error).__name__
    if isinstance(error, av.error.HTTPClientError | av.error.HTTPError):
        return Failure(Cause.OTHER, f"the server answered an error: {text}")
    return Failure(Cause.OTHER, text)
