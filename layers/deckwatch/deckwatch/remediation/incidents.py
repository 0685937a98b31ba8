"""Incidents: one open incident per (resource, runbook), so that an alarm storm acts once.

The open incident is one item of the state table (`state.OpenIncidents`), written with a condition
(attribute_not_exists): of hundreds of ALARM events for one resource, exactly one opens the incident and starts
the remediation state machine; the others join it (a counter, and the set of alarms that fired; a duplicate's
join is written with its ledger record, in one transaction: deckwatch.remediation.selection.join). It stays open
until the alarm is back to OK
(verified by the state machine, or an OK event after an escalation, a refusal or a dry run), then it is deleted.

The incident's timeline is in the ledger: every remediation record of the incident carries
details.incident_id (opened/joined, guardrails, approval, actions, verification, escalation, resolution), and
the closing record carries the measured time to mitigate (alarm -> OK).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from deckwatch import clock
from deckwatch.ledger import Action, Kind, Record

if TYPE_CHECKING:
    from deckwatch.context import Services

OPEN_TTL_SECONDS = 7 * 86400  # a forgotten incident (its OK never came) frees the resource after a week


def incident_id(environment: str, resource: str, runbook: str, opener: str) -> str:
    """Deterministic per opening event, usable as a Step Functions execution name (<= 80 chars)."""
    return "inc-" + uuid.uuid5(uuid.NAMESPACE_URL, f"{environment}|{resource}|{runbook}|{opener}").hex[:20]


def open_or_join(
    deps: Services,
    *,
    resource: str,
    runbook: str,
    opener: str,
    alarm: dict[str, str] | None,
    execution: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """(incident, opened): opened is True for the event that opened it (also when that event is redelivered)."""
    env = deps.settings.environment
    iid = incident_id(env, resource, runbook, opener)
    now = clock.iso()
    incident = {
        "incident_id": iid,
        "environment": env,
        "status": "open",
        "opener": opener,
        "opened_at": now,
        "alarm": (alarm or {}).get("name", ""),
        "alarm_at": (alarm or {}).get("at", "") or now,
        "execution": execution or iid,
        "expires_at": int(clock.now_epoch()) + OPEN_TTL_SECONDS,
    }
    return deps.state.incidents.open_or_join(resource, runbook, incident, (alarm or {}).get("arn") or None)


def get(deps: Services, resource: str, runbook: str) -> dict[str, Any] | None:
    return deps.state.incidents.get(resource, runbook)


def set_status(deps: Services, resource: str, runbook: str, iid: str, status: str) -> bool:
    """Update the open incident `iid` (False if it is closed or another incident is open meanwhile)."""
    return deps.state.incidents.set_status(resource, runbook, iid, status)


def close(deps: Services, resource: str, runbook: str, iid: str) -> dict[str, Any] | None:
    """Close the open incident `iid`; returns it, or None when it was closed already (exactly one closer)."""
    return deps.state.incidents.close(resource, runbook, iid)


def seconds_between(start: str, end: str) -> float | None:
    """Seconds from `start` to `end` (ISO, 'Z' or '+0000' as CloudWatch writes it), or None if unreadable."""
    try:
        return round((_parse(end) - _parse(start)).total_seconds(), 3)
    except ValueError:
        return None


def _parse(text: str) -> datetime:
    t = text.strip().replace("Z", "+00:00")
    if len(t) > 5 and t[-5] in "+-" and t[-3] != ":":
        t = t[:-2] + ":" + t[-2:]  # +0000 -> +00:00
    value = datetime.fromisoformat(t)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def record(
    deps: Services,
    *,
    record_id: str,
    iid: str,
    subject: str,
    kind: Kind,
    decision: str,
    reason: str = "",
    execution: str | None = None,
    event_id: str | None = None,
    action: Action | None = None,
    dry_run: bool = False,
    outcome: str | None = None,
    actor: str = "event",
    details: dict[str, Any] | None = None,
) -> Record:
    """One entry of the incident's timeline."""
    loaded = deps.policy()
    return deps.ledger.append(
        Record(
            record_id=record_id,
            environment=deps.settings.environment,
            capability="remediation",
            subject=subject,
            kind=kind,
            decision=decision,
            reason=reason,
            event_id=event_id,
            execution_arn=execution,
            action=action,
            dry_run=dry_run,
            outcome=outcome,
            policy_version=loaded.version,
            actor=actor,
            details={"incident_id": iid, **(details or {})},
        )
    )


def timeline(deps: Services, resource: str, runbook: str, iid: str, since: str = "") -> list[dict[str, Any]]:
    """The incident's records, oldest first: those about its resource and about each alarm that fired for it (read
    by subject: an alarm storm's ledger is large, one incident's part of it is not)."""
    current = get(deps, resource, runbook) or {}
    alarms = current.get("alarm_arns", set()) if current.get("incident_id") == iid else set()
    found: dict[str, dict[str, Any]] = {}
    for subject in (resource, *sorted(alarms)):
        for r in deps.ledger.by_subject(subject, since=since):
            if _iid(r) == iid:
                found[str(r["record_id"])] = r
    return sorted(found.values(), key=lambda r: (str(r["time"]), str(r["record_id"])))


def _iid(rec: dict[str, Any]) -> str | None:
    details = rec.get("details")
    return details.get("incident_id") if isinstance(details, dict) else None


def summarize(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Incidents from ledger records (what `deckwatch incidents` lists), newest first."""
    out: dict[str, dict[str, Any]] = {}
    for rec in sorted(records, key=lambda r: str(r.get("time", ""))):
        iid = _iid(rec)
        if not iid:
            continue
        d = rec.get("details", {})
        inc = out.setdefault(
            iid,
            {
                "incident_id": iid,
                "environment": rec.get("environment"),
                "resource": d.get("resource", ""),
                "runbook": d.get("runbook", ""),
                "alarm": d.get("alarm", ""),
                "opened_at": rec.get("time"),
                "state": "open",
                "outcome": None,
                "joined_events": 0,
                "actions": 0,
                "time_to_mitigate_seconds": None,
                "closed_at": None,
            },
        )
        for field in ("resource", "runbook", "alarm"):
            if d.get(field) and not inc[field]:
                inc[field] = d[field]
        if rec.get("decision") == "incident-joined":
            inc["joined_events"] += 1
        if rec.get("kind") == "action" and not rec.get("dry_run"):
            inc["actions"] += 1
        if d.get("outcome"):
            inc["outcome"] = d["outcome"]
        if d.get("incident_state") == "closed":
            inc["state"] = "closed"
            inc["closed_at"] = rec.get("time")
            inc["time_to_mitigate_seconds"] = d.get("time_to_mitigate_seconds")
    return sorted(out.values(), key=lambda i: str(i["opened_at"]), reverse=True)
