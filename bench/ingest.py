"""Ingest: decoding H.264 in visord (PyAV, one decoder thread per stream) against OpenCV's FFmpeg
backend and `ffmpeg -benchmark`, on the same files, one thread each.

Clips: 640x480 and 1920x1080 encoded with GStreamer's x264enc (visord/testing/media.py,
`videotestsrc pattern=ball`), and the real PETS 2009 surveillance clip (vtest.avi from Debian's
opencv-doc, 768x576, re-encoded to H.264 by visord/testing/footage.py). Each is decoded, in one
run:

- visord: `visord.daemon.sources.decoder.FileDecoderSource` as the daemon reads a file,
  grab + retrieve (decode and convert to BGR) of every frame, not paced; and grab alone;
- OpenCV: `cv2.VideoCapture` with its FFmpeg backend and one thread, read() of every frame (what
  visord used before PyAV);
- ffmpeg: `ffmpeg -benchmark -threads 1 -i clip -f null -` (decode only) and the same with
  `-pix_fmt bgr24` (decode and the BGR conversion), its `rtime` taken as the time.

Prints frames per second of each and the ratios of visord to OpenCV and to ffmpeg with the
conversion (the like-for-like rows).

    python -m bench.ingest [--frames 300] [--out bench/out]

Needs Debian's ffmpeg (`make bench` installs it). A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import cv2

from bench.harness import ROOT
from visord.daemon.sources.base import SourceOptions
from visord.daemon.sources.decoder import FileDecoderSource
from visord.testing import footage
from visord.testing.media import write_h264

SIZES = ((640, 480), (1920, 1080))


def visord_fps(clip: Path, convert: bool = True) -> tuple[float, int]:
    source = FileDecoderSource(str(clip), SourceOptions(realtime=False))
    source.open()
    frames = 0
    started = time.perf_counter()
    while source.grab():
        if not convert or source.retrieve() is not None:
            frames += 1
    seconds = time.perf_counter() - started
    source.release()
    return frames / seconds, frames


def opencv_fps(clip: Path) -> float:
    capture = cv2.VideoCapture(str(clip), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    frames = 0
    started = time.perf_counter()
    while capture.read()[0]:
        frames += 1
    seconds = time.perf_counter() - started
    capture.release()
    return frames / seconds


def ffmpeg_fps(clip: Path, frames: int, threads: int, convert: bool) -> float:
    command = [
        "ffmpeg",
        "-hide_banner",
        "-nostdin",
        "-benchmark",
        "-threads",
        str(threads),
        "-i",
        str(clip),
    ]
    command += ["-pix_fmt", "bgr24"] if convert else []
    output = subprocess.run(
        command + ["-f", "null", "-"], capture_output=True, text=True, check=True
    ).stderr
    match = re.search(r"rtime=([\d.]+)s", output)
    if match is None:
        raise SystemExit(f"ffmpeg printed no benchmark line:\n{output[-500:]}")
    return frames / float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit(
            "bench/ingest.py needs the ffmpeg command: apt-get install ffmpeg (make bench does)"
        )
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        clips = [
            (
                f"{width}x{height}",
                write_h264(
                    Path(folder) / f"{width}x{height}.mp4",
                    frames=args.frames,
                    width=width,
                    height=height,
                    fps=25,
                ),
            )
            for width, height in SIZES
        ]
        try:
            clips.append(("768x576 real", footage.h264_clip()))
        except footage.FootageMissing as missing:
            print(f"no real clip: {missing}")
        for size, clip in clips:
            visord, decoded = visord_fps(clip)
            rows.append(
                {
                    "size": size,
                    "frames": decoded,
                    "visord_fps": visord,
                    "visord_grab_fps": visord_fps(clip, convert=False)[0],
                    "opencv_fps": opencv_fps(clip),
                    "ffmpeg_fps": ffmpeg_fps(clip, decoded, 1, convert=False),
                    "ffmpeg_bgr_fps": ffmpeg_fps(clip, decoded, 1, convert=True),
                }
            )
    print("\nH.264 decode, one thread each, frames per second")
    print(
        f"{'clip':14} {'visord':>7} {'visord decode':>13} {'OpenCV':>7} {'ffmpeg':>7} "
        f"{'ffmpeg bgr24':>12} {'visord/OpenCV':>13} {'visord/ffmpeg bgr24':>19}"
    )
    for row in rows:
        print(
            f"{row['size']:14} {row['visord_fps']:7.0f} {row['visord_grab_fps']:13.0f} "
            f"{row['opencv_fps']:7.0f} {row['ffmpeg_fps']:7.0f} {row['ffmpeg_bgr_fps']:12.0f} "
            f"{row['visord_fps'] / row['opencv_fps']:13.2f} "
            f"{row['visord_fps'] / row['ffmpeg_bgr_fps']:19.2f}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ingest.json").write_text(json.dumps({"threads": 1, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
