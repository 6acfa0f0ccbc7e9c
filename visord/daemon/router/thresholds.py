"""From an `escalate_below` target to a threshold, through the small model's operating curve.

"20% escalated" is the highest threshold that sends at most that share of the curve's images to
the large model; "97% of large" is the lowest threshold (the fewest escalations) whose cascade
accuracy reaches that share of the large model's own, or the most accurate one when none does.

`cascade_thresholds` gives `auto` its cascade rungs: the target's threshold, then thresholds that
escalate `CHEAPER` times as many frames (half, a quarter), for a budget the target's cascade does
not fit, before the cascade is given up for the small model alone.
"""

from __future__ import annotations

from visord.contract.manifest import OperatingCurve, OperatingPoint
from visord.daemon.config.policy import EscalationTarget

CHEAPER = (0.5, 0.25)  # shares of the target's escalations tried below it


def threshold_for(curve: OperatingCurve, target: EscalationTarget) -> float:
    points = sorted(curve.points, key=lambda point: point.threshold)
    if target.kind == "escalated":
        within = [point for point in points if point.escalated <= target.share + 1e-9]
        return within[-1].threshold if within else points[0].threshold
    goal = target.share * curve.large_accuracy
    enough = [point for point in points if point.accuracy >= goal - 1e-9]
    if enough:
        return min(enough, key=lambda point: (point.escalated, point.threshold)).threshold
    return max(points, key=lambda point: (point.accuracy, -point.escalated)).threshold


def point_at(curve: OperatingCurve, threshold: float) -> OperatingPoint:
    """The curve's point nearest `threshold`."""
    return min(curve.points, key=lambda point: abs(point.threshold - threshold))


def cascade_thresholds(curve: OperatingCurve, target: EscalationTarget) -> tuple[float, ...]:
    """The target's threshold, then cheaper ones (fewer escalations), most escalating first."""
    found = [threshold_for(curve, target)]
    share = point_at(curve, found[0]).escalated
    for fraction in CHEAPER:
        cheaper = threshold_for(curve, EscalationTarget(share * fraction, "escalated"))
        if cheaper < found[-1] and point_at(curve, cheaper).escalated > 0:  # else: small alone
            found.append(cheaper)
    return tuple(found)
