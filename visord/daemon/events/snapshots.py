"""Snapshots: the frame behind each event as JPEG, written off the frame loop, kept within limits.

An event's snapshot is two files in the snapshot folder (`events.snapshots.path`), named by the
event's id (`<stream>-<epoch ms>`, `visord.daemon.events.history.event_id`): `ID.jpg`, the whole
frame (scaled down to `max_width`) with the stream's region outlined and the label and score
written on it, and `ID.crop.jpg`, the region alone (the whole frame for a stream without one).
The frame is a reader's image shared with the camera's other regions: it is only ever read
here, every drawing goes on a copy.

`SnapshotKeeper.offer` is what the event pipeline calls in the frame loop: it puts a job into a
bounded queue without waiting (a full queue drops the snapshot and counts it) and says whether
it did. One `SnapshotWriter` thread renders, encodes and writes each file atomically (a hidden
temporary file, then `os.replace`), then deletes the oldest snapshots older than `max_days` or
over `max_megabytes` (ordered by the time in their ids), and sweeps for age once a minute when
no event comes. A folder that cannot be created or written (a full disk, a read-only mount, a
path under a file) costs those snapshots only: counted, logged once until writes succeed again,
never raised to the loop. Each encoded frame is also handed, in the writer's thread and before
the disk is touched, to `on_encoded(stream, event_id, jpeg)` (the event pipeline passes it to
the MQTT sinks), so a full disk does not keep the picture from MQTT.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from visord.daemon.inference.preprocess import Roi
from visord.daemon.metrics import (
    SNAPSHOTS_DROPPED,
    SNAPSHOTS_EVICTED,
    SNAPSHOTS_STORED,
    SNAPSHOTS_STORED_BYTES,
    SNAPSHOTS_WRITABLE,
    SNAPSHOTS_WRITTEN,
    Sample,
    SnapshotMetric,
)

log = logging.getLogger(__name__)

FRAME_SUFFIX = ".jpg"
CROP_SUFFIX = ".crop.jpg"
TEMP_SUFFIX = ".tmp"
# an event id: a stream name (`visord.daemon.config.base.Name`), '-', epoch milliseconds
EVENT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}-[0-9]{1,16}")
SWEEP_SECONDS = 60.0  # how often the writer deletes snapshots past max_days when idle
OUTLINE = (0, 255, 255)  # BGR yellow: the region's outline and the caption's text
SHADOW = (0, 0, 0)


def is_event_id(text: str) -> bool:
    return EVENT_ID.fullmatch(text) is not None


def millis_of(event_id: str) -> int:
    """The epoch milliseconds in an event id."""
    return int(event_id.rpartition("-")[2])


def files_of(root: Path, event_id: str) -> tuple[Path, Path]:
    """The snapshot's two files: the annotated frame and the crop."""
    return root / f"{event_id}{FRAME_SUFFIX}", root / f"{event_id}{CROP_SUFFIX}"


@dataclass(frozen=True)
class Job:
    """One event's frame on its way to the writer. `image` is shared: read, never written."""

    event_id: str
    stream: str
    image: np.ndarray
    roi: Roi | None
    label: str
    score: float


def scaled(image: np.ndarray, max_width: int, fast: bool = False) -> np.ndarray:
    """`image` at most `max_width` wide (aspect kept); a new array either way. Area averaging (the
    sharpest downscale, what a snapshot keeps), or with `fast` bilinear (a live view's frame,
    made every second: several times cheaper at a ratio that is not a whole number)."""
    height, width = image.shape[:2]
    if width <= max_width:
        return image.copy()
    size = (max_width, max(1, round(height * max_width / width)))
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR if fast else cv2.INTER_AREA)


def region_box(shape: tuple[int, ...], roi: Roi) -> tuple[int, int, int, int]:
    """The region's left, top, right, bottom pixels (inclusive) in a frame of `shape`, as
    `Roi.crop` cuts it."""
    rows, cols = shape[:2]
    top = min(int(roi.y * rows), rows - 1)
    left = min(int(roi.x * cols), cols - 1)
    bottom = max(top + 1, min(rows, round((roi.y + roi.height) * rows)))
    right = max(left + 1, min(cols, round((roi.x + roi.width) * cols)))
    return left, top, right - 1, bottom - 1


def outline(image: np.ndarray, roi: Roi | None) -> np.ndarray:
    """The region outlined on `image`, in place: a copy the caller owns, never a reader's frame
    (nothing is drawn for the whole frame)."""
    if roi is None:
        return image
    left, top, right, bottom = region_box(image.shape, roi)
    thickness = max(2, round(image.shape[1] / 240))
    cv2.rectangle(image, (left, top), (right, bottom), SHADOW, thickness + 2)
    cv2.rectangle(image, (left, top), (right, bottom), OUTLINE, thickness)
    return image


def caption(image: np.ndarray, text: str, roi: Roi | None) -> np.ndarray:
    """`text` on a dark box at the region's top left corner (kept inside the frame), in place: a
    copy the caller owns."""
    text = text.encode("ascii", "replace").decode()  # Hershey fonts draw ASCII only
    scale = max(0.35, image.shape[1] / 1280)
    thickness = max(1, round(scale * 1.5))
    (width, height), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    left, top = region_box(image.shape, roi)[:2] if roi is not None else (0, 0)
    pad = max(2, height // 4)
    left = max(0, min(left, image.shape[1] - width - 2 * pad))
    top = max(0, min(top, image.shape[0] - height - base - 2 * pad))
    box_bottom = top + height + base + 2 * pad
    cv2.rectangle(image, (left, top), (left + width + 2 * pad, box_bottom), SHADOW, cv2.FILLED)
    origin = (left + pad, top + pad + height)
    cv2.putText(
        image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, OUTLINE, thickness, cv2.LINE_AA
    )
    return image


def annotated(image: np.ndarray, roi: Roi | None, text: str, max_width: int) -> np.ndarray:
    """The snapshot's frame: scaled, the region outlined, `text` written on it (`image` is left
    as it was)."""
    return caption(outline(scaled(image, max_width), roi), text, roi)


def crop(image: np.ndarray, roi: Roi | None, max_width: int) -> np.ndarray:
    """The region (the whole frame without one), at most `max_width` wide."""
    region = roi.crop(image) if roi is not None else image
    return scaled(np.ascontiguousarray(region), max_width)


def encode(image: np.ndarray, quality: int) -> bytes:
    encoded, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not encoded:
        raise ValueError("JPEG encoding failed")
    return jpeg.tobytes()


def render(job: Job, max_width: int, quality: int) -> tuple[bytes, bytes]:
    """The snapshot's two JPEGs: the annotated frame and the crop."""
    text = f"{job.label} {job.score:.2f}"
    frame = annotated(job.image, job.roi, text, max_width)
    return encode(frame, quality), encode(crop(job.image, job.roi, max_width), quality)


def write_atomically(path: Path, data: bytes) -> None:
    """`data` at `path`, or nothing there: written to a hidden temporary file, then renamed."""
    temporary = path.with_name(f".{path.name}{TEMP_SUFFIX}")
    try:
        with open(temporary, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class Counts:
    """Snapshots written per stream, dropped per (stream, reason), evicted per reason;
    thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.written: Counter[tuple[str, ...]] = Counter()
        self.dropped: Counter[tuple[str, ...]] = Counter()
        self.evicted: Counter[tuple[str, ...]] = Counter()

    def add(self, which: Counter, key: tuple[str, ...], amount: int = 1) -> None:
        with self._lock:
            which[key] += amount

    def copy(self) -> tuple[dict, dict, dict]:
        with self._lock:
            return dict(self.written), dict(self.dropped), dict(self.evicted)


class Shelf:
    """The snapshots in the folder, by event id, with the bytes of both files."""

    def __init__(self, root: Path):
        self.root = root
        self.sizes: dict[str, int] = {}
        self.total = 0  # bytes, kept with `sizes` (read by the metrics thread without a lock)

    def scan(self) -> None:
        """From disk: every snapshot file there, and no temporary file left by a crash."""
        sizes: dict[str, int] = {}
        for entry in os.scandir(self.root):
            name = entry.name
            if name.startswith(".") and name.endswith(TEMP_SUFFIX):
                Path(entry.path).unlink(missing_ok=True)
                continue
            stem = name.removesuffix(CROP_SUFFIX).removesuffix(FRAME_SUFFIX)
            if stem != name and is_event_id(stem) and entry.is_file(follow_symlinks=False):
                sizes[stem] = sizes.get(stem, 0) + entry.stat(follow_symlinks=False).st_size
        self.sizes, self.total = sizes, sum(sizes.values())

    def add(self, event_id: str, size: int) -> None:
        self.sizes[event_id] = self.sizes.get(event_id, 0) + size
        self.total += size

    def trim(self, now: float, max_age: float, max_bytes: float) -> list[str]:
        """Deletes the snapshots older than `max_age` seconds, then the oldest while the folder
        holds more than `max_bytes`; the reason of each one deleted ("age" or "size")."""
        gone = []
        oldest_first = sorted(self.sizes, key=lambda name: (millis_of(name), name))
        for event_id in oldest_first:
            if millis_of(event_id) / 1000 < now - max_age:
                reason = "age"
            elif self.total > max_bytes:
                reason = "size"
            else:
                break
            self.total -= self.sizes.pop(event_id)
            for path in files_of(self.root, event_id):
                path.unlink(missing_ok=True)
            gone.append(reason)
        return gone


class SnapshotWriter:
    """One thread writing every stream's snapshots into one folder. `start=False` (tests) leaves
    the jobs in the queue for `write` to be called by hand."""

    def __init__(
        self,
        settings,
        counts: Counts,
        clock: Callable[[], float] = time.time,
        start: bool = True,
        on_encoded: Callable[[str, str, bytes], None] | None = None,
    ):
        """settings: a `visord.daemon.config.outputs.SnapshotsConfig`. clock: wall-clock seconds
        (what `max_days` is measured with). on_encoded: handed each encoded frame (never
        raises into the writer)."""
        self.settings = settings
        self.counts = counts
        self.on_encoded = on_encoded
        self.root = Path(settings.path)
        self.clock = clock
        self.shelf = Shelf(self.root)
        self.ready = False  # the folder exists and was scanned
        self.failing = False  # the last write failed (said once, until one succeeds)
        self._queue: queue.Queue[Job] = queue.Queue(settings.queue)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="visord-snapshots", daemon=True)
        if start:
            self._thread.start()

    def submit(self, job: Job) -> bool:
        """Queues `job` without waiting; False when the queue is full."""
        try:
            self._queue.put_nowait(job)
            return True
        except queue.Full:
            return False

    def close(self, timeout: float = 3.0) -> None:
        """Writes what is queued (for up to `timeout` seconds), then stops."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:  # the folder and what an earlier run left there, before the first event
            self._prepare()
            self.sweep()
        except OSError as error:
            self._failed(error)  # tried again at each snapshot
        last_sweep = time.monotonic()
        while not (self._stop.is_set() and self._queue.empty()):
            try:
                job = self._queue.get(timeout=0.2)
            except queue.Empty:
                if time.monotonic() - last_sweep >= SWEEP_SECONDS:
                    last_sweep = time.monotonic()
                    self.sweep()
                continue
            self.write(job)

    def write(self, job: Job) -> bool:
        """Renders and writes one snapshot, then keeps the limits; False when it could not be
        written (counted, said once)."""
        try:
            frame, cropped = render(job, self.settings.max_width, self.settings.quality)
        except Exception as error:
            self.counts.add(self.counts.dropped, (job.stream, "write_error"))
            self._failed(error)
            return False
        self._hand_over(job, frame)
        try:
            self._prepare()
            frame_path, crop_path = files_of(self.root, job.event_id)
            write_atomically(crop_path, cropped)
            try:
                write_atomically(frame_path, frame)
            except BaseException:
                crop_path.unlink(missing_ok=True)
                raise
        except Exception as error:  # a full disk or a bad folder costs this snapshot only
            self.counts.add(self.counts.dropped, (job.stream, "write_error"))
            self.ready = False  # the next snapshot creates the folder again and rescans it
            self._failed(error)
            return False
        if self.failing:
            self.failing = False
            log.info("snapshots written again to %s", self.root)
        self.counts.add(self.counts.written, (job.stream,))
        self.shelf.add(job.event_id, len(frame) + len(cropped))
        self.sweep()
        return True

    def _hand_over(self, job: Job, frame: bytes) -> None:
        if self.on_encoded is None:
            return
        try:
            self.on_encoded(job.stream, job.event_id, frame)
        except Exception:  # a listener never costs the snapshot its file
            log.exception("snapshot %s not handed to the sinks", job.event_id)

    def _failed(self, error: Exception) -> None:
        """Says what went wrong, once until a write succeeds again."""
        if not self.failing:
            self.failing = True
            log.warning(
                "snapshots not written to %s: %s (counted in "
                'visord_snapshots_dropped_total{reason="write_error"}; said once until '
                "writes succeed again)",
                self.root,
                getattr(error, "strerror", None) or error,
            )

    def sweep(self) -> None:
        """Deletes what is past `max_days` or over `max_megabytes`, oldest first."""
        if not self.ready:
            return
        settings = self.settings
        try:
            gone = self.shelf.trim(
                self.clock(), settings.max_days * 86400, settings.max_megabytes * 1e6
            )
        except OSError as error:
            log.warning("snapshots in %s not trimmed: %s", self.root, error)
            return
        for reason in gone:
            self.counts.add(self.counts.evicted, (reason,))

    def _prepare(self) -> None:
        """The folder, created when missing and scanned once (tried again at each snapshot until
        it works)."""
        if not self.ready:
            self.root.mkdir(parents=True, exist_ok=True)
            self.shelf.scan()
            self.ready = True


class SnapshotKeeper:
    """What the event pipeline offers each event's frame to; runs the writer of the current
    `events.snapshots` settings."""

    def __init__(
        self,
        settings,
        clock: Callable[[], float] = time.time,
        start: bool = True,
        on_encoded: Callable[[str, str, bytes], None] | None = None,
    ):
        """settings: `events.snapshots`. start=False (tests): the writer's thread is not started.
        on_encoded: handed each snapshot's encoded frame in the writer's thread."""
        self.settings = settings
        self.clock = clock
        self.start = start
        self.on_encoded = on_encoded
        self.counts = Counts()
        self.writer = self._writer(settings)

    def _writer(self, settings) -> SnapshotWriter | None:
        if not settings.enabled:
            return None
        return SnapshotWriter(settings, self.counts, self.clock, self.start, self.on_encoded)

    @property
    def root(self) -> Path | None:
        """The folder snapshots are served from (None when snapshots are off)."""
        return self.writer.root if self.writer is not None else None

    def offer(
        self, event_id: str, stream: str, label: str, score: float, image, roi: Roi | None
    ) -> bool:
        """Queues the snapshot of one event if the settings want it; never waits. True when
        queued."""
        if self.writer is None or image is None or not self.settings.wants(label):
            return False
        if self.writer.submit(Job(event_id, stream, image, roi, label, score)):
            return True
        self.counts.add(self.counts.dropped, (stream, "queue_full"))
        return False

    def reconfigure(self, settings) -> None:
        """New settings: a new folder, queue size or switch starts a new writer; the rest applies
        to the running one."""
        if settings == self.settings:
            return
        old = self.settings
        restart = (settings.enabled, settings.path, settings.queue) != (
            old.enabled,
            old.path,
            old.queue,
        )
        if restart:
            if self.writer is not None:
                self.writer.close()
            self.writer = self._writer(settings)
        elif self.writer is not None:
            self.writer.settings = settings
        self.settings = settings

    def close(self, timeout: float = 3.0) -> None:
        if self.writer is not None:
            self.writer.close(timeout)

    def snapshot(self, unsent: dict[str, int] | None = None) -> list[SnapshotMetric]:
        """unsent: per stream, snapshots the MQTT sinks never sent (reason `mqtt_unsent`)."""
        written, dropped, evicted = self.counts.copy()
        for stream, count in (unsent or {}).items():
            dropped[(stream, "mqtt_unsent")] = dropped.get((stream, "mqtt_unsent"), 0) + count
        writer = self.writer
        stored = [] if writer is None else [Sample((), float(len(writer.shelf.sizes)))]
        stored_bytes = [] if writer is None else [Sample((), float(writer.shelf.total))]
        writable = [] if writer is None else [Sample((), 0.0 if writer.failing else 1.0)]
        return [
            SNAPSHOTS_WRITTEN.of([Sample(key, float(n)) for key, n in sorted(written.items())]),
            SNAPSHOTS_DROPPED.of([Sample(key, float(n)) for key, n in sorted(dropped.items())]),
            SNAPSHOTS_EVICTED.of([Sample(key, float(n)) for key, n in sorted(evicted.items())]),
            SNAPSHOTS_STORED.of(stored),
            SNAPSHOTS_STORED_BYTES.of(stored_bytes),
            SNAPSHOTS_WRITABLE.of(writable),
        ]
