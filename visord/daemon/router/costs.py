"""What each model costs per frame, by batch size, on this box now.

Owns the estimates the planner prices plans with. Each model has a base
curve (seconds per frame at some batch sizes, linear in between): measured
at start-up by timing the engine's classify path on camera-sized frames, or
given by the config's `hardware.costs` table. A measured model's curve is
then scaled by a live factor, the EWMA of observed / expected seconds over
each replan interval (the first interval with live batches sets it outright:
start-up times the model alone, the loop shares the box with its cameras),
so a box that gets slower (another process taking the
cores, thermal throttling) shows up as dearer models. A model listed in the
table keeps the table's values. A measured model nothing has run for a while
is `stale`: the runtime times it once on a real frame (a probe), so an idle
large model's estimate recovers when the load goes away.

It also keeps the batch size each model actually gets (an EWMA): frames of
cameras that tick independently seldom meet in one batch unless the engine
is busy, so a plan is priced at the batches seen (1 until seen), never at
the batch its number of streams could make.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from visord.contract.latency import median_seconds
from visord.daemon.router.ewma import IntervalEwma

BATCH_SIZES = (1, 2, 4, 8)
# what start-up measures on: a VGA camera frame, preprocessing included
CAMERA_FRAME = (480, 640, 3)


class Classifier(Protocol):
    def classify(self, frames: Sequence[np.ndarray]) -> object: ...


@dataclass(frozen=True)
class BatchCurve:
    """Seconds per frame by batch size: linear between the sizes given, flat beyond them."""

    sizes: tuple[int, ...]
    seconds: tuple[float, ...]

    @classmethod
    def of(cls, points: Mapping[int, float]) -> BatchCurve:
        if not points or any(size < 1 or value <= 0 for size, value in points.items()):
            raise ValueError(
                f"a cost curve needs batch sizes >= 1 with costs > 0, received {dict(points)!r}"
            )
        sizes = tuple(sorted(points))
        return cls(sizes, tuple(float(points[size]) for size in sizes))

    def at(self, batch: float) -> float:
        index = bisect.bisect_left(self.sizes, batch)
        if index == 0:
            return self.seconds[0]
        if index == len(self.sizes):
            return self.seconds[-1]
        low = self.sizes[index - 1]
        high = self.sizes[index]
        share = (batch - low) / (high - low)
        return self.seconds[index - 1] + share * (self.seconds[index] - self.seconds[index - 1])


def table_curve(milliseconds: Mapping[int, float]) -> BatchCurve:
    """The config's `hardware.costs` entry (milliseconds per frame by batch size) as a curve."""
    return BatchCurve.of({size: value / 1000.0 for size, value in milliseconds.items()})


def measure_curve(
    model: Classifier,
    sizes: Sequence[int] = BATCH_SIZES,
    runs: int = 5,
    warmup: int = 2,
    frame: tuple[int, int, int] = CAMERA_FRAME,
) -> BatchCurve:
    """Times `model.classify` on random camera-sized frames at each batch size: seconds per
    frame."""
    frames = list(np.random.default_rng(0).integers(0, 256, (max(sizes), *frame), dtype=np.uint8))
    return BatchCurve.of(
        {
            size: median_seconds(lambda n=size: model.classify(frames[:n]), runs, warmup) / size
            for size in sizes
        }
    )


@dataclass
class ModelCost:
    curve: BatchCurve
    fixed: bool
    factor: IntervalEwma
    batch: IntervalEwma
    last_seen: float = field(default=0.0)


class CostModel:
    """Per-frame cost estimates of the loaded models; `smoothing` is the EWMA weight of one
    interval."""

    def __init__(self, smoothing: float):
        self.smoothing = smoothing
        self._models: dict[str, ModelCost] = {}

    def set(self, model: str, curve: BatchCurve, fixed: bool, now: float) -> None:
        """A model's base curve; `fixed` (from the config's table) turns off live adaptation."""
        self._models[model] = ModelCost(
            curve, fixed, IntervalEwma(self.smoothing), IntervalEwma(self.smoothing, 1.0), now
        )

    def drop(self, model: str) -> None:
        self._models.pop(model, None)

    def __contains__(self, model: object) -> bool:
        return model in self._models

    @property
    def models(self) -> list[str]:
        return list(self._models)

    def is_fixed(self, model: str) -> bool:
        return self._models[model].fixed

    def observe(self, model: str, batch: int, seconds: float, now: float) -> None:
        """A live batch of `batch` frames took `seconds` (wall clock, preprocessing included)."""
        cost = self._models.get(model)
        if cost is None:
            return
        cost.batch.add(batch)
        if not cost.fixed:
            cost.factor.add(seconds, cost.curve.at(batch) * batch)
            cost.last_seen = now

    def fold(self) -> None:
        """Ends a replan interval: each model's observations move its live factor and its batch
        size."""
        for cost in self._models.values():
            cost.factor.fold()
            cost.batch.fold()

    def expected_batch(self, model: str, streams: float) -> float:
        """The batch `model` may expect from `streams` streams: the batches seen so far, at most one
        per stream."""
        return max(1.0, min(streams, self._models[model].batch.value))

    def per_frame(self, model: str, batch: float = 1) -> float:
        """Estimated seconds per frame when `model` runs batches of `batch` frames."""
        cost = self._models[model]
        factor = 1.0 if cost.factor.value is None else cost.factor.value
        return cost.curve.at(max(1.0, batch)) * factor

    def stale(self, now: float, after: float) -> list[str]:
        """Measured models nothing has run for `after` seconds: worth a probe."""
        return [
            name
            for name, cost in self._models.items()
            if not cost.fixed and now - cost.last_seen >= after
        ]

    def estimates(self) -> dict[str, dict[int, float]]:
        """Seconds per frame at the usual batch sizes, per model (for
        `visord_model_cost_seconds`)."""
        return {
            name: {size: self.per_frame(name, size) for size in BATCH_SIZES}
            for name in self._models
        }
