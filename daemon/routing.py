"""Which model answers a stream's frame: a route, and running one on a batch of frames.

Owns the per-stream route: one model (large, small or a model name), or a
cascade (the small model first; the large one on the same frame when the
small one's top score is below `escalate_below`, or, with `escalate_margin`,
when its top score leads the second by less than that). Which route a
stream gets, `auto` included, is the router's decision (`daemon.router`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from daemon.config import CascadeConfig
from daemon.engine import Prediction
from daemon.preprocess import Roi

Item = tuple[np.ndarray, Roi | None]  # a decoded frame and its stream's region of interest
Classify = Callable[[str, Sequence[Item]], list[Prediction]]


@dataclass(frozen=True)
class Route:
    """`models`: the first answers every frame; a second one (cascade) re-checks unsure answers."""

    models: tuple[str, ...]
    escalate_below: float = 0.0
    escalate_margin: float | None = None

    @property
    def primary(self) -> str:
        return self.models[0]

    @property
    def cascade(self) -> bool:
        return len(self.models) > 1

    def escalates(self, prediction: Prediction) -> bool:
        if not self.cascade:
            return False
        if prediction.score < self.escalate_below:
            return True
        if self.escalate_margin is None or prediction.probabilities.size < 2:
            return False
        second = float(np.partition(prediction.probabilities, -2)[-2])
        return prediction.score - second < self.escalate_margin

    def escalated(self, prediction: Prediction) -> bool:
        """Whether this route's answer came from its second model."""
        return self.cascade and prediction.model == self.models[1]


def route_for(models: tuple[str, ...], cascade: CascadeConfig) -> Route:
    """The route over `models` (one, or small then large); a single model ignores the cascade settings."""
    if len(models) == 1:
        return Route(models)
    return Route(models, cascade.escalate_below, cascade.escalate_margin)


def run_route(route: Route, items: Sequence[Item], classify: Classify) -> list[Prediction]:
    """Predictions for frames that share a route: the primary model on all, the second on the unsure ones."""
    predictions = classify(route.primary, items)
    unsure = [index for index, prediction in enumerate(predictions) if route.escalates(prediction)]
    if unsure:
        second = classify(route.models[1], [items[index] for index in unsure])
        for index, prediction in zip(unsure, second):
            predictions[index] = prediction
    return predictions
