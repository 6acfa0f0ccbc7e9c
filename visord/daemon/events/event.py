"""The `Event`: one debounced recognition result, as it leaves the daemon.

An event names the stream (never its source: a URL can carry a password), the
label and its score, the model that answered, the frame's wall-clock capture
time (ISO 8601 UTC with milliseconds, and the epoch seconds), the latency from
capture to result, the label it replaced, and, when a snapshot of its frame was queued
(`visord.daemon.events.snapshots`), the snapshot's id. `to_json()` is the wire format of every
sink: one compact JSON object.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

EventKind = Literal["change", "heartbeat"]


@dataclass(frozen=True)
class Event:
    """kind: "change" (a new stable label, or a stream's first one) or "heartbeat" (the label still
    holds).

    time: epoch seconds of the frame's capture (wall clock). latency: seconds from capture to
    result. previous_label: the stable label before this one (None for a stream's first event).
    """

    stream: str
    label: str
    score: float
    model: str
    time: float
    latency: float
    previous_label: str | None = None
    kind: EventKind = "change"
    snapshot: str | None = None

    @property
    def timestamp(self) -> str:
        """`time` as ISO 8601 UTC with milliseconds, e.g. `2025-03-01T12:00:00.123Z`."""
        return iso_utc(self.time)

    def to_dict(self) -> dict[str, Any]:
        fields = {
            "stream": self.stream,
            "kind": self.kind,
            "label": self.label,
            "previous_label": self.previous_label,
            "score": _rounded(self.score, 4),
            "model": self.model,
            "timestamp": self.timestamp,
            "time": _rounded(self.time, 3),
            "latency_seconds": _rounded(self.latency, 4),
        }
        if self.snapshot is not None:
            fields["snapshot"] = self.snapshot
        return fields

    def to_json(self) -> str:
        return json.dumps(
            self.to_dict(), separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )


def iso_utc(epoch: float) -> str:
    """Epoch seconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`, rounded (not truncated) to the millisecond like
    `time`."""
    if not math.isfinite(epoch):
        return ""
    moment = datetime.fromtimestamp(round(epoch * 1000) / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _rounded(value: float, digits: int) -> float | None:
    """JSON has no NaN or infinity; a non-finite number becomes null rather than an invalid line."""
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None
