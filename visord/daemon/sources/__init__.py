"""Frame sources and stream readers: frames in, one reader thread per stream.

This package owns getting frames off cameras, streams, files and the demo scenes, into a
one-slot holder per stream, and keeping each stream alive (reconnects, stalls, backoff).
It imports no TensorFlow. Its modules, each depending only on those above it:

- `base`: the cv2-shaped `FrameSource` contract, `SourceOptions`, `SourceError`, `Cause` and
  `Failure` (why a connection failed)
- `pacing`: `Pacer` (live frame rate) and `RateGate` (frames due for inference)
- `causes`: what PyAV raised, as a `Failure`
- `ffmpeg_log`: FFmpeg's own messages through visord's logging, redacted and rate-limited (on
  request)
- `decoder`: PyAV sources (RTSP/HTTP, files), each with its own demuxer, decoder and timeouts,
  and key-frame-only decoding
- `capture`: OpenCV's V4L2 cameras
- `demo`: `demo://scenes`, the synthetic scenes rendered live
- `kinds`: the registry of source makers by kind, `create_source`
- `frames`: `Frame` and the one-slot `LatestFrame` holder
- `backoff`: capped exponential `Backoff` with jitter
- `state`: `StreamState` and `StreamStats`
- `siblings`: the streams of one host, woken from their backoff when one of them connects
- `reader`: `ReaderConfig` and `StreamReader` (worker thread and watchdog)
"""

from visord.daemon.sources.backoff import Backoff
from visord.daemon.sources.base import (
    Cause,
    Failure,
    FrameSource,
    SourceError,
    SourceOptions,
    Transport,
)
from visord.daemon.sources.frames import Frame, LatestFrame
from visord.daemon.sources.kinds import SOURCES, SourceMaker, create_source
from visord.daemon.sources.reader import ReaderConfig, StreamReader
from visord.daemon.sources.state import StreamState, StreamStats

__all__ = [
    "SOURCES",
    "Backoff",
    "Cause",
    "Failure",
    "Frame",
    "FrameSource",
    "LatestFrame",
    "ReaderConfig",
    "SourceError",
    "SourceMaker",
    "SourceOptions",
    "StreamReader",
    "StreamState",
    "StreamStats",
    "Transport",
    "create_source",
]
