"""`Collector`: what the runtime hands each classified frame, and what it asks for metrics.

`offer` decides in the frame loop whether a frame is worth keeping (`choose`) and queues it for
the writer thread without waiting; a full queue drops the crop and counts it.
"""

from __future__ import annotations

from collections.abc import Sequence

from visord.daemon.collect.choose import Chooser
from visord.daemon.collect.writer import Candidate, Counts, CropWriter
from visord.daemon.config import CollectConfig
from visord.daemon.inference.engine import Prediction
from visord.daemon.inference.preprocess import Roi
from visord.daemon.metrics import (
    COLLECT_DROPPED,
    COLLECT_EVICTED,
    COLLECT_SAVED,
    Sample,
    SnapshotMetric,
)
from visord.daemon.sources.frames import Frame


class Collector:
    def __init__(self, settings: CollectConfig):
        self.settings = settings
        self.counts = Counts()
        self.writer = CropWriter(settings, self.counts) if settings.dataset else None
        # the class floor looks at the crops the writer saved, not only at the frames chosen
        self.chooser = Chooser(settings, self.writer.share if self.writer else None)

    def offer(
        self, stream: str, frame: Frame, roi: Roi | None, answers: Sequence[Prediction]
    ) -> None:
        """Considers a classified frame; never waits."""
        if self.writer is None or not answers or not self.settings.collects(stream):
            return
        reason = self.chooser.reason(stream, answers, frame.monotonic)
        if reason is None:
            return
        candidate = Candidate(stream, frame.image, roi, tuple(answers), reason, frame.wall)
        if not self.writer.submit(candidate):
            self.counts.add(self.counts.dropped, (stream, "queue_full"))

    def reconfigure(self, settings: CollectConfig) -> None:
        """A reloaded `collect:` section: a new data set folder or queue starts a new writer."""
        if settings == self.settings:
            return
        restart = (settings.dataset, settings.queue) != (self.settings.dataset, self.settings.queue)
        if restart and self.writer is not None:
            self.writer.close()
        self.settings = self.chooser.settings = settings
        if restart:
            self.writer = CropWriter(settings, self.counts) if settings.dataset else None
            self.chooser.shares = self.writer.share if self.writer else None
        elif self.writer is not None:
            self.writer.settings = settings

    def forget(self, stream: str) -> None:
        self.chooser.forget(stream)

    def close(self, timeout: float = 3.0) -> None:
        if self.writer is not None:
            self.writer.close(timeout)

    def snapshot(self) -> list[SnapshotMetric]:
        saved, dropped, evicted = self.counts.copy()
        return [
            COLLECT_SAVED.of([Sample(key, float(n)) for key, n in sorted(saved.items())]),
            COLLECT_DROPPED.of([Sample(key, float(n)) for key, n in sorted(dropped.items())]),
            COLLECT_EVICTED.of([Sample(key, float(n)) for key, n in sorted(evicted.items())]),
        ]
