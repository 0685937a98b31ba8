"""Attribute a cost anomaly to this environment and rate its severity by the policy's thresholds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from deckwatch.events.cost import AnomalyEvent
from deckwatch.triage import decide

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.policy.model import CostThresholds

Severity = Literal["low", "medium", "high"]


def severity(total_impact: float, percent: float | None, thresholds: CostThresholds) -> Severity:
    """high: both thresholds crossed; medium: one; low: neither."""
    crossed = (total_impact >= thresholds.absolute_usd) + (percent is not None and percent >= thresholds.percent)
    return ("low", "medium", "high")[crossed]


def triage(event: AnomalyEvent, deps: Services) -> dict[str, Any]:
    policy = deps.policy().policy
    d = event.detail
    subject = f"anomaly/{d.anomalyId}"
    ours = policy.cost.anomaly_monitor is not None and policy.cost.anomaly_monitor in (d.monitorName, d.monitorArn)
    if not ours:
        return decide(
            deps,
            event,
            capability="cost",
            subject=subject,
            decision="ignored",
            reason=f"monitor {d.monitorName or d.monitorArn} is not {policy.environment}'s",
        )
    level = severity(d.impact.totalImpact, d.impact.totalImpactPercentage, policy.cost.thresholds)
    causes = ", ".join(filter(None, (c.service for c in d.rootCauses))) or "unknown service"
    details = {"severity": level, "impact_usd": d.impact.totalImpact, "root_causes": causes}
    if level == "low":
        return decide(
            deps,
            event,
            capability="cost",
            subject=subject,
            decision="recorded",
            reason=f"anomaly of ${d.impact.totalImpact:.2f} below thresholds",
            details=details,
        )
    deps.notifier.publish(
        subject=f"cost anomaly ({level}) ${d.impact.totalImpact:.2f} in {causes}",
        text=f"Anomaly {d.anomalyId} on monitor {d.monitorName}: ${d.impact.totalImpact:.2f} "
        f"({d.impact.totalImpactPercentage or 0:.0f}%) caused by {causes}.",
        capability="cost",
        environment=policy.environment,
        severity="critical" if level == "high" else "warning",
    )
    return decide(
        deps,
        event,
        capability="cost",
        subject=subject,
        decision="alerted",
        reason=f"{level} anomaly ${d.impact.totalImpact:.2f} ({causes})",
        details=details,
    )
