"""Which `rules:` entries can never match, and why: what `visord check` reports about rules.

Owns the analysis, on a validated config: a rule whose time window is
empty, one whose names and tags select no stream of the config, and one that
earlier rules shadow (for every stream it selects, at every minute of its
window, an earlier rule matches first). Time is checked minute by minute, so
windows crossing midnight and several earlier rules covering one later rule
together need no special case.
"""

from __future__ import annotations

from visord.daemon.config.errors import Problem
from visord.daemon.config.rules import MINUTES_PER_DAY, Rule
from visord.daemon.config.schema import DaemonConfig
from visord.daemon.config.streams import StreamConfig

ALL_DAY = frozenset(range(MINUTES_PER_DAY))


def unreachable_rules(config: DaemonConfig) -> list[Problem]:
    """(key path, message) for each rule that can never match."""
    problems: list[Problem] = []
    for index, rule in enumerate(config.rules):
        window = _window(rule)
        selected = [
            stream for stream in config.streams if rule.match.selects(stream.name, stream.tags)
        ]
        if not window:
            problems.append(
                (
                    ("rules", index, "match", "time"),
                    f"time window {rule.match.time} is empty: the rule can never match",
                )
            )
        elif not selected:
            problems.append(
                (
                    ("rules", index, "match"),
                    f"{_selects_nothing(rule, config.streams)}: the rule can never match",
                )
            )
        else:
            shadows = _shadows(config.rules, index, selected, window)
            if shadows is not None:
                names = ", ".join(config.rules[earlier].label(earlier) for earlier in shadows)
                which = (
                    f"earlier rules {names} match"
                    if len(shadows) > 1
                    else f"earlier rule {names} matches"
                )
                problems.append(
                    (
                        ("rules", index),
                        f"can never match: {which} first for every stream it selects, "
                        "at every time it applies",
                    )
                )
    return problems


def _window(rule: Rule) -> frozenset[int]:
    return frozenset(rule.match.time.minutes()) if rule.match.time else ALL_DAY


def _shadows(
    rules: list[Rule], index: int, selected: list[StreamConfig], window: frozenset[int]
) -> list[int] | None:
    """The earlier rules that together hide rule `index` entirely, or None when it can match
    somewhere."""
    hiding: set[int] = set()
    for stream in selected:
        remaining = set(window)
        for earlier in range(index):
            if rules[earlier].match.selects(stream.name, stream.tags) and remaining & _window(
                rules[earlier]
            ):
                remaining -= _window(rules[earlier])
                hiding.add(earlier)
        if remaining:
            return None
    return sorted(hiding)


def _selects_nothing(rule: Rule, streams: list[StreamConfig]) -> str:
    names = {stream.name for stream in streams}
    tags = {tag for stream in streams for tag in stream.tags}
    missing_names = [name for name in rule.match.streams if name not in names]
    missing_tags = [tag for tag in rule.match.tags if tag not in tags]
    if rule.match.streams and len(missing_names) == len(rule.match.streams):
        return f"no stream is named {', '.join(missing_names)}"
    if rule.match.tags and len(missing_tags) == len(rule.match.tags):
        return f"no stream has tag {', '.join(missing_tags)}"
    return f"no stream named {', '.join(rule.match.streams)} has tag {', '.join(rule.match.tags)}"


def dead_criteria(config: DaemonConfig) -> list[Problem]:
    """Names and tags of rules that do select some stream but also list one no stream has (a
    typo?)."""
    names = {stream.name for stream in config.streams}
    tags = {tag for stream in config.streams for tag in stream.tags}
    problems: list[Problem] = []
    for index, rule in enumerate(config.rules):
        if not any(rule.match.selects(stream.name, stream.tags) for stream in config.streams):
            continue  # unreachable_rules says so
        problems += [
            (("rules", index, "match", "streams"), f"no stream is named {name}")
            for name in rule.match.streams
            if name not in names
        ]
        problems += [
            (("rules", index, "match", "tags"), f"no stream has tag {tag}")
            for tag in rule.match.tags
            if tag not in tags
        ]
    return problems
