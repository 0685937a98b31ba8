"""A duplicate ALARM (one more event for a resource whose incident is open and working: the bulk of an alarm storm)
costs one DynamoDB write: the ledger record of the join and the incident's counter in one transaction, whose
record id (the event's) is its own deduplication, without an idempotency record (issue 16: at most 2 writes per
duplicate). What the records are for is kept: every duplicate is in the ledger, joined to its incident; a
redelivered duplicate counts once, and never opens an incident once the one it joined is closed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from deckwatch.local.mock_services import faults
from deckwatch.local.runtime import LocalAWS, Report
from support.remediation import alarm, alarm_event, new_service, ops

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
NAME, SERVICE, CLUSTER = "storm-cpu-20", "storm-svc-20", "storm"
RESOURCE = f"ecs:{CLUSTER}/{SERVICE}"


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    faults.clear_faults()
    faults.clear_reactions()


def writes(report: Report) -> list[str]:
    return [op for service, op in ops(report) if service == "dynamodb" and op in WRITES]


def incident(rt: LocalAWS) -> dict[str, Any] | None:
    with rt.control_plane() as deps:
        return deps.state.incidents.get(RESOURCE, "ecs_scale_out")


def idempotency_records(rt: LocalAWS) -> int:
    return len(rt.client("dynamodb").scan(TableName=rt.physical["IdempotencyTable"])["Items"])


def test_a_duplicate_joins_in_one_write_and_its_redelivery_counts_once(rt: LocalAWS) -> None:
    new_service(rt, SERVICE, desired=1, cluster=CLUSTER)
    alarm(rt, NAME)
    rt.client("cloudwatch").set_alarm_state(AlarmName=NAME, StateValue="ALARM", StateReason="Threshold Crossed")
    rt.settle()  # opened, acted on, unverified (nothing recovers it): the incident stays open
    opened = incident(rt)
    assert opened is not None and int(opened["joined"]) == 0
    iid = opened["incident_id"]

    event = alarm_event(NAME)
    before = idempotency_records(rt)
    first = rt.replay(json.dumps(event))
    assert first.invocations == [{"function": "AlarmEventsFunction", "status": "ok", "error": None}]
    assert writes(first) == ["TransactWriteItems"]  # the record and the counter, together
    assert idempotency_records(rt) == before
    (joined,) = first.ledger
    assert (joined["decision"], joined["event_id"], joined["subject"]) == (
        "incident-joined",
        event["id"],
        event["resources"][0],
    )
    assert joined["details"]["incident_id"] == iid and joined["details"]["resource"] == RESOURCE
    now = incident(rt)
    assert now is not None and int(now["joined"]) == 1 and event["resources"][0] in now["alarm_arns"]

    again = rt.replay(json.dumps(event))  # EventBridge delivers at least once
    assert again.invocations == [{"function": "AlarmEventsFunction", "status": "ok", "error": None}]
    assert again.ledger == []
    now = incident(rt)
    assert now is not None and int(now["joined"]) == 1  # counted once: the transaction was refused as a whole

    # the incident closes (the alarm is back to OK); the same duplicate delivered once more opens nothing
    rt.client("cloudwatch").set_alarm_state(AlarmName=NAME, StateValue="OK", StateReason="recovered")
    rt.settle()
    assert incident(rt) is None
    late = rt.replay(json.dumps(event))
    assert late.invocations == [{"function": "AlarmEventsFunction", "status": "ok", "error": None}]
    assert late.ledger == [] and writes(late) == []
    assert ("stepfunctions", "StartExecution") not in ops(late)
    assert incident(rt) is None


def test_a_join_whose_incident_changed_meanwhile_writes_nothing(rt: LocalAWS) -> None:
    """The incident read open is closed or replaced before the join's transaction: the transaction is refused as a
    whole (no record, no count), and the event goes on to the full triage (selection.join answers None)."""
    name, service = "storm-cpu-21", "storm-svc-21"
    new_service(rt, service, desired=1, cluster=CLUSTER)
    alarm(rt, name)
    rt.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="Threshold Crossed")
    rt.settle()
    resource = f"ecs:{CLUSTER}/{service}"
    with rt.control_plane() as deps:
        first = deps.state.incidents.get(resource, "ecs_scale_out")
        assert first is not None
        # the join's transaction finds another incident than the one it read
        change = deps.state.incidents.join_change(resource, "ecs_scale_out", "inc-not-this-one", None)
        from deckwatch.decisions import decision_record

        record = decision_record(
            deps, event_id="e-refused", capability="remediation", subject="s", decision="incident-joined", reason=""
        )
        assert deps.ledger.append_with(record, change) == "refused"
        assert deps.ledger.lookup(record.record_id) is None  # nothing of it written
        assert int(deps.state.incidents.get(resource, "ecs_scale_out")["joined"]) == 0  # type: ignore[index]
