"""The alarm path end to end: CloudWatch alarm state changes (emitted by the embedded CloudWatch's SetAlarmState,
or delivered as real event documents) open or join incidents, start the remediation state machine, are verified
by the alarm's OK event, escalate, and resolve; storms collapse into one incident and one action per resource;
malformed events are rejected to the DLQ; RDS/ECS events annotate incidents; `deckwatch incidents` lists them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from deckwatch import clock
from deckwatch.local.mock_services import cloudwatch as mock_cw
from deckwatch.local.mock_services import faults
from deckwatch.local.runtime import LocalAWS
from support.remediation import BLUE, CLUSTER, CPU_ALARM, alarm, alarm_event, desired, new_service, put_events
from support.samples import EVENTS, INVALID, load_event

Factory = Callable[..., AbstractContextManager[LocalAWS]]


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    faults.clear_faults()
    faults.clear_reactions()


def drive(rt: LocalAWS, action: Callable[[], Any]) -> list[dict[str, Any]]:
    """Do something that emits events (SetAlarmState, PutEvents), let everything run, return the new records."""
    since = clock.iso()
    action()
    rt.settle()
    return rt.ledger_since(since)


def set_state(rt: LocalAWS, name: str, state: str) -> Callable[[], Any]:
    cw = rt.client("cloudwatch")
    return lambda: cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"Threshold Crossed: test {state}")


def decisions(records: list[dict[str, Any]]) -> list[str]:
    return [r["decision"] for r in records]


def incident_ids(records: list[dict[str, Any]]) -> set[str]:
    return {r["details"]["incident_id"] for r in records if r["details"].get("incident_id")}


# ------------------------------------------------------------------------------------------ verification -------
def test_alarm_remediated_and_verified_by_its_ok_event(rt: LocalAWS) -> None:
    rt.client("cloudwatch").set_alarm_state(AlarmName=CPU_ALARM, StateValue="OK", StateReason="start clean")
    rt.settle()
    before = desired(rt, BLUE)
    faults.recover_on("ecs", "UpdateService", CPU_ALARM)  # the scale-out fixes the CPU: the alarm goes OK
    records = drive(rt, set_state(rt, CPU_ALARM, "ALARM"))
    assert desired(rt, BLUE) == before + 2
    assert decisions(records)[:2] == ["runbook-selected", "guardrails-passed"]
    assert "incident-mitigated" in decisions(records)
    assert "escalated" not in decisions(records)
    (iid,) = incident_ids(records)
    closed = next(r for r in records if r["decision"] == "incident-mitigated")
    assert closed["details"]["incident_state"] == "closed"
    ttm = closed["details"]["time_to_mitigate_seconds"]
    assert isinstance(ttm, int | float) and 0 <= ttm < 60
    acted = [r for r in records if r["kind"] == "action"]
    assert len(acted) == 1 and acted[0]["action"]["operation"] == "UpdateService"
    opened = next(r for r in records if r["decision"] == "runbook-selected")
    # control-plane latency, alarm event handled -> remediating call recorded (simulated clock includes real time)
    latency = incidents_seconds(opened["time"], acted[0]["time"])
    print(f"\nalarm event -> remediating API call: {latency:.3f}s")
    assert iid == opened["details"]["incident_id"]


def incidents_seconds(a: str, b: str) -> float:
    from deckwatch.remediation.incidents import seconds_between

    value = seconds_between(a, b)
    assert value is not None
    return value


def test_unverified_action_escalates_then_ok_resolves_the_incident(rt: LocalAWS) -> None:
    new_service(rt, "storm-svc-51", desired=2, cluster="storm")
    name = "storm-cpu-51"
    alarm(rt, name)
    records = drive(rt, set_state(rt, name, "ALARM"))  # nothing recovers it
    assert "incident-unverified" in decisions(records)
    escalated = next(r for r in records if r["decision"] == "escalated")
    assert "did not return to OK within the verification window" in escalated["reason"]
    assert escalated["details"]["escalate_to"] == "on-call (notifications topic)"
    (iid,) = incident_ids(records)
    unverified = next(r for r in records if r["decision"] == "incident-unverified")
    assert unverified["details"]["incident_state"] == "open"

    again = drive(rt, set_state(rt, name, "INSUFFICIENT_DATA"))
    assert decisions(again) == ["notified"]
    resolved = drive(rt, set_state(rt, name, "OK"))
    assert decisions(resolved) == ["resolved"]
    assert resolved[0]["details"]["incident_id"] == iid
    assert resolved[0]["details"]["incident_state"] == "closed"
    assert resolved[0]["details"]["time_to_mitigate_seconds"] >= 300  # the 5-minute verification window passed


def test_escalation_names_the_policy_target(rt: LocalAWS) -> None:
    # the cpu rule escalates to web-oncall; its cooldown from the first test is over after 15 simulated minutes
    rt.clock.advance(16 * 60)
    records = drive(rt, set_state(rt, CPU_ALARM, "ALARM"))
    escalated = [r for r in records if r["decision"] == "escalated"]
    assert [e["details"]["escalate_to"] for e in escalated] == ["web-oncall"]
    drive(rt, set_state(rt, CPU_ALARM, "OK"))


# ------------------------------------------------------------------------------------------ composite ----------
def test_composite_alarm_opens_and_its_ok_verifies(rt: LocalAWS) -> None:
    cw = rt.client("cloudwatch")
    cw.put_composite_alarm(
        AlarmName="shop-staging-web-degraded",
        AlarmRule='ALARM("shop-staging-web-5xx-rate") OR ALARM("shop-staging-web-p99-latency")',
        AlarmDescription="web is degraded",
    )
    found = cw.describe_alarms(AlarmNames=["shop-staging-web-degraded"], AlarmTypes=["CompositeAlarm"])
    assert found["CompositeAlarms"][0]["StateValue"] == "OK"
    faults.recover_on("ecs", "UpdateService", "shop-staging-web-p99-latency")
    records = drive(rt, set_state(rt, "shop-staging-web-p99-latency", "ALARM"))
    selected = [r for r in records if r["decision"] == "runbook-selected"]
    assert len(selected) == 1
    assert selected[0]["details"]["alarm_kind"] == "composite"
    assert selected[0]["details"]["runbook"] == "ecs_force_new_deployment"
    assert "incident-mitigated" in decisions(records)
    state = cw.describe_alarms(AlarmNames=["shop-staging-web-degraded"], AlarmTypes=["CompositeAlarm"])
    assert state["CompositeAlarms"][0]["StateValue"] == "OK"
    child_events = [r for r in records if r["subject"].endswith(":shop-staging-web-p99-latency")]
    assert {r["decision"] for r in child_events} == {"ignored"}  # no rule for the child itself


def test_composite_rule_evaluation() -> None:
    rule = 'ALARM("a") AND NOT (OK(b) OR INSUFFICIENT_DATA("arn:aws:cloudwatch:us-east-1:1:alarm:c"))'
    assert mock_cw.children(rule) == {"a", "b", "c"}
    assert mock_cw.evaluate(rule, {"a": "ALARM", "b": "ALARM", "c": "OK"})
    assert not mock_cw.evaluate(rule, {"a": "ALARM", "b": "OK", "c": "OK"})
    assert not mock_cw.evaluate(rule, {"a": "ALARM", "b": "ALARM"})  # c unknown = INSUFFICIENT_DATA
    assert mock_cw.evaluate("TRUE OR FALSE", {})
    with pytest.raises(mock_cw.RuleError):
        mock_cw.evaluate('ALARM("a") AND', {})


# ------------------------------------------------------------------------------------------ storms -------------
def storm(rt: LocalAWS, names: list[str], total: int) -> Callable[[], None]:
    """Each alarm goes to ALARM (its real event), then the same ALARM event again and again (a storm: redeliveries,
    flapping metrics, many alarms on one resource), `total` events in all, delivered before anything settles."""
    cw = rt.client("cloudwatch")

    def go() -> None:
        for name in names:
            cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="Threshold Crossed: storm")
        put_events(rt, [alarm_event(names[i % len(names)]) for i in range(total - len(names))])

    return go


@pytest.mark.slow
def test_storm_of_500_events_for_one_resource_acts_once(rt: LocalAWS, capsys: pytest.CaptureFixture[str]) -> None:
    from deckwatch.local.cli import main

    new_service(rt, "storm-svc-50", desired=1, cluster="storm")
    started = time.monotonic()
    records = drive(rt, storm(rt, ["storm-cpu-50"], 500))
    elapsed = time.monotonic() - started
    print(f"\nstorm 500 events / 1 resource: {elapsed:.1f}s real, {500 / elapsed:.0f} events/s through the alarm path")
    triage = [r for r in records if r["kind"] == "decision"]
    assert len(triage) == 500  # every event decided, none lost
    assert decisions(triage).count("runbook-selected") == 1
    assert decisions(triage).count("incident-joined") == 499
    assert len(incident_ids(records)) == 1
    assert len([r for r in records if r["kind"] == "action"]) == 1
    assert desired(rt, "storm-svc-50", cluster="storm") == 2
    executions = rt.client("stepfunctions").list_executions(stateMachineArn=rt.physical["RemediationStateMachine"])
    assert [e["name"] for e in executions["executions"]].count(next(iter(incident_ids(records)))) == 1
    # `deckwatch incidents` shows the storm as one incident, still open (escalated, never OK)
    capsys.readouterr()
    assert main(["incidents", "--env", "staging", "--json"]) == 0
    everything = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert main(["incidents", "--env", "staging", "--open"]) == 0
    text = capsys.readouterr().out
    storm_incidents = [i for i in everything if i["resource"] == "ecs:storm/storm-svc-50"]
    assert len(storm_incidents) == 1
    assert storm_incidents[0]["joined_events"] == 499 and storm_incidents[0]["actions"] == 1
    assert "ecs:storm/storm-svc-50" in text


@pytest.mark.slow
def test_storm_of_500_events_for_50_resources_acts_once_each(rt: LocalAWS) -> None:
    for i in range(50):
        new_service(rt, f"storm-svc-{i:02d}", desired=1, cluster="storm")
    names = [f"storm-cpu-{i:02d}" for i in range(50)]
    # in waves of 100 (the first: 50 alarms going to ALARM and 50 repeats), so that each settles within the local
    # runtime's 120 s of real time per run while 50 remediations are in flight; incidents stay open between waves
    started = time.monotonic()
    records = drive(rt, storm(rt, names, 100))
    for _ in range(4):
        records += drive(rt, lambda: put_events(rt, [alarm_event(names[i % 50]) for i in range(100)]))
    elapsed = time.monotonic() - started
    print(f"\nstorm 500 events / 50 resources: {elapsed:.1f}s real, {500 / elapsed:.0f} events/s (incl. 50 executions)")
    triage = [r for r in records if r["kind"] == "decision"]
    assert len(triage) == 500
    assert decisions(triage).count("runbook-selected") == 50
    assert decisions(triage).count("incident-joined") == 450
    acted = [r for r in records if r["kind"] == "action"]
    assert len(acted) == 50
    assert len({a["subject"] for a in acted}) == 50
    for i in range(50):
        assert desired(rt, f"storm-svc-{i:02d}", cluster="storm") == 2


# ------------------------------------------------------------------------------------------ odd events ---------
@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda e: e["detail"].pop("alarmName"), "detail.alarmName"),
        (lambda e: e["detail"]["state"].update(value="BROKEN"), "detail.state.value"),
        (lambda e: e["detail"].update(alarmName=""), "detail.alarmName"),
        (lambda e: e.update(id=""), "id"),
        (lambda e: e["detail"].update(state="ALARM"), "detail.state"),
    ],
)
def test_odd_alarm_events_are_rejected_to_the_dlq(
    rt: LocalAWS, mutate: Callable[[dict[str, Any]], Any], expected: str
) -> None:
    event = alarm_event(CPU_ALARM)
    mutate(event)
    report = rt.replay(json.dumps(event))
    (inv,) = report.invocations
    assert inv["status"] == "error"
    assert inv["error"].startswith("InvalidEventError: malformed event")
    assert expected in inv["error"]
    assert [r["kind"] for r in report.ledger] == ["rejection"]
    assert report.executions == []
    dead = [m for m in rt.dead_letter_messages() if m["requestPayload"] == event]
    assert len(dead) == 1  # nothing lost: the event as delivered, with the reason
    assert expected in dead[0]["responsePayload"]["errorMessage"]


def test_missing_fields_sample_and_unknown_extra_fields(rt: LocalAWS) -> None:
    report = rt.replay((INVALID / "alarm-missing-fields.json").read_text(encoding="utf-8"))
    assert report.dead_letters and report.invocations[0]["status"] == "error"
    extra = alarm_event("shop-staging-queue-depth", brandNewField=[1, 2])
    extra["detail"]["state"]["evaluationState"] = "PARTIAL_DATA"
    ok = rt.replay(json.dumps(extra))  # AWS adds fields over time: tolerated
    assert ok.invocations[0]["status"] == "ok"
    # notify_only acted; the replay put the alarm in ALARM as the event says, and nothing brings it back to OK:
    # the verification times out and escalates (no mitigation claimed without evidence)
    assert [e["path"][-3:] for e in ok.executions] == [["Escalate", "Close", "Closed"]]
    found = rt.client("cloudwatch").describe_alarms(AlarmNames=["shop-staging-queue-depth"])["MetricAlarms"]
    assert found[0]["StateValue"] == "ALARM"
    rt.client("cloudwatch").set_alarm_state(AlarmName="shop-staging-queue-depth", StateValue="OK", StateReason="t")
    rt.settle()


def test_insufficient_data_ignored_by_policy(rt: LocalAWS) -> None:
    report = rt.replay(json.dumps(alarm_event("shop-staging-queue-depth", "INSUFFICIENT_DATA")))
    assert [r["decision"] for r in report.ledger] == ["ignored"]
    assert ("sns", "Publish") not in [(c["service"], c["operation"]) for c in report.aws_calls]


# ------------------------------------------------------------------------------------------ annotations --------
def test_rds_and_ecs_events_annotate_the_open_incident(rt: LocalAWS) -> None:
    storage = load_event(EVENTS / "alarm_events/alarm-storage-prefix.json")
    opened = rt.replay(storage)  # rds_grow_storage; no such alarm to verify: escalates, the incident stays open
    (iid,) = {r["details"]["incident_id"] for r in opened.ledger if r["details"].get("incident_id")}
    for name in ("rds-failover-started.json", "rds-failover-completed.json"):
        report = rt.replay(load_event(EVENTS / "remediation_events" / name))
        assert report.invocations == [{"function": "RemediationEventsFunction", "status": "ok", "error": None}]
        (rec,) = report.ledger
        assert (rec["decision"], rec["details"]["incident_id"]) == ("annotated", iid)
        assert rec["subject"] == "rds:shop-staging-db"
    assert "RDS-EVENT-0049 failover completed" in rec["reason"]

    impaired = rt.replay(load_event(EVENTS / "remediation_events" / "ecs-task-start-impaired.json"))
    (rec,) = impaired.ledger
    assert rec["subject"] == f"ecs:{CLUSTER}/{BLUE}"
    assert rec["reason"].startswith("SERVICE_TASK_START_IMPAIRED")

    bad = load_event(EVENTS / "remediation_events" / "rds-failover-started.json")
    bad["detail"].pop("SourceIdentifier")
    rejected = rt.replay(bad)
    assert rejected.invocations[0]["status"] == "error"
    assert "SourceIdentifier" in rejected.invocations[0]["error"]
    assert [d["function"] for d in rejected.dead_letters] == ["RemediationEventsFunction"]


# ------------------------------------------------------------------------------------------ CLI ----------------
def test_incidents_command_lists_from_the_ledger(rt: LocalAWS, capsys: pytest.CaptureFixture[str]) -> None:
    from deckwatch.local.cli import main

    if rt.environment == "staging":  # the CLI reads the stack's tables by their names, as in real AWS
        assert main(["incidents", "--env", "staging", "--json"]) == 0
        everything = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert main(["incidents", "--env", "staging", "--open"]) == 0
        text = capsys.readouterr().out
    assert everything
    mitigated = [i for i in everything if i["outcome"] == "mitigated"]
    assert mitigated and all(i["state"] == "closed" for i in mitigated)
    assert all(isinstance(i["time_to_mitigate_seconds"], int | float) for i in mitigated)
    # --open lists exactly the incidents that are not closed (the storm test checks its own open incident)
    for incident in everything:
        assert (incident["incident_id"] in text) is (incident["state"] != "closed"), incident
