"""Running averages of ratios, one measurement per interval.

Owns `IntervalEwma`: numerators and denominators are added as events happen
(seconds observed and seconds expected, escalated and classified frames, ...);
`fold()` turns the interval's total ratio into one exponentially weighted
step. Averaging per interval rather than per event means one slow batch
among many barely moves the estimate, and the weight means the same thing
whatever the frame rate.
"""

from __future__ import annotations


class IntervalEwma:
    """An EWMA of `numerator / denominator` per interval; `value` is `initial` until the first
    measurement."""

    def __init__(self, weight: float, initial: float | None = None):
        if not 0 < weight <= 1:
            raise ValueError(f"weight must be in (0, 1], received weight={weight!r}")
        self.weight = weight
        self.value = initial
        self._numerator = self._denominator = 0.0

    def add(self, numerator: float, denominator: float = 1.0) -> None:
        self._numerator += numerator
        self._denominator += denominator

    @property
    def pending(self) -> bool:
        """Whether the current interval has a measurement to fold."""
        return self._denominator > 0

    def fold(self) -> float | None:
        """Ends the interval: its ratio moves `value` by `weight` (or sets it, the first time)."""
        if self.pending:
            ratio = self._numerator / self._denominator
            self.value = (
                ratio if self.value is None else self.value + self.weight * (ratio - self.value)
            )
        self._numerator = self._denominator = 0.0
        return self.value
