"""Which runbook an alarm state change selects, by the policy's name, prefix or tag rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deckwatch import aws
from deckwatch.events.alarm import AlarmEvent
from deckwatch.triage import decide

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.policy.model import RemediationRule


def match_rule(rules: list[RemediationRule], name: str, tags: dict[str, str] | None) -> RemediationRule | None:
    """First rule that matches; tag rules only match when the alarm's tags are known."""
    for rule in rules:
        m = rule.alarm
        if (m.name is not None and m.name == name) or (m.prefix is not None and name.startswith(m.prefix)):
            return rule
        if m.tag is not None and tags is not None and tags.get(m.tag["key"]) == m.tag["value"]:
            return rule
    return None


def alarm_tags(alarm_arn: str, client: Any = None) -> dict[str, str]:
    cw = client or aws.client("cloudwatch")
    tags = cw.list_tags_for_resource(ResourceARN=alarm_arn).get("Tags", [])
    return {t["Key"]: t["Value"] for t in tags}


def triage(event: AlarmEvent, deps: Services) -> dict[str, Any]:
    policy = deps.policy().policy
    d = event.detail
    rules = policy.remediation.rules
    tags = alarm_tags(event.alarm_arn) if any(r.alarm.tag for r in rules) and event.resources else None
    rule = match_rule(rules, d.alarmName, tags)
    subject = event.alarm_arn
    kind = "composite" if d.is_composite else "metric"
    if rule is None:
        return decide(
            deps,
            event,
            capability="remediation",
            subject=subject,
            decision="ignored",
            reason=f"no remediation rule matches alarm {d.alarmName}",
        )
    details = {"runbook": rule.runbook, "alarm": d.alarmName, "alarm_kind": kind, "state": d.state.value}
    if d.state.value == "ALARM":
        return decide(
            deps,
            event,
            capability="remediation",
            subject=subject,
            decision="runbook-selected",
            reason=f"{d.alarmName} in ALARM selects runbook {rule.runbook}",
            details=details,
        )
    if d.state.value == "OK":
        return decide(
            deps,
            event,
            capability="remediation",
            subject=subject,
            decision="resolved",
            reason=f"{d.alarmName} back to OK",
            details=details,
        )
    if rule.on_insufficient_data == "notify":
        deps.notifier.publish(
            subject=f"{d.alarmName} has insufficient data",
            text=d.state.reason,
            capability="remediation",
            environment=policy.environment,
            severity="warning",
        )
        return decide(
            deps,
            event,
            capability="remediation",
            subject=subject,
            decision="notified",
            reason=f"{d.alarmName} INSUFFICIENT_DATA: notified only",
            details=details,
        )
    return decide(
        deps,
        event,
        capability="remediation",
        subject=subject,
        decision="ignored",
        reason=f"{d.alarmName} INSUFFICIENT_DATA ignored by policy",
        details=details,
    )
