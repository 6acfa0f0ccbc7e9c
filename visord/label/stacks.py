"""Stacks: the unlabelled crops of one region that look alike, shown as one tile with a count.

Each crop is compared on a small grey thumbnail (`WIDTH` pixels across, area averaging), by the
measure the collector uses to drop near-duplicates, `visord.contract.likeness.changed_share`: the
share of pixels that moved by more than `NOISE_LEVELS` grey levels (`_Covers.closest` computes
the same on a block of covers at once, with OpenCV's saturating arithmetic on uint8).

Grouping walks the listing in its order (most uncertain first). A crop joins the stack of its own
stream whose cover (its first crop, the one the page shows) it differs from least, when that
difference is at most the threshold; otherwise it starts a stack of its own. So a stack sits
where its cover would in the listing, and every member is within the threshold of the cover
(stacks do not chain: an empty lawn slowly darkening ends up in several stacks, not one). A crop
is compared with the last `MAX_COVERS` stacks of its stream at most, so that the cost stays
bounded on a large listing. Threshold 0 turns stacks off: one crop a tile.

The stacks come in one of three orders (`ORDERS`): `uncertain`, the listing's (the stack of the
most uncertain crop first); `stream`, by stream and then time, oldest first, so that the crops
of someone crossing a region sit side by side; `change`, the least different from their
stream's usual look first (the cover of the stream's largest stack), so that a page reads from
the empty scene to the busiest, and one range or two select all of one kind. In each order,
stacks whose crops were all skipped come last.

Thumbnails are made once per crop (the JPEG read through `paths.resolve`, never a symlink) and
kept while the crop is listed; a grouping is kept until the listing or the threshold changes.
Not thread-safe: the caller (`actions.Labeller`) holds its lock.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

import cv2
import numpy as np

from visord.contract.dataset import IMAGE_SUFFIX, UNLABELLED
from visord.contract.likeness import NOISE_LEVELS, WIDTH, changed_share
from visord.label.listing import Crop, Listing
from visord.label.paths import Refused, resolve

DEFAULT_THRESHOLD = 0.005  # share of a thumbnail's pixels that may differ within a stack
MAX_COVERS = 256  # stacks of a stream a crop is compared with, the most recent first
ORDERS = ("uncertain", "stream", "change")


def thumbnail(jpeg: bytes, width: int = WIDTH) -> np.ndarray | None:
    """A JPEG as a small grey image (uint8) `width` pixels across, or None when it does not
    decode."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None or image.size == 0:
        return None
    height = max(1, round(width * image.shape[0] / image.shape[1]))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


@dataclass
class Stack:
    """Crops of one stream within the threshold of the first one (the cover), in listing order."""

    members: list[Crop]

    @property
    def cover(self) -> Crop:
        return self.members[0]


class _Covers:
    """The covers of one stream's stacks (of one thumbnail size) and their thumbnails."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.stacks: list[Stack] = []
        self.size = int(np.prod(shape))
        self.images = np.empty((16, self.size), np.uint8)  # one flattened thumbnail a row

    def closest(self, small: np.ndarray, threshold: float) -> Stack | None:
        """The stack whose cover `small` differs least from, when at most `threshold` (OpenCV's
        saturating arithmetic on uint8 rows: a few times faster than NumPy's on floats)."""
        count = len(self.stacks)
        if count == 0:
            return None
        first = max(0, count - MAX_COVERS)
        block = self.images[first:count]
        row = np.ascontiguousarray(np.broadcast_to(small.reshape(1, -1), block.shape))
        _, moved = cv2.threshold(cv2.absdiff(block, row), NOISE_LEVELS, 1, cv2.THRESH_BINARY)
        shares = cv2.reduce(moved, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel() / self.size
        best = int(np.argmin(shares))
        return self.stacks[first + best] if shares[best] <= threshold else None

    def add(self, stack: Stack, small: np.ndarray) -> None:
        count = len(self.stacks)
        if count == len(self.images):
            grown = np.empty((count * 2, self.size), np.uint8)
            grown[:count] = self.images
            self.images = grown
        self.images[count] = small.reshape(-1)
        self.stacks.append(stack)


class Stacker:
    """The listing's crops in stacks, for one threshold at a time."""

    def __init__(self, listing: Listing) -> None:
        self.listing = listing
        self._thumbnails: dict[str, np.ndarray | None] = {}
        self._grouped: tuple[float, frozenset[str], list[Stack]] | None = None
        self._cached: tuple[int, float, str, list[Stack]] | None = None

    def stacks(self, threshold: float, order: str = "uncertain") -> list[Stack]:
        """Every unlabelled crop in a stack, the stacks in `order` (one of `ORDERS`)."""
        changes = self.listing.changes
        if self._cached is not None and self._cached[:3] == (changes, threshold, order):
            return self._cached[3]
        stacks = self._regroup(threshold)
        if order == "stream":
            stacks = sorted(stacks, key=lambda stack: (stack.cover.stream, stack.cover.name))
        elif order == "change":
            stacks = self._by_change(stacks)
        elif order != "uncertain":
            raise ValueError(f"order must be one of {', '.join(ORDERS)}")
        # Whatever the order, stacks skipped whole go last, as skipped crops do in the listing.
        skipped = self.listing.skipped
        stacks = sorted(stacks, key=lambda stack: all(c.name in skipped for c in stack.members))
        self._cached = (changes, threshold, order, stacks)
        return stacks

    def _regroup(self, threshold: float) -> list[Stack]:
        """The grouping: made again when the threshold changed or a crop was added (collected,
        or back after an undo); when crops only left (labelled, deleted) they leave their
        stacks, and a stack whose cover left shows its next crop, so labelling never waits for
        a new grouping. A skip moves no crop between stacks."""
        names = frozenset(self.listing.crops)
        if self._grouped is not None and self._grouped[0] == threshold:
            _, before, stacks = self._grouped
            if names == before:
                return stacks
            if names < before:
                stacks = [
                    Stack(kept)
                    for stack in stacks
                    if (kept := [crop for crop in stack.members if crop.name in names])
                ]
                self._grouped = (threshold, names, stacks)
                return stacks
        self._grouped = (threshold, names, self._group(threshold))
        return self._grouped[2]

    def _by_change(self, stacks: list[Stack]) -> list[Stack]:
        """The stacks least different from their stream's largest stack first (ties: more
        crops first, then the listing's order)."""
        usual: dict[str, Stack] = {}
        for stack in stacks:
            known = usual.get(stack.cover.stream)
            if known is None or len(stack.members) > len(known.members):
                usual[stack.cover.stream] = stack

        def change(stack: Stack) -> float:
            mine = self._thumbnail(stack.cover)
            reference = self._thumbnail(usual[stack.cover.stream].cover)
            if mine is None or reference is None:
                return 1.0
            return changed_share(mine, reference)

        keys = {id(stack): (change(stack), -len(stack.members)) for stack in stacks}
        return sorted(stacks, key=lambda stack: keys[id(stack)])

    def _group(self, threshold: float) -> list[Stack]:
        crops = self.listing.page(0, len(self.listing))
        stacks: list[Stack] = []
        if threshold <= 0:
            stacks = [Stack([crop]) for crop in crops]
        else:
            # Per stream and thumbnail size: the covers' thumbnails in one growing array, to
            # compare a crop with the most recent `MAX_COVERS` of them at once.
            covers: dict[tuple[str, tuple[int, ...]], _Covers] = {}
            for crop in crops:
                small = self._thumbnail(crop)
                if small is None:
                    stacks.append(Stack([crop]))  # unreadable: it stands alone
                    continue
                own = covers.setdefault((crop.stream, small.shape), _Covers(small.shape))
                chosen = own.closest(small, threshold)
                if chosen is not None:
                    chosen.members.append(crop)
                    continue
                stack = Stack([crop])
                stacks.append(stack)
                own.add(stack, small)
        # Thumbnails of crops no longer listed (labelled, deleted) are let go.
        for name in set(self._thumbnails) - set(self.listing.crops):
            del self._thumbnails[name]
        return stacks

    def _thumbnail(self, crop: Crop) -> np.ndarray | None:
        if crop.name not in self._thumbnails:
            self._thumbnails[crop.name] = _read_thumbnail(self.listing, crop)
        return self._thumbnails[crop.name]


def _read_thumbnail(listing: Listing, crop: Crop) -> np.ndarray | None:
    """The crop's thumbnail, read through the path gate (no symlink, nothing outside); None when
    it cannot be read or decoded (the crop then stands alone)."""
    try:
        path = resolve(listing.root, [UNLABELLED, crop.stream, crop.name + IMAGE_SUFFIX], "file")
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except (Refused, OSError):
        return None
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        return thumbnail(handle.read())
