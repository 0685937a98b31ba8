"""Which runbook an alarm state change selects, by the policy's name, prefix or tag rules."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from deckwatch import clock
from deckwatch.decisions import decide, decision_id, decision_record
from deckwatch.events.alarm import AlarmEvent

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.policy.model import RemediationRule


def match_rule(rules: list[RemediationRule], name: str, tags: dict[str, str] | None) -> RemediationRule | None:
    """First rule that matches; tag rules only match when the alarm's tags are known. No rule ever matches one of
    Deckwatch's own alarms (deckwatch-<env>-...: its failures, for people to look at)."""
    from fnmatch import fnmatchcase

    from deckwatch.policy.model import OWN_ALARM_NAMES

    if OWN_ALARM_NAMES.match(name):
        return None
    for rule in rules:
        m = rule.alarm
        if (m.name is not None and m.name == name) or (m.prefix is not None and name.startswith(m.prefix)):
            return rule
        if m.pattern is not None and fnmatchcase(name, m.pattern):
            return rule
        if m.tag is not None and tags is not None and tags.get(m.tag["key"]) == m.tag["value"]:
            return rule
    return None


def alarm_tags(cw: Any, alarm_arn: str) -> dict[str, str]:
    tags = cw.list_tags_for_resource(ResourceARN=alarm_arn).get("Tags", [])
    return {t["Key"]: t["Value"] for t in tags}


def triage(event: AlarmEvent, deps: Services) -> dict[str, Any]:
    result = _triage(event, deps, join_only=False)
    if result is None:  # not reached: only a join-only triage answers None
        raise RuntimeError(f"no triage decision for {event.id}")
    return result


def join(event: AlarmEvent, deps: Services) -> dict[str, Any] | None:
    """The triage of an ALARM that joins its resource's open, working incident, and nothing else: the join's ledger
    record and the incident's counter in one transaction, deduplicated by the record's id (the event's), so that
    it needs no idempotency record (an alarm storm's duplicates: one write each). None for every other event, and
    for a join that cannot be told by reading alone: the full triage (`triage`, behind the idempotency layer).
    Reads only until the join is certain; then one write."""
    if event.detail.state.value != "ALARM":
        return None
    return _triage(event, deps, join_only=True)


def _triage(event: AlarmEvent, deps: Services, *, join_only: bool) -> dict[str, Any] | None:
    from deckwatch.policy.model import OWN_ALARM_NAMES

    policy = deps.policy().policy
    d = event.detail
    conclude = _nothing if join_only else _decide
    if OWN_ALARM_NAMES.match(d.alarmName):
        return conclude(
            deps,
            event,
            decision="ignored",
            reason=f"{d.alarmName} is one of Deckwatch's own alarms: never remediated by Deckwatch (operators are "
            "notified by the alarm itself)",
        )
    rules = policy.remediation.rules
    tags = (
        alarm_tags(deps.clients("cloudwatch"), event.alarm_arn)
        if any(r.alarm.tag or r.service for r in rules) and event.resources
        else None
    )
    rule = match_rule(rules, d.alarmName, tags)
    kind = "composite" if d.is_composite else "metric"
    if rule is None:
        return conclude(
            deps,
            event,
            decision="ignored",
            reason=f"no remediation rule matches alarm {d.alarmName}",
        )
    details: dict[str, Any] = {
        "runbook": rule.runbook,
        "alarm": d.alarmName,
        "alarm_kind": kind,
        "state": d.state.value,
        "state_at": d.state.timestamp or event.time,  # the alarm's own clock; durations use Deckwatch's
    }
    silenced = d.silenced(d.state.timestamp or event.time) if d.state.value != "OK" else None
    if silenced and rule.respect_suppression:
        return conclude(
            deps,
            event,
            decision="suppressed",
            reason=f"{d.alarmName} {d.state.value}: {silenced}; recorded, no action and no page "
            "(the rule respects suppression)",
            details=details | {"silenced": silenced},
        )
    if rule.service is not None:
        live, colour = live_colour(deps, rule.service), (tags or {}).get("deckwatch:colour")
        details |= {"service": rule.service, "live_colour": live, "alarm_colour": colour}
        if live is None:
            return conclude(
                deps,
                event,
                decision="refused",
                reason=f"{d.alarmName}: the live colour of {rule.service} is unknown (no traffic parameters)",
                details=details,
            )
        if colour is not None and colour != live:
            return conclude(
                deps,
                event,
                decision="ignored",
                reason=f"{d.alarmName} is about {rule.service}'s idle colour {colour} ({live} serves the traffic)",
                details=details,
            )
    if d.state.value != "OK":
        held = _under_maintenance(event, deps, rule, details, join_only=join_only)
        if held is not None:
            return held or None
    if d.state.value == "ALARM":
        return _join(event, deps, rule, details) if join_only else _on_alarm(event, deps, rule, details)
    if join_only:
        return None
    if d.state.value == "OK":
        return _on_ok(event, deps, rule, details)
    if rule.on_insufficient_data == "notify":
        deps.notifier.publish(
            subject=f"{d.alarmName} has insufficient data",
            text=d.state.reason,
            capability="remediation",
            environment=policy.environment,
            severity="warning",
        )
        return conclude(
            deps,
            event,
            decision="notified",
            reason=f"{d.alarmName} INSUFFICIENT_DATA: notified only",
            details=details,
        )
    return conclude(
        deps,
        event,
        decision="ignored",
        reason=f"{d.alarmName} INSUFFICIENT_DATA ignored by policy",
        details=details,
    )


def _under_maintenance(
    event: AlarmEvent, deps: Services, rule: RemediationRule, details: dict[str, Any], *, join_only: bool = False
) -> dict[str, Any] | None:
    """An alarm (ALARM or INSUFFICIENT_DATA) about a resource under planned maintenance is recorded with the
    maintenance, and neither remediated nor paged; an incident open on the resource shows it in its timeline.
    `join_only`: {} when it is (nothing recorded: the full triage records it)."""
    from pydantic import ValidationError

    from deckwatch import maintenance
    from deckwatch.remediation import incidents

    d = event.detail
    try:
        resource = _resource(rule, d.alarmName, deps)
    except (ValidationError, ValueError):
        resource = ""
    keys = [f"alarm:{d.alarmName}", resource, f"service:{rule.service}" if rule.service else ""]
    under = maintenance.covering(deps, keys)
    if under is None:
        return None
    if join_only:
        return {}
    details = details | {"maintenance": under.doc(), "resource": resource}
    inc = incidents.get(deps, resource, rule.runbook) if resource else None
    if inc is not None:
        details["incident_id"] = inc["incident_id"]
    return _decide(
        deps,
        event,
        decision="under-maintenance",
        reason=f"{d.alarmName} {d.state.value}: not remediated, not paged: {under.describe()}",
        details=details,
    )


def live_colour(deps: Services, service: str) -> str | None:
    from deckwatch.cutover import colours

    return colours.live(deps, service)


def parameters(rule: RemediationRule, deps: Services) -> dict[str, Any]:
    """The runbook's parameters: the rule's, with a service's live colour filled in (cluster, service)."""
    params: dict[str, Any] = dict(rule.parameters)
    if rule.service is not None:
        svc = deps.policy().policy.service(rule.service)
        colour = live_colour(deps, rule.service)
        if svc is not None and svc.ecs is not None and colour is not None:
            params |= {"cluster": svc.ecs.cluster, "service": str(getattr(svc.ecs.services, colour))}
    return params


def _resource(rule: RemediationRule, alarm: str, deps: Services) -> str:
    """The resource the rule's runbook acts on (its lock key): one incident per (resource, runbook)."""
    from deckwatch.remediation import runbooks

    rb = runbooks.get(rule.runbook)
    params = rb.validate(None, parameters(rule, deps))
    return rb.resource_of(params) or f"alarm:{alarm}"


def _on_alarm(event: AlarmEvent, deps: Services, rule: RemediationRule, details: dict[str, Any]) -> dict[str, Any]:
    import json

    from pydantic import ValidationError

    from deckwatch.intake import describe
    from deckwatch.remediation import incidents

    d = event.detail
    try:
        resource = _resource(rule, d.alarmName, deps)
    except (ValidationError, ValueError) as exc:
        reason = describe(exc) if isinstance(exc, ValidationError) else str(exc)
        return _decide(
            deps,
            event,
            decision="rule-invalid",
            reason=f"rule for {d.alarmName}: runbook {rule.runbook} parameters: {reason}",
            details=details,
        )
    alarm = {
        "name": d.alarmName,
        "arn": event.alarm_arn,
        "at": clock.iso(),  # when Deckwatch learned it: every duration is measured on Deckwatch's one clock
        "state_at": d.state.timestamp or event.time,
        "event_id": event.id,
        "kind": details["alarm_kind"],
    }
    inc, opened = incidents.open_or_join(deps, resource=resource, runbook=rule.runbook, opener=event.id, alarm=alarm)
    if not opened and _dead(deps, inc):
        # the incident's run died without closing it, or never started: take it over rather than join it
        incidents.close(deps, resource, rule.runbook, str(inc["incident_id"]))
        details["replaced_incident"] = str(inc["incident_id"])
        inc, opened = incidents.open_or_join(
            deps, resource=resource, runbook=rule.runbook, opener=event.id, alarm=alarm
        )
    iid = str(inc["incident_id"])
    details |= {"incident_id": iid, "resource": resource, "incident_state": "open"}
    if not opened:
        return _decide(
            deps,
            event,
            decision="incident-joined",
            reason=f"{d.alarmName} in ALARM joins open incident {iid} ({inc.get('status')}): no second action",
            details=details,
        )
    from deckwatch import metrics

    try:
        result = _decide(
            deps,
            event,
            decision="runbook-selected",
            reason=f"{d.alarmName} in ALARM selects runbook {rule.runbook} on {resource}: incident {iid} opened",
            details=details,
        )
        run = {
            "environment": deps.settings.environment,
            "runbook": rule.runbook,
            "target": "",
            "parameters": parameters(rule, deps),
            "dryRun": deps.policy().policy.dry_run,
            "alarm": alarm,
            "incident": iid,
            "requestedBy": "alarm",
        }
        _start(deps, iid, json.dumps(run))
    except Exception:
        _unopen(deps, resource, rule.runbook, iid)
        raise
    metrics.emit(deps.settings, {"IncidentsOpened": 1}, Runbook=rule.runbook)
    return result


def _join(event: AlarmEvent, deps: Services, rule: RemediationRule, details: dict[str, Any]) -> dict[str, Any] | None:
    """`join`'s end: the open incident of the rule's resource, if it is working and this event did not open it,
    joined by the record of the join and the incident's counter in one transaction (Ledger.append_with)."""
    from pydantic import ValidationError

    from deckwatch.remediation import incidents

    d = event.detail
    try:
        resource = _resource(rule, d.alarmName, deps)
    except (ValidationError, ValueError):
        return None
    inc = incidents.get(deps, resource, rule.runbook)
    if inc is not None and inc.get("opener") == event.id:
        return None  # this event's own incident: a redelivery of its opener, answered by the idempotency layer
    if inc is None or _dead(deps, inc):
        # nothing to join, or an incident to take over: the full triage, unless this event joined one already
        # (a redelivery after that incident closed must not open another)
        earlier = deps.ledger.lookup(decision_id(event.id, "remediation", event.alarm_arn))
        if earlier is None or earlier.get("decision") != "incident-joined":
            return None
        return {k: earlier[k] for k in ("capability", "subject", "decision", "reason")}
    iid = str(inc["incident_id"])
    details = details | {"incident_id": iid, "resource": resource, "incident_state": "open"}
    decision = "incident-joined"
    reason = f"{d.alarmName} in ALARM joins open incident {iid} ({inc.get('status')}): no second action"
    change = deps.state.incidents.join_change(resource, rule.runbook, iid, event.alarm_arn or None)
    written = deps.ledger.append_with(
        decision_record(
            deps,
            event_id=event.id,
            capability="remediation",
            subject=event.alarm_arn,
            decision=decision,
            reason=reason,
            details=details,
        ),
        change,
    )
    if written == "refused":
        return None  # closed or replaced since it was read: the full triage opens or joins the one open now
    return {"capability": "remediation", "subject": event.alarm_arn, "decision": decision, "reason": reason}


def _unopen(deps: Services, resource: str, runbook: str, iid: str) -> None:
    """The event that opened `iid` failed before its execution started (the event goes to the DLQ, whose redrive
    opens it again under the same id): no incident may stay open with nothing working on it, or later alarms would
    join it and nothing would act (issue: stuck incidents). Best effort: the failure being handled wins."""
    from deckwatch.remediation import incidents

    with contextlib.suppress(Exception):
        if _run_status(deps, {"incident_id": iid}) != "NOT_STARTED":
            return  # started after all (the error came after StartExecution): the execution owns the incident
        incidents.close(deps, resource, runbook, iid)


def _start(deps: Services, name: str, payload: str) -> None:
    """Start the incident's execution; its name is the incident id, so a redelivered event starts nothing new."""
    arn = deps.settings.require("remediation_state_machine_arn")
    sfn = deps.clients("stepfunctions")
    with contextlib.suppress(sfn.exceptions.ExecutionAlreadyExists):  # started by an earlier delivery
        sfn.start_execution(stateMachineArn=arn, name=name, input=payload)


def _on_ok(event: AlarmEvent, deps: Services, rule: RemediationRule, details: dict[str, Any]) -> dict[str, Any]:
    from pydantic import ValidationError

    from deckwatch.remediation import incidents

    d = event.detail
    reason = f"{d.alarmName} back to OK"
    try:
        resource = _resource(rule, d.alarmName, deps)
    except (ValidationError, ValueError):
        resource = ""
    inc = incidents.get(deps, resource, rule.runbook) if resource else None
    if inc is not None:
        ttm = incidents.seconds_between(str(inc["alarm_at"]), clock.iso())  # both on Deckwatch's clock
        details |= {"incident_id": inc["incident_id"], "resource": resource, "time_to_mitigate_seconds": ttm}
        # a run still working (or being started by its opener) is closed by its verification, answered by this OK
        if inc["status"] in ("open", "active", "acted", "verifying") and _alive(deps, inc):
            # the execution is still working: its verification (answered by this event) closes the incident
            details["incident_state"] = "open"
            reason += f"; incident {inc['incident_id']} is closed by its verification"
        elif incidents.close(deps, resource, rule.runbook, str(inc["incident_id"])) is not None:
            from deckwatch import metrics

            details |= {"incident_state": "closed", "outcome": f"resolved-after-{inc['status']}"}
            metrics.emit(deps.settings, {"IncidentsClosed": 1}, Runbook=rule.runbook, Outcome=details["outcome"])
            reason += f": incident {inc['incident_id']} resolved ({inc['status']} before), {ttm}s after the alarm"
    return _decide(
        deps,
        event,
        decision="resolved",
        reason=reason,
        details=details,
    )


# An incident not started this long after it opened will never be by its opener (Lambda's longest run is 15 min).
NEVER_STARTED_AFTER_SECONDS = 900


def _dead(deps: Services, incident: dict[str, Any]) -> bool:
    """Its run ended without closing it, or was never started and never will be."""
    status = _run_status(deps, incident)
    if status == "NOT_STARTED":
        return not _young(incident)
    return status in ("FAILED", "TIMED_OUT", "ABORTED")


def _alive(deps: Services, incident: dict[str, Any]) -> bool:
    """Its run is working, or its opener is starting it now."""
    status = _run_status(deps, incident)
    return status == "RUNNING" or (status == "NOT_STARTED" and _young(incident))


def _young(incident: dict[str, Any]) -> bool:
    from deckwatch.remediation import incidents

    age = incidents.seconds_between(str(incident.get("opened_at", "")), clock.iso())
    return age is None or age <= NEVER_STARTED_AFTER_SECONDS


def _run_status(deps: Services, incident: dict[str, Any]) -> str:
    """The status of the incident's remediation execution: NOT_STARTED when there is none (its opener starts it
    right after opening the incident, or failed to and closed it, or died in between)."""
    machine = deps.settings.remediation_state_machine_arn
    if not machine:
        return "RUNNING"
    execution = str(incident.get("execution") or incident["incident_id"])
    if not execution.startswith("arn:"):
        execution = f"{machine.replace(':stateMachine:', ':execution:')}:{execution}"
    sfn = deps.clients("stepfunctions")
    try:
        return str(sfn.describe_execution(executionArn=execution)["status"])
    except sfn.exceptions.ExecutionDoesNotExist:
        return "NOT_STARTED"


def _nothing(
    deps: Services, event: AlarmEvent, decision: str, reason: str, details: dict[str, Any] | None = None
) -> None:
    """A join-only triage (`join`) records no other decision: the full triage does."""
    return None


def _decide(
    deps: Services, event: AlarmEvent, decision: str, reason: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Every remediation triage decision is about the alarm that raised it."""
    return decide(
        deps,
        event,
        capability="remediation",
        subject=event.alarm_arn,
        decision=decision,
        reason=reason,
        details=details,
    )
