"""The budget actually used, measured: the process's own CPU time, and the engine loop's time.

Owns `LoadMeter`. `measure()` turns an interval into the share of the budget used
(`visord_router_budget_used_ratio`): the CPU the whole process spent (decoding, inference,
preprocessing, the loop, events: everything the box pays for) against the budget, or the share of
the interval the one engine loop was busy, whichever is larger. It is measured rather than
predicted, so frames the engine could not keep up with, and cores another process took, both
show.

Beside it, what the router predicts from: every inference batch adds its wall-clock seconds times
its model's threads, every motion check its seconds, each camera's reader its decoding CPU. A
model's wall-clock time times its threads is only an estimate of its CPU (threads wait, the loop
adds work of its own around each batch), so `inference_scale` is the running ratio of what the
process spent beyond decoding to that estimate: the plan prices inference with it, and so agrees
with what the process is measured to spend.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from visord.daemon.router.ewma import IntervalEwma
from visord.daemon.router.usage import Budget

# the range `inference_scale` is kept in: a measurement outside it is more likely another
# process's doing (or an interval with next to no inference) than the loop's
SCALE_RANGE = (0.25, 4.0)
# below this many predicted CPU seconds in an interval, the ratio says nothing about inference
MIN_PREDICTED = 0.05


class LoadMeter:
    def __init__(
        self,
        budget: Budget,
        now: float,
        process_cpu: Callable[[], float] = time.process_time,
        weight: float = 0.2,
    ):
        self.budget = budget
        self._process_cpu = process_cpu
        self._since = now
        self._process_since = process_cpu()
        self._cpu = 0.0  # predicted: inference x threads, motion checks
        self._engine = 0.0
        self._decoding = 0.0
        self.ratio = 0.0
        self._scale = IntervalEwma(weight, 1.0)

    @property
    def inference_scale(self) -> float:
        low, high = SCALE_RANGE
        return min(high, max(low, self._scale.value))

    def begin(self, now: float) -> None:
        """Starts a new interval now, forgetting the one under way: what a (re)configuration
        spends (loading models, timing them) is not the plan's load."""
        self._since, self._process_since = now, self._process_cpu()
        self._cpu = self._engine = self._decoding = 0.0

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
        self._decoding += cpu_seconds

    def measure(self, now: float) -> float:
        """The share of the budget used since the last measurement; starts the next interval."""
        elapsed = now - self._since
        if elapsed > 0:
            process = self._process_cpu()
            spent = process - self._process_since
            if self._cpu >= MIN_PREDICTED:
                self._scale.add(max(0.0, spent - self._decoding) / self._cpu)
                self._scale.fold()
            self.ratio = self.budget.share(spent / elapsed, self._engine / elapsed)
            self._since, self._process_since = now, process
            self._cpu = self._engine = self._decoding = 0.0
        return self.ratio
