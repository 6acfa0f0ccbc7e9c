"""From an `escalate_below` target to a threshold, through the small model's operating curve.

"20% escalated" is the highest threshold that sends at most that share of the curve's images to
the large model; "97% of large" is the lowest threshold (the fewest escalations) whose cascade
accuracy reaches that share of the large model's own, or the most accurate one when none does.
"""

from __future__ import annotations

from visord.contract.manifest import OperatingCurve
from visord.daemon.config.policy import EscalationTarget


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
