"""The `rules:` section: policy overrides by time of day and by stream name or tag.

Owns a rule's shape (`match:` and `set:`), the time-of-day window
(`HH:MM-HH:MM`, which may cross midnight) and the matching itself: a rule
matches a stream when every criterion it gives holds (the stream's name is
one of `streams`, it carries one of `tags`, the local time is inside `time`);
the first matching rule wins. Which rules can never match is
`visord.daemon.config.reachability`'s question.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator

from visord.daemon.config.base import Name, Strict, Tag, unique
from visord.daemon.config.policy import PolicyOverrides

MINUTES_PER_DAY = 24 * 60
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_WINDOW_HELP = "HH:MM-HH:MM on the 24-hour clock, e.g. 22:00-06:00 (a window may cross midnight)"


class TimeWindow(Strict):
    """Minutes of the day from `start` (included) to `end` (excluded); `start > end` crosses
    midnight."""

    start: int = Field(ge=0, lt=MINUTES_PER_DAY)
    end: int = Field(ge=0, le=MINUTES_PER_DAY)

    def contains(self, minute: int) -> bool:
        if self.start <= self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def minutes(self) -> set[int]:
        return {minute for minute in range(MINUTES_PER_DAY) if self.contains(minute)}

    def __str__(self) -> str:
        return (
            f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"
        )


def _parse_window(value: object) -> object:
    if not isinstance(value, str):
        return value
    found = _WINDOW.match(value)
    if not found:
        raise ValueError(f"'{value[:40]}' is not a time window: {_WINDOW_HELP}")
    start_hour, start_minute, end_hour, end_minute = (int(part) for part in found.groups())
    if (
        start_hour > 23
        or end_hour > 24
        or start_minute > 59
        or end_minute > 59
        or (end_hour == 24 and end_minute)
    ):
        raise ValueError(f"'{value[:40]}' is not a time window: {_WINDOW_HELP}")
    return {"start": start_hour * 60 + start_minute, "end": end_hour * 60 + end_minute}


Window = Annotated[TimeWindow, BeforeValidator(_parse_window)]


class RuleMatch(Strict):
    """When a rule applies; every criterion given must hold, and an empty `match:` matches every
    stream."""

    time: Window | None = Field(
        None, description="Local time of day, HH:MM-HH:MM (may cross midnight)."
    )
    streams: list[Name] = Field(default_factory=list, description="Stream names, any of them.")
    tags: list[Tag] = Field(default_factory=list, description="Stream tags, any of them.")

    def selects(self, name: str, tags: list[str]) -> bool:
        """True when the stream criteria (names, tags) hold, whatever the time."""
        return (not self.streams or name in self.streams) and (
            not self.tags or bool(set(self.tags) & set(tags))
        )

    def matches(self, name: str, tags: list[str], minute: int) -> bool:
        return self.selects(name, tags) and (self.time is None or self.time.contains(minute))

    @field_validator("streams", "tags")
    @classmethod
    def _unique(cls, value: list[str], info: ValidationInfo) -> list[str]:
        return unique(value, info.field_name.removesuffix("s"))


class Rule(Strict):
    """One policy rule: where it applies (`match:`) and what it changes (`set:`)."""

    name: Name | None = Field(
        None, description="Shown in logs when the rule changes a stream's policy."
    )
    match: RuleMatch = Field(
        default_factory=RuleMatch, description="Time of day, stream names, tags."
    )
    set: PolicyOverrides = Field(description="The stream policy keys this rule replaces.")

    def label(self, index: int) -> str:
        """How logs name the rule: its name, or its place in the list."""
        return self.name or f"rules[{index}]"

    def describe(self) -> str:
        """One line: `time 22:00-06:00, tags outdoor -> model large, fps 1`."""
        match = self.match
        where = [f"time {match.time}"] if match.time else []
        where += [
            f"{key} {','.join(getattr(match, key))}"
            for key in ("streams", "tags")
            if getattr(match, key)
        ]
        changes = [f"{key} {_shown(getattr(self.set, key))}" for key in self.set.model_fields_set]
        return f"{', '.join(where) or 'every stream'} -> {', '.join(sorted(changes))}"


def _shown(value: object) -> str:
    if isinstance(value, Strict):
        return (
            "{"
            + ", ".join(f"{key}: {getattr(value, key)}" for key in sorted(value.model_fields_set))
            + "}"
        )
    return f"{value:g}" if isinstance(value, float) else str(value)


def first_match(
    rules: list[Rule], name: str, tags: list[str], minute: int
) -> tuple[int, Rule] | None:
    """The first rule (with its index) that matches the stream at `minute` of the day, or None."""
    for index, rule in enumerate(rules):
        if rule.match.matches(name, tags, minute):
            return index, rule
    return None
