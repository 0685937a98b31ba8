"""Guardrails before any remediation acts: cooldown per (runbook, resource) and a budget of actions per hour per
environment, both as conditional writes in the state table (two concurrent executions cannot both pass).
Bounds are the runbooks' own (runbooks.Refusal); the lease lock is deckwatch.locks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deckwatch import clock

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.policy.model import Policy, RemediationRule


def cooldown_refusal(deps: Services, runbook: str, resource: str) -> str | None:
    """Why the runbook may not act on `resource` yet, or None."""
    item = deps.state.cooldowns.get(runbook, resource)
    if not item:
        return None
    until = int(item["until"])
    if until <= int(clock.now_epoch()):
        return None
    return (
        f"cooldown: {runbook} acted on {resource} at {item['acted_at']}; next action allowed after {clock.iso(until)}"
    )


def start_cooldown(deps: Services, runbook: str, resource: str, minutes: int) -> None:
    deps.state.cooldowns.start(runbook, resource, minutes * 60)


def take_budget(deps: Services, environment: str, limit: int, *, reserve: bool) -> str | None:
    """Count one action against this hour's budget; the refusal reason when it is spent (nothing counted)."""
    hour = clock.iso()[:13]
    if limit <= 0:
        return _budget_reason(environment, limit, hour)
    budgets = deps.state.budgets
    if not reserve:  # dry-run: tell whether it would pass, count nothing
        return None if budgets.used(environment, hour) < limit else _budget_reason(environment, limit, hour)
    if not budgets.take(environment, hour, limit):
        return _budget_reason(environment, limit, hour)
    return None


def give_back_budget(deps: Services, environment: str) -> None:
    """Return an action reserved by take_budget that was not taken (e.g. the lock was refused after)."""
    deps.state.budgets.give_back(environment, clock.iso()[:13])


def _budget_reason(environment: str, limit: int, hour: str) -> str:
    return f"max actions per hour: {limit} remediation action(s) already taken in {environment} this hour ({hour}h)"


def rule_for(
    policy: Policy, runbook: str, resource: str, alarm: str | None, resource_of: Any
) -> RemediationRule | None:
    """The policy rule whose guardrails apply: the one matching the alarm, else one for the same runbook and
    resource (console runs), else None (defaults)."""
    from deckwatch.remediation.selection import match_rule

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
