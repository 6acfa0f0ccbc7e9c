"""Ingest: decoding H.264 in visord (OpenCV's FFmpeg backend) against `ffmpeg -benchmark` on the
same file.

For 640x480 and 1920x1080, encodes one H.264 clip with GStreamer's x264enc
(visord/testing/media.py, `videotestsrc pattern=ball`), then decodes it, in one run:

- visord: `visord.daemon.sources.capture.FileSource` as the daemon reads a file,
  grab + retrieve (decode and convert to BGR) of every frame, not paced;
- ffmpeg: `ffmpeg -benchmark -threads T -i clip -f null -` (decode only) and
  the same with `-pix_fmt bgr24` (decode and the BGR conversion OpenCV does),
  its `rtime` taken as the time.

T is the CPU count, which is what OpenCV's FFmpeg backend uses by default
(`min(cores, 16)` decoder threads). Prints frames per second of each and the
ratio of visord to ffmpeg with the conversion (the like-for-like row).

    python bench/ingest.py [--frames 300] [--out bench/out]

Needs Debian's ffmpeg (`make bench` installs it). A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from harness import ROOT

from visord.daemon.sources.base import SourceOptions
from visord.daemon.sources.capture import FileSource
from visord.testing.media import write_h264

SIZES = ((640, 480), (1920, 1080))


def visord_fps(clip: Path) -> tuple[float, int]:
    source = FileSource(str(clip), SourceOptions(realtime=False))
    source.open()
    frames = 0
    started = time.perf_counter()
    while source.grab():
        if source.retrieve() is not None:
            frames += 1
    seconds = time.perf_counter() - started
    source.release()
    return frames / seconds, frames


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
    threads = os.cpu_count() or 1
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for width, height in SIZES:
            clip = write_h264(
                Path(folder) / f"{width}x{height}.mp4",
                frames=args.frames,
                width=width,
                height=height,
                fps=25,
            )
            opencv, decoded = visord_fps(clip)
            rows.append(
                {
                    "size": f"{width}x{height}",
                    "frames": decoded,
                    "visord_fps": opencv,
                    "ffmpeg_fps": ffmpeg_fps(clip, decoded, threads, convert=False),
                    "ffmpeg_bgr_fps": ffmpeg_fps(clip, decoded, threads, convert=True),
                }
            )
    print(
        f"\nH.264 decode, {threads} threads, {args.frames} frames (x264 ultrafast, videotestsrc "
        "ball)"
    )
    print(
        f"{'size':10} {'visord (OpenCV)':>16} {'ffmpeg':>9} {'ffmpeg bgr24':>13} "
        f"{'visord / ffmpeg bgr24':>22}"
    )
    for row in rows:
        print(
            f"{row['size']:10} {row['visord_fps']:16.0f} {row['ffmpeg_fps']:9.0f} "
            f"{row['ffmpeg_bgr_fps']:13.0f} "
            f"{row['visord_fps'] / row['ffmpeg_bgr_fps']:22.2f}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ingest.json").write_text(json.dumps({"threads": threads, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
