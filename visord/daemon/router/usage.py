"""What a plan costs, as a share of the hardware budget.

Owns the budget (`cpu_share` x cores, in CPU seconds per second, and the threads each model session
runs on) and the price of a plan: each stream's frames go to its models (a cascade sends its
escalated share on to the large model, estimated for each threshold the plan may choose; motion
gating removes the share of frames it skips and adds its own check on every frame), frames of one
model are priced at the batch size it has been getting (at most one frame per stream sending to
it), and a model's CPU is its wall-clock cost times its threads; the cameras' decoding under the
plan (`decoding.DecodeCosts.plan_cpu`) is CPU too. A plan uses the larger of its CPU share and its
share of the one engine loop's time (which runs one batch after another; decoding runs beside it,
on the readers' threads).
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from visord.daemon.config import DaemonConfig
from visord.daemon.router.costs import CostModel
from visord.daemon.router.ladder import Assignment


@dataclass(frozen=True)
class Budget:
    cpu_share: float
    cores: int
    threads: Mapping[str, int]  # model -> intra-op threads

    @property
    def cpu_seconds(self) -> float:
        """CPU seconds per second decoding and inference may use."""
        return self.cpu_share * self.cores

    def share(self, cpu_seconds: float, engine_seconds: float) -> float:
        """Per second of wall clock: the larger of the CPU budget used and the engine loop's busy
        time."""
        return max(cpu_seconds / self.cpu_seconds, engine_seconds)


def available_cores() -> int:
    """The CPUs this process may run on (its affinity, which containers and systemd's CPUAffinity=
    set)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def budget_of(config: DaemonConfig, cores: int | None = None) -> Budget:
    hardware = config.hardware
    cores = hardware.cores or cores or available_cores()
    default = hardware.session_threads(cores)
    return Budget(
        hardware.cpu_share,
        cores,
        {name: model.threads or default for name, model in config.models.items()},
    )


@dataclass(frozen=True)
class StreamLoad:
    """What a stream's frames have been doing: escalated share (cascade; `escalation_at` estimates
    it at each threshold the plan may choose), skipped share and check cost (motion)."""

    escalation: float = 0.0
    skipped: float = 0.0
    motion_seconds: float = 0.0
    escalation_at: Mapping[float, float] = field(default_factory=dict)

    def escalated(self, threshold: float | None) -> float:
        return self.escalation_at.get(threshold, self.escalation)


def plan_usage(
    plan: Mapping[str, Assignment],
    loads: Mapping[str, StreamLoad],
    costs: CostModel,
    models_for: Callable[[str], tuple[str, ...]],
    budget: Budget,
    decoding: float = 0.0,
    scale: float = 1.0,
) -> float:
    """The share of `budget` that `plan` uses at the current cost estimates, `decoding` (CPU
    seconds a second the cameras' decoding takes under `plan`) included; the estimated CPU of
    inference and motion checks is multiplied by `scale` (`LoadMeter.inference_scale`: what the
    process is measured to spend on them against the estimate)."""
    frames: dict[str, float] = defaultdict(float)  # model -> frames per second
    # model -> streams sending it frames (the most a batch holds)
    senders: dict[str, float] = defaultdict(float)
    overhead = 0.0
    for stream, assignment in plan.items():
        load = loads.get(stream, StreamLoad())
        classified = assignment.fps * (1.0 - load.skipped)
        overhead += assignment.fps * load.motion_seconds
        for position, model in enumerate(models_for(assignment.mode)):
            share = 1.0 if position == 0 else load.escalated(assignment.threshold)
            frames[model] += classified * share
            senders[model] += share
    engine = cpu = overhead
    for model, rate in frames.items():
        seconds = rate * costs.per_frame(
            model, costs.expected_batch(model, math.ceil(senders[model] - 1e-9))
        )
        engine += seconds
        cpu += seconds * budget.threads.get(model, 1)
    return budget.share(cpu * scale + decoding, engine)
