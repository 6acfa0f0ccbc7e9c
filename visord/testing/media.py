"""Real H.264 video files for tests, encoded by GStreamer's x264enc into MP4 or MPEG-TS.

Like `visord/testing/rtsp_server.py`, the encoding runs in a subprocess of Debian's
`/usr/bin/python3` (which has `gi`); the tests import `write_h264` and get a small file back.
`write_scene_h264` encodes the demo scenes instead of a test pattern, for benchmarks that need a
camera's bitrate.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
PIPELINE = (
    "videotestsrc num-buffers={frames} pattern=ball ! "
    "video/x-raw,width={width},height={height},framerate={fps}/1 "
    "! x264enc speed-preset=ultrafast key-int-max={fps} ! {mux} ! filesink location={path}"
)
# MPEG-TS repeats the parameter sets (h264parse) so a reader can start anywhere, and
# byte-concatenated
# TS files play as one stream: how a test makes a resolution change in mid-stream.
MUXERS = {"mp4": "mp4mux", "ts": "h264parse config-interval=-1 ! mpegtsmux"}
TRANSCODE = (
    "filesrc location={source} ! avidemux ! jpegdec ! videoconvert "
    "! x264enc speed-preset=ultrafast key-int-max={fps} ! mp4mux ! filesink location={path}"
)


def write_h264(
    path: Path,
    frames: int = 30,
    width: int = 320,
    height: int = 240,
    fps: int = 15,
    container: str = "mp4",
) -> Path:
    """Writes `frames` frames of H.264 in `container` (mp4 or ts) to `path` and returns it."""
    _run(
        PIPELINE.format(
            frames=frames, width=width, height=height, fps=fps, path=path, mux=MUXERS[container]
        )
    )
    return Path(path)


def write_scene_h264(
    path: Path,
    seconds: float = 10.0,
    width: int = 640,
    height: int = 480,
    fps: int = 25,
    seed: int = 0,
) -> Path:
    """The demo scenes (textured backgrounds, moving objects, sensor noise: what a camera's encoder
    faces, unlike
    videotestsrc's ball on black, which decodes almost for free) as H.264 in MP4 at `path`: drawn
    into an MJPEG AVI by `visord.scenes.write_clip`, then re-encoded by x264enc."""
    from visord.scenes.clips import write_clip

    drawn = Path(path).with_suffix(".avi")
    write_clip(drawn, seconds, (height, width), fps, seed=seed, difficulty=0.3)
    _run(TRANSCODE.format(source=drawn, fps=fps, path=path))
    drawn.unlink()
    return Path(path)


def _run(pipeline: str) -> None:
    subprocess.run(
        [SYSTEM_PYTHON, str(Path(__file__).resolve()), pipeline],
        check=True,
        timeout=120,
        capture_output=True,
    )


def _encode(pipeline: str) -> None:
    """The subprocess side: runs a gst-launch style pipeline until end of stream."""
    import gi

    gi.require_version("Gst", "1.0")
    from gi.repository import Gst

    Gst.init(None)
    element = Gst.parse_launch(pipeline)
    element.set_state(Gst.State.PLAYING)
    message = element.get_bus().timed_pop_filtered(
        Gst.CLOCK_TIME_NONE, Gst.MessageType.EOS | Gst.MessageType.ERROR
    )
    element.set_state(Gst.State.NULL)
    if message.type == Gst.MessageType.ERROR:
        sys.exit(f"encoding failed: {message.parse_error()[0].message}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipeline")
    _encode(parser.parse_args().pipeline)
