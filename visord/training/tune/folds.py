"""Stratified k-fold splits of labelled items.

Owns assigning every item to one of k folds so that each class is spread
evenly over the folds (round-robin over a seeded shuffle of each class, the
round-robin carried from class to class so the folds' sizes differ by at most
one). NumPy only: no TensorFlow, no scikit-learn.
"""

from __future__ import annotations

import numpy as np


def fold_of_each(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The fold (0..k-1) of every item."""
    labels = np.asarray(labels)
    counts = {int(c): int(np.sum(labels == c)) for c in np.unique(labels)}
    short = {c: n for c, n in counts.items() if n < k}
    if k < 2 or short:
        raise ValueError(
            f"cv: {k} needs k >= 2 and at least {k} items of every class; too few in classes "
            f"{short}"
        )
    rng = np.random.default_rng(seed)
    folds = np.empty(len(labels), dtype=np.int64)
    offset = 0
    for cls in sorted(counts):
        members = rng.permutation(np.flatnonzero(labels == cls))
        folds[members] = (np.arange(len(members)) + offset) % k
        offset += len(members)
    return folds


def stratified_folds(labels: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train indices, validation indices) for each of the k folds."""
    folds = fold_of_each(labels, k, seed)
    return [(np.flatnonzero(folds != f), np.flatnonzero(folds == f)) for f in range(k)]
