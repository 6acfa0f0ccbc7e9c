"""The sorted listing of unlabelled crops, and the number of images in each class folder.

The label page asks for one page at a time, so the listing is kept in memory, sorted, and never
rebuilt from scratch: each record is read once, when its crop first appears. `refresh` looks at
each stream folder's mtime and re-lists (names only, no reads) just the folders that changed, so
crops `visord collect` adds while the page is open show up on the next request. The label
actions update the listing directly (`remove`, `add`, `set_skipped`).

Order: crops skipped in the page last (in the order they were skipped), before them the most
uncertain first (`CropRecord.uncertainty`), then by reason (`REASONS`: most telling first), then
the newest first. A crop is listed once both its image and its record are regular files (the
record is written last); symlinks, names that are not crop names and records that do not name
their own file and stream folder are left out (an unreadable record is logged once).
"""

from __future__ import annotations

import bisect
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from visord.contract.dataset import (
    IMAGE_SUFFIX,
    REASONS,
    RECORD_SUFFIX,
    UNLABELLED,
    CropRecord,
    DatasetError,
    check_class_name,
    check_crop_name,
    class_folders,
    read_record,
)
from visord.label.paths import STREAM

log = logging.getLogger(__name__)

# A folder changed this recently may change again within its mtime's granularity unseen (a
# coarse clock tick): it is listed again until it has been quiet this long.
_RACY_NS = 2_000_000_000

SortKey = tuple[int, float, int, float, str]


@dataclass(frozen=True)
class Crop:
    """One unlabelled crop as the page shows it."""

    stream: str
    record: CropRecord

    @property
    def name(self) -> str:
        return self.record.name

    def key(self, skipped: int) -> SortKey:
        record = self.record
        return (
            skipped,
            -record.uncertainty,
            REASONS.index(record.reason),
            -record.time.timestamp(),
            record.name,
        )


class _Folder:
    """What was last seen of one folder: its mtime and when it was listed."""

    __slots__ = ("mtime_ns", "listed_ns", "names")

    def __init__(self) -> None:
        self.mtime_ns = -1
        self.listed_ns = 0
        self.names: set[str] = set()

    def stale(self, mtime_ns: int) -> bool:
        return mtime_ns != self.mtime_ns or self.listed_ns - mtime_ns < _RACY_NS

    def seen(self, mtime_ns: int) -> None:
        self.mtime_ns = mtime_ns
        self.listed_ns = time.time_ns()


def _crop_names(folder: Path) -> set[str]:
    """The names in `folder` with a regular image and a regular record (no symlinks)."""
    images: set[str] = set()
    records: set[str] = set()
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.is_file(follow_symlinks=False):
                continue  # a symlink, a folder, a socket: never a crop
            if entry.name.endswith(IMAGE_SUFFIX):
                images.add(entry.name[: -len(IMAGE_SUFFIX)])
            elif entry.name.endswith(RECORD_SUFFIX):
                records.add(entry.name[: -len(RECORD_SUFFIX)])
    return images & records


def _is_class(name: str) -> bool:
    try:
        check_class_name(name)
    except DatasetError:
        return False
    return True


class Listing:
    """The unlabelled crops of one data set, sorted for the page. Not thread-safe: the caller
    (`actions.Labeller`) holds its lock around every call."""

    def __init__(self, root: Path, skipped: dict[str, int] | None = None) -> None:
        self.root = root
        self.unlabelled = root / UNLABELLED
        self.crops: dict[str, Crop] = {}
        self.skipped: dict[str, int] = dict(skipped or {})
        self._order: list[SortKey] = []
        self._folders: dict[str, _Folder] = {}
        self._bad: dict[tuple[str, str], int] = {}  # unreadable records and their mtimes
        self._classes: dict[str, tuple[_Folder, int]] = {}
        self.changes = 0  # counts every change to the listing (stacks are kept until it moves)
        self.refresh()

    # The listing ------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Picks up crops added or removed on disk since the last call (folders whose mtime did
        not change are not listed again)."""
        streams = set()
        try:
            with os.scandir(self.unlabelled) as entries:
                folders = [
                    (entry.name, entry.stat(follow_symlinks=False).st_mtime_ns)
                    for entry in entries
                    if entry.is_dir(follow_symlinks=False) and STREAM.fullmatch(entry.name)
                ]
        except OSError:
            folders = []  # unlabelled/ is gone: nothing left to label
        for stream, mtime_ns in folders:
            streams.add(stream)
            self._refresh_stream(stream, mtime_ns)
        for stream in set(self._folders) - streams:
            for name in self._folders.pop(stream).names:
                self._drop(name)

    def _refresh_stream(self, stream: str, mtime_ns: int) -> None:
        folder = self._folders.setdefault(stream, _Folder())
        if not folder.stale(mtime_ns):
            return
        folder.seen(mtime_ns)
        try:
            complete = _crop_names(self.unlabelled / stream)
        except OSError:
            complete = set()  # removed since the folder was listed
        for name in folder.names - complete:
            self._drop(name)
        for name in complete - folder.names:
            crop = self._read(stream, name)
            if crop is not None:
                self.add(crop)
        folder.names = {name for name in complete if name in self.crops}

    def _read(self, stream: str, name: str) -> Crop | None:
        """The crop `name` of `stream`, or None (logged once per change of the file) when its
        record is not one."""
        path = self.unlabelled / stream / f"{name}{RECORD_SUFFIX}"
        try:
            mtime_ns = path.stat().st_mtime_ns
        except OSError:
            return None  # gone between the listing and the read
        if self._bad.get((stream, name)) == mtime_ns:
            return None
        try:
            check_crop_name(name)
            record = read_record(path)
            if (record.name, record.stream) != (name, stream):
                raise DatasetError(f"{path}: its record names {record.stream}/{record.name}")
        except DatasetError as error:
            log.warning("skipping a crop: %s", error)
            self._bad[(stream, name)] = mtime_ns
            return None
        self._bad.pop((stream, name), None)
        return Crop(stream, record)

    def add(self, crop: Crop) -> None:
        """Lists `crop` (again: after an undo)."""
        if crop.name in self.crops:
            self._drop(crop.name)
        self.crops[crop.name] = crop
        self.changes += 1
        bisect.insort(self._order, crop.key(self.skipped.get(crop.name, 0)))
        self._folders.setdefault(crop.stream, _Folder()).names.add(crop.name)

    def load(self, stream: str, name: str) -> Crop | None:
        """Reads and lists the crop `name` of `stream` (after an undo moved it back)."""
        crop = self._read(stream, name)
        if crop is not None:
            self.add(crop)
        return crop

    def remove(self, name: str) -> Crop | None:
        """Takes `name` off the listing (it was labelled or deleted)."""
        crop = self._drop(name)
        if crop is not None and crop.stream in self._folders:
            self._folders[crop.stream].names.discard(name)
        return crop

    def _drop(self, name: str) -> Crop | None:
        crop = self.crops.pop(name, None)
        if crop is not None:
            self.changes += 1
            key = crop.key(self.skipped.get(name, 0))
            index = bisect.bisect_left(self._order, key)
            if index < len(self._order) and self._order[index] == key:
                del self._order[index]
        return crop

    def set_skipped(self, name: str, sequence: int | None) -> None:
        """Moves `name` to the back (skipped at `sequence`) or, with None, back to its place."""
        crop = self._drop(name)
        if sequence is None:
            self.skipped.pop(name, None)
        else:
            self.skipped[name] = sequence
        if crop is not None:
            self.add(crop)

    def page(self, offset: int, limit: int) -> list[Crop]:
        return [self.crops[key[-1]] for key in self._order[offset : offset + limit]]

    def __len__(self) -> int:
        return len(self._order)

    # The class folders ------------------------------------------------------------------------

    def class_counts(self) -> dict[str, int]:
        """Images per class folder, in class order; a folder is counted again only once its
        mtime changed."""
        counts = {}
        for folder in class_folders(self.root):
            if folder.is_symlink() or not _is_class(folder.name):
                continue  # not a folder the page can label into
            mtime_ns = folder.stat().st_mtime_ns
            seen, count = self._classes.get(folder.name, (None, 0))
            if seen is None or seen.stale(mtime_ns):
                seen = _Folder()
                seen.seen(mtime_ns)
                with os.scandir(folder) as entries:
                    count = sum(
                        1
                        for entry in entries
                        if entry.name.endswith(IMAGE_SUFFIX)
                        and entry.is_file(follow_symlinks=False)
                    )
                self._classes[folder.name] = (seen, count)
            counts[folder.name] = count
        return counts
