"""Guardrails before any remediation acts: cooldown per (runbook, resource) and a budget of actions per hour per
environment, both as conditional writes in the locks table (two concurrent executions cannot both pass).
Bounds are the runbooks' own (runbooks.Refusal); the lease lock is deckwatch.locks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deckwatch import clock

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.policy.model import Policy, RemediationRule


def cooldown_refusal(deps: Services, runbook: str, resource: str) -> str | None:
    """Why the runbook may not act on `resource` yet, or None."""
    item = deps.locks.client.get_item(
        TableName=deps.locks.table_name, Key={"pk": {"S": f"cooldown#{runbook}#{resource}"}}, ConsistentRead=True
    ).get("Item")
    if not item:
        return None
    until = int(item["until"]["N"])
    if until <= int(clock.now_epoch()):
        return None
    return (
        f"cooldown: {runbook} acted on {resource} at {item['acted_at']['S']}; "
        f"next action allowed after {clock.iso(until)}"
    )


def start_cooldown(deps: Services, runbook: str, resource: str, minutes: int) -> None:
    now = int(clock.now_epoch())
    deps.locks.client.put_item(
        TableName=deps.locks.table_name,
        Item={
            "pk": {"S": f"cooldown#{runbook}#{resource}"},
            "acted_at": {"S": clock.iso()},
            "until": {"N": str(now + minutes * 60)},
            "expires_at": {"N": str(now + minutes * 60 + 86400)},
        },
    )


def take_budget(deps: Services, environment: str, limit: int, *, reserve: bool) -> str | None:
    """Count one action against this hour's budget; the refusal reason when it is spent (nothing counted)."""
    hour = clock.iso()[:13]
    if limit <= 0:
        return _budget_reason(environment, limit, hour)
    pk = {"S": f"budget#{environment}#{hour}"}
    ddb = deps.locks.client
    if not reserve:  # dry-run: tell whether it would pass, count nothing
        item = ddb.get_item(TableName=deps.locks.table_name, Key={"pk": pk}, ConsistentRead=True).get("Item")
        used = int(item["used"]["N"]) if item else 0
        return None if used < limit else _budget_reason(environment, limit, hour)
    try:
        ddb.update_item(
            TableName=deps.locks.table_name,
            Key={"pk": pk},
            UpdateExpression="ADD used :one SET expires_at = :exp",
            ConditionExpression="attribute_not_exists(used) OR used < :limit",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":limit": {"N": str(limit)},
                ":exp": {"N": str(int(clock.now_epoch()) + 7200)},
            },
        )
    except ddb.exceptions.ConditionalCheckFailedException:
        return _budget_reason(environment, limit, hour)
    return None


def give_back_budget(deps: Services, environment: str) -> None:
    """Return an action reserved by take_budget that was not taken (e.g. the lock was refused after)."""
    deps.locks.client.update_item(
        TableName=deps.locks.table_name,
        Key={"pk": {"S": f"budget#{environment}#{clock.iso()[:13]}"}},
        UpdateExpression="ADD used :minus",
        ConditionExpression="used > :zero",
        ExpressionAttributeValues={":minus": {"N": "-1"}, ":zero": {"N": "0"}},
    )


def _budget_reason(environment: str, limit: int, hour: str) -> str:
    return f"max actions per hour: {limit} remediation action(s) already taken in {environment} this hour ({hour}h)"


def rule_for(
    policy: Policy, runbook: str, resource: str, alarm: str | None, resource_of: Any
) -> RemediationRule | None:
    """The policy rule whose guardrails apply: the one matching the alarm, else one for the same runbook and
    resource (console runs), else None (defaults)."""
    from deckwatch.remediation.triage import match_rule

    rules = policy.remediation.rules
    if alarm:
        found = match_rule(rules, alarm, None)
        if found is not None and found.runbook == runbook:
            return found
    for rule in rules:
        if rule.runbook != runbook:
            continue
        try:
            if resource_of(rule.parameters) == resource:
                return rule
        except ValueError:
            continue
    return None
