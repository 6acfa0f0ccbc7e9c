"""Which model answers a stream's frame: a route, and a step's routes run with one batch per
model.

Owns the per-stream route: one model (large, small or a model name), or a
cascade (the small model first; the large one on the same frame when the
small one's top score is below `escalate_below`, or, with `escalate_margin`,
when its top score leads the second by less than that). Which route a
stream gets, `auto` included, is the router's decision (`visord.daemon.router`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from visord.daemon.config import CascadeConfig
from visord.daemon.inference.engine import Prediction
from visord.daemon.inference.preprocess import Roi

log = logging.getLogger(__name__)
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
    """The route over `models` (one, or small then large); a single model ignores the cascade
    settings."""
    if len(models) == 1:
        return Route(models)
    return Route(models, cascade.escalate_below, cascade.escalate_margin)


def run_routes(
    requests: Sequence[tuple[Route, Item]], classify: Classify
) -> list[tuple[Prediction, ...]]:
    """Each frame's answers by its own route, with one batch per model: a `small` stream's frame
    and a `cascade` stream's share the small model's batch, and a `large` stream's frame shares
    the large model's batch with the cascade's unsure frames. A model runs once no frame still
    waiting for another model could escalate to it.

    A frame's answers are its primary model's, then its second model's when it escalated: the last
    is the answer. A batch that raises is logged; its frames get no answer and the others go on."""
    chains: list[tuple[Prediction, ...]] = [()] * len(requests)
    waiting: dict[str, list[int]] = defaultdict(list)
    for index, (route, _) in enumerate(requests):
        waiting[route.primary].append(index)
    while waiting:
        model = _next_model(waiting, requests)
        indexes = waiting.pop(model)
        try:
            predictions = classify(model, [requests[index][1] for index in indexes])
        except Exception:  # one bad batch (odd frame, runtime error) must not stop the loop
            log.exception("inference failed model=%s frames=%d", model, len(indexes))
            for index in indexes:
                chains[index] = ()
            continue
        for index, prediction in zip(indexes, predictions):
            route = requests[index][0]
            chains[index] = (*chains[index], prediction)
            if model == route.primary and route.escalates(prediction):
                waiting[route.models[1]].append(index)
    return chains


def _next_model(waiting: dict[str, list[int]], requests: Sequence[tuple[Route, Item]]) -> str:
    """A waiting model that no unsure answer can still reach (any one if routes form a loop)."""
    reachable = {
        requests[index][0].models[1]
        for model, indexes in waiting.items()
        for index in indexes
        if requests[index][0].cascade and requests[index][0].primary == model
    }
    return next((model for model in waiting if model not in reachable), next(iter(waiting)))


def run_route(route: Route, items: Sequence[Item], classify: Classify) -> list[Prediction]:
    """The answers for frames that share one route (the evaluation scripts' entry point)."""
    return [chain[-1] for chain in run_routes([(route, item) for item in items], classify)]
