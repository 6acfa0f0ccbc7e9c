"""Frame sources decoded by FFmpeg's libraries through PyAV: RTSP(S), HTTP(S) and video files.

Each source owns its demuxer and its decoder, so streams open side by side: PyAV releases the
GIL inside FFmpeg's calls and there is no process-wide open lock (OpenCV's FFmpeg backend holds
one for every open). Each has its own open and read timeouts, enforced by PyAV's interrupt
callback: a call blocked longer than its timeout returns with an error, so a camera that accepts
the connection and then says nothing releases its thread on its own.

`grab()` demuxes packets of the video track and decodes them until a frame comes out; `retrieve()`
converts that frame to BGR (only frames due for inference pay for the conversion). Each stream's
decoder and its conversion run on one thread: many cameras share the box's cores, and their own
threads would only add threads (which come and go with each connection) and latency.

Key frames only: `decode_keyframes(True)` sets the decoder's `skip_frame` to NONKEY. Every packet
is still read (the connection stays alive and the key-frame rate stays measured) but only key
frames are decoded, several times cheaper when a stream classifies a frame a second or less.
`keyframes_per_second` is that rate, measured from the packets' timestamps.

A failure is a `SourceError` carrying a `Cause` (the metric label) and a reason without the URL:
the open's cause comes from what PyAV raised (`causes.failure_of`). A packet the decoder cannot
read fails that grab only (the connection is still good: the reader skips it); a demuxing error or
the end of a network stream loses the connection: `grab()` returns False from then on and
`failure` says why.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

import av
import av.error
import numpy as np

from visord.contract.redact import redact_url
from visord.daemon.sources.base import Cause, Failure, SourceError, SourceOptions, Transport
from visord.daemon.sources.causes import failure_of
from visord.daemon.sources.pacing import Clock, Pacer, Sleep

DECODE_THREADS = 1
KEYFRAME_WINDOW = 4  # key frames over which their rate is measured


class DecoderSource:
    """A `FrameSource` over one PyAV container: a network stream (RTSP with `transport`, HTTP
    without) or, through `FileDecoderSource`, a file."""

    ended = False

    def __init__(
        self, target: str, options: SourceOptions, transport: Transport | None = None
    ) -> None:
        self.target = target
        self.transport = transport
        self.options = options
        self.name = redact_url(target)
        self.failure: Failure | None = None
        self._container: av.container.InputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._packets = None
        self._frame: av.VideoFrame | None = None
        self._keyframes_only = False
        self._keyframe_times: deque[float] = deque(maxlen=KEYFRAME_WINDOW + 1)
        # stream time: packet times plus what a looped file played before its last rewind
        self._played = 0.0
        self._last_time = 0.0

    # -- the FrameSource contract

    def open(self) -> None:
        started = time.monotonic()
        try:
            container = av.open(
                self.target,
                options=self._ffmpeg_options(),
                timeout=(self.options.open_timeout, self.options.read_timeout),
            )
        except Exception as error:  # every failure of the open is a reason to report
            failure = self._open_failure(error, time.monotonic() - started)
            raise SourceError(f"{self.name}{self._via()}: {failure.reason}", failure) from None
        if not container.streams.video:
            container.close()
            failure = Failure(Cause.NOT_VIDEO, "not a video stream (it has no video track)")
            raise SourceError(f"{self.name}: {failure.reason}", failure)
        self._container = container
        self._stream = container.streams.video[0]
        self._stream.thread_count = DECODE_THREADS
        self._packets = container.demux(self._stream)
        self.decode_keyframes(self._keyframes_only)

    def grab(self) -> bool:
        """Reads until the next frame is decoded; False when a packet could not be decoded
        (corrupt data: the next grab may succeed) or the connection is lost (`failure` says
        why)."""
        if self._packets is None or self.failure is not None:
            return False
        while True:
            packet = self._next_packet()
            if packet is None:
                return False
            try:
                frames = self._stream.codec_context.decode(packet)
            except av.error.FFmpegError:  # this packet only: the stream goes on
                return False
            if frames:
                self._frame = frames[-1]
                return True

    def retrieve(self) -> np.ndarray | None:
        return None if self._frame is None else self._frame.to_ndarray(format="bgr24", threads=1)

    def release(self) -> None:
        self._frame = None
        self._packets = None
        if self._container is not None:
            self._container.close()
            self._container = None

    # -- key frames

    def decode_keyframes(self, only: bool) -> None:
        """Decodes key frames only (True) or every frame (False), from the next packet on."""
        self._keyframes_only = only
        if self._stream is not None:
            self._stream.codec_context.skip_frame = "NONKEY" if only else "DEFAULT"

    @property
    def keyframes_per_second(self) -> float | None:
        """Key frames per second of stream time over the last few, or None before two."""
        times = self._keyframe_times
        if len(times) < 2 or times[-1] <= times[0]:
            return None
        return (len(times) - 1) / (times[-1] - times[0])

    # -- inside

    def _next_packet(self) -> av.Packet | None:
        """The next video packet worth decoding (the flush packet at the end included), or None
        when the stream is over (unless `_rewound` starts it again)."""
        while True:
            try:
                packet = next(self._packets)
            except StopIteration:
                if self._rewound():
                    continue
                return None
            except Exception as error:  # a demuxing error: the connection is lost
                self.failure = failure_of(error, self.options.read_timeout, self.transport)
                return None
            if packet.pts is not None and packet.time_base:
                self._last_time = float(packet.pts * packet.time_base)
                if packet.is_keyframe:
                    self._keyframe_times.append(self._played + self._last_time)
            return packet

    def _rewound(self) -> bool:
        """At the end of the stream: True when it starts again, else False with `failure` or
        `ended` saying why it is over."""
        self.failure = Failure(Cause.END, "the stream ended (the server closed it)")
        return False

    def _ffmpeg_options(self) -> dict[str, str]:
        options = {
            # socket I/O timeout in microseconds: FFmpeg's own, beside PyAV's interrupt callback
            "timeout": str(round(self.options.read_timeout * 1_000_000)),
            # the probe ends once the codec is known and one frame seen, instead of estimating the
            # frame rate over seconds of video: frames are timed as they arrive, the rate is unused
            "fpsprobesize": "1",
        }
        if self.transport is not None:
            options["rtsp_transport"] = self.transport
        return options

    def _open_failure(self, error: BaseException, elapsed: float) -> Failure:
        return failure_of(error, self.options.open_timeout, self.transport, elapsed)

    def _via(self) -> str:
        return f" over {self.transport.upper()}" if self.transport else ""


class FileDecoderSource(DecoderSource):
    """A video file, played at its own frame rate when `options.realtime` and rewound at its end
    when `options.loop`; without loop, `ended` turns True after its last frame."""

    def __init__(
        self,
        path: str,
        options: SourceOptions,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        super().__init__(path, options)
        self._clock = clock
        self._sleep = sleep
        self._pacer: Pacer | None = None
        self._frames = 0
        self._frames_at_open = 0
        self._fps = 0.0

    def open(self) -> None:
        super().open()
        fps = self._fps = float(self._stream.average_rate or self._stream.guessed_rate or 0)
        self._pacer = (
            Pacer(fps, self._clock, self._sleep) if self.options.realtime and fps else None
        )

    def grab(self) -> bool:
        grabbed = super().grab()
        self._frames += grabbed
        return grabbed

    def _next_packet(self) -> av.Packet | None:
        packet = super()._next_packet()
        if packet is not None and packet.size and self._pacer is not None:
            self._pacer.wait()  # one packet per frame of the video track
        return packet

    def _rewound(self) -> bool:
        if self._frames == self._frames_at_open:
            self.failure = Failure(Cause.CODEC, "no frame could be decoded from the file")
            return False
        if not self.options.loop:
            self.ended = True
            return False
        # the key-frame rate goes on across the seam rather than starting again from nothing
        self._played += self._last_time + (1 / self._fps if self._fps else 0.0)
        try:  # rewound in the open file: it plays on even when deleted meanwhile, as on Unix
            self._container.seek(0)
            self._stream.codec_context.flush_buffers()
            self._packets = self._container.demux(self._stream)
        except av.error.FFmpegError:  # a container FFmpeg cannot seek in: opened again
            self.release()
            self.open()
        self._frames_at_open = self._frames
        return True

    def _ffmpeg_options(self) -> dict[str, str]:
        return {}

    def _open_failure(self, error: BaseException, elapsed: float) -> Failure:
        if not Path(self.target).is_file():
            return Failure(Cause.NOT_FOUND, "no such file")
        return Failure(Cause.CODEC, "not a video file FFmpeg can read")
