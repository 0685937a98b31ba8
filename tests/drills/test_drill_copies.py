"""Cross-region copies: a COMPLETED Copy Job of a target with drill_copies is drilled in its destination region,
into the policy's dr_networks network; copies of other targets, or into regions without a drill network, are
recorded only. The Restore Job event stays in the DR region, so the drill polls."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deckwatch.local.mock_services import backup
from deckwatch.local.runtime import LocalAWS, Report
from support.drills import (
    DB_ARN,
    Factory,
    assert_cleaned_up,
    console,
    drill,
    drill_instances,
    drill_report,
    drill_runtime,
    policy_variant,
)
from support.samples import EVENTS, load_event

DR = "us-west-2"
DR_VAULT_ARN = f"arn:aws:backup:{DR}:123456789012:backup-vault:{backup.SEED_DR_VAULT}"
ROLE = "arn:aws:iam::123456789012:role/service-role/AWSBackupDefaultServiceRole"


def _with_dr(doc: dict[str, Any]) -> None:
    doc["drills"]["dr_networks"] = {DR: {"db_subnet_group": "shop-staging-dr-drills", "security_group": "shop-dr-sg"}}
    doc["drills"]["targets"][0]["drill_copies"] = True
    doc["drills"]["targets"][0]["sampling"] = {}  # every copy is drilled here


@pytest.fixture(scope="module")
def rt(local_aws_factory: Factory, reports_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAWS]:
    policy = policy_variant(tmp_path_factory.mktemp("dr"), _with_dr)
    # deployed as a DR drill needs it: the drill function may act in the DR region (template DrillDrRegion)
    with drill_runtime(local_aws_factory, policy, reports_dir, parameters={"DrillDrRegion": DR}) as runtime:
        yield runtime


def copy_to_dr(rt: LocalAWS) -> tuple[dict[str, Any], Report]:
    """Copy the latest recovery point to the DR vault with StartCopyJob; its Copy Job event is then routed."""
    b = rt.client("backup")
    point = b.list_recovery_points_by_resource(ResourceArn=DB_ARN)["RecoveryPoints"][0]
    started: dict[str, Any] = {}

    def copy() -> None:
        started.update(
            b.start_copy_job(
                RecoveryPointArn=point["RecoveryPointArn"],
                SourceBackupVaultName=point["BackupVaultName"],
                DestinationBackupVaultArn=DR_VAULT_ARN,
                IamRoleArn=ROLE,
            )
        )

    report = rt.act("copy to the DR vault", copy)
    return b.describe_copy_job(CopyJobId=started["CopyJobId"])["CopyJob"], report


def test_completed_copy_is_drilled_in_the_dr_region(rt: LocalAWS, postgres: Any) -> None:
    # newest order 10 minutes before (simulated) now; the copy completes 30 minutes later
    postgres.load_fixture(newest=f"{600 - rt.clock.simulated_seconds:.0f} seconds")
    rt.clock.advance(1800)
    job, report = copy_to_dr(rt)
    started = [r for r in report.ledger if r["decision"] == "drill-started"]
    assert len(started) == 2  # the copy event's decision, then the drill's own start
    assert {r["details"].get("trigger") for r in started} >= {"copy-job"}
    assert len(report.executions) == 1 and report.executions[0]["status"] == "SUCCEEDED", report.executions
    start = next(r for r in report.ledger if r["decision"] == "restore-started")["action"]["parameters"]
    assert start["RecoveryPointArn"] == job["DestinationRecoveryPointArn"]
    assert start["RecoveryPointArn"].startswith(f"arn:aws:rds:{DR}:")
    assert start["Metadata"]["DBSubnetGroupName"] == "shop-staging-dr-drills"
    dr_sg = rt.client("ec2", region=DR).describe_security_groups(GroupNames=["shop-dr-sg"])["SecurityGroups"][0]
    assert start["Metadata"]["VpcSecurityGroupIds"] == f'["{dr_sg["GroupId"]}"]'

    rec = drill_report(report)
    assert rec["outcome"] == "passed" and rec["details"]["region"] == DR
    # no Restore Job event crosses regions: the drill polled the DR region for the outcome
    restore_jobs = rt.client("backup", region=DR).list_restore_jobs()["RestoreJobs"]
    assert [j["Status"] for j in restore_jobs] == ["COMPLETED"]
    assert not [f for f in report.follow_ups if f["detail-type"] == "Restore Job State Change"]
    # RPO counts to the copy's completion: when the data became recoverable in the DR region
    assert 39 <= rec["details"]["rpo_minutes"] <= 41
    doc = json.loads(Path(rec["details"]["report"]).read_text(encoding="utf-8"))
    assert doc["objectives"]["rpo_measured_to"] == "copy job completion"
    assert doc["timings"]["restore_signal"] in ("describe", "poll")  # never "event"
    assert doc["objectives"]["backup_completed_at"] == job["CompletionDate"].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    assert_cleaned_up(rt, report, region=DR)
    assert drill_instances(rt) == []  # nothing was restored at home


def test_copy_without_a_dr_network_is_recorded_only(rt: LocalAWS) -> None:
    event = load_event(EVENTS / "backup_events/copy-job-completed.json")
    event["id"] = str(uuid.uuid4())
    event["detail"]["destinationBackupVaultArn"] = "arn:aws:backup:eu-west-1:123456789012:backup-vault:far"
    report = rt.replay(event)
    decisions = [(r["decision"], r["reason"]) for r in report.ledger]
    assert decisions == [("copy-recorded", decisions[0][1])] and "no drill network in eu-west-1" in decisions[0][1]
    assert report.executions == []


def test_console_drill_of_the_latest_copy(rt: LocalAWS) -> None:
    job, settled = copy_to_dr(rt)
    assert len(settled.executions) == 1  # the copy's own drill
    report, execution = drill(rt, console("staging-dr-copy.json"))
    assert execution["status"] == "SUCCEEDED", execution
    start = next(r for r in report.ledger if r["decision"] == "restore-started")["action"]["parameters"]
    assert start["RecoveryPointArn"] == job["DestinationRecoveryPointArn"]  # the latest point in us-west-2
    assert_cleaned_up(rt, report, region=DR)


def test_console_drill_in_a_region_without_network_is_rejected(rt: LocalAWS) -> None:
    report, execution = drill(rt, console("staging-dr-copy.json") | {"region": "eu-west-1"})
    assert execution["error"] == "DrillInputError"
    assert "no drill network in eu-west-1" in report.ledger[0]["reason"]


def test_janitor_sweeps_the_dr_region(rt: LocalAWS) -> None:
    rds = rt.client("rds", region=DR)
    rds.create_db_instance(
        DBInstanceIdentifier="deckwatch-drill-staging-lost", DBInstanceClass="db.t4g.micro", Engine="postgres",
        MasterUsername="x", MasterUserPassword="password123", AllocatedStorage=20,
    )  # fmt: skip
    rt.clock.advance(7 * 3600)
    report = rt.fire_schedule("DrillFunctionJanitor")
    swept = [r for r in report.ledger if r["decision"] == "janitor-deleted"]
    assert [r["subject"] for r in swept] == ["rds:deckwatch-drill-staging-lost"] and DR in swept[0]["reason"]
    assert drill_instances(rt, DR) == []


def test_a_copy_within_the_region_is_recorded_only(rt: LocalAWS) -> None:
    """The events/ sample, its destination vault moved to the stack's own region: nothing to drill again."""
    event = copy.deepcopy(load_event(EVENTS / "backup_events/copy-job-completed.json"))
    event["id"] = str(uuid.uuid4())
    event["detail"]["destinationBackupVaultArn"] = "arn:aws:backup:us-east-1:123456789012:backup-vault:same-region"
    report = rt.replay(event)
    assert [r["decision"] for r in report.ledger] == ["copy-recorded"]
    assert "within us-east-1 is not drilled" in report.ledger[0]["reason"]


def test_drills_command_trends_dr_drills_apart(rt: LocalAWS, capsys: pytest.CaptureFixture[str]) -> None:
    drill(rt, console("staging-dr-copy.json"))
    drill(rt)  # at home
    from deckwatch.local.cli import main

    assert main(["drills", "--env", "staging", "--json"]) == 0
    trend = json.loads(capsys.readouterr().out)
    assert {DB_ARN, f"{DB_ARN} in {DR}"} <= set(trend)
    assert all(r["outcome"] == "passed" for r in trend[f"{DB_ARN} in {DR}"])


def test_a_dr_restore_that_never_ends_is_polled_then_given_up(rt: LocalAWS) -> None:
    backup.controls().outcome = "NEVER"
    report, execution = drill(rt, console("staging-dr-copy.json"))
    assert execution["status"] == "FAILED"
    # a minute's wait for an event that cannot come from another region, then one poll a minute for as long as
    # the RTO objective (60 min) and the home drill's 15 polls allow
    assert execution["path"].count("PollRestore") == 75
    assert 60 + 74 * 60 <= report.simulated_seconds < 60 + 80 * 60
    assert "RestoreTimeoutError" in drill_report(report)["reason"]
    assert_cleaned_up(rt, report, region=DR)
