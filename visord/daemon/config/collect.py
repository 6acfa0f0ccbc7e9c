"""The `collect:` section: which classified frames are saved as crops worth labelling, and where.

Collecting is off until `dataset` names a folder. The crops of the streams in `streams` (every
enabled stream when it is absent) go to `DATASET/unlabelled/<stream>/`, laid out as
`visord.contract.dataset` says, for `visord label`.

Two optional shapers of what is kept (both off by default, which keeps every kept frame that is
not a near-duplicate of the stream's last crop): `diversity` keeps, per region and per hour, at
most `per_hour` crops, each more different from the others than `min_difference` (a candidate
more different than the least different kept crop replaces it); `class_floor` keeps a floor share
of each predicted class per region, so that one class filling the unsure crops does not starve
the others.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from visord.daemon.config.base import Name, Strict, unique


class DiversityConfig(Strict):
    """A diversity budget: the crops most different from each other, per region and per hour."""

    per_hour: int = Field(
        ...,
        ge=1,
        le=5000,
        description="Crops kept per region (stream) and per hour of the clock, at most.",
    )
    min_difference: float = Field(
        0.01,
        gt=0,
        le=1,
        description="Share of a crop's pixels that must differ from every crop kept this hour "
        "for the same region (the collector's measure: grey levels on a 64-pixel-wide thumbnail).",
    )


class CollectConfig(Strict):
    dataset: Path | None = Field(
        None, description="The data set folder; crops go to DATASET/unlabelled/<stream>/."
    )
    streams: list[Name] | None = Field(
        None, description="The streams to collect from (default: every enabled stream)."
    )
    every: float = Field(
        60.0, ge=0, le=86400, description="A baseline crop every this many seconds (0: none)."
    )
    unsure_below: float = Field(
        0.6, ge=0, le=1, description="Keep a frame whose first model's top score is below this."
    )
    disagree: bool = Field(True, description="Keep a frame the cascade's two models disagree on.")
    after_change: bool = Field(
        True, description="Keep the first frame of a new label (what the models now answer)."
    )
    min_change: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Share of the crop that must differ from the stream's last saved one: "
        "nothing near-identical is kept twice.",
    )
    min_interval: float = Field(
        1.0, ge=0, le=3600, description="Seconds between two crops of one stream, at least."
    )
    per_stream: int = Field(
        2000, ge=1, le=1_000_000, description="Unlabelled crops kept per stream; oldest go first."
    )
    max_megabytes: float = Field(
        1000.0, gt=0, description="All unlabelled crops together at most; oldest go first."
    )
    max_side: int = Field(
        320, ge=32, le=4096, description="A crop's longer side at most (pixels; never enlarged)."
    )
    diversity: DiversityConfig | None = Field(
        None,
        description="Keep the most different crops within a budget per region and per hour "
        "(default: no budget, every kept frame that is not a near-duplicate).",
    )
    class_floor: float = Field(
        0.0,
        ge=0,
        le=0.5,
        description="Keep at least this share of each predicted class per region: a frame of a "
        "class below it is kept (reason `baseline`) even when the model is sure (0: off).",
    )
    queue: int = Field(
        64, ge=1, le=10_000, description="Crops waiting to be written; more are dropped, counted."
    )

    @field_validator("streams")
    @classmethod
    def _unique(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else unique(value, "stream")

    @model_validator(mode="after")
    def _budget_within_quota(self) -> CollectConfig:
        if self.diversity is not None and self.diversity.per_hour > self.per_stream:
            raise ValueError(
                f"diversity.per_hour ({self.diversity.per_hour}) is more than per_stream "
                f"({self.per_stream}): the quota would delete crops the diversity budget keeps; "
                "lower per_hour or raise per_stream"
            )
        return self

    def collects(self, stream: str) -> bool:
        """Whether `stream`'s frames are considered at all."""
        return self.dataset is not None and (self.streams is None or stream in self.streams)
