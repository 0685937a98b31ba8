"""Restore drills end to end on the embedded AWS: the real drill state machine run by moto's engine, AWS Backup
restores from deckwatch's backup mock, and the validator's real SQL against a real PostgreSQL (conftest)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from deckwatch.local.mock_services import backup
from deckwatch.local.mock_services._postgres import Cluster
from deckwatch.local.runtime import LocalAWS
from support.drills import (
    DB_ARN,
    Factory,
    assert_cleaned_up,
    console,
    drill,
    drill_instances,
    drill_report,
    drill_runtime,
    lock_holder,
    locks,
    ops,
)
from support.samples import EVENTS, INVALID, load_event


@pytest.fixture(scope="module")
def rt(local_aws_factory: Factory, drill_policy: Path, reports_dir: Path) -> Iterator[LocalAWS]:
    with drill_runtime(local_aws_factory, drill_policy, reports_dir) as runtime:
        yield runtime


# ---------------------------------------------------------------- the good drill ---------------------------------
def test_good_drill_measures_rto_and_rpo(rt: LocalAWS, reports_dir: Path) -> None:
    report, execution = drill(rt)
    assert execution["status"] == "SUCCEEDED", execution
    path = execution["path"]
    for state in ("Prepare", "Lock", "RestoreMetadata", "StartRestore", "WaitForRestore", "TagRestored",
                  "Validate", "Cleanup", "Release", "Report", "Passed"):  # fmt: skip
        assert state in path
    assert path.index("Validate") < path.index("Cleanup") < path.index("Release") < path.index("Report")
    assert "PollRestore" not in path  # the Restore Job event (or the status at registration) answered the wait

    rec = drill_report(report)
    assert rec["decision"] == "drill-passed" and rec["outcome"] == "passed"
    d = rec["details"]
    # RTO: restore request -> validation passed; the restore took 900 simulated seconds
    assert 15 <= d["rto_minutes"] < 16
    assert d["rto_objective_minutes"] == 60
    # RPO: the newest order is 10 minutes older than the backup job's completion
    assert 9 <= d["rpo_minutes"] <= 11
    assert d["rpo_objective_minutes"] == 1500
    names = {c["name"]: c for c in d["checks"]}
    assert names["connection"]["passed"] and "PostgreSQL 1" in names["connection"]["observed"]
    assert names["rows public.orders"]["observed"] == 500
    assert names["rows public.customers"]["observed"] == 50
    assert names["no orphan orders"]["observed"] is True
    assert names["freshness public.orders.created_at"]["observed"].endswith("Z")
    assert all(c["passed"] for c in d["checks"])
    assert d["cleaned_up"] is True

    doc = json.loads(Path(d["report"]).read_text(encoding="utf-8"))
    assert Path(d["report"]).is_relative_to(reports_dir)
    assert doc["outcome"] == "passed" and doc["tls"] == "verify-full"
    assert doc["objectives"]["rto_met"] and doc["objectives"]["rpo_met"]
    assert doc["cleanup"]["confirmed_gone"] is True
    assert {c["kind"] for c in doc["checks"]} == {
        "connection",
        "schema",
        "table",
        "row_count",
        "freshness",
        "assertion",
    }
    assert doc["timings"]["restore_signal"] in ("event", "describe")

    assert ("backup", "StartRestoreJob") in ops(report)
    assert ("rds", "DeleteDBInstance") in ops(report)
    assert ("sns", "Publish") not in ops(report)  # a passed drill alerts nobody
    assert_cleaned_up(rt, report)


def test_restore_lands_in_the_drill_network(rt: LocalAWS) -> None:
    report, _ = drill(rt)
    start = next(r for r in report.ledger if r["decision"] == "restore-started")
    meta = start["action"]["parameters"]["Metadata"]
    assert meta["DBSubnetGroupName"] == "shop-staging-drills"
    assert meta["PubliclyAccessible"] == "false"
    sg = rt.client("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["shop-staging-drill-restore"]}]
    )["SecurityGroups"][0]["GroupId"]
    assert json.loads(meta["VpcSecurityGroupIds"]) == [sg]
    assert meta["DBInstanceIdentifier"].startswith("deckwatch-drill-staging-")
    tagged = next(r for r in report.ledger if r["decision"] == "tagged")
    assert {"Key": "deckwatch:source", "Value": "shop-staging-db"} in tagged["action"]["parameters"]["Tags"]


# ---------------------------------------------------------------- failures, each cleaned up -----------------------
def test_stale_restore_misses_rpo(rt: LocalAWS, postgres: Cluster) -> None:
    postgres.load_fixture(newest="3 days")
    report, execution = drill(rt)
    assert (execution["status"], execution["error"]) == ("FAILED", "DrillFailedError")
    rec = drill_report(report)
    assert rec["decision"] == "drill-failed", rec
    assert rec["details"]["rpo_minutes"] > 1500, rec
    assert "RPO" in rec["reason"] and "objective 1500" in rec["reason"]
    assert all(c["passed"] for c in rec["details"]["checks"])  # the data is there, just too old
    assert ("sns", "Publish") in ops(report)
    assert_cleaned_up(rt, report)


@pytest.mark.parametrize(
    ("damage", "failing"),
    [
        ("alter table public.customers rename to customers_renamed", "table public.customers"),
        ("delete from public.orders", "rows public.orders"),
        ("insert into public.orders values (9999, 4242, 1, now())", "no orphan orders"),
    ],
    ids=["missing-table", "too-few-rows", "false-assertion"],
)
def test_failed_check(rt: LocalAWS, postgres: Cluster, damage: str, failing: str) -> None:
    postgres.sql(damage)
    report, execution = drill(rt)
    assert execution["status"] == "FAILED"
    rec = drill_report(report)
    checks = {c["name"]: c for c in rec["details"]["checks"]}
    assert checks[failing]["passed"] is False
    assert checks["connection"]["passed"] is True
    assert f"check {failing} failed" in rec["reason"]
    assert_cleaned_up(rt, report)


def test_missing_table_reports_the_sql_error(rt: LocalAWS, postgres: Cluster) -> None:
    postgres.sql("alter table public.customers rename to customers_renamed")
    report, _ = drill(rt)
    doc = json.loads(Path(drill_report(report)["details"]["report"]).read_text(encoding="utf-8"))
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["rows public.customers"]["observed"] is None
    assert checks["rows public.customers"]["error"].startswith("42P01")  # undefined_table, from PostgreSQL
    assert checks["no orphan orders"]["passed"] is False


def test_restore_job_failed(rt: LocalAWS) -> None:
    backup.controls().outcome = "FAILED"
    report, execution = drill(rt)
    assert execution["status"] == "FAILED"
    assert "RestoreFailed" in execution["path"] and "Validate" not in execution["path"]
    # the FAILED Restore Job event, in AWS Backup's documented shape (no resource in its detail), answers the
    # waiting drill at once: no polling
    assert "StartPolling" not in execution["path"]
    signalled = [r for r in report.ledger if r["decision"] == "restore-signalled"]
    assert len(signalled) == 1 and "FAILED" in signalled[0]["reason"]
    assert signalled[0]["subject"].startswith("arn:aws:rds:us-east-1:123456789012:snapshot:awsbackup:")
    assert execution["path"][-5:] == ["Cleanup", "Release", "Report", "Verdict", "DrillFailed"]
    rec = drill_report(report)
    assert "RestoreFailedError" in rec["reason"]
    assert_cleaned_up(rt, report)


def test_restore_timeout_polls_then_gives_up(rt: LocalAWS) -> None:
    backup.controls().outcome = "NEVER"
    report, execution = drill(rt)
    assert execution["status"] == "FAILED"
    path = execution["path"]
    assert "StartPolling" in path and "RestoreTimedOut" in path and "Validate" not in path
    assert path.count("PollRestore") == 15  # bounded: drill.poll_max
    assert report.simulated_seconds >= 3600 + 14 * 60  # the event wait (RTO objective), then the polls
    rec = drill_report(report)
    assert "RestoreTimeoutError" in rec["reason"]
    cleanup = next(r for r in report.ledger if r["decision"] == "cleaned-up")
    assert "janitor" in cleanup["reason"]
    assert_cleaned_up(rt, report)


def test_validator_cannot_connect(rt: LocalAWS) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    backup.controls().endpoint = ("127.0.0.1", closed)
    report, execution = drill(rt)
    assert execution["status"] == "FAILED"
    assert "Validate" in execution["path"]
    rec = drill_report(report)
    checks = rec["details"]["checks"]
    assert [c["name"] for c in checks] == ["connection"] and checks[0]["passed"] is False
    assert rec["details"]["rto_minutes"] is None  # never validated: no RTO
    assert_cleaned_up(rt, report)


def test_drill_refused_while_remediation_holds_the_lock(rt: LocalAWS) -> None:
    locks(rt).acquire("rds:shop-staging-db", "remediation-exec-1", "remediation", 600)
    try:
        report, execution = drill(rt)
    finally:
        locks(rt).release("rds:shop-staging-db", "remediation-exec-1")
    assert (execution["status"], execution["error"]) == ("FAILED", "LockHeldError")
    assert "StartRestore" not in execution["path"] and "Cleanup" not in execution["path"]
    refusal = [r for r in report.ledger if r["kind"] == "refusal"]
    assert len(refusal) == 1 and refusal[0]["details"]["holder_capability"] == "remediation"
    assert ("backup", "StartRestoreJob") not in ops(report)
    assert drill_instances(rt) == []


def test_dry_run_records_the_plan_and_restores_nothing(rt: LocalAWS) -> None:
    report, execution = drill(rt, console("staging-dry-run.json"))
    assert execution["status"] == "SUCCEEDED"
    assert "RecordPlan" in execution["path"] and "StartRestore" not in execution["path"]
    planned = [r for r in report.ledger if r["decision"] == "planned"]
    assert [r["action"]["operation"] for r in planned] == [
        "StartRestoreJob",
        "AddTagsToResource",
        "Invoke",
        "DeleteDBInstance",
    ]
    assert all(r["dry_run"] for r in planned)
    assert ("backup", "StartRestoreJob") not in ops(report)
    assert drill_report(report)["outcome"] == "planned"
    assert lock_holder(rt) is None


def test_unknown_recovery_point_is_rejected(rt: LocalAWS) -> None:
    report, execution = drill(rt, console("prod-recovery-point.json") | {"environment": "staging"})
    assert (execution["status"], execution["error"]) == ("FAILED", "DrillInputError")
    assert [r["decision"] for r in report.ledger] == ["rejected"]
    assert lock_holder(rt) is None


def test_console_input_for_another_environment_is_rejected(rt: LocalAWS) -> None:
    report, execution = drill(rt, console("prod-recovery-point.json"))
    assert execution["error"] == "DrillInputError"
    assert "prod" in report.ledger[0]["reason"]


# ---------------------------------------------------------------- triggers ------------------------------------
def test_backup_job_completed_starts_a_sampled_drill_once(rt: LocalAWS, postgres: Cluster) -> None:
    # forget earlier sampling: this test is about it
    rt.client("dynamodb").delete_item(
        TableName=rt.physical["StateTable"], Key={"pk": {"S": "drill-sampling#shop-staging-db"}}
    )
    b = rt.client("backup")
    job = b.start_backup_job(
        BackupVaultName=backup.SEED_VAULT, ResourceArn=DB_ARN, IamRoleArn="arn:aws:iam::123456789012:role/backup"
    )
    event = load_event(EVENTS / "backup_events/backup-job-completed.json")
    described = b.describe_backup_job(BackupJobId=job["BackupJobId"])
    event["resources"] = [job["RecoveryPointArn"]]
    event["detail"].update(
        backupJobId=job["BackupJobId"],
        backupVaultName=backup.SEED_VAULT,
        completionDate=described["CompletionDate"].strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    )
    # the simulated clock runs ahead of PostgreSQL's real one by the waits simulated so far: newest order 10
    # minutes before the (simulated) backup completion
    postgres.load_fixture(newest=f"{600 - rt.clock.simulated_seconds:.0f} seconds")
    report = rt.replay(event)
    decision = next(r for r in report.ledger if r["kind"] == "decision" and r["event_id"] == event["id"])
    assert decision["decision"] == "drill-started"
    drills = [e for e in report.executions if e["state_machine"] == "DrillStateMachine"]
    assert [e["status"] for e in drills] == ["SUCCEEDED"]
    rec = drill_report(report)
    assert rec["details"]["checks"] and rec["outcome"] == "passed"
    assert 9 <= rec["details"]["rpo_minutes"] <= 11  # measured against this job's completion

    again = rt.replay(event)  # the same event delivered twice: one drill
    assert again.executions == [] and again.ledger == []

    later = load_event(EVENTS / "backup_events/backup-job-completed.json")
    later["resources"] = [job["RecoveryPointArn"]]
    second = rt.replay(later)  # a new job the same day: sampled out (min_days_between: 1)
    assert [r["decision"] for r in second.ledger] == ["drill-sampled-out"]
    assert second.executions == []


def test_backup_event_of_another_resource_is_ignored(rt: LocalAWS) -> None:
    since_report = rt.replay(
        {
            "source": "aws.backup",
            "detail-type": "Backup Job State Change",
            "detail": {"state": "RUNNING", "resourceArn": "arn:aws:rds:us-east-1:123456789012:db:other"},
        }
    )
    assert [r["decision"] for r in since_report.ledger] == ["ignored"]


def test_restore_test_is_validated_and_reported(rt: LocalAWS) -> None:
    b = rt.client("backup")
    point = b.list_recovery_points_by_resource(ResourceArn=DB_ARN)["RecoveryPoints"][0]["RecoveryPointArn"]
    plan = "arn:aws:backup:us-east-1:123456789012:restore-testing-plan:shop_staging_weekly-1"
    since = rt.clock.now() if hasattr(rt.clock, "now") else None
    del since
    from deckwatch import clock

    start = clock.iso()
    job = backup.simulate_restore_test(point, plan, "awsbackup-restore-test-0001")
    rt.settle()
    described = b.describe_restore_job(RestoreJobId=job)
    assert described["ValidationStatus"] == "SUCCESSFUL"
    assert "checks passed" in described["ValidationStatusMessage"]
    records = [r for r in rt.ledger_since(start) if r["capability"] == "drills"]
    reported = [r for r in records if r["decision"] == "validation-reported"]
    assert len(reported) == 1 and reported[0]["outcome"] == "SUCCESSFUL"
    assert reported[0]["action"]["operation"] == "PutRestoreValidationResult"
    assert [r["decision"] for r in records if r["kind"] == "decision"] == ["validated"]


def test_restore_test_with_bad_data_is_reported_failed(rt: LocalAWS, postgres: Cluster) -> None:
    postgres.sql("delete from public.customers")
    b = rt.client("backup")
    point = b.list_recovery_points_by_resource(ResourceArn=DB_ARN)["RecoveryPoints"][0]["RecoveryPointArn"]
    job = backup.simulate_restore_test(point, "arn:aws:backup:us-east-1:123456789012:restore-testing-plan:p-2",
                                       "awsbackup-restore-test-0002")  # fmt: skip
    rt.settle()
    described = b.describe_restore_job(RestoreJobId=job)
    assert described["ValidationStatus"] == "FAILED"
    assert "rows public.customers" in described["ValidationStatusMessage"]


def test_malformed_backup_event_goes_to_the_dlq(rt: LocalAWS) -> None:
    event = load_event(INVALID / "backup-missing-fields.json")
    report = rt.replay(event)
    assert [(i["function"], i["status"]) for i in report.invocations] == [("BackupEventsFunction", "error")]
    assert report.invocations[0]["error"].startswith("InvalidEventError")
    assert [d["function"] for d in report.dead_letters] == ["BackupEventsFunction"]
    assert any(m["requestPayload"]["id"] == event["id"] for m in rt.dead_letter_messages())
    assert report.executions == []


def test_failed_backup_job_alerts(rt: LocalAWS) -> None:
    report = rt.replay(load_event(EVENTS / "backup_events/backup-job-failed.json"))
    assert [r["decision"] for r in report.ledger] == ["alerted"]
    assert ("sns", "Publish") in ops(report)


# ---------------------------------------------------------------- janitor and schedule ----------------------------
def test_janitor_deletes_old_drill_instances_only(rt: LocalAWS) -> None:
    rds = rt.client("rds")
    for ident in ("deckwatch-drill-staging-leftover", "deckwatch-drill-prod-other", "shop-staging-reporting"):
        rds.create_db_instance(
            DBInstanceIdentifier=ident, DBInstanceClass="db.t4g.micro", Engine="postgres",
            MasterUsername="x", MasterUserPassword="password123", AllocatedStorage=20,
        )  # fmt: skip
    young = rt.fire_schedule("DrillFunctionJanitor")
    assert [r for r in young.ledger if r["decision"] == "janitor-deleted"] == []
    rt.clock.advance(7 * 3600)  # older than drills.max_age_hours (6)
    report = rt.fire_schedule("DrillFunctionJanitor")
    deleted = [r["subject"] for r in report.ledger if r["decision"] == "janitor-deleted"]
    assert deleted == ["rds:deckwatch-drill-staging-leftover"]
    left = {d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]}
    assert "deckwatch-drill-staging-leftover" not in left
    assert {"deckwatch-drill-prod-other", "shop-staging-reporting"} <= left
    for ident in ("deckwatch-drill-prod-other", "shop-staging-reporting"):
        rds.delete_db_instance(DBInstanceIdentifier=ident, SkipFinalSnapshot=True)


def test_schedule_without_policy_schedule_starts_nothing(rt: LocalAWS) -> None:
    report = rt.fire_schedule("DrillFunctionSchedule")
    assert report.invocations == [{"function": "DrillFunction", "status": "ok", "error": None}]
    assert report.executions == []


# ---------------------------------------------------------------- deckwatch drills -----------------------------
def test_drills_command_lists_rto_rpo_trend(rt: LocalAWS, capsys: pytest.CaptureFixture[str]) -> None:
    drill(rt)
    drill(rt)
    from deckwatch.local.cli import main

    assert main(["drills", "--env", "staging", "--json"]) == 0
    trend = json.loads(capsys.readouterr().out)
    runs = trend[DB_ARN]
    assert len([r for r in runs if r["outcome"] == "passed"]) >= 2
    assert all(15 <= r["rto_minutes"] < 16 for r in runs if r["outcome"] == "passed")
    assert main(["drills", "--env", "staging"]) == 0
    text = capsys.readouterr().out
    assert DB_ARN in text and "RTO trend" in text and "RPO trend" in text
