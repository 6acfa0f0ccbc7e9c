"""A model's raw output to the scores the daemon uses: softmax of logits, and temperature scaling.

One owner for both halves: the engine turns every batch into scores here, and export measures
calibration on scores made the same way.
"""

from __future__ import annotations

import numpy as np

TINY = 1e-12  # floor before a log: a probability of exactly 0 stays finite


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def to_scores(output: np.ndarray, kind: str, temperature: float = 1.0) -> np.ndarray:
    """Probabilities from a graph's output (`kind` "logits" or "probabilities"), with the logits
    divided by `temperature` first (for probabilities, their logarithms)."""
    if kind == "logits":
        return softmax(output / temperature)
    if temperature == 1.0:
        return output
    return softmax(np.log(np.maximum(output, TINY)) / temperature)
