"""Temperature scaling: one number fitted on validation images so that a score means what it says.

A cascade escalates frames whose small-model score is below a threshold; that threshold means
something only when a score of 0.6 is right about 60% of the time. `calibrate` fits the
temperature that minimises the validation images' negative log-likelihood (golden-section search
on its logarithm: the likelihood has one optimum) and reports the expected calibration error
before and after. The argmax, and so the accuracy, is unchanged.
"""

from __future__ import annotations

import math

import numpy as np

from visord.contract.manifest import Calibration
from visord.contract.scores import TINY, to_scores

BINS = 15  # the usual number for expected calibration error
LOWEST, HIGHEST = 0.05, 20.0  # temperatures searched
STEPS = 60


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.maximum(picked, TINY))))


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS
) -> float:
    """The mean gap between confidence and accuracy over equal-width confidence bins, weighted by
    how many images fall in each."""
    confidence = probabilities.max(axis=-1)
    correct = probabilities.argmax(axis=-1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    def loss(log_t: float) -> float:
        scaled = to_scores(probabilities, "probabilities", math.exp(log_t))
        return negative_log_likelihood(scaled, labels)

    low, high = math.log(LOWEST), math.log(HIGHEST)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    loss_a, loss_b = loss(a), loss(b)
    for _ in range(STEPS):
        if loss_a < loss_b:
            high, b, loss_b = b, a, loss_a
            a = high - ratio * (high - low)
            loss_a = loss(a)
        else:
            low, a, loss_a = a, b, loss_b
            b = low + ratio * (high - low)
            loss_b = loss(b)
    return math.exp((low + high) / 2)


def calibrate(probabilities: np.ndarray, labels: np.ndarray) -> Calibration:
    """The fitted temperature and the expected calibration error before and after it."""
    temperature = fit_temperature(probabilities, labels)
    after = to_scores(probabilities, "probabilities", temperature)
    return Calibration(
        temperature=round(temperature, 4),
        ece_before=round(expected_calibration_error(probabilities, labels), 4),
        ece_after=round(expected_calibration_error(after, labels), 4),
        images=len(labels),
    )
