"""The plan: each stream's mode and rate within the budget, upgraded back without flapping.

Owns the decision, as pure logic (the caller passes the time and a function
that prices a plan as a share of the budget). A replan first maps the
current plan onto the streams' rungs (a policy may have changed them) and
keeps it a prefix of the ladder (no stream stays ahead of the priority
order), then:

- over `downgrade_above`: walk the ladder down, lowest
  priority first, until the plan fits again (or every stream is at its
  floor). The budget is a limit, so downgrades do not wait for the dwell time.
- otherwise: walk it back up, highest priority first, one rung at a time,
  while the upgraded plan stays within `upgrade_below` and
  the stream has kept its assignment for `min_dwell` seconds; the first rung
  that does not qualify ends the walk, so the priority order holds.
  `never_upgrade` streams are left where they are.

The gap between the two thresholds is the hysteresis: a cost estimate that
wanders by less than their ratio (1.25 with the defaults, i.e. about +-11 %) can
make the plan move in one direction, never back and forth. The thresholds and
`min_dwell` are the config's `router:` keys (`RouterConfig`, which holds their
defaults). Every change comes
back once, with its direction and reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from visord.daemon.config import RouterConfig
from visord.daemon.router.ladder import Assignment, Demand, Step, ladder, quality, rank_of, rungs

Usage = Callable[[Mapping[str, Assignment]], float]  # a plan -> the share of the budget it uses


@dataclass(frozen=True)
class Change:
    """One stream's new assignment; `direction` is upgrade or downgrade."""

    stream: str
    before: Assignment
    after: Assignment
    reason: str

    @property
    def direction(self) -> str:
        # a sideways move (one named model for another, by a rule) counts as a downgrade:
        # it was not asked for
        return "upgrade" if quality(self.after) > quality(self.before) else "downgrade"


class Planner:
    """Holds the current plan between replans; `replan()` moves it and returns the changes."""

    def __init__(self, settings: RouterConfig):
        self.settings = settings
        self.plan: dict[str, Assignment] = {}
        self.usage = 0.0  # the share of the budget the current plan was priced at
        self._ranks: dict[str, int] = {}
        self._demands: dict[str, Demand] = {}
        self._changed_at: dict[str, float] = {}

    def degraded(self, stream: str) -> bool:
        """Whether the stream runs below its desired mode or rate."""
        return self._ranks.get(stream, 0) > 0

    def replan(self, demands: Sequence[Demand], usage: Usage, now: float) -> list[Change]:
        choices = {demand.name: rungs(demand) for demand in demands}
        steps = ladder(demands, choices)
        pins = {demand.name: demand.pin for demand in demands}
        ranks = {name: rank_of(self.plan.get(name), options) for name, options in choices.items()}
        reasons = {
            demand.name: reason for demand in demands if (reason := self._policy_reason(demand))
        }

        def price(candidate: Mapping[str, int]) -> float:
            return usage({name: choices[name][rank] for name, rank in candidate.items()})

        for name in self._normalise(ranks, steps, pins):
            reasons[name] = "priority order: a stream of higher priority is degraded"
        before = price(ranks)
        if before > self.settings.downgrade_above:
            moved, self.usage = self._degrade(ranks, steps, price)
            reasons |= {
                name: f"over budget: the plan needed {before:.2f} of it (> "
                f"{self.settings.downgrade_above:g})"
                for name in moved
            }
        else:
            moved, self.usage = self._upgrade(ranks, steps, pins, price, now)
            reasons |= {
                name: f"load fell: the upgraded plan needs {self.usage:.2f} of the budget (<= "
                f"{self.settings.upgrade_below:g})"
                for name in moved
            }
        return self._commit(demands, choices, ranks, reasons, now)

    def _policy_reason(self, demand: Demand) -> str | None:
        old = self._demands.get(demand.name)
        if old is None or old == demand:
            return None
        if replace(old, cascade_pays=demand.cascade_pays) == demand:
            return (
                "cascade pays again: its escalation rate fell"
                if demand.cascade_pays
                else "cascade costs more than large: too many of its frames escalate"
            )
        return f"policy changed ({demand.origin})"

    def _normalise(
        self, ranks: dict[str, int], steps: list[Step], pins: Mapping[str, str | None]
    ) -> set[str]:
        """Takes every step before the deepest one taken, so the plan is a prefix of the ladder."""
        taken = [
            index
            for index, (name, rung) in enumerate(steps)
            if ranks[name] >= rung and pins[name] != "never_upgrade"
        ]
        moved = set()
        for name, rung in steps[: max(taken, default=0)]:
            if ranks[name] < rung:
                ranks[name] = rung
                moved.add(name)
        return moved

    def _degrade(
        self, ranks: dict[str, int], steps: list[Step], price: Callable
    ) -> tuple[set[str], float]:
        used = price(ranks)
        moved = set()
        for name, rung in steps:
            if used <= self.settings.downgrade_above:
                break
            if ranks[name] < rung:
                ranks[name] = rung
                moved.add(name)
                used = price(ranks)
        return moved, used

    def _upgrade(
        self,
        ranks: dict[str, int],
        steps: list[Step],
        pins: Mapping[str, str | None],
        price: Callable,
        now: float,
    ) -> tuple[set[str], float]:
        used = price(ranks)
        moved = set()
        for name, rung in reversed(steps):
            if ranks[name] != rung or pins[name] == "never_upgrade":
                continue
            if now - self._changed_at.get(name, now) < self.settings.min_dwell:
                break
            trial = {**ranks, name: rung - 1}
            trial_used = price(trial)
            if trial_used > self.settings.upgrade_below:
                break
            ranks[name], used = rung - 1, trial_used
            moved.add(name)
        return moved, used

    def _commit(
        self,
        demands: Sequence[Demand],
        choices: Mapping[str, list[Assignment]],
        ranks: Mapping[str, int],
        reasons: Mapping[str, str],
        now: float,
    ) -> list[Change]:
        changes = []
        plan = {name: choices[name][rank] for name, rank in ranks.items()}
        for demand in demands:
            name = demand.name
            previous = self.plan.get(name, choices[name][0])
            if name not in self.plan:
                self._changed_at[name] = now
            if plan[name] != previous:
                changes.append(
                    Change(name, previous, plan[name], reasons.get(name, "policy changed"))
                )
                self._changed_at[name] = now
        self.plan = plan
        self._ranks = dict(ranks)
        self._demands = {demand.name: demand for demand in demands}
        self._changed_at = {name: self._changed_at[name] for name in plan}
        return changes
