"""What a stream reader reports: its state (`StreamState`) and its counters (`StreamStats`).

Plain values, read by the daemon's metrics and /healthz; the reader updates them under its lock
and hands out copies.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum


class StreamState(StrEnum):
    """starting: built, thread not running yet. connecting: opening the source. streaming: frames
    arrive.
    backoff: waiting before the next connection attempt (`last_error` says why). finished: a file
    played once reached its end. stopped: `stop()` was called."""

    STARTING = "starting"
    CONNECTING = "connecting"
    STREAMING = "streaming"
    BACKOFF = "backoff"
    FINISHED = "finished"
    STOPPED = "stopped"


@dataclass
class StreamStats:
    """Counters since the reader was built.

    frames_decoded: frames grabbed (decoded). frames_retrieved: frames converted
    and put in the latest-frame holder (those due at the inference rate). frames_dropped:
    retrieved frames overwritten before the consumer took them. reconnects: connection attempts
    after a failure. stalls: no frame within the stall timeout (watchdog). errors: failed opens,
    failed reads, unreadable frames skipped and failed retrieves. last_frame_at: monotonic time of
    the last decoded frame. failures: failed connections by cause (`sources.base.Cause`: failed
    opens, lost connections, stalls). keyframes_only: the source decodes key frames only now.
    keyframes_per_second: the key-frame rate the source measured (None: not known, or the source
    has no key frames). decode_seconds: CPU seconds the reader's thread spent reading, decoding and
    converting frames.
    """

    frames_decoded: int = 0
    frames_retrieved: int = 0
    frames_dropped: int = 0
    reconnects: int = 0
    stalls: int = 0
    errors: int = 0
    last_frame_at: float | None = None
    failures: Counter[str] = field(default_factory=Counter)
    keyframes_only: bool = False
    keyframes_per_second: float | None = None
    decode_seconds: float = 0.0
    keyframes_per_second: float | None = None
    decode_seconds: float = 0.0
