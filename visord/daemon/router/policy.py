"""A stream's effective policy: its own keys, the top-level defaults, and the first rule that
matches now.

Owns the precedence (top-level `cascade:`/`motion:` < the stream's keys <
the first matching rule's `set:`), the defaults that depend on the mode
(motion gating is on by default for `auto` streams only; `min_fps` defaults
to the rate, i.e. never lowered, and never exceeds it) and the minute of the
day rules are matched at (local time). Pure: the caller passes the time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from visord.daemon.config import CascadeConfig, DaemonConfig, MotionConfig, StreamConfig
from visord.daemon.config.policy import Mode, overlay
from visord.daemon.config.rules import first_match


@dataclass(frozen=True)
class StreamPolicy:
    """What a stream runs with now; `origin` is `config` or `rule NAME` (for log lines)."""

    name: str
    priority: int
    mode: str
    fps: float
    min_fps: float
    pin: str | None
    cascade: CascadeConfig
    motion: MotionConfig
    origin: str

    @property
    def gated(self) -> bool:
        return bool(self.motion.enabled)


def minute_of_day(wall: float) -> int:
    moment = time.localtime(wall)
    return moment.tm_hour * 60 + moment.tm_min


def effective_policy(config: DaemonConfig, stream: StreamConfig, minute: int) -> StreamPolicy:
    found = first_match(config.rules, stream.name, stream.tags, minute)
    values = {key: getattr(stream, key) for key in ("priority", "model", "fps", "min_fps", "pin")}
    cascade = overlay(config.cascade, stream.cascade)
    motion = overlay(config.motion, stream.motion)
    origin = "config"
    if found is not None:
        index, rule = found
        values |= {key: getattr(rule.set, key) for key in rule.set.model_fields_set & values.keys()}
        cascade, motion = overlay(cascade, rule.set.cascade), overlay(motion, rule.set.motion)
        origin = f"rule {rule.label(index)}"
    if motion.enabled is None:
        motion = motion.model_copy(update={"enabled": values["model"] == Mode.AUTO})
    fps = values["fps"]
    return StreamPolicy(
        stream.name,
        values["priority"],
        values["model"],
        fps,
        min(values["min_fps"] or fps, fps),
        values["pin"],
        cascade,
        motion,
        origin,
    )
