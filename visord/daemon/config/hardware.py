"""The `hardware:` budget and the `router:` knobs that spend it.

Owns the share of this box's CPU that decoding and inference may use, the inference
threads per model session, the optional cost table (milliseconds per frame
by batch size, for models whose cost the operator states rather than have
visord measure), and the planner's timing: how often it replans, its
hysteresis band and the minimum time a stream keeps a mode before an upgrade.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from visord.daemon.config.base import Name, Strict

# The share of the budget the last plan measured used from which `spin: auto` models spin.
SPIN_ABOVE = 0.9

BatchCosts = Annotated[
    dict[Annotated[int, Field(ge=1, le=1024)], Annotated[float, Field(gt=0, le=60_000)]],
    Field(min_length=1),
]


class HardwareConfig(Strict):
    """What decoding and inference may use of this box."""

    cpu_share: float = Field(
        0.75,
        gt=0,
        le=1,
        description="Share of the cores decoding and inference may use together (0.75 of 4 cores "
        "= 3 cores).",
    )
    cores: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="Cores to count (default: the CPUs this process may run on).",
    )
    threads: int | None = Field(
        None,
        ge=1,
        le=256,
        description="Intra-op threads per model session (default: cpu_share x cores, "
        "rounded up); a model's own `threads:` wins.",
    )
    spin: bool | Literal["auto"] = Field(
        "auto",
        description="Whether onnxruntime's threads spin waiting for the next batch: faster when "
        "inference runs flat out, CPU taken from everything else at ordinary load. auto: spin "
        f"only while the last plan measured the budget at least {SPIN_ABOVE:.0%} used "
        "(bench/spinning.py measures the three).",
    )
    costs: dict[Name, BatchCosts] = Field(
        default_factory=dict,
        description="Milliseconds of inference per frame by batch size, per model "
        "(e.g. {large: {1: 12.0, 8: 6.5}}). A listed model is not measured and its cost is not "
        "adapted.",
    )

    def session_threads(self, cores: int) -> int:
        """Threads for a model without its own `threads:`, on a box with `cores` cores."""
        return self.threads or max(1, math.ceil(self.cpu_share * cores))


class RouterConfig(Strict):
    """How the router plans: its period, hysteresis band and dwell time."""

    replan_interval: float = Field(5.0, gt=0, le=3600, description="Seconds between plans.")
    upgrade_below: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Upgrade a stream only when the upgraded plan uses at most this share of the "
        "budget.",
    )
    downgrade_above: float = Field(
        1.0,
        gt=0,
        le=2,
        description="Downgrade when the current plan uses more than this share of the budget.",
    )
    min_dwell: float = Field(
        30.0,
        ge=0,
        le=86_400,
        description="Seconds a stream keeps a mode or rate before it is upgraded again.",
    )
    smoothing: float = Field(
        0.2,
        gt=0,
        le=1,
        description="Weight of each new measurement in the running averages (EWMA) of costs, "
        "escalation and motion.",
    )

    @model_validator(mode="after")
    def _band(self) -> RouterConfig:
        if self.upgrade_below >= self.downgrade_above:
            raise ValueError(
                f"upgrade_below ({self.upgrade_below:g}) must be below downgrade_above "
                f"({self.downgrade_above:g}): the gap between them is what stops flapping"
            )
        return self
