"""An anomaly from Cost Anomaly Detection (EventBridge event or IMMEDIATE SNS alert), evaluated once:
attribute it, rate it, deduplicate it by anomaly id, add the month's forecast against the budget, act by policy,
and tell people what was done."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from deckwatch.cost import attribution, costs
from deckwatch.cost.attribution import RANK
from deckwatch.decisions import record_decision

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.events.cost import AnomalyDetail
    from deckwatch.policy.model import Policy
    from deckwatch.state import Sighting


def evaluate(detail: AnomalyDetail, deps: Services, *, event_id: str, channel: str) -> dict[str, Any]:
    loaded = deps.policy()
    policy = loaded.policy
    env = policy.environment
    subject = f"anomaly/{detail.anomalyId}"
    who = attribution.attribute_anomaly(detail, env, policy.cost)
    impact = detail.impact
    level = attribution.severity(impact.totalImpact, impact.totalImpactPercentage, policy.cost.thresholds)
    causes = attribution.root_causes(detail)
    details: dict[str, Any] = {
        "channel": channel,
        "severity": level,
        "impact_usd": impact.totalImpact,
        "impact_percent": impact.totalImpactPercentage,
        "root_causes": ", ".join(sorted({c["service"] for c in causes if c["service"]})) or "unknown service",
        "causes": causes,
        "service": attribution.main_service(detail),
        "attributed_to": who.environment,
        "attribution": who.reason,
        "monitor": detail.monitorName or detail.monitorArn,
    }

    def decide(decision: str, reason: str) -> dict[str, Any]:
        if decision in ("recorded", "unattributed", "alerted"):  # a new sighting, or a rise in severity
            from deckwatch import metrics

            metrics.emit(deps.settings, {"Anomalies": 1, "AnomalyImpact": impact.totalImpact}, Severity=level)
        record_decision(
            deps,
            event_id=event_id,
            capability="cost",
            subject=subject,
            decision=decision,
            reason=reason,
            details=details,
        )
        return {"capability": "cost", "subject": subject, "decision": decision, "reason": reason} | {
            k: details[k] for k in ("severity", "attributed_to") if k in details
        }

    if who.owner == "other":
        return decide("ignored", f"{who.reason}: that environment's stack handles it")
    seen = deps.state.anomalies.sighted(detail.anomalyId, level, RANK[level], impact.totalImpact, who.environment)
    details["previous_severity"] = seen.previous
    details["sighting"] = seen.kind
    if seen.kind == "updated":
        return decide("updated", f"same anomaly, ${impact.totalImpact:.2f} now, severity still {seen.previous}")
    if level == "low" and seen.kind == "new":
        return decide("recorded", f"anomaly of ${impact.totalImpact:.2f} below thresholds")

    outlook = costs.month_outlook(costs.ce_client(deps), policy.cost) if who.owner == "ours" else None
    details["forecast"] = outlook
    if who.owner == "unknown":
        done = "Nothing was changed: no environment claims this anomaly."
        if policy.cost.notify_unattributed:
            _notify(deps, policy, detail, level, seen, causes, outlook, done, who.reason, unattributed=True)
        details["action"] = "none"
        return decide("unattributed", f"{level} anomaly ${impact.totalImpact:.2f}: {who.reason}; not acted on")

    action, done = _act(deps, policy, detail, level, seen, event_id)
    details["action"] = action
    _notify(deps, policy, detail, level, seen, causes, outlook, done, who.reason)
    rose = f" (was {seen.previous})" if seen.kind == "rose" else ""
    return decide("alerted", f"{level} anomaly ${impact.totalImpact:.2f}{rose} ({details['root_causes']}); {action}")


def _act(
    deps: Services, policy: Policy, detail: AnomalyDetail, level: str, seen: Sighting, event_id: str
) -> tuple[str, str]:
    """(action taken, a sentence for people). Savings start at most once per anomaly."""
    savings = policy.cost.savings
    env = policy.environment
    if savings.mode == "notify":
        return "notify-only", "Notified only: the policy takes no cost actions in this environment."
    if attribution.RANK[level] < attribution.RANK[savings.min_severity]:
        return "notify-only", f"Notified only: savings start at {savings.min_severity} severity."
    if seen.acted:
        return "already-acting", "Savings were already started for this anomaly; see the earlier message."
    if not savings.services and not savings.ecs_services and not savings.rds_instances:
        return "notify-only", "Notified only: the policy lists no ECS services or RDS instances to stop."
    approval = savings.mode == "approve" or env == "prod"
    name = "cost-" + re.sub(r"[^A-Za-z0-9_-]", "-", detail.anomalyId)[:70]
    request = {
        "action": "save",
        "environment": env,
        "anomalyId": detail.anomalyId,
        "reason": f"{level} cost anomaly ${detail.impact.totalImpact:.2f} ({attribution.main_service(detail)})",
        "approval": approval,
        "dryRun": policy.dry_run,
        "requestedBy": f"event {event_id}",
    }
    sfn = deps.clients("stepfunctions")
    try:
        started = sfn.start_execution(
            stateMachineArn=deps.settings.require("savings_state_machine_arn"), name=name, input=json.dumps(request)
        )["executionArn"]
    except sfn.exceptions.ExecutionAlreadyExists:
        started = name
    deps.state.anomalies.mark_acted(detail.anomalyId, started)
    what = "scale ECS services to zero and stop RDS instances"
    if policy.dry_run:
        return "savings-dry-run", f"Dry-run: planning reversible savings ({what}); nothing will change."
    if approval:
        return "approval-requested", f"Approval requested to {what} (a separate message has the approval id)."
    return "savings-started", (
        f"Reversible savings started: {what}. Resume with: deckwatch resume --env {env} "
        "(or start the cost-savings state machine with events/statemachines/cost_savings/resume-*.json)."
    )


def _notify(
    deps: Services,
    policy: Policy,
    detail: AnomalyDetail,
    level: str,
    seen: Sighting,
    causes: list[dict[str, Any]],
    outlook: dict[str, Any] | None,
    done: str,
    why: str,
    unattributed: bool = False,
) -> None:
    impact = detail.impact
    env = policy.environment
    where = "unattributed" if unattributed else env
    rose = f", up from {seen.previous}" if seen.kind == "rose" else ""
    lines = [
        f"Cost anomaly ({where}): {level.upper()}{rose}, ${impact.totalImpact:.2f}"
        + (f" ({impact.totalImpactPercentage:.0f}% above expected)" if impact.totalImpactPercentage else ""),
        f"Anomaly {detail.anomalyId} on monitor {detail.monitorName or detail.monitorArn}"
        + (
            f", {detail.anomalyStartDate[:10]} to {(detail.anomalyEndDate or 'now')[:10]}"
            if detail.anomalyStartDate
            else ""
        )
        + ".",
        f"Attribution: {why}.",
    ]
    if impact.totalExpectedSpend is not None and impact.totalActualSpend is not None:
        lines.append(f"Expected ${impact.totalExpectedSpend:.2f}, actual ${impact.totalActualSpend:.2f}.")
    lines += ["", "Root causes:"]
    for c in causes or [{"service": detail.dimensionValue or "unknown"}]:
        parts = [c.get("service") or "unknown service"]
        if c.get("linked_account"):
            parts.append(
                f"account {c['linked_account']}"
                + (f" ({c['linked_account_name']})" if c.get("linked_account_name") else "")
            )
        parts += [p for p in (c.get("region"), c.get("usage_type")) if p]
        amount = f": ${c['contribution_usd']:.2f}" if c.get("contribution_usd") is not None else ""
        lines.append(f"  - {', '.join(parts)}{amount}")
    if outlook is not None:
        lines += ["", "Forecast: " + costs.describe_outlook(outlook)]
    lines += ["", "What was done: " + done]
    link = (detail.model_extra or {}).get("anomalyDetailsLink")
    if link:
        lines.append(f"Details: {link}")
    deps.notifier.publish(
        subject=f"cost anomaly {level} ${impact.totalImpact:.2f} in {attribution.main_service(detail)}",
        text="\n".join(lines),
        capability="cost",
        environment=env,
        severity="critical" if level == "high" else ("warning" if level == "medium" else "info"),
        data={
            "anomaly_id": detail.anomalyId,
            "severity": level,
            "previous_severity": seen.previous,
            "impact_usd": impact.totalImpact,
            "forecast": outlook,
            "unattributed": unattributed,
        },
    )
