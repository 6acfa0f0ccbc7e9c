"""Real surveillance footage for the teaching loop: the clip, the camera serving it, and the rule
that labels its crops.

Owns four things the teaching test, `bench/teach.py` and `docs/teach.md` share:

- **the clip**: `vtest.avi` from Debian's `opencv-doc` (PETS 2009: people walking on a path and a
  road in front of a building; 768x576, 10 fps, 795 frames), found by `vtest_path`, decoded by
  OpenCV (it is MS-MPEG4v3, which Debian's GStreamer cannot decode) and re-encoded by GStreamer's
  x264enc into an H.264 MP4 (4:2:0, GOP 20, no B-frames, as a camera sends) in a cache folder
  (`h264_clip`). Like `visord.testing.media`, the encoding runs in Debian's `/usr/bin/python3`,
  which has `gi`; the raw frames go to it through a pipe.
- **the camera**: `camera` serves an MP4 with `visord.testing.rtsp_server.RtspServer`, read at
  its own frame rate without re-encoding. Each client gets the clip from its first frame; at its
  end the session ends, and visord's reader reconnects and so plays it again: the loop.
- **the labelling rule**, which stands in for a person in the label page and is not a model under
  test. The background is the per-pixel median (grey) of the whole clip as the camera sends it. In
  a crop, a pixel is foreground when it differs from the background by more than
  `LabelRule.difference` grey levels; the mask is opened with a 3x3 square (isolated noise and
  compression speckle go). A crop is `people` when more than `people_above` of its pixels are
  foreground, `empty` below `empty_below`, and ambiguous (None: not labelled) in between, which is
  a person cut by the edge of the region or a flutter of the barrier tape.
- **labelling through the label page**: `label_through_page` asks a running `visord label` for
  its crops in the page's order and posts the rule's label for each, as a person would by key.

`python -m visord.testing.footage serve` serves the clip on a port until Ctrl-C; `label` and
`sheet` apply the rule to a data set (through the page, or into a contact sheet PNG to check the
rule by eye).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from visord.contract import exitcodes
from visord.contract.dataset import RECORD_SUFFIX, RECORDS, class_folders, read_record
from visord.daemon.config import load_config
from visord.daemon.inference.preprocess import Roi
from visord.testing import media
from visord.testing.label_server import request
from visord.testing.rtsp_server import SYSTEM_PYTHON, RtspServer

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
VTEST_PACKAGE = "opencv-doc"
VTEST_FPS = 10
GOP = 20  # frames between key frames: two seconds at the clip's rate
BITRATE = 2000  # kbit/s: a usual setting for a 768x576 camera stream
ENCODE = (
    "fdsrc fd=0 blocksize={frame_bytes} "
    "! rawvideoparse width={width} height={height} format=bgr framerate={fps}/1 "
    "! videoconvert ! video/x-raw,format=I420 "
    "! x264enc speed-preset=veryfast bframes=0 key-int-max={gop} bitrate={bitrate} "
    "! mp4mux ! filesink location={path}"
)
SERVE = "( filesrc location={path} ! qtdemux ! rtph264pay name=pay0 pt=96 config-interval=1 )"
PEOPLE, EMPTY = "people", "empty"
SPLIT = 636  # frames 0-635 are the camera's, to collect and train on; 636-794 are held out


class FootageMissing(FileNotFoundError):
    """The clip is not on this machine; the message names the Debian package that ships it."""


def vtest_path(path: Path | None = None) -> Path:
    """The clip's path (`VISORD_VTEST` or Debian's), or FootageMissing saying what to install."""
    path = Path(path or os.environ.get("VISORD_VTEST") or VTEST)
    if not path.is_file():
        raise FootageMissing(
            f"{path} is missing: install Debian's {VTEST_PACKAGE} (apt-get install "
            f"{VTEST_PACKAGE}), which ships it"
        )
    return path


def cache_folder() -> Path:
    """Where encoded clips and the background are kept: `VISORD_FOOTAGE_CACHE`, else
    `$XDG_CACHE_HOME/visord/footage` (~/.cache/visord/footage)."""
    if os.environ.get("VISORD_FOOTAGE_CACHE"):
        return Path(os.environ["VISORD_FOOTAGE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "visord" / "footage"


def read_frames(path: Path, first: int = 0, last: int | None = None) -> np.ndarray:
    """Frames `first` to `last` (excluded) of a video file as one (N, H, W, 3) BGR array."""
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        raise ValueError(f"{path}: OpenCV cannot open it")
    frames = []
    try:
        for index in range(last if last is not None else 10**9):
            ok, frame = capture.read()
            if not ok:
                break
            if index >= first:
                frames.append(frame)
    finally:
        capture.release()
    if not frames:
        raise ValueError(f"{path}: no frames from {first} to {last}")
    return np.stack(frames)


def encode_h264(frames: np.ndarray, path: Path, fps: int, gop: int = GOP) -> Path:
    """Writes `frames` (N, H, W, 3 BGR) as H.264 in MP4 at `path`, through GStreamer's x264enc
    (written under a temporary name and renamed, so a cut run leaves no half file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    _, height, width, _ = frames.shape
    pipeline = ENCODE.format(
        frame_bytes=height * width * 3,
        width=width,
        height=height,
        fps=fps,
        gop=gop,
        bitrate=BITRATE,
        path=partial,
    )
    # media.py run as a script plays a gst-launch pipeline to its end in Debian's python3; its
    # messages go to a file, which never fills up as a pipe would while the frames are written
    with tempfile.TemporaryFile() as log:
        encoder = subprocess.Popen(
            [SYSTEM_PYTHON, media.__file__, pipeline],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            for frame in frames:
                encoder.stdin.write(np.ascontiguousarray(frame).tobytes())
            encoder.stdin.close()
            encoder.wait(timeout=300)
        except BaseException:
            encoder.kill()
            encoder.wait()
            partial.unlink(missing_ok=True)
            raise
        if encoder.returncode != 0:
            partial.unlink(missing_ok=True)
            log.seek(0)
            reason = log.read().decode(errors="replace")[-500:]
            raise RuntimeError(f"encoding {path.name} failed: {reason}")
    os.replace(partial, path)
    return path


def _source_key(source: Path) -> str:
    """Changes when the clip does: its size and modification time, hashed short."""
    status = source.stat()
    return hashlib.sha256(f"{status.st_size}:{status.st_mtime_ns}".encode()).hexdigest()[:8]


def h264_clip(
    first: int = 0,
    last: int | None = None,
    speed: float = 1.0,
    cache: Path | None = None,
    source: Path | None = None,
    gop: int = GOP,
) -> Path:
    """The clip's frames `first` to `last` (excluded) as H.264 MP4, played `speed` times as fast
    as recorded (the same frames, a higher frame rate), a key frame every `gop` frames, encoded
    once into the cache folder."""
    source = vtest_path(source)
    fps = round(VTEST_FPS * speed)
    if fps < 1:
        raise ValueError(f"speed {speed} leaves less than one frame per second")
    end = last if last is not None else "end"
    name = f"vtest-{_source_key(source)}-i420-{first}-{end}-{fps}fps-gop{gop}"
    path = Path(cache or cache_folder()) / f"{name}.mp4"
    if not path.is_file():
        encode_h264(read_frames(source, first, last), path, fps, gop)
    return path


def camera(clip: Path, port: int | None = None) -> RtspServer:
    """An RTSP camera (not started yet: use it as a context manager) serving `clip` at its frame
    rate, at rtsp://127.0.0.1:PORT/stream."""
    return RtspServer(pipeline=SERVE.format(path=Path(clip).resolve()), port=port)


def background(cache: Path | None = None, source: Path | None = None) -> np.ndarray:
    """The grey per-pixel median of every frame of the clip as the camera sends it (decoded from
    the H.264 file), computed once and kept beside the clip as a PNG."""
    clip = h264_clip(cache=cache, source=source)
    path = clip.with_name(clip.stem + "-background.png")
    if path.is_file():
        return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    capture = cv2.VideoCapture(str(clip), cv2.CAP_FFMPEG)
    grey = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        grey.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    capture.release()
    median = np.median(np.stack(grey), axis=0).round().astype(np.uint8)
    partial = path.with_name(f".{path.stem}.part.png")
    cv2.imwrite(str(partial), median)
    os.replace(partial, path)
    return median


# -- the labelling rule


@dataclass(frozen=True)
class LabelRule:
    """Background subtraction with two thresholds: `people` above one share of foreground pixels,
    `empty` below the other, ambiguous between."""

    difference: int = 30  # grey levels from the background that make a pixel foreground
    opening: int = 3  # side of the square that opens the mask
    people_above: float = 0.02  # share of the crop's pixels
    empty_below: float = 0.003

    def foreground(self, crop: np.ndarray, background_crop: np.ndarray) -> np.ndarray:
        """The opened foreground mask (uint8 0/1) of a BGR or grey crop against the background's
        crop of the same region (resized to the crop's size when they differ)."""
        grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
        if background_crop.shape[:2] != grey.shape[:2]:
            size = (grey.shape[1], grey.shape[0])
            background_crop = cv2.resize(background_crop, size, interpolation=cv2.INTER_AREA)
        differs = cv2.absdiff(grey, background_crop) > self.difference
        kernel = np.ones((self.opening, self.opening), np.uint8)
        return cv2.morphologyEx(differs.astype(np.uint8), cv2.MORPH_OPEN, kernel)

    def share(self, crop: np.ndarray, background_crop: np.ndarray) -> float:
        return float(self.foreground(crop, background_crop).mean())

    def label_of(self, share: float) -> str | None:
        if share > self.people_above:
            return PEOPLE
        if share < self.empty_below:
            return EMPTY
        return None


class Scene:
    """The clip's background and the regions of interest of a daemon config's streams: labels any
    crop of those streams by the rule."""

    def __init__(
        self,
        rois: dict[str, Roi | None],
        rule: LabelRule | None = None,
        background_image: np.ndarray | None = None,
    ):
        self.rois = rois  # None: the whole frame
        self.rule = rule or LabelRule()
        self.background = background() if background_image is None else background_image

    @classmethod
    def from_config(cls, config: Path, rule: LabelRule | None = None, **kwargs) -> Scene:
        """The streams (and their `roi:`) of the daemon config at `config`."""
        streams = load_config(config).streams
        rois = {stream.name: Roi.of(stream.roi) for stream in streams}
        return cls(rois, rule, **kwargs)

    def background_crop(self, stream: str) -> np.ndarray:
        roi = self.rois[stream]
        return roi.crop(self.background) if roi is not None else self.background

    def share(self, stream: str, crop: np.ndarray) -> float:
        return self.rule.share(crop, self.background_crop(stream))

    def label(self, stream: str, crop: np.ndarray) -> str | None:
        """`people`, `empty`, or None (ambiguous) for a crop of `stream`'s region."""
        return self.rule.label_of(self.share(stream, crop))

    def frame_crops(
        self, frames: np.ndarray, streams: Sequence[str] | None = None
    ) -> Iterator[tuple[str, int, np.ndarray, str | None]]:
        """(stream, frame index, crop, rule label) for every frame and region: the held-out set's
        shape."""
        for index, frame in enumerate(frames):
            for stream in streams or self.rois:
                roi = self.rois[stream]
                crop = roi.crop(frame) if roi is not None else frame
                yield stream, index, crop, self.label(stream, crop)

    def write_crops(
        self, frames: np.ndarray, folder: Path, first: int = 0, step: int = 1
    ) -> tuple[list[tuple[str, int, str]], int]:
        """Every region of `frames` (frame numbers `first`, `first + step`, ...) labelled by the
        rule and written as FOLDER/LABEL/STREAM-NUMBER.png (the folder emptied first): the
        (stream, index in `frames`, label) of each crop written, and how many ambiguous ones were
        left out."""
        shutil.rmtree(folder, ignore_errors=True)
        items, ambiguous = [], 0
        for stream, index, crop, label in self.frame_crops(frames):
            if label is None:
                ambiguous += 1
                continue
            items.append((stream, index, label))
            (folder / label).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / label / f"{stream}-{first + index * step:04d}.png"), crop)
        return items, ambiguous


# -- labelling through the label page


class LabelPage:
    """`visord label DATASET` in a subprocess on a free port of 127.0.0.1 (`url`), until `stop`
    (SIGTERM, which it answers with a clean exit)."""

    def __init__(self, dataset: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "visord", "label", str(dataset), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        # it prints its address once it listens; the output ends early only if it exits
        for line in self.process.stdout:
            self.lines.append(line)
            if found := re.search(r"open (http://127\.0\.0\.1:\d+/)", line):
                self.url = found.group(1)
                return
        self.process.wait()
        raise RuntimeError(f"visord label did not start: {''.join(self.lines)[-2000:]}")

    def stop(self) -> tuple[int, str]:
        """Its exit status and everything it printed."""
        self.process.send_signal(signal.SIGTERM)
        rest = self.process.communicate(timeout=30)[0]
        return self.process.returncode, "".join(self.lines) + rest

    def __enter__(self) -> LabelPage:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.stop()


def page_items(base: str, limit: int = 500) -> list[dict]:
    """Every unlabelled crop the page lists, in its order (most uncertain first)."""
    items: list[dict] = []
    while True:
        status, _, answer = request(base, "GET", f"/api/items?offset={len(items)}&limit={limit}")
        if status != 200:
            raise RuntimeError(f"GET /api/items answered {status}: {answer!r:.200}")
        items += answer["items"]
        if not answer["items"] or len(items) >= answer["total"]:
            return items


@dataclass
class Labelled:
    """What `label_through_page` did: crops labelled per class, ambiguous ones left, the seconds it
    took, and each (crop name, class) in the order labelled."""

    counts: dict[str, int]
    ambiguous: int
    seconds: float
    labels: list[tuple[str, str]]


def label_through_page(base: str, scene: Scene, limit: int | None = None) -> Labelled:
    """Labels the page's crops by the rule through its JSON API, in the page's order: each crop
    is fetched from the page (GET /crops/...), judged, and labelled (POST /api/label); an
    ambiguous one is left unlabelled. Stops after `limit` labels. The classes are added first
    (POST /api/classes) when missing."""
    started = time.monotonic()
    existing = {entry["name"] for entry in request(base, "GET", "/api/classes")[2]["classes"]}
    for name in (EMPTY, PEOPLE):
        if name not in existing:
            status, _, body = request(base, "POST", "/api/classes", {"name": name})
            if status != 201:
                raise RuntimeError(f"POST /api/classes {name} answered {status}: {body!r:.200}")
    counts = {EMPTY: 0, PEOPLE: 0}
    ambiguous = 0
    labels = []
    for item in page_items(base):
        if limit is not None and sum(counts.values()) >= limit:
            break
        status, _, jpeg = request(base, "GET", item["url"])
        if status != 200:
            raise RuntimeError(f"GET {item['url']} answered {status}")
        crop = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        label = scene.label(item["stream"], crop)
        if label is None:
            ambiguous += 1
            continue
        labelled = {"name": item["name"], "class": label}
        status, _, body = request(base, "POST", "/api/label", labelled)
        if status != 200:
            raise RuntimeError(f"POST /api/label {item['name']} answered {status}: {body!r:.200}")
        counts[label] += 1
        labels.append((item["name"], label))
    return Labelled(counts, ambiguous, time.monotonic() - started, labels)


# -- looking at the rule's verdicts


def contact_sheet(
    tiles: Sequence[tuple[np.ndarray, str]], path: Path, columns: int = 8, size: int = 160
) -> Path:
    """A PNG grid of crops, each scaled into `size` x `size` with its caption: to judge the rule
    by eye."""
    rows = -(-len(tiles) // columns)
    sheet = np.full((rows * (size + 18), columns * size, 3), 255, np.uint8)
    for index, (crop, caption) in enumerate(tiles):
        crop = crop if crop.ndim == 3 else cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
        scale = min(size / crop.shape[1], size / crop.shape[0])
        shape = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        small = cv2.resize(crop, shape, interpolation=cv2.INTER_AREA)
        top, left = (index // columns) * (size + 18), (index % columns) * size
        sheet[top : top + shape[1], left : left + shape[0]] = small
        cv2.putText(
            sheet, caption, (left + 2, top + size + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0)
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), sheet)
    return path


def dataset_crops(dataset: Path) -> Iterator[tuple[str, Path]]:
    """(stream, image) of every crop of a data set, unlabelled or labelled (a labelled crop's
    stream is in its record under .visord/records/), by name."""
    root = Path(dataset)
    found = [(image.parent.name, image) for image in root.glob("unlabelled/*/*.jpg")]
    for folder in class_folders(root):
        for image in folder.glob("*.jpg"):
            record = root / RECORDS / f"{image.stem}{RECORD_SUFFIX}"
            if record.is_file():
                found.append((read_record(record).stream, image))
    return iter(sorted(found, key=lambda pair: pair[1].name))


def rule_sheet(dataset: Path, scene: Scene, path: Path, count: int = 40, seed: int = 0) -> Path:
    """A contact sheet of `count` crops of `dataset`, drawn at random, each captioned with its
    number, the rule's label and the foreground share."""
    crops = list(dataset_crops(dataset))
    chosen = np.random.default_rng(seed).permutation(len(crops))[:count]
    tiles = []
    for index in sorted(chosen):
        stream, image = crops[index]
        crop = cv2.imread(str(image))
        share = scene.share(stream, crop)
        verdict = scene.rule.label_of(share) or "ambiguous"
        tiles.append((crop, f"{index} {verdict} {share:.1%}"))
    return contact_sheet(tiles, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m visord.testing.footage", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the clip as an RTSP camera until Ctrl-C")
    serve.add_argument("--port", type=int, default=8554)
    serve.add_argument("--first", type=int, default=0, help="first frame (default 0)")
    serve.add_argument("--last", type=int, help="frame to stop before (default: the end)")
    serve.add_argument("--speed", type=float, default=1.0, help="times as fast as recorded")
    label = commands.add_parser("label", help="label a data set by the rule through the page")
    label.add_argument("--config", type=Path, required=True, help="the daemon config (its ROIs)")
    label.add_argument("--url", default="http://127.0.0.1:9109", help="the label page")
    label.add_argument("--limit", type=int, help="stop after this many labels")
    sheet = commands.add_parser("sheet", help="a contact sheet of a data set's crops by the rule")
    sheet.add_argument("dataset", type=Path)
    sheet.add_argument("--config", type=Path, required=True, help="the daemon config (its ROIs)")
    sheet.add_argument("--out", type=Path, default=Path("rule-sheet.png"))
    sheet.add_argument("--count", type=int, default=40)
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            clip = h264_clip(args.first, args.last, args.speed)
            # SIGTERM stops it as Ctrl-C does: through the `with`, which stops the server
            signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(0))
            with camera(clip, args.port) as server:
                print(f"serving {clip} at {server.url} (Ctrl-C stops)", flush=True)
                while True:
                    time.sleep(3600)
        scene = Scene.from_config(args.config)
        if args.command == "label":
            done = label_through_page(args.url, scene, args.limit)
            print(
                f"labelled {done.counts[PEOPLE]} people, {done.counts[EMPTY]} empty; left "
                f"{done.ambiguous} ambiguous crops unlabelled ({done.seconds:.1f} s)"
            )
        else:
            print(rule_sheet(args.dataset, scene, args.out, args.count))
    except FootageMissing as error:
        print(error, file=sys.stderr)
        return exitcodes.UNAVAILABLE
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
