"""Which model answers a stream's frame: the seam the router plugs into.

Owns the per-stream route: `fixed` (large, small or a model name: one model)
and `cascade` (the small model first; the large one on the same frame when
the small one's top score is below `escalate_below`). The router issue adds
`auto` (a policy that picks among these under the hardware budget); until it
lands, `auto` runs as a cascade and says so once in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from daemon.engine import Prediction
from daemon.preprocess import Roi

log = logging.getLogger(__name__)
ESCALATE_BELOW = 0.6

Item = tuple[np.ndarray, Roi | None]  # a decoded frame and its stream's region of interest
Classify = Callable[[str, Sequence[Item]], list[Prediction]]


@dataclass(frozen=True)
class Route:
    """`models`: the first answers every frame; a second one (cascade) re-checks unsure answers."""

    models: tuple[str, ...]
    escalate_below: float = ESCALATE_BELOW

    @property
    def primary(self) -> str:
        return self.models[0]

    def escalates(self, prediction: Prediction) -> bool:
        return len(self.models) > 1 and prediction.score < self.escalate_below


def route_for(mode: str, models: tuple[str, ...], stream: str) -> Route:
    """The route of a stream whose config says `mode` and whose candidate models are `models` (small, large)."""
    if mode == "auto":
        log.info("stream=%s mode=auto runs as cascade until the router is configured", stream)
    return Route(models)


def run_route(route: Route, items: Sequence[Item], classify: Classify) -> list[Prediction]:
    """Predictions for frames that share a route: the primary model on all, the second on the unsure ones."""
    predictions = classify(route.primary, items)
    unsure = [index for index, prediction in enumerate(predictions) if route.escalates(prediction)]
    if unsure:
        second = classify(route.models[1], [items[index] for index in unsure])
        for index, prediction in zip(unsure, second):
            predictions[index] = prediction
    return predictions
