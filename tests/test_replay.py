"""Replaying the sample events through the embedded AWS (staging stack from template.yaml, staging policy)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from deckwatch.local.runtime import LocalAWS, Report
from support.samples import EVENTS, INVALID, load_event

DB_ARN = "arn:aws:rds:us-east-1:123456789012:db:shop-staging-db"
SNAPSHOT_ARN = "arn:aws:rds:us-east-1:123456789012:snapshot:awsbackup:job-7b9c8d2e-4f1a-4e3b-9c5d-6e7f8a9b0c1d"
POINT_ARN = "arn:aws:backup:us-east-1:123456789012:recovery-point:a6560b33-3660-494c-8d47-efa3939b132c"
ALARM = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:"

# sample -> (rule, function, capability, subject, decision, SNS publish expected)
EXPECTED = {
    "pipeline_events/action-build-succeeded.json": ("cutover", "service/web", "cutover-requested", True),
    "pipeline_events/approval-started.json": ("cutover", "service/web", "approval-pending", True),
    "pipeline_events/pipeline-stopped.json": ("cutover", "service/web", "abort-requested", False),
    "pipeline_events/pipeline-unmapped.json": ("cutover", "pipeline/billing-reports", "ignored", False),
    "pipeline_events/rollback-requested.json": ("cutover", "service/web", "ignored", False),
    "alarm_events/alarm-metric.json": ("remediation", ALARM + "shop-staging-web-cpu-high", "runbook-selected", None),
    "alarm_events/alarm-ok.json": ("remediation", ALARM + "shop-staging-web-cpu-high", "resolved", False),
    "alarm_events/alarm-insufficient-data.json": ("remediation", ALARM + "shop-staging-web-cpu-high", "notified", True),
    "alarm_events/alarm-composite.json": ("remediation", ALARM + "shop-staging-web-degraded", "ignored", False),
    # the CloudWatch guide's alarms: no rule in the staging example names them (tests/remediation/test_fidelity.py)
    "alarm_events/alarm-composite-suppressed.json": ("remediation", ALARM + "ServiceAggregatedAlarm", "ignored", False),
    "alarm_events/alarm-muted.json": ("remediation", ALARM + "ServerCpuTooHigh", "ignored", False),
    "alarm_events/alarm-anomaly-band.json": ("remediation", ALARM + "EC2 CPU Utilization Anomaly", "ignored", False),
    "alarm_events/alarm-storage-prefix.json": (
        "remediation",
        ALARM + "shop-staging-db-free-storage-low",
        "runbook-selected",
        None,
    ),
    "backup_events/backup-job-completed.json": ("drills", DB_ARN, "drill-started", False),
    "backup_events/backup-job-failed.json": ("drills", DB_ARN, "alerted", True),
    "backup_events/restore-test-completed.json": ("drills", DB_ARN, "validation-failed", True),
    "backup_events/copy-job-completed.json": ("drills", DB_ARN, "copy-recorded", False),
    # the AWS Backup Developer Guide's shapes of jobs in progress (events/SOURCES.md): no resource in the detail,
    # at most one in `resources`; recorded, nothing to do until the job ends
    "backup_events/backup-job-created.json": (
        "drills",
        "backup-job/7e8845b5-ca30-415f-a842-e0152bf4d0ca",
        "ignored",
        False,
    ),
    "backup_events/copy-job-created.json": ("drills", SNAPSHOT_ARN, "ignored", False),
    "backup_events/copy-job-running.json": ("drills", DB_ARN, "ignored", False),
    "backup_events/restore-job-created.json": ("drills", POINT_ARN, "ignored", False),
    "backup_events/restore-job-pending.json": ("drills", POINT_ARN, "ignored", False),
    "backup_events/restore-job-running.json": ("drills", SNAPSHOT_ARN, "ignored", False),
    # a restore nobody waits for (not a drill's): no drill target, nothing to answer
    "backup_events/restore-job-failed.json": ("drills", SNAPSHOT_ARN, "ignored", False),
    "cost_events/anomaly-detected.json": ("cost", "anomaly/9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d", "alerted", True),
}
FUNCTION = {
    "pipeline_events": "PipelineEventsFunction",
    "alarm_events": "AlarmEventsFunction",
    "backup_events": "BackupEventsFunction",
    "cost_events": "CostEventsFunction",
}


@pytest.fixture(scope="module")
def rt(local_aws_factory: Callable[..., AbstractContextManager[LocalAWS]]) -> Iterator[LocalAWS]:
    with local_aws_factory("staging", approvals="approve") as runtime:
        yield runtime


def replay(rt: LocalAWS, event: dict[str, Any]) -> Report:
    """Deliver as `deckwatch replay FILE` does: the raw JSON text."""
    return rt.replay(json.dumps(event))


def ops(report: Report) -> list[tuple[str, str]]:
    return [(c["service"], c["operation"]) for c in report.aws_calls]


def test_every_sample_has_an_expectation() -> None:
    on_disk = {f"{p.parent.name}/{p.name}" for folder in FUNCTION for p in (EVENTS / folder).glob("*.json")}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_produces_its_decision(rt: LocalAWS, name: str) -> None:
    capability, subject, decision, publishes = EXPECTED[name]
    event = load_event(EVENTS / name)
    report = replay(rt, event)

    function = FUNCTION[name.split("/")[0]]
    assert report.event == {"id": event["id"], "source": event["source"], "detail-type": event["detail-type"]}
    assert len(report.matched_rules) == 1
    assert report.matched_rules[0].startswith(function)
    assert report.invocations == [{"function": function, "status": "ok", "error": None}]
    assert report.dead_letters == []
    # an ALARM with a runbook opens an incident and starts its remediation execution (tests/remediation)
    assert [e["state_machine"] for e in report.executions if e["state_machine"] != "CutoverStateMachine"] == (
        (["RemediationStateMachine"] if decision == "runbook-selected" else [])
        + (["CostSavingsStateMachine"] if capability == "cost" else [])  # staging anomaly: savings (tests/cost)
    ) + (["DrillStateMachine"] if decision == "drill-started" else [])  # a sampled backup is drilled (tests/drills)
    cutovers = [e["state_machine"] for e in report.executions if e["state_machine"] == "CutoverStateMachine"]
    assert cutovers == (["CutoverStateMachine"] if decision == "cutover-requested" else [])  # tests/cutover

    records = [r for r in report.ledger if r["kind"] == "decision"] if capability == "remediation" else report.ledger
    if capability == "cost":  # the savings it starts record their own actions (tests/cost)
        records = [r for r in report.ledger if r["subject"] == subject]
    if capability == "cutover":  # a started cutover records its own plan and actions (tests/cutover)
        records = [r for r in report.ledger if r["record_id"].startswith(f"{event['id']}:cutover:triage:")]
    if capability == "drills":  # the drill and the restore-test validation record their own actions (tests/drills)
        records = [r for r in report.ledger if r["kind"] == "decision" and r.get("event_id") == event["id"]]
    assert len(records) == 1, report.ledger
    rec = records[0]
    assert (rec["capability"], rec["subject"], rec["decision"], rec["kind"]) == (
        capability,
        subject,
        decision,
        "decision",
    )
    assert rec["event_id"] == event["id"]
    assert rec["record_id"] == f"{event['id']}:{capability}:triage:{subject}"
    assert rec["environment"] == "staging"
    assert rec["dry_run"] is False
    assert rec["policy_version"] == rt.policy.version
    assert ("dynamodb", "TransactWriteItems") in ops(report)
    if publishes is not None:  # None: depends on the remediation's verification (tests/remediation)
        assert (("sns", "Publish") in ops(report)) is publishes


def test_build_succeeded_records_artifacts(rt: LocalAWS) -> None:
    event = load_event(EVENTS / "pipeline_events/action-build-succeeded.json")
    details = next(r for r in replay(rt, event).ledger if r["decision"] == "cutover-requested")["details"]
    assert details["services"] == ["web"]
    assert details["execution_id"] == event["detail"]["execution-id"]
    assert details["artifacts"] == [
        {
            "name": "ImageDefinitions",
            "s3location": {"bucket": "codepipeline-us-east-1-123456789012", "key": "shop-web/ImageDefin/r8Tn3Va"},
        }
    ]


def test_alarm_decisions_name_runbook_and_kind(rt: LocalAWS) -> None:
    storage = replay(rt, load_event(EVENTS / "alarm_events/alarm-storage-prefix.json")).ledger[0]["details"]
    assert (storage["runbook"], storage["alarm_kind"], storage["state"]) == ("rds_grow_storage", "metric", "ALARM")
    cpu = replay(rt, load_event(EVENTS / "alarm_events/alarm-metric.json")).ledger[0]["details"]
    assert cpu["runbook"] == "ecs_scale_out"


def test_anomaly_is_rated_high(rt: LocalAWS) -> None:
    rec = replay(rt, load_event(EVENTS / "cost_events/anomaly-detected.json")).ledger[0]
    assert rec["details"]["severity"] == "high"  # 240.5 USD >= 50 and 62 % >= 20
    assert rec["details"]["impact_usd"] == 240.5
    assert "Amazon Relational Database Service" in rec["details"]["root_causes"]


def test_anomaly_of_another_monitor_is_ignored(rt: LocalAWS) -> None:
    event = load_event(EVENTS / "cost_events/anomaly-detected.json")
    event["detail"]["monitorName"] = "shop-prod-services"
    event["detail"]["monitorArn"] = "arn:aws:ce::123456789012:anomalymonitor/other"
    report = replay(rt, event)
    assert [r["decision"] for r in report.ledger] == ["ignored"]
    assert ("sns", "Publish") not in ops(report)


def test_duplicate_delivery_is_processed_once(rt: LocalAWS) -> None:
    event = load_event(EVENTS / "pipeline_events/action-build-succeeded.json")
    first = replay(rt, event)
    assert next(r["decision"] for r in first.ledger) == "cutover-requested"

    second = replay(rt, event)  # EventBridge delivers at least once: same id again
    assert second.invocations == [{"function": "PipelineEventsFunction", "status": "ok", "error": None}]
    assert second.ledger == []
    assert ("dynamodb", "TransactWriteItems") not in ops(second)


def test_a_copy_arriving_while_the_first_is_in_progress_is_a_duplicate_not_a_failure(rt: LocalAWS) -> None:
    """Two Lambda instances get the same event at once: the second finds the first's INPROGRESS idempotency
    record. It answers "duplicate" (no error, so no DLQ message and no DLQ alarm); the first does the work."""
    from deckwatch.events.alarm import AlarmEvent
    from deckwatch.intake import receive
    from deckwatch.local.functions import new_context

    event = load_event(EVENTS / "alarm_events/alarm-metric.json")
    ctx = new_context("deckwatch-alarm-events", "arn:aws:lambda:us-east-1:123456789012:function:x", 512, 30)
    seen: dict[str, Any] = {}
    with rt.control_plane() as deps:

        def first_copy(parsed: AlarmEvent, _deps: Any) -> dict[str, Any]:
            seen["second"] = receive(event, ctx, deps, model=AlarmEvent, capability="remediation", handle=second_copy)
            return {"handled": parsed.detail.alarmName}

        def second_copy(parsed: AlarmEvent, _deps: Any) -> dict[str, Any]:
            raise AssertionError("the second copy must not be handled")

        first = receive(event, ctx, deps, model=AlarmEvent, capability="remediation", handle=first_copy)
        third = receive(event, ctx, deps, model=AlarmEvent, capability="remediation", handle=second_copy)
    assert first == {"handled": event["detail"]["alarmName"]}
    assert seen["second"] == {"duplicate": True, "in_progress": True, "event_id": event["id"]}
    assert third == first  # once done, a copy gets the stored answer


def test_duplicate_alert_is_not_published_twice(rt: LocalAWS) -> None:
    event = load_event(EVENTS / "backup_events/backup-job-failed.json")
    assert ("sns", "Publish") in ops(replay(rt, event))
    again = replay(rt, event)
    assert ("sns", "Publish") not in ops(again)
    assert again.ledger == []


@pytest.mark.parametrize(
    ("name", "function", "missing"),
    [
        ("alarm-missing-fields.json", "AlarmEventsFunction", ["detail.alarmName", "detail.state"]),
        ("backup-missing-fields.json", "BackupEventsFunction", ["detail.state"]),
    ],
)
def test_malformed_event_is_rejected_recorded_and_dead_lettered(
    rt: LocalAWS, name: str, function: str, missing: list[str]
) -> None:
    event = load_event(INVALID / name)
    report = replay(rt, event)

    assert len(report.invocations) == 1
    inv = report.invocations[0]
    assert (inv["function"], inv["status"]) == (function, "error")
    assert inv["error"].startswith("InvalidEventError: malformed event")
    for field in missing:
        assert field in inv["error"]

    assert len(report.ledger) == 1
    rejection = report.ledger[0]
    assert (rejection["kind"], rejection["decision"]) == ("rejection", "rejected")
    assert rejection["event_id"] == event["id"]
    assert rejection["subject"] == event["resources"][0]
    for field in missing:
        assert field in rejection["reason"]

    assert [d["function"] for d in report.dead_letters] == [function]
    messages = [m for m in rt.dead_letter_messages() if m["requestPayload"].get("id") == event["id"]]
    assert len(messages) == 1
    dead = messages[0]
    assert dead["requestPayload"] == event  # nothing lost: the event as delivered
    assert dead["responsePayload"]["errorType"] == "InvalidEventError"
    for field in missing:
        assert field in dead["responsePayload"]["errorMessage"]
    assert "stackTrace" not in dead["responsePayload"]
    assert dead["requestContext"]["functionArn"].endswith(f":deckwatch-staging-{function_name(function)}")


def function_name(logical: str) -> str:
    return {"AlarmEventsFunction": "alarm-events", "BackupEventsFunction": "backup-events"}[logical]


def test_unknown_source_reaches_nothing(rt: LocalAWS) -> None:
    report = rt.replay((INVALID / "unknown-source.json").read_text(encoding="utf-8"))
    assert report.matched_rules == []
    assert report.invocations == []
    assert report.ledger == []
    assert report.aws_calls == []
    assert report.note == "no rule matched"


def test_report_json_shape(rt: LocalAWS) -> None:
    event = load_event(EVENTS / "alarm_events/alarm-ok.json")
    doc = replay(rt, event).to_json()
    required = {"event", "environment", "matched_rules", "invocations", "executions", "aws_calls", "ledger"}
    assert required <= set(doc)
    json.dumps(doc)  # serialisable as-is (the --json output)
    assert doc["event"]["id"] == event["id"]
    assert doc["environment"] == "staging"
    assert isinstance(doc["aws_calls"], list)
    assert all(set(c) == {"service", "operation"} for c in doc["aws_calls"])
    assert doc["ledger"][0]["decision"] == "resolved"


def test_envelope_fields_are_filled_in_like_put_events(rt: LocalAWS) -> None:
    # A PutEvents entry carries source, detail-type and detail only; EventBridge adds the rest (id included).
    sample = load_event(EVENTS / "pipeline_events/pipeline-stopped.json")
    entry = {k: sample[k] for k in ("source", "detail-type", "detail")}
    report = rt.replay(json.dumps(entry))
    assert report.invocations[0]["status"] == "ok"
    assert report.event["id"]
    assert [r["decision"] for r in report.ledger] == ["abort-requested"]


def test_invalid_policy_fails_loudly_and_acts_on_nothing(rt: LocalAWS) -> None:
    ssm, name = rt.client("ssm"), "/deckwatch/staging/policy"
    good = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    event = load_event(EVENTS / "pipeline_events/action-build-succeeded.json")
    try:
        ssm.put_parameter(
            Name=name, Value=good.replace("dry_run: false", "dry_run: maybe"), Type="SecureString", Overwrite=True
        )
        rt.clock.advance(61)  # functions read the policy again once their copy is a minute old
        report = replay(rt, event)
    finally:
        ssm.put_parameter(Name=name, Value=good, Type="SecureString", Overwrite=True)
        rt.clock.advance(61)
    inv = report.invocations[0]
    assert inv["status"] == "error"
    assert inv["error"].startswith("PolicyError: invalid policy ssm:/deckwatch/staging/policy")
    assert "dry_run" in inv["error"]
    assert report.ledger == []  # no decision taken on an invalid policy
    assert [d["function"] for d in report.dead_letters] == ["PipelineEventsFunction"]
    dead = [m for m in rt.dead_letter_messages() if m["requestPayload"].get("id") == event["id"]]
    assert len(dead) == 1
    assert dead[0]["responsePayload"]["errorType"] == "PolicyError"

    # fixed policy, same event redelivered from the DLQ: now it is decided
    redriven = replay(rt, event)
    assert next(r["decision"] for r in redriven.ledger) == "cutover-requested"


@pytest.mark.parametrize(
    "name",
    [
        "backup-job-created.json",
        "copy-job-created.json",
        "copy-job-running.json",
        "restore-job-created.json",
        "restore-job-pending.json",
        "restore-job-running.json",
    ],
)
def test_documented_backup_jobs_in_progress_are_recorded_only(rt: LocalAWS, name: str) -> None:
    event = load_event(EVENTS / "backup_events" / name)
    report = replay(rt, event)
    [rec] = report.ledger
    phase = (event["detail"].get("state") or event["detail"].get("status")).upper()
    assert rec["reason"].endswith(f"{phase}: in progress, nothing to do until it ends")
    assert report.executions == [] and ("sns", "Publish") not in ops(report)


def test_a_restore_nobody_waits_for_is_not_a_drill(rt: LocalAWS) -> None:
    report = replay(rt, load_event(EVENTS / "backup_events/restore-job-failed.json"))
    assert [r["reason"] for r in report.ledger] == [f"{SNAPSHOT_ARN} is not a drill target in staging"]


def test_events_from_another_account_or_region_never_act(rt: LocalAWS) -> None:
    # the Backup guide's FAILED job verbatim: another account (1112233445566) and region (us-west-2)
    report = replay(rt, load_event(EVENTS / "foreign/backup-job-failed.json"))
    [rec] = report.ledger
    assert rec["reason"] == "event from account 1112233445566: this stack acts on account 123456789012 (policy account)"
    assert rec["details"] == {"account": "1112233445566", "region": "us-west-2", "source": "aws.backup"}
    same_account = load_event(EVENTS / "backup_events/backup-job-failed.json")
    same_account["region"] = "eu-west-1"
    report = replay(rt, same_account)
    assert [r["reason"] for r in report.ledger] == [
        "event from eu-west-1: this stack acts on us-east-1 (policy regions)"
    ]
    assert ("sns", "Publish") not in ops(report)


def test_a_cost_anomaly_of_another_account_starts_no_savings(rt: LocalAWS) -> None:
    event = load_event(EVENTS / "cost_events/anomaly-detected.json")
    event["account"] = "210987654321"
    report = replay(rt, event)
    assert [(r["decision"], r["subject"]) for r in report.ledger] == [
        ("ignored", "arn:aws:ce::123456789012:anomalymonitor/3c5d7e9f-1a2b-4c3d-8e4f-5a6b7c8d9e0f")
    ]
    assert report.executions == [] and ("sns", "Publish") not in ops(report)


def test_a_pipeline_of_the_same_name_in_another_region_is_another_pipeline(rt: LocalAWS) -> None:
    event = load_event(EVENTS / "pipeline_events/action-build-succeeded.json")
    event["region"] = "us-west-2"  # a DR region of this stack? staging has none: not this stack's region at all
    assert [r["reason"] for r in replay(rt, event).ledger] == [
        "event from us-west-2: this stack acts on us-east-1 (policy regions)"
    ]
