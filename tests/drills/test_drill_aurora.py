"""Aurora PostgreSQL drills: AWS Backup restores the cluster alone, the drill adds an instance, validates through
the cluster's writer endpoint (real SQL, verify-full), and deletes the instance, then the cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deckwatch.local.mock_services import backup
from deckwatch.local.runtime import LocalAWS
from support.drills import (
    Factory,
    assert_cleaned_up,
    console,
    drill,
    drill_clusters,
    drill_instances,
    drill_report,
    drill_runtime,
    ops,
    policy_variant,
)

CLUSTER = "shop-staging-aurora"
LOCK = f"rds:{CLUSTER}"
ROLE = "arn:aws:iam::123456789012:role/service-role/AWSBackupDefaultServiceRole"


def _with_aurora(doc: dict[str, Any]) -> None:
    db = doc["drills"]["targets"][0]
    doc["drills"]["targets"].append(
        db | {"resource": CLUSTER, "engine": "aurora-postgresql", "instance_class": "db.r7g.large"}
    )


@pytest.fixture(scope="module")
def rt(local_aws_factory: Factory, reports_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAWS]:
    policy = policy_variant(tmp_path_factory.mktemp("aurora"), _with_aurora)
    with drill_runtime(local_aws_factory, policy, reports_dir) as runtime:
        yield runtime


def test_aurora_drill_adds_an_instance_validates_and_deletes_both(rt: LocalAWS) -> None:
    report, execution = drill(rt, console("staging-aurora-latest-point.json"))
    assert execution["status"] == "SUCCEEDED", execution
    path = execution["path"]
    assert path.index("TagRestored") < path.index("AddClusterInstance") < path.index("Validate")

    start = next(r for r in report.ledger if r["decision"] == "restore-started")["action"]["parameters"]
    meta = start["Metadata"]
    assert start["ResourceType"] == "Aurora"
    assert meta["DBClusterIdentifier"].startswith("deckwatch-drill-staging-") and "DBInstanceIdentifier" not in meta
    assert meta["DBSubnetGroupName"] == "shop-staging-drills" and "PubliclyAccessible" not in meta

    added = next(r for r in report.ledger if r["decision"] == "instance-added")["action"]["parameters"]
    assert added["DBClusterIdentifier"] == meta["DBClusterIdentifier"]
    assert (added["DBInstanceClass"], added["Engine"], added["PubliclyAccessible"]) == (
        "db.r7g.large",
        "aurora-postgresql",
        False,
    )

    rec = drill_report(report)
    assert rec["outcome"] == "passed" and rec["details"]["kind"] == "cluster"
    checks = {c["name"]: c for c in rec["details"]["checks"]}
    assert checks["connection"]["passed"] and checks["rows public.orders"]["observed"] == 500
    assert 15 <= rec["details"]["rto_minutes"] < 16  # the 15 simulated minutes of the restore, then validation

    assert ("rds", "DeleteDBInstance") in ops(report) and ("rds", "DeleteDBCluster") in ops(report)
    assert ops(report).index(("rds", "DeleteDBInstance")) < ops(report).index(("rds", "DeleteDBCluster"))
    assert [r["decision"] for r in report.ledger if r["decision"] == "cluster-deleted"] == ["cluster-deleted"]
    assert_cleaned_up(rt, report, lock=LOCK)
    assert CLUSTER in [c["DBClusterIdentifier"] for c in rt.client("rds").describe_db_clusters()["DBClusters"]]


def test_aurora_validation_failure_still_deletes_cluster(rt: LocalAWS, postgres: Any) -> None:
    postgres.sql("delete from public.customers")
    report, execution = drill(rt, console("staging-aurora-latest-point.json"))
    assert execution["status"] == "FAILED"
    assert "check rows public.customers failed" in drill_report(report)["reason"]
    assert_cleaned_up(rt, report, lock=LOCK)


def test_aurora_restore_failed_leaves_no_cluster(rt: LocalAWS) -> None:
    backup.controls().outcome = "FAILED"
    report, execution = drill(rt, console("staging-aurora-latest-point.json"))
    assert execution["status"] == "FAILED" and "AddClusterInstance" not in execution["path"]
    assert "RestoreFailedError" in drill_report(report)["reason"]
    assert_cleaned_up(rt, report, lock=LOCK)


def test_aurora_dry_run_plans_the_instance_and_both_deletions(rt: LocalAWS) -> None:
    report, execution = drill(rt, console("staging-aurora-latest-point.json") | {"dryRun": True})
    assert execution["status"] == "SUCCEEDED"
    planned = [r["action"]["operation"] for r in report.ledger if r["decision"] == "planned"]
    assert planned == [
        "StartRestoreJob",
        "AddTagsToResource",
        "CreateDBInstance",
        "Invoke",
        "DeleteDBInstance",
        "DeleteDBCluster",
    ]
    assert ("backup", "StartRestoreJob") not in ops(report)
    assert drill_clusters(rt) == []


def test_janitor_deletes_old_drill_clusters_after_their_instances(rt: LocalAWS) -> None:
    rds = rt.client("rds")
    leftover = "deckwatch-drill-staging-abandoned-cluster"
    rds.create_db_cluster(
        DBClusterIdentifier=leftover, Engine="aurora-postgresql", MasterUsername="x", MasterUserPassword="password123"
    )
    rds.create_db_instance(
        DBInstanceIdentifier="deckwatch-drill-staging-abandoned",
        DBClusterIdentifier=leftover,
        DBInstanceClass="db.r7g.large",
        Engine="aurora-postgresql",
    )
    rt.clock.advance(7 * 3600)  # older than drills.max_age_hours (6)
    report = rt.fire_schedule("DrillFunctionJanitor")
    deleted = [r["action"]["operation"] for r in report.ledger if r["decision"] == "janitor-deleted"]
    assert deleted == ["DeleteDBInstance", "DeleteDBCluster"]
    assert drill_instances(rt) == [] and drill_clusters(rt) == []
    assert CLUSTER in [c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]]


def test_the_drill_waits_for_its_cluster_instance(rt: LocalAWS) -> None:
    backup.controls().instance_boot_seconds = 600  # Aurora instances take minutes to create
    try:
        report, execution = drill(rt, console("staging-aurora-latest-point.json"))
    finally:
        backup.controls().instance_boot_seconds = 0
    assert execution["status"] == "SUCCEEDED", execution
    # DrillInstanceNotReadyError, retried every 60 simulated seconds by the state machine, until the instance is up
    assert execution["path"].count("AddClusterInstance") == 1
    assert [r["decision"] for r in report.ledger].count("instance-added") == 1
    rec = drill_report(report)
    assert 25 <= rec["details"]["rto_minutes"] < 27  # 15 minutes of restore, then 10 of instance creation
    assert_cleaned_up(rt, report, lock=LOCK)


def test_a_completed_aurora_backup_job_starts_a_drill(rt: LocalAWS) -> None:
    b = rt.client("backup")
    cluster_arn = f"arn:aws:rds:us-east-1:123456789012:cluster:{CLUSTER}"
    started: dict[str, Any] = {}

    def back_up() -> None:
        started.update(b.start_backup_job(BackupVaultName=backup.SEED_VAULT, ResourceArn=cluster_arn, IamRoleArn=ROLE))

    report = rt.act("AWS Backup backs the cluster up", back_up)
    assert ":cluster-snapshot:awsbackup:" in started["RecoveryPointArn"]
    decision = next(r for r in report.ledger if r["decision"] == "drill-started" and r["kind"] == "decision")
    assert decision["details"]["recoveryPointArn"] == started["RecoveryPointArn"]
    assert [e["status"] for e in report.executions] == ["SUCCEEDED"]
    assert drill_report(report)["outcome"] == "passed"
    assert_cleaned_up(rt, report, lock=LOCK)
