"""The remediation state machine's Lambda tasks (statemachines/remediation.asl.json), one op each:

begin     open or join the incident, guardrails (cooldown, bounds, lock, actions per hour), plan, approval needed?
act       make the planned calls (or record them as a dry-run plan); AWS errors -> RunbookThrottledError
          (retried by ASL Retry) or RunbookAccessDeniedError / RunbookFailedError (escalated)
watch     wait for the alarm's OK event (deckwatch.watches, answered by the alarm-events function)
escalate  tell the policy's escalation target, with the incident's timeline
close     record the outcome (and time to mitigate), release the lock, close the incident if verified
"""

from __future__ import annotations

import contextlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deckwatch import clock, observe, watches
from deckwatch.actions import Executor, errors_as
from deckwatch.config import Environment
from deckwatch.context import Services
from deckwatch.errors import DeckwatchError, InvalidEventError, LockHeldError, LockLostError
from deckwatch.intake import describe
from deckwatch.ledger import Action, Kind
from deckwatch.locks import acquire_or_record
from deckwatch.remediation import guardrails, incidents, runbooks
from deckwatch.remediation.errors import (
    RunbookAccessDeniedError,
    RunbookError,
    RunbookFailedError,
    RunbookThrottledError,
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AlarmRef(Strict):
    name: str = Field(min_length=1, max_length=255)
    arn: str = ""
    at: str = Field(default="", description="When Deckwatch learned the ALARM (its clock: durations start here).")
    state_at: str = Field(default="", description="The alarm's own state.timestamp, for the record.")
    event_id: str = ""
    kind: Literal["metric", "composite"] = "metric"


class RunInput(Strict):
    """Input of the remediation state machine: console runs (events/statemachines/remediation/*.json) and the
    alarm path (which adds `alarm` and `incident`)."""

    environment: Environment
    runbook: str = Field(min_length=1)
    target: str = Field(default="", description="Resource key: ecs:<cluster>/<service>, rds:<id>, service:<name>.")
    parameters: dict[str, str | int | float | bool] = Field(default_factory=dict)
    dry_run: bool = Field(default=False, alias="dryRun")
    alarm: AlarmRef | None = Field(default=None, description="Verify against this alarm's OK (console: optional).")
    incident: str | None = None
    requested_by: str = Field(default="console", alias="requestedBy")


class PlanDoc(Strict):
    """What `begin` decided; the rest of the execution works from it."""

    allowed: bool
    reason: str = ""
    incident: str
    owns_incident: bool = True
    resource: str
    runbook: str
    dry_run: bool
    approval: bool = False
    verify: bool = False
    verify_seconds: int = 600
    approval_timeout_seconds: int = 1800
    locked: bool = False
    summary: str = ""
    escalate_to: str | None = None
    alarm: str | None = None
    alarm_at: str = ""
    opened_at: str = ""
    actions: list[Action] = Field(default_factory=list)


class BeginTask(Strict):
    op: Literal["begin"]
    execution: str
    run: RunInput


class ActTask(Strict):
    op: Literal["act"]
    execution: str
    run: RunInput
    plan: PlanDoc


class WatchTask(Strict):
    op: Literal["watch"]
    task_token: str = Field(min_length=1, alias="taskToken")
    execution: str
    plan: PlanDoc


class EscalateTask(Strict):
    op: Literal["escalate"]
    execution: str
    run: RunInput
    plan: PlanDoc
    reason: str
    error: dict[str, Any] | None = None


class CloseTask(Strict):
    op: Literal["close"]
    execution: str
    run: RunInput
    plan: PlanDoc
    outcome: Literal["mitigated", "refused", "rejected", "approval-expired", "failed", "unverified", "planned", "done"]
    verification: dict[str, Any] | None = None


class AbandonTask(Strict):
    """A step failed (Begin, Close, an approval's expiry): leave nothing half-done."""

    op: Literal["abandon"]
    execution: str
    run: RunInput
    plan: dict[str, Any] | None = None  # {"result": PlanDoc} once Begin planned
    error: dict[str, Any] | None = None


class RemediationTask(BaseModel):
    task: Annotated[BeginTask | ActTask | WatchTask | EscalateTask | CloseTask | AbandonTask, Field(discriminator="op")]


def handle(
    task: BeginTask | ActTask | WatchTask | EscalateTask | CloseTask | AbandonTask, deps: Services
) -> dict[str, Any]:
    from deckwatch.logging import task as log_task

    plan = getattr(task, "plan", None)
    resource = plan.resource if isinstance(plan, PlanDoc) else ((plan or {}).get("result") or {}).get("resource")
    log_task(
        task.op, execution=task.execution, resource=resource or getattr(getattr(task, "run", None), "target", None)
    )
    if isinstance(task, AbandonTask):
        return abandon(task, deps)
    if isinstance(task, BeginTask):
        return begin(task, deps)
    if isinstance(task, ActTask):
        return act(task, deps)
    if isinstance(task, WatchTask):
        return watch(task, deps)
    if isinstance(task, EscalateTask):
        return escalate(task, deps)
    return close(task, deps)


def _name(execution: str) -> str:
    return execution.rsplit(":", 1)[-1]


# ----------------------------------------------------------------------------------------------- begin --------
def begin(task: BeginTask, deps: Services) -> dict[str, Any]:
    run, env = task.run, deps.settings.environment
    if run.environment != env:
        raise InvalidEventError(f"remediation for {run.environment} sent to the {env} stack")
    loaded = deps.policy()
    policy = loaded.policy
    rb = runbooks.get(run.runbook)
    try:
        params = rb.validate(run.target or None, dict(run.parameters))
    except (ValidationError, ValueError) as exc:
        reason = describe(exc) if isinstance(exc, ValidationError) else str(exc)
        raise InvalidEventError(f"{run.runbook}: {reason.replace('malformed event', 'bad parameters')}") from None
    alarm = run.alarm.name if run.alarm else None
    resource = rb.resource_of(params) or (f"alarm:{alarm}" if alarm else f"console:{_name(task.execution)}")

    def resource_of(raw: dict[str, Any]) -> str:
        return rb.resource_of(rb.validate(None, dict(raw)))

    rule = guardrails.rule_for(policy, rb.name, resource, alarm, resource_of)
    bounds = rule.bounds if rule is not None else _default_bounds()
    dry_run = policy.dry_run or run.dry_run
    base: dict[str, Any] = {
        "resource": resource,
        "runbook": rb.name,
        "dry_run": dry_run,
        "verify_seconds": max(60, (rule.verify_minutes if rule else 10) * 60),
        "approval_timeout_seconds": max(60, policy.remediation.approval_timeout_minutes * 60),
        "escalate_to": rule.escalate_to if rule else None,
        "alarm": alarm,
        "alarm_at": run.alarm.at if run.alarm else "",
    }

    # the incident: opened by the alarm path (run.incident), or here for a console run
    if run.incident:
        iid, owns = run.incident, True
        current = incidents.get(deps, resource, rb.name)
        opened_at = str(current["opened_at"]) if current and current["incident_id"] == iid else clock.iso()
        incidents.set_status(deps, resource, rb.name, iid, "active")
    else:
        inc, owns = incidents.open_or_join(
            deps,
            resource=resource,
            runbook=rb.name,
            opener=task.execution,
            alarm=run.alarm.model_dump() if run.alarm else None,
            execution=task.execution,
        )
        iid, opened_at = str(inc["incident_id"]), str(inc["opened_at"])
        if owns:
            _rec(
                deps,
                task,
                iid,
                resource,
                "incident",
                "incident-opened",
                f"console run of {rb.name} on {resource}",
                rb.name,
                alarm,
                extra={"incident_state": "open", "requested_by": run.requested_by},
            )
    base |= {"incident": iid, "owns_incident": owns, "opened_at": opened_at}

    def refuse(reason: str, **extra: Any) -> dict[str, Any]:
        _rec(deps, task, iid, resource, "refusal", "refused", reason, rb.name, alarm, dry_run=dry_run)
        return PlanDoc(allowed=False, reason=reason, **base, **extra).model_dump(mode="json")

    if not owns:
        return refuse(f"incident {iid} is already open for {resource} ({rb.name}): joined, not acting twice")
    cooling = guardrails.cooldown_refusal(deps, rb.name, resource)
    if cooling:
        return refuse(cooling)
    from deckwatch import maintenance

    under = maintenance.covering(deps, [resource, f"alarm:{alarm}" if alarm else ""])
    if under is not None:  # started while the incident opened, or a console run: people are working on it
        return refuse(under.describe())
    ctx = runbooks.PlanContext(deps=deps, policy=policy, bounds=bounds, alarm=alarm)
    try:
        plan = rb.plan(params, ctx)
    except runbooks.Refusal as refusal:
        return refuse(str(refusal))
    lockable = not resource.startswith(("alarm:", "console:"))
    locked = False
    if lockable:
        if dry_run:
            holder = deps.state.leases.holder(resource)
            if holder is not None and holder["owner"] != task.execution:
                return refuse(f"locked by {holder['capability']} ({holder['owner']})")
        else:
            lease = base["approval_timeout_seconds"] + base["verify_seconds"] + 900
            try:
                acquire_or_record(
                    deps.state.leases,
                    deps.ledger,
                    resource=resource,
                    owner=task.execution,
                    capability="remediation",
                    environment=deps.settings.environment,
                    lease_seconds=lease,
                    event_id=_name(task.execution),
                    policy_version=loaded.version,
                )
            except LockHeldError as held:
                return refuse(f"locked by {held.capability} ({held.holder})")
            locked = True
    spent = guardrails.take_budget(deps, env, policy.remediation.max_actions_per_hour, reserve=not dry_run)
    if spent:
        if locked:
            deps.state.leases.release(resource, task.execution)
        return refuse(spent)
    approval = not dry_run and ((rule is not None and rule.approval_required) or (rb.disruptive and env == "prod"))
    doc = PlanDoc(
        allowed=True,
        approval=approval,
        verify=bool(alarm) and not dry_run,
        locked=locked,
        summary=f"{plan.summary} (runbook {rb.name}, incident {iid}" + (f", alarm {alarm})" if alarm else ")"),
        actions=plan.actions,
        **base,
    )
    _rec(
        deps,
        task,
        iid,
        resource,
        "incident",
        "guardrails-passed",
        doc.summary,
        rb.name,
        alarm,
        dry_run=dry_run,
        extra={"approval_required": approval, "planned_calls": len(plan.actions)},
    )
    return doc.model_dump(mode="json")


def _default_bounds() -> Any:
    from deckwatch.policy.model import Bounds

    return Bounds()


def _rec(
    deps: Services,
    task: Any,
    iid: str,
    resource: str,
    kind: Any,
    decision: str,
    reason: str,
    runbook: str,
    alarm: str | None,
    *,
    dry_run: bool = False,
    extra: dict[str, Any] | None = None,
    suffix: str = "",
) -> None:
    incidents.record(
        deps,
        record_id=f"{_name(task.execution)}:{decision}{suffix}",
        iid=iid,
        subject=resource,
        kind=kind,
        decision=decision,
        reason=reason,
        execution=task.execution,
        dry_run=dry_run,
        details={"resource": resource, "runbook": runbook, "alarm": alarm or "", **(extra or {})},
    )


# ----------------------------------------------------------------------------------------------- act ----------
def act(task: ActTask, deps: Services) -> dict[str, Any]:
    plan = task.plan
    if not plan.dry_run:
        rule_minutes = _cooldown_minutes(deps, plan)
        guardrails.start_cooldown(deps, plan.runbook, plan.resource, rule_minutes)
    started = clock.iso()
    # botocore's retries off: throttling surfaces to the state machine's Retry (visible in the execution history,
    # backoff in Step Functions rather than in a Lambda's billed time)
    executor = Executor(
        deps.clients,
        dry_run=plan.dry_run,
        attempts=1,
        errors=errors_as(
            throttled=RunbookThrottledError,
            denied=RunbookAccessDeniedError,
            failed=RunbookFailedError,
            unknown=RunbookFailedError,
        ),
    )
    for i, action in enumerate(plan.actions):
        _act_once(deps, task, executor, i, action)
    if not plan.dry_run:
        incidents.set_status(deps, plan.resource, plan.runbook, plan.incident, "acted")
    return {"calls": 0 if plan.dry_run else len(plan.actions), "dry_run": plan.dry_run, "at": started}


def _act_once(deps: Services, task: ActTask, executor: Executor, i: int, action: Action) -> None:
    """One call of the plan: the intent recorded before it, the observed outcome after it. A call that got no
    answer is settled by reading the world (deckwatch.observe): applied counts as done, whatever the error."""
    plan = task.plan
    name = _name(task.execution)
    details = {"resource": plan.resource, "runbook": plan.runbook, "alarm": plan.alarm or ""}

    def rec(key: str, decision: str, kind: Kind, outcome: str, reason: str, **more: Any) -> None:
        incidents.record(
            deps,
            record_id=f"{name}:{key}:{i}",
            iid=plan.incident,
            subject=plan.resource,
            kind=kind,
            decision=decision,
            reason=reason,
            execution=task.execution,
            action=action,
            dry_run=plan.dry_run,
            outcome=outcome,
            details=details | more,
        )

    call = f"{action.service}:{action.operation}"
    if plan.dry_run:
        executor.call(action.service, action.operation, **action.parameters)
        rec("act", "planned", "action", "planned", f"{call} (dry-run: not called)")
        return
    rec("intent", "intent", "intent", "pending", f"about to call {call}")
    try:
        executor.call(action.service, action.operation, **action.parameters)
    except RunbookError:
        done = executor.performed[-1]
        if done.outcome == "unknown":
            seen = observe.applied(deps.clients, action)
            if seen is not None:
                executor.resolve(seen, "re-read")
                done = executor.performed[-1]
        if done.outcome == "done":
            rec("act", "acted", "action", "done", f"{call} (no answer; the re-read shows it applied)", note=done.error)
            return
        rec("act-failed", "action-failed", "action", done.outcome, f"{call}: {done.error}")
        raise
    rec("act", "acted", "action", "done", call)


def _cooldown_minutes(deps: Services, plan: PlanDoc) -> int:
    policy = deps.policy().policy
    rb = runbooks.get(plan.runbook)

    def resource_of(raw: dict[str, Any]) -> str:
        return rb.resource_of(rb.validate(None, dict(raw)))

    rule = guardrails.rule_for(policy, plan.runbook, plan.resource, plan.alarm, resource_of)
    return rule.cooldown_minutes if rule is not None else 15


# ----------------------------------------------------------------------------------------------- watch --------
def watch(task: WatchTask, deps: Services) -> dict[str, Any]:
    plan = task.plan
    if not plan.alarm:
        raise InvalidEventError("nothing to verify: the run names no alarm")
    incidents.set_status(deps, plan.resource, plan.runbook, plan.incident, "verifying")
    _rec(
        deps,
        task,
        plan.incident,
        plan.resource,
        "incident",
        "verifying",
        f"waiting up to {plan.verify_seconds}s for {plan.alarm} to return to OK",
        plan.runbook,
        plan.alarm,
    )
    return watches.register(
        deps,
        alarm_name=plan.alarm,
        states=["OK"],
        task_token=task.task_token,
        watch_id=_name(task.execution),
        owner=task.execution,
        capability="remediation",
        ttl_seconds=plan.verify_seconds + 60,
    )


# ----------------------------------------------------------------------------------------------- escalate -----
def escalate(task: EscalateTask, deps: Services) -> dict[str, Any]:
    plan = task.plan
    if plan.alarm:
        watches.cancel(deps, plan.alarm, _name(task.execution))
    cause = _cause(task.error)
    reason = task.reason + (f": {cause}" if cause else "")
    history = [
        {"time": r.get("time"), "kind": r.get("kind"), "decision": r.get("decision"), "reason": r.get("reason")}
        for r in incidents.timeline(deps, plan.resource, plan.runbook, plan.incident, since=plan.opened_at[:19])
    ][-50:]
    target = plan.escalate_to or "on-call (notifications topic)"
    deps.notifier.publish(
        subject=f"escalation: {plan.runbook} on {plan.resource}",
        text=(
            f"Escalated to {target}: {reason}.\nIncident {plan.incident}: {plan.summary or plan.reason}\n"
            f"Timeline: deckwatch ledger --env {deps.settings.environment} --subject {plan.resource}"
        ),
        capability="remediation",
        environment=deps.settings.environment,
        severity="critical",
        data={"escalate_to": target, "incident": plan.incident, "timeline": history},
    )
    _rec(
        deps,
        task,
        plan.incident,
        plan.resource,
        "notification",
        "escalated",
        f"to {target}: {reason}",
        plan.runbook,
        plan.alarm,
        extra={"escalate_to": target},
    )
    return {"escalated_to": target, "reason": reason}


def _cause(error: dict[str, Any] | None) -> str:
    if not error:
        return ""
    cause = str(error.get("Cause", ""))
    try:
        doc = json.loads(cause)
    except json.JSONDecodeError:
        return f"{error.get('Error', '')} {cause}".strip()
    if isinstance(doc, dict):
        return f"{doc.get('errorType', error.get('Error', ''))}: {doc.get('errorMessage', '')}"
    return cause


# ----------------------------------------------------------------------------------------------- close --------
def close(task: CloseTask, deps: Services) -> dict[str, Any]:
    plan, outcome = task.plan, task.outcome
    if plan.locked:
        with contextlib.suppress(LockLostError):  # expired and taken over: nothing of ours to release
            deps.state.leases.release(plan.resource, task.execution)
    if not plan.owns_incident:
        return {"outcome": outcome, "incident": plan.incident, "incident_state": "joined"}
    verified_at = str((task.verification or {}).get("at", ""))
    ttm = incidents.seconds_between(plan.alarm_at, verified_at) if plan.alarm_at and verified_at else None
    closes = outcome == "mitigated" or not plan.alarm
    if closes:
        incidents.close(deps, plan.resource, plan.runbook, plan.incident)
    else:
        incidents.set_status(deps, plan.resource, plan.runbook, plan.incident, outcome)
    state = "closed" if closes else "open"
    if closes:
        from deckwatch import metrics

        mitigated_in = float(ttm) if outcome == "mitigated" and ttm is not None else None
        metrics.emit(
            deps.settings,
            {"IncidentsClosed": 1, "TimeToMitigate": mitigated_in},
            Runbook=plan.runbook,
            Outcome=outcome,
        )
    reason = {
        "mitigated": f"{plan.alarm} back to OK after the action" + (f" ({ttm:.0f}s after the alarm)" if ttm else ""),
        "refused": plan.reason,
        "rejected": "a person rejected the action",
        "approval-expired": "nobody approved in time",
        "failed": "the action failed; escalated",
        "unverified": f"{plan.alarm} did not return to OK within {plan.verify_seconds}s; escalated",
        "planned": "dry-run: plan recorded, nothing changed",
        "done": "acted; no alarm to verify against",
    }[outcome]
    if state == "open":
        reason += "; the incident stays open until the alarm is OK"
    _rec(
        deps,
        task,
        plan.incident,
        plan.resource,
        "incident",
        f"incident-{outcome}",
        reason,
        plan.runbook,
        plan.alarm,
        dry_run=plan.dry_run,
        extra={"outcome": outcome, "incident_state": state, "time_to_mitigate_seconds": ttm},
    )
    return {"outcome": outcome, "incident": plan.incident, "incident_state": state, "time_to_mitigate_seconds": ttm}


# ----------------------------------------------------------------------------------------------- abandon ------
def abandon(task: AbandonTask, deps: Services) -> dict[str, Any]:
    """The way out of a failed step: the lock released, the incident closed as failed (so that the next ALARM
    opens a new one and acts again, and an OK finds nothing stuck), a ledger record, people told."""
    run = task.run
    raw = (task.plan or {}).get("result")
    plan = PlanDoc.model_validate(raw) if isinstance(raw, dict) else None
    resource, runbook = (plan.resource, plan.runbook) if plan else (_resource_of(run), run.runbook)
    iid = plan.incident if plan else (run.incident or "")
    cause = _cause(task.error)
    released = False
    if resource:
        with contextlib.suppress(LockLostError):  # taken over after expiry, or never ours: nothing to release
            released = deps.state.leases.release(resource, task.execution)
        if plan is not None and plan.alarm:
            watches.cancel(deps, plan.alarm, _name(task.execution))
    closed = incidents.close(deps, resource, runbook, iid) if resource and iid else None
    incidents.record(
        deps,
        record_id=f"{_name(task.execution)}:incident-abandoned",
        iid=iid,
        subject=resource or f"console:{_name(task.execution)}",
        kind="incident",
        decision="incident-failed",
        reason=f"a step failed ({cause or 'unknown error'}): lock released, incident closed as failed",
        execution=task.execution,
        details={
            "resource": resource,
            "runbook": runbook,
            "alarm": plan.alarm if plan else "",
            "outcome": "failed",
            "incident_state": "closed" if closed is not None else "absent",
            "lock_released": released,
            "error": task.error or {},
        },
    )
    deps.notifier.publish(
        subject=f"remediation FAILED: {runbook} on {resource or '?'}",
        text=f"Incident {iid or '(none)'}: a step failed and the run was abandoned.\n{cause}",
        capability="remediation",
        environment=deps.settings.environment,
        severity="critical",
        data={"incident": iid, "execution": task.execution, "error": task.error or {}},
    )
    return {"abandoned": True, "incident": iid, "lock_released": released}


def _resource_of(run: RunInput) -> str:
    """The resource a run would have locked (Begin failed before its plan), or "" when it cannot be told."""
    try:
        rb = runbooks.get(run.runbook)
        return rb.resource_of(rb.validate(run.target or None, dict(run.parameters)))
    except (ValidationError, ValueError, DeckwatchError):
        return ""
