"""The budget actually used, measured from the engine's own time.

Owns `LoadMeter`: every inference batch adds its wall-clock seconds (and
those times its model's threads, as CPU), every motion check its seconds,
each camera's reader the CPU seconds it spent decoding;
`measure()` turns the interval's totals into the share of the budget used
(`visord_router_budget_used_ratio`). It is measured rather than predicted,
so frames the engine could not keep up with, and cores another process
took (batches get slower), both show.
"""

from __future__ import annotations

from visord.daemon.router.usage import Budget


class LoadMeter:
    def __init__(self, budget: Budget, now: float):
        self.budget = budget
        self._since = now
        self._cpu = 0.0
        self._engine = 0.0
        self.ratio = 0.0

    def inference(self, model: str, seconds: float) -> None:
        self._engine += seconds
        self._cpu += seconds * self.budget.threads.get(model, 1)

    def overhead(self, seconds: float) -> None:
        """Single-threaded work the router adds (motion checks)."""
        self._engine += seconds
        self._cpu += seconds

    def decoding(self, cpu_seconds: float) -> None:
        """CPU a camera's reader thread spent reading, decoding and converting frames (beside the
        engine loop, so not its time)."""
        self._cpu += cpu_seconds

    def measure(self, now: float) -> float:
        """The share of the budget used since the last measurement; starts the next interval."""
        elapsed = now - self._since
        if elapsed > 0:
            self.ratio = self.budget.share(self._cpu / elapsed, self._engine / elapsed)
            self._since = now
            self._cpu = 0.0
            self._engine = 0.0
        return self.ratio
