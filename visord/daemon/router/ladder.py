"""The order in which the router gives things up: each stream's rungs and the global ladder of
steps.

Owns what a stream may be degraded to (its rungs, best first: for `auto` large, cascade, small at
the desired rate, then lower rates at small down to `min_fps`; a fixed mode keeps its mode and only
has rates; `never_downgrade` has one rung). Where the small model's operating curve gives the
cascade its thresholds (`Demand.cascade_points`), `auto`'s cascade is several rungs, one per
threshold, from the most escalating (the most accurate) down: the plan then picks the threshold
that fits the budget before it gives up the cascade.

And the ladder: every step (stream, rung) in the order the planner takes them. Modes go first,
lowest priority first (a stream goes all the way down before the next one starts; among equal
priorities the stream listed last goes first); rates go only once every stream is at its last
mode, again lowest priority first. Pure data, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from visord.daemon.config.policy import AUTO_CHOICES, Mode

MODE_RANK = {mode: rank for rank, mode in enumerate(reversed(AUTO_CHOICES))}  # small 0 .. large 2
RATE_STEP = 2**-0.5  # each rate rung is about 30 % below the one above it


@dataclass(frozen=True)
class Demand:
    """What one stream asks for: its effective policy, as the planner needs it.

    `mode` is large, small, cascade, auto or a model name; `cascade_pays` says whether cascade costs
    this stream less than large (it does not when nearly every frame escalates); `cascade_points`
    are the cascade's thresholds for `auto` to choose from, most escalating first (none: the
    configured one); `order` is its place in the config; `origin` says where the policy came from
    (for log lines).
    """

    name: str
    priority: int
    mode: str
    fps: float
    min_fps: float
    pin: str | None = None
    cascade_pays: bool = True
    cascade_points: tuple[float, ...] = ()
    order: int = 0
    origin: str = "config"


@dataclass(frozen=True)
class Assignment:
    """What a stream runs: a mode (large, cascade, small, or a model name) at `fps` frames per
    second; a cascade's `threshold` (escalate_below) when the plan chose it (None: the config's)."""

    mode: str
    fps: float
    threshold: float | None = None

    def __str__(self) -> str:
        below = f"<{self.threshold:.3g}" if self.threshold is not None else ""
        return f"{self.mode}{below}@{self.fps:g}"


Step = tuple[str, int]  # (stream, rung): the stream goes down to that rung


def mode_rungs(demand: Demand) -> list[Assignment]:
    """The stream's rungs at its desired rate: one per mode, one per threshold for a cascade
    whose points are given."""
    if demand.mode != Mode.AUTO:
        return [Assignment(demand.mode, demand.fps)]
    if not demand.cascade_pays:
        return [Assignment(Mode.LARGE, demand.fps), Assignment(Mode.SMALL, demand.fps)]
    cascades = [
        Assignment(Mode.CASCADE, demand.fps, threshold) for threshold in demand.cascade_points
    ] or [Assignment(Mode.CASCADE, demand.fps)]
    return [Assignment(Mode.LARGE, demand.fps), *cascades, Assignment(Mode.SMALL, demand.fps)]


def rungs(demand: Demand) -> list[Assignment]:
    """The stream's assignments from its desired one down to the least it accepts."""
    modes = mode_rungs(demand)
    if demand.pin == "never_downgrade":
        return modes[:1]
    found = list(modes)
    last = modes[-1].mode
    rate = demand.fps * RATE_STEP
    while rate > demand.min_fps * 1.001:
        found.append(Assignment(last, round(rate, 3)))
        rate *= RATE_STEP
    if demand.min_fps < demand.fps:
        found.append(Assignment(last, demand.min_fps))
    return found


def ladder(demands: Sequence[Demand], stream_rungs: dict[str, list[Assignment]]) -> list[Step]:
    """Every step the planner may take, in the order it takes them when it must degrade."""
    order = sorted(demands, key=lambda demand: (demand.priority, -demand.order))
    modes = {
        demand.name: min(len(mode_rungs(demand)), len(stream_rungs[demand.name]))
        for demand in demands
    }
    mode_steps = [(d.name, rung) for d in order for rung in range(1, modes[d.name])]
    rate_steps = [
        (d.name, rung) for d in order for rung in range(modes[d.name], len(stream_rungs[d.name]))
    ]
    return mode_steps + rate_steps


def quality(assignment: Assignment) -> tuple[int, float, float]:
    """A sort key: a better mode first, then a cascade's higher threshold (more frames re-checked),
    then a higher rate (a model name ranks as its own mode)."""
    return MODE_RANK.get(assignment.mode, -1), assignment.threshold or 0.0, assignment.fps


def rank_of(assignment: Assignment | None, choices: list[Assignment]) -> int:
    """The rung `assignment` sits on, or the first rung no better than it (after a change of
    policy)."""
    if assignment is None:
        return 0
    if assignment in choices:
        return choices.index(assignment)
    named = assignment.mode not in MODE_RANK or any(
        choice.mode not in MODE_RANK for choice in choices
    )
    key = (lambda a: a.fps) if named else quality
    for index, choice in enumerate(choices):
        if key(choice) <= key(assignment):
            return index
    return len(choices) - 1
