"""Incidents: one open incident per (resource, runbook), so that an alarm storm acts once.

The open incident is one item in the locks table, pk "incident#<resource>#<runbook>", written with a condition
(attribute_not_exists): of hundreds of ALARM events for one resource, exactly one opens the incident and starts
the remediation state machine; the others join it (a counter). It stays open until the alarm is back to OK
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


def key(resource: str, runbook: str) -> str:
    return f"incident#{resource}#{runbook}"


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
    ddb = deps.locks.client
    env = deps.settings.environment
    iid = incident_id(env, resource, runbook, opener)
    now = clock.iso()
    item = {
        "pk": {"S": key(resource, runbook)},
        "incident_id": {"S": iid},
        "resource": {"S": resource},
        "runbook": {"S": runbook},
        "environment": {"S": env},
        "status": {"S": "open"},
        "opener": {"S": opener},
        "opened_at": {"S": now},
        "alarm": {"S": (alarm or {}).get("name", "")},
        "alarm_at": {"S": (alarm or {}).get("at", "") or now},
        "execution": {"S": execution or iid},
        "joined": {"N": "0"},
        "expires_at": {"N": str(int(clock.now_epoch()) + OPEN_TTL_SECONDS)},
    }
    try:
        ddb.put_item(TableName=deps.locks.table_name, Item=item, ConditionExpression="attribute_not_exists(pk)")
        return _plain(item), True
    except ddb.exceptions.ConditionalCheckFailedException:
        pass
    updated = ddb.update_item(
        TableName=deps.locks.table_name,
        Key={"pk": {"S": key(resource, runbook)}},
        UpdateExpression="ADD joined :one",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":one": {"N": "1"}},
        ReturnValues="ALL_NEW",
    )["Attributes"]
    found = _plain(updated)
    return found, found["opener"] == opener


def get(deps: Services, resource: str, runbook: str) -> dict[str, Any] | None:
    item = deps.locks.client.get_item(
        TableName=deps.locks.table_name, Key={"pk": {"S": key(resource, runbook)}}, ConsistentRead=True
    ).get("Item")
    return _plain(item) if item else None


def set_status(deps: Services, resource: str, runbook: str, iid: str, status: str) -> bool:
    """Update the open incident `iid` (False if it is closed or another incident is open meanwhile)."""
    ddb = deps.locks.client
    try:
        ddb.update_item(
            TableName=deps.locks.table_name,
            Key={"pk": {"S": key(resource, runbook)}},
            UpdateExpression="SET #s = :s",
            ConditionExpression="incident_id = :id",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": status}, ":id": {"S": iid}},
        )
    except ddb.exceptions.ConditionalCheckFailedException:
        return False
    return True


def close(deps: Services, resource: str, runbook: str, iid: str) -> dict[str, Any] | None:
    """Close the open incident `iid`; returns it, or None when it was closed already (exactly one closer)."""
    ddb = deps.locks.client
    try:
        old = ddb.delete_item(
            TableName=deps.locks.table_name,
            Key={"pk": {"S": key(resource, runbook)}},
            ConditionExpression="incident_id = :id",
            ExpressionAttributeValues={":id": {"S": iid}},
            ReturnValues="ALL_OLD",
        ).get("Attributes")
    except ddb.exceptions.ConditionalCheckFailedException:
        return None
    return _plain(old) if old else None


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


def timeline(deps: Services, iid: str, since: str = "") -> list[dict[str, Any]]:
    """The incident's records, oldest first."""
    return [r for r in deps.ledger.by_capability("remediation", since=since) if _iid(r) == iid]


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


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in item.items():
        if "S" in v:
            out[k] = v["S"]
        elif "N" in v:
            out[k] = int(v["N"])
        elif "BOOL" in v:
            out[k] = v["BOOL"]
    return out
