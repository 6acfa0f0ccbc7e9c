"""Diverse and balanced collection: which crops of a region to keep within an hour's budget.

The writer thread asks a `Region` (one per stream and hour of the clock) about each crop before
writing it; nothing here runs in the frame loop. Two crops differ by the collector's own measure
(`difference`: the share of pixels of their 64-pixel-wide grey thumbnails that moved by more than
25 grey levels, `visord.contract.likeness.changed_share`).

- **Diversity** (`collect.diversity`): while the hour's budget (`per_hour`) has room, a crop is kept
  when it differs from every crop kept this hour by more than `min_difference`. Once the budget
  is full, a crop more different from the kept ones than the least different kept crop (the one
  closest to another kept crop) replaces it, and that crop's file is removed; a crop labelled (or
  deleted) in the meantime is no longer in `unlabelled/` and is never replaced, but still counts.
- **Class floor** (`collect.class_floor`): a crop whose sure class (the models agree and the first
  is not unsure: `visord.daemon.collect.choose.sure_class`) is below the floor share of the
  region's crops kept this hour is kept whatever its novelty, and a crop whose class would fall
  below the floor without it is never replaced. An unsure crop counts towards no class.

Memory: one thumbnail (about 12 kB) per crop kept this hour, per region, with diversity on; the
class floor alone keeps counts only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from visord.contract.likeness import changed_share
from visord.daemon.config.collect import DiversityConfig

HOUR = 3600.0  # seconds of a budget's window, aligned to the clock


def difference(a: np.ndarray, b: np.ndarray) -> float:
    """The share of pixels that differ between two thumbnails (1 when their shapes differ)."""
    return changed_share(a, b)


def window_of(wall: float) -> int:
    """The hour of the clock `wall` (seconds since the epoch) falls in."""
    return int(wall // HOUR)


@dataclass(eq=False)
class Kept:
    """A crop kept this hour: its name, thumbnail, predicted class, and the difference to the
    kept crop most like it."""

    name: str
    small: np.ndarray | None
    label: str | None  # its sure class; None: unsure
    nearest: float = 1.0
    partner: str | None = None
    fixed: bool = False  # labelled, deleted or trimmed since: it counts, it is never replaced


@dataclass(frozen=True)
class Verdict:
    """What to do with a crop: keep it or not, the kept crop it replaces, and why."""

    keep: bool
    novelty: float  # its difference to the most alike kept crop (1 when none is kept)
    replaces: Kept | None = None
    floor: bool = False  # kept for the class floor
    distances: dict[str, float] = field(default_factory=dict)


class Region:
    """One stream's crops kept in one hour of the clock."""

    def __init__(self, window: int):
        self.window = window
        self.kept: list[Kept] = []
        self.counts: Counter[str | None] = Counter()  # crops kept this hour by sure class

    def share(self, label: str | None) -> float:
        total = sum(self.counts.values())
        return self.counts[label] / total if total else 0.0

    def below_floor(self, label: str | None, floor: float) -> bool:
        """Whether a crop of `label` is needed to keep the class at its floor share."""
        return floor > 0 and label is not None and self.share(label) < floor

    def judge(
        self,
        small: np.ndarray,
        label: str | None,
        budget: DiversityConfig | None,
        floor: float,
        replaceable: Callable[[str], bool] = lambda name: True,
    ) -> Verdict:
        """Whether to keep a crop with thumbnail `small` and sure class `label`. `replaceable(name)`
        says whether a kept crop may still be removed (it is still unlabelled)."""
        needed = self.below_floor(label, floor)
        if budget is None:
            return Verdict(True, 1.0, floor=needed)
        distances = {kept.name: difference(small, kept.small) for kept in self.kept}
        novelty = min(distances.values(), default=1.0)
        if len(self.kept) < budget.per_hour:
            keep = needed or novelty > budget.min_difference
            return Verdict(keep, novelty, floor=needed and keep, distances=distances)
        victim = self._victim(label, floor, needed, replaceable)
        if victim is None:
            return Verdict(False, novelty)
        keep = needed or (novelty > budget.min_difference and novelty > victim.nearest)
        return Verdict(keep, novelty, victim if keep else None, needed and keep, distances)

    def _victim(
        self, label: str | None, floor: float, needed: bool, replaceable: Callable[[str], bool]
    ) -> Kept | None:
        """The least different kept crop that may go: still unlabelled, and not one its class
        needs for its floor (for a crop kept for the floor, of another class)."""
        total = sum(self.counts.values())  # as `share` counts
        for kept in sorted(self.kept, key=lambda kept: kept.nearest):
            if kept.fixed:
                continue
            if (
                kept.label != label
                and kept.label is not None
                and floor > 0
                and (self.counts[kept.label] - 1) / total < floor
            ):
                continue
            if needed and kept.label == label:
                continue
            if not replaceable(kept.name):
                kept.fixed = True
                continue
            return kept
        return None

    def add(self, name: str, small: np.ndarray | None, label: str | None, verdict: Verdict) -> None:
        """Records a crop written after `verdict`; its thumbnail `small` only with diversity on
        (None: the class floor alone, counts only)."""
        self.counts[label] += 1
        if small is None:
            return
        new = Kept(name, small, label)
        for kept in self.kept:
            distance = verdict.distances.get(kept.name)
            if distance is None:  # judged without a budget (diversity just turned on)
                distance = difference(small, kept.small)
            if distance < kept.nearest:
                kept.nearest, kept.partner = distance, name
            if distance < new.nearest:
                new.nearest, new.partner = distance, kept.name
        self.kept.append(new)

    def remove(self, gone: Kept) -> None:
        """Forgets a replaced crop; the crops it was nearest to find their next nearest."""
        self.kept.remove(gone)
        self.counts[gone.label] -= 1
        for kept in self.kept:
            if kept.partner == gone.name:
                kept.nearest, kept.partner = 1.0, None
                for other in self.kept:
                    if other is not kept:
                        distance = difference(kept.small, other.small)
                        if distance < kept.nearest:
                            kept.nearest, kept.partner = distance, other.name
