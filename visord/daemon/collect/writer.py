"""The thread that turns kept frames into crops on disk, and keeps the data set within its limits.

Each candidate is cropped to its stream's region of interest (at most `max_side` pixels on its
longer side), compared with the stream's last saved crop by the motion gate's measure (a crop
that barely changed is dropped as a duplicate), encoded as JPEG and written with its record
through `visord.contract.dataset.write_crop` (temporary file, rename). Then the stream's quota
and the folder's disk cap are enforced, oldest unlabelled crop first. The frame loop only ever
puts into a bounded queue.

With `collect.diversity` or `collect.class_floor`, each crop is first judged against the crops
kept for its stream this hour (`visord.daemon.collect.diverse`): a crop too like them is dropped
(`not_novel`), and one that replaces a less different kept crop removes that crop's files (counted
as evicted). A crop its class needs for the floor skips the near-duplicate check.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from itertools import count
from pathlib import Path

import cv2
import numpy as np

from visord.contract.dataset import (
    IMAGE_SUFFIX,
    RECORD_SUFFIX,
    UNLABELLED,
    Answer,
    CropRecord,
    Reason,
    crop_name,
    write_crop,
)
from visord.daemon.collect.choose import sure_class
from visord.daemon.collect.diverse import Kept, Region, difference, window_of
from visord.daemon.config import CollectConfig
from visord.daemon.inference.engine import Prediction
from visord.daemon.inference.preprocess import Roi
from visord.daemon.router.motion import shrink
from visord.daemon.sources.frames import as_bgr

log = logging.getLogger(__name__)
JPEG_QUALITY = 90


@dataclass(frozen=True)
class Candidate:
    """A classified frame the chooser kept, on its way to the writer."""

    stream: str
    image: np.ndarray
    roi: Roi | None
    answers: tuple[Prediction, ...]
    reason: Reason
    wall: float


class Counts:
    """Crops saved and dropped per (stream, reason), evicted per stream; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.saved: Counter[tuple[str, str]] = Counter()
        self.dropped: Counter[tuple[str, str]] = Counter()
        self.evicted: Counter[tuple[str]] = Counter()

    def add(self, which: Counter, key: tuple[str, ...], amount: int = 1) -> None:
        with self._lock:
            which[key] += amount

    def copy(self) -> tuple[dict, dict, dict]:
        with self._lock:
            return dict(self.saved), dict(self.dropped), dict(self.evicted)


def crop_of(image: np.ndarray, roi: Roi | None, max_side: int) -> np.ndarray:
    """The region of interest, shrunk so its longer side is at most `max_side`."""
    crop = as_bgr(image)
    crop = roi.crop(crop) if roi is not None else crop
    scale = max_side / max(crop.shape[:2])
    if scale < 1:
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop)


class Shelf:
    """The unlabelled crops on disk by stream, with their bytes; names sort by time."""

    def __init__(self, root: Path):
        self.root = root / UNLABELLED
        self.files: dict[str, dict[str, int]] = {}
        self.rescan()

    def rescan(self) -> None:
        """From disk: crops labelled or deleted since no longer count."""
        self.files = {}
        if self.root.is_dir():
            for folder in self.root.iterdir():
                if folder.is_dir():
                    self.files[folder.name] = {
                        image.stem: _size(image) + _size(image.with_suffix(RECORD_SUFFIX))
                        for image in folder.glob(f"*{IMAGE_SUFFIX}")
                    }

    def add(self, stream: str, name: str, size: int) -> None:
        self.files.setdefault(stream, {})[name] = size

    @property
    def total(self) -> int:
        return sum(sum(files.values()) for files in self.files.values())

    def trim(self, per_stream: int, max_bytes: float) -> list[str]:
        """Deletes the oldest crops over each stream's quota, then over the disk cap; returns the
        streams they came from, one entry per crop."""
        if max(map(len, self.files.values()), default=0) > per_stream or self.total > max_bytes:
            self.rescan()
        gone = []
        for stream, files in self.files.items():
            for name in sorted(files)[: max(0, len(files) - per_stream)]:
                gone.append(self._delete(stream, name))
        if self.total > max_bytes:
            by_age = sorted(
                (name.removeprefix(f"{stream}-"), stream, name)
                for stream, files in self.files.items()
                for name in files
            )
            for _, stream, name in by_age:
                if self.total <= max_bytes:
                    break
                gone.append(self._delete(stream, name))
        return gone

    def _delete(self, stream: str, name: str) -> str:
        folder = self.root / stream
        (folder / f"{name}{RECORD_SUFFIX}").unlink(missing_ok=True)  # incomplete: label skips it
        (folder / f"{name}{IMAGE_SUFFIX}").unlink(missing_ok=True)
        del self.files[stream][name]
        return stream


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class CropWriter:
    """One thread writing the crops of every stream into one data set."""

    def __init__(self, settings: CollectConfig, counts: Counts):
        if settings.dataset is None:
            raise ValueError("collect.dataset is not set: there is nowhere to write crops")
        self.settings = settings
        self.counts = counts
        self.root = Path(settings.dataset)
        self._queue: queue.Queue[Candidate] = queue.Queue(settings.queue)
        self._last: dict[str, np.ndarray] = {}  # each stream's last saved crop, shrunk
        self._regions: dict[str, Region] = {}  # each stream's crops kept this hour
        self._regions_lock = threading.Lock()  # `share` reads the counts from the frame loop
        self._sequence = count(1)
        self._stop = threading.Event()
        self._shelf = Shelf(self.root)
        self._thread = threading.Thread(target=self._run, name="visord-collect", daemon=True)
        self._thread.start()

    def submit(self, candidate: Candidate) -> bool:
        """Queues `candidate` without waiting; False when the queue is full."""
        try:
            self._queue.put_nowait(candidate)
            return True
        except queue.Full:
            return False

    def close(self, timeout: float = 3.0) -> None:
        """Writes what is queued (for up to `timeout` seconds), then stops."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            try:
                candidate = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._write(candidate)
            except Exception as error:  # a full disk or a bad frame costs this crop only
                log.warning("stream=%s crop not saved: %s", candidate.stream, error)
                self.counts.add(self.counts.dropped, (candidate.stream, "write_error"))

    def _write(self, candidate: Candidate) -> None:
        settings = self.settings
        stream = candidate.stream
        crop = crop_of(candidate.image, candidate.roi, settings.max_side)
        small = shrink(crop, None)
        shaping = settings.diversity is not None or settings.class_floor > 0
        region = self._region(stream, candidate.wall) if shaping else None
        label = sure_class(candidate.answers, settings.unsure_below)
        needed = region is not None and region.below_floor(label, settings.class_floor)
        last = self._last.get(stream)
        if not needed and last is not None and difference(small, last) < settings.min_change:
            self.counts.add(self.counts.dropped, (stream, "duplicate"))
            return
        verdict = None
        if region is not None:
            verdict = region.judge(
                small,
                label,
                settings.diversity,
                settings.class_floor,
                lambda name: self._unlabelled(stream, name),
            )
            if not verdict.keep:
                self.counts.add(self.counts.dropped, (stream, "not_novel"))
                return
        encoded, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not encoded:
            raise ValueError("JPEG encoding failed")
        time = datetime.fromtimestamp(candidate.wall).astimezone()
        record = CropRecord(
            name=crop_name(stream, time, next(self._sequence)),
            stream=stream,
            time=time,
            reason=candidate.reason,
            answers=tuple(
                Answer(model=p.model, label=p.label, score=min(1.0, max(0.0, p.score)))
                for p in candidate.answers
            ),
            width=crop.shape[1],
            height=crop.shape[0],
        )
        path = write_crop(self.root, record, jpeg.tobytes())
        self._last[stream] = small
        self.counts.add(self.counts.saved, (stream, candidate.reason))
        if region is not None and verdict is not None:
            with self._regions_lock:
                if verdict.replaces is not None:
                    self._replace(stream, region, verdict.replaces)
                region.add(record.name, small if settings.diversity else None, label, verdict)
        self._shelf.add(stream, record.name, _size(path) + _size(path.with_suffix(RECORD_SUFFIX)))
        for evicted in self._shelf.trim(settings.per_stream, settings.max_megabytes * 1e6):
            self.counts.add(self.counts.evicted, (evicted,))

    def _region(self, stream: str, wall: float) -> Region:
        """`stream`'s crops kept in the hour of `wall`; a new hour starts a new budget."""
        window = window_of(wall)
        region = self._regions.get(stream)
        if region is None or region.window != window:
            with self._regions_lock:
                region = self._regions[stream] = Region(window)
        return region

    def share(self, stream: str, label: str) -> float:
        """The share of `stream`'s crops saved this hour whose sure class is `label` (0 before
        any): what the chooser's class floor looks at. Safe from any thread."""
        with self._regions_lock:
            region = self._regions.get(stream)
            return region.share(label) if region is not None else 0.0

    def _unlabelled(self, stream: str, name: str) -> bool:
        """Whether the crop is still waiting for its label (not labelled, deleted or trimmed)."""
        folder = self.root / UNLABELLED / stream
        return (folder / f"{name}{IMAGE_SUFFIX}").exists() and (
            folder / f"{name}{RECORD_SUFFIX}"
        ).exists()

    def _replace(self, stream: str, region: Region, gone: Kept) -> None:
        """Removes a kept crop a more different one replaces: its record first (an image without
        its record is not a crop), then its image."""
        folder = self.root / UNLABELLED / stream
        (folder / f"{gone.name}{RECORD_SUFFIX}").unlink(missing_ok=True)
        (folder / f"{gone.name}{IMAGE_SUFFIX}").unlink(missing_ok=True)
        self._shelf.files.get(stream, {}).pop(gone.name, None)
        region.remove(gone)
        self.counts.add(self.counts.evicted, (stream,))
