"""The router: which model serves each stream, at what rate, under the hardware budget.

A package of small modules, each with one job, wired together by `router`:

- `ewma`: running averages of ratios measured over an interval
- `costs`: each model's cost per frame by batch size (start-up measurement or the config's table,
  kept current from live latencies)
- `policy`: a stream's effective policy (its own keys, the top-level defaults, the first matching
  rule)
- `ladder`: what each stream may give up, and in which order across streams (priorities, pins,
  rates)
- `planner`: pure logic; the plan (mode and rate per stream) within the budget, with hysteresis and
  dwell
- `usage`: what a plan costs, as a share of the budget (batching, cascade escalations, motion skips)
- `load`: the budget used, measured from the engine's own time
- `motion`: motion gating on a downscaled grey frame
- `router`: the state the runtime talks to (observations in, plans and routes out, metrics)
"""
