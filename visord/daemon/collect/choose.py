"""Why a classified frame is worth a label, from its answers alone: cheap enough for the frame loop.

A frame the cascade's two models disagree on teaches the most, then one its first model doubts,
then the first frame of a new label; a baseline sample every `every` seconds keeps the ordinary
scene in the data set too. Nothing closer than `min_interval` to the stream's last kept frame.

With `class_floor`, a frame none of those keeps is kept all the same (as `baseline`: a sample of
the scene kept whatever the model's doubt) when its sure class (`sure_class`: the models agree and
the first is not unsure) is below the floor share of the crops kept for that stream (`shares`:
the writer's crops of this hour when the collector wires it, else the frames chosen here): when
the unsure frames are all of one class (people walking through), the scenes the model is sure of
(empty) are kept too. An unsure frame counts towards no class: a model that doubts is often wrong
(a young model calls people `empty` with a low score), and counting its answer would fill the
floor with them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence

from visord.contract.dataset import Reason
from visord.daemon.config import CollectConfig
from visord.daemon.inference.engine import Prediction


def sure_class(answers: Sequence[Prediction], unsure_below: float) -> str | None:
    """The class the answers agree on with the first model sure of it, else None."""
    first, last = answers[0], answers[-1]
    if first.label != last.label or first.score < unsure_below:
        return None
    return last.label


class Chooser:
    """One per collector; remembers each stream's last label and when it last kept a frame."""

    def __init__(self, settings: CollectConfig, shares: Callable[[str, str], float] | None = None):
        self.settings = settings
        self.shares = shares  # (stream, class) -> share of the crops kept: the writer's view
        self._labels: dict[str, str] = {}
        self._kept_at: dict[str, float] = {}
        self._baseline_at: dict[str, float] = {}
        self._classes: dict[str, Counter[str | None]] = {}  # kept per stream, by sure class

    def reason(self, stream: str, answers: Sequence[Prediction], now: float) -> Reason | None:
        """Why to keep this frame (and it counts as kept), or None."""
        settings = self.settings
        first = answers[0]
        last = answers[-1]
        previous, self._labels[stream] = self._labels.get(stream), last.label
        if now - self._kept_at.get(stream, -math.inf) < settings.min_interval:
            return None
        reason: Reason | None = None
        if settings.disagree and len(answers) > 1 and first.label != last.label:
            reason = "disagree"
        elif first.score < settings.unsure_below:
            reason = "unsure"
        elif settings.after_change and previous is not None and previous != last.label:
            reason = "change"
        elif settings.every and now - self._baseline_at.get(stream, -math.inf) >= settings.every:
            reason = "baseline"
            self._baseline_at[stream] = now
        sure = sure_class(answers, settings.unsure_below)
        if reason is None and sure is not None and self.share(stream, sure) < settings.class_floor:
            reason = "baseline"
        if reason is not None:
            self._kept_at[stream] = now
            self._classes.setdefault(stream, Counter())[sure] += 1  # None: unsure, no class
        return reason

    def share(self, stream: str, label: str) -> float:
        """The share of `stream`'s kept crops surely `label` (0 before any was kept): from
        `shares` when given (the crops the writer saved, not the frames chosen here, which it may
        drop as near-duplicates), else from the frames chosen here."""
        if self.shares is not None:
            return self.shares(stream, label)
        kept = self._classes.get(stream)
        total = sum(kept.values()) if kept else 0
        return kept[label] / total if total else 0.0

    def forget(self, stream: str) -> None:
        for memory in (self._labels, self._kept_at, self._baseline_at, self._classes):
            memory.pop(stream, None)
