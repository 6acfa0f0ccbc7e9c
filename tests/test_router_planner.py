"""The planner, as pure logic: expected plans, priorities, floors, budget, hysteresis, dwell, pins;
and properties."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visord.daemon.config import RouterConfig
from visord.daemon.router.ladder import MODE_RANK, Assignment, Demand, rungs
from visord.daemon.router.planner import Planner

LARGE, SMALL = 0.040, 0.004  # seconds per frame


def usage_of(costs: dict[str, float], budget: float, escalation: float = 0.2):
    """A separable price: fps x seconds per frame, cascade = small + escalation x large, over the
    budget."""

    def usage(plan):
        per_mode = {**costs, "cascade": costs["small"] + escalation * costs["large"]}
        return sum(a.fps * per_mode.get(a.mode, costs["small"]) for a in plan.values()) / budget

    return usage


def auto(
    name: str, priority: int, fps: float = 5.0, min_fps: float | None = None, **changes
) -> Demand:
    return Demand(
        name,
        priority,
        changes.pop("mode", "auto"),
        fps,
        fps if min_fps is None else min_fps,
        **changes,
    )


STREAMS = [
    auto("gate", 100),
    auto("door", 75, order=1),
    auto("yard", 50, order=2),
    auto("shed", 25, order=3),
]
COSTS = {"large": LARGE, "small": SMALL}


def modes(planner: Planner) -> dict[str, str]:
    return {name: assignment.mode for name, assignment in planner.plan.items()}


def test_a_budget_that_fits_everything_on_large_gives_everything_large():
    planner = Planner(RouterConfig())
    # 4 x 5 x 40 ms = 0.8
    assert planner.replan(STREAMS, usage_of(COSTS, budget=1.0), now=0.0) == []
    assert set(modes(planner).values()) == {"large"} and planner.usage == pytest.approx(0.8)
    assert not any(planner.degraded(name) for name in modes(planner))


def test_a_smaller_budget_degrades_the_lowest_priority_first_all_the_way_down():
    planner = Planner(RouterConfig())
    planner.replan(STREAMS, usage_of(COSTS, budget=1.0), now=0.0)
    changes = planner.replan(STREAMS, usage_of(COSTS, budget=0.63), now=1.0)
    # shed: large -> cascade (0.66 of 0.63 still over) -> small; then 0.62 fits
    assert modes(planner) == {"gate": "large", "door": "large", "yard": "large", "shed": "small"}
    assert [(c.stream, str(c.before), str(c.after), c.direction) for c in changes] == [
        ("shed", "large@5", "small@5", "downgrade")
    ]
    assert changes[0].reason == "over budget: the plan needed 1.27 of it (> 1)"
    assert planner.degraded("shed") and not planner.degraded("gate")
    # every change comes once
    assert planner.replan(STREAMS, usage_of(COSTS, budget=0.63), now=2.0) == []


def test_among_equal_priorities_the_stream_listed_last_goes_first():
    streams = [auto("a", 50), auto("b", 50, order=1), auto("c", 50, order=2)]
    planner = Planner(RouterConfig())
    planner.replan(streams, usage_of(COSTS, budget=0.3), now=0.0)
    assert modes(planner) == {"a": "large", "b": "cascade", "c": "small"}


def test_when_all_small_does_not_fit_rates_go_down_lowest_priority_first_to_their_floor():
    streams = [auto("gate", 100, fps=10, min_fps=2), auto("shed", 25, fps=10, min_fps=1, order=1)]
    planner = Planner(RouterConfig())
    planner.replan(streams, usage_of(COSTS, budget=0.0445), now=0.0)  # all small at 10 fps: 0.08
    plan = planner.plan
    # 0.044
    assert (plan["gate"], plan["shed"]) == (Assignment("small", 10), Assignment("small", 1))
    planner.replan(streams, usage_of(COSTS, budget=0.01), now=1.0)
    assert (planner.plan["gate"], planner.plan["shed"]) == (
        Assignment("small", 2),
        Assignment("small", 1),
    )
    assert planner.usage > 1  # nothing more to give: over budget, at every floor


def test_rates_are_rungs_about_30_percent_apart_down_to_the_floor():
    assert [str(a) for a in rungs(auto("s", 50, fps=4, min_fps=1))] == [
        "large@4",
        "cascade@4",
        "small@4",
        "small@2.828",
        "small@2",
        "small@1.414",
        "small@1",
    ]
    assert [str(a) for a in rungs(auto("s", 50, fps=4, min_fps=1, cascade_pays=False))][:2] == [
        "large@4",
        "small@4",
    ]
    assert [str(a) for a in rungs(auto("s", 50, mode="large", fps=2, min_fps=1))] == [
        "large@2",
        "large@1.414",
        "large@1",
    ]
    assert [str(a) for a in rungs(auto("s", 50, fps=2, min_fps=1, pin="never_downgrade"))] == [
        "large@2"
    ]


def test_fixed_modes_keep_their_mode_and_give_up_rate_only():
    streams = [auto("gate", 100), auto("fixed", 25, mode="large", min_fps=1, order=1)]
    planner = Planner(RouterConfig())
    planner.replan(streams, usage_of(COSTS, budget=0.15), now=0.0)
    assert planner.plan["fixed"].mode == "large" and planner.plan["fixed"].fps < 5
    assert planner.plan["gate"].mode == "small"  # modes go before any rate


def test_upgrades_wait_for_the_hysteresis_band_and_the_dwell_time():
    planner = Planner(RouterConfig(upgrade_below=0.8, downgrade_above=1.0, min_dwell=30))
    planner.replan(STREAMS, usage_of(COSTS, budget=0.63), now=0.0)
    assert modes(planner)["shed"] == "small"
    # the plan uses 0.62 / 0.8 = 0.78; shed on cascade would need 0.66 / 0.8 = 0.83: inside
    # the band, nothing moves
    assert planner.replan(STREAMS, usage_of(COSTS, budget=0.8), now=100.0) == []
    # room now (0.8 / 1.2 = 0.67), but shed changed 10 s ago: it waits
    planner2 = Planner(RouterConfig(min_dwell=30))
    planner2.replan(STREAMS, usage_of(COSTS, budget=0.63), now=0.0)
    assert planner2.replan(STREAMS, usage_of(COSTS, budget=1.2), now=10.0) == []
    changes = planner2.replan(STREAMS, usage_of(COSTS, budget=1.2), now=31.0)
    assert [(c.stream, str(c.after), c.direction) for c in changes] == [
        ("shed", "large@5", "upgrade")
    ]
    assert changes[0].reason == "load fell: the upgraded plan needs 0.67 of the budget (<= 0.8)"


def test_upgrades_go_highest_priority_first_and_stop_at_the_first_that_does_not_fit():
    planner = Planner(RouterConfig(min_dwell=0))
    planner.replan(STREAMS, usage_of(COSTS, budget=0.1), now=0.0)
    assert set(modes(planner).values()) == {"small"}
    planner.replan(STREAMS, usage_of(COSTS, budget=0.45), now=1.0)
    # gate up to large (0.05+0.2=0.27 of 0.45 = 0.6), door to cascade (0.6+0.13 -> 0.73) and
    # not further (0.91 > 0.8)
    assert modes(planner) == {"gate": "large", "door": "cascade", "yard": "small", "shed": "small"}


def test_pins():
    streams = [
        auto("vip", 25, pin="never_downgrade"),
        auto("sticky", 100, pin="never_upgrade", order=1),
        auto("other", 50, order=2),
    ]
    planner = Planner(RouterConfig(min_dwell=0))
    planner.replan(streams, usage_of(COSTS, budget=0.3), now=0.0)
    assert modes(planner) == {"vip": "large", "sticky": "cascade", "other": "small"}
    planner.replan(streams, usage_of(COSTS, budget=10), now=1.0)
    # sticky stays degraded
    assert modes(planner) == {"vip": "large", "sticky": "cascade", "other": "large"}


def test_a_policy_change_is_reported_with_its_source():
    planner = Planner(RouterConfig())
    planner.replan(STREAMS, usage_of(COSTS, budget=1.0), now=0.0)
    night = [replace(STREAMS[0], fps=1, min_fps=1, origin="rule night"), *STREAMS[1:]]
    changes = planner.replan(night, usage_of(COSTS, budget=1.0), now=1.0)
    assert [(c.stream, str(c.before), str(c.after), c.reason) for c in changes] == [
        ("gate", "large@5", "large@1", "policy changed (rule night)")
    ]
    added = [*night, auto("new", 10, order=9)]
    changes = planner.replan(added, usage_of(COSTS, budget=0.67), now=2.0)
    assert [(c.stream, str(c.before), str(c.after)) for c in changes] == [
        ("new", "large@5", "small@5")
    ]


def test_a_new_low_priority_stream_joins_the_priority_order():
    planner = Planner(RouterConfig(min_dwell=1000))
    planner.replan(STREAMS, usage_of(COSTS, budget=0.1), now=0.0)
    assert set(modes(planner).values()) == {"small"}
    changes = planner.replan(
        [*STREAMS, auto("late", 10, order=4)], usage_of(COSTS, budget=0.5), now=1.0
    )
    assert modes(planner)["late"] == "small"
    assert changes[0].reason == "priority order: a stream of higher priority is degraded"


def test_noise_inside_the_band_changes_nothing():
    planner = Planner(RouterConfig(min_dwell=0))
    # all large at 0.9 of the budget
    planner.replan(STREAMS, usage_of(COSTS, budget=0.8 / 0.9), now=0.0)
    for step, noise in enumerate([1.09, 0.91, 1.1, 0.9, 1.05, 0.95] * 5):
        noisy = {mode: cost * noise for mode, cost in COSTS.items()}
        assert planner.replan(STREAMS, usage_of(noisy, budget=0.8 / 0.9), now=step + 1.0) == []


# --- properties
# ------------------------------------------------------------------------------------------

PRIORITIES = st.sampled_from([0, 25, 50, 75, 100])


@st.composite
def demands(draw, pins=(None, None, None, None, "never_downgrade", "never_upgrade")):
    count = draw(st.integers(1, 6))
    found = []
    for index in range(count):
        fps = draw(st.sampled_from([0.5, 1.0, 2.0, 5.0, 10.0]))
        found.append(
            Demand(
                f"s{index}",
                draw(PRIORITIES),
                draw(st.sampled_from(["auto"] * 4 + ["small", "large", "cascade"])),
                fps,
                fps * draw(st.sampled_from([0.1, 0.25, 0.5, 1.0])),
                draw(st.sampled_from(pins)),
                order=index,
            )
        )
    return found


COST_CASES = st.fixed_dictionaries(
    {"large": st.floats(0.005, 0.1), "small": st.floats(0.0005, 0.004)}
)


def relative_budget(streams: list[Demand], costs: dict[str, float], share: float) -> float:
    """A budget of `share` times what every stream's desired assignment costs: most plans then have
    to work."""
    return share * usage_of(costs, 1.0)({d.name: rungs(d)[0] for d in streams})


def floor_plan(streams: list[Demand]) -> dict[str, Assignment]:
    return {d.name: (rungs(d)[0] if d.pin == "never_downgrade" else rungs(d)[-1]) for d in streams}


def check_plan(planner: Planner, streams: list[Demand], usage, settings: RouterConfig) -> None:
    plan, by_name = planner.plan, {d.name: d for d in streams}
    for demand in streams:  # floors, and pins that hold
        assert plan[demand.name].fps >= demand.min_fps - 1e-9
        if demand.pin == "never_downgrade":
            assert plan[demand.name] == rungs(demand)[0]
    free = [d for d in streams if d.pin is None]
    for high in free:
        for low in free:
            if high.priority <= low.priority:
                continue
            high_plan, low_plan = plan[high.name], plan[low.name]
            if high.mode == "auto" == low.mode and high_plan.mode != "large":
                assert MODE_RANK[low_plan.mode] <= MODE_RANK[high_plan.mode], (high, low, plan)
            if high_plan.fps < high.fps:
                assert low_plan.fps == pytest.approx(low.min_fps), (high, low, plan)
    if usage(floor_plan(streams)) <= settings.downgrade_above:
        assert usage(plan) <= settings.downgrade_above + 1e-9
    assert set(plan) == set(by_name)


@settings(max_examples=200, deadline=None)
@given(demands(), COST_CASES, st.lists(st.floats(0.02, 1.5), min_size=1, max_size=6))
def test_plans_respect_priorities_floors_and_the_budget(streams, costs, shares):
    planner, planner_settings = Planner(RouterConfig(min_dwell=0)), RouterConfig()
    for step, share in enumerate(shares):
        usage = usage_of(costs, relative_budget(streams, costs, share))
        planner.replan(streams, usage, now=float(step))
        check_plan(planner, streams, usage, planner_settings)


@settings(max_examples=200, deadline=None)
@given(
    demands(pins=(None, None, "never_downgrade")),
    COST_CASES,
    st.floats(0.02, 1.5),
    st.lists(st.tuples(st.floats(0.9, 1.1), st.floats(0.9, 1.1)), min_size=5, max_size=30),
)
def test_cost_noise_within_the_band_never_makes_a_stream_flap(streams, costs, share, noise):
    budget = relative_budget(streams, costs, share)
    planner = Planner(RouterConfig(min_dwell=0))
    planner.replan(streams, usage_of(costs, budget), now=0.0)
    directions: dict[str, set[str]] = {}
    for step, (large, small) in enumerate(noise):
        noisy = {"large": costs["large"] * large, "small": costs["small"] * small}
        for change in planner.replan(streams, usage_of(noisy, budget), now=step + 1.0):
            directions.setdefault(change.stream, set()).add(change.direction)
    assert all(len(seen) == 1 for seen in directions.values()), directions


def test_the_planner_keeps_no_reference_to_the_demands_it_was_given():
    streams = copy.deepcopy(STREAMS)
    planner = Planner(RouterConfig())
    planner.replan(streams, usage_of(COSTS, budget=1.0), now=0.0)
    streams.pop()
    assert set(planner.plan) == {"gate", "door", "yard", "shed"}
    planner.replan(streams, usage_of(COSTS, budget=1.0), now=1.0)
    assert set(planner.plan) == {"gate", "door", "yard"}


def test_cascade_that_no_longer_pays_is_left_out_with_its_reason():
    planner = Planner(RouterConfig())
    streams = [auto("gate", 100), auto("shed", 25, order=1)]
    planner.replan(streams, usage_of(COSTS, budget=0.27), now=0.0)
    assert modes(planner) == {"gate": "large", "shed": "cascade"}
    escalating = [streams[0], replace(streams[1], cascade_pays=False)]
    changes = planner.replan(escalating, usage_of(COSTS, budget=0.27), now=1.0)
    assert [(c.stream, str(c.after), c.reason) for c in changes] == [
        ("shed", "small@5", "cascade costs more than large: too many of its frames escalate")
    ]
