"""AWS Backup state for the embedded AWS (see backup.py): the controls tests steer restores with, the per-region
state kept on moto's backup backend, backup jobs, copy jobs and recovery points with their restore metadata, and
the events AWS Backup puts on the bus of the region where they happen."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from deckwatch import clock
from deckwatch.local.mock_services import _backup_rds

Outcome = Literal["COMPLETED", "FAILED", "NEVER"]
BACKUP_ROLE = "arn:aws:iam::{account}:role/service-role/AWSBackupDefaultServiceRole"
SEED_VAULT = "deckwatch-local-vault"
SEED_DR_VAULT = "deckwatch-local-dr-vault"


@dataclass
class Controls:
    """How the next restores behave (the running embedded AWS's; `reset()` between tests)."""

    outcome: Outcome = "COMPLETED"
    restore_seconds: float = 900.0  # simulated duration of a restore (it is asynchronous, as in AWS)
    failure_message: str = "Restore failed: the DB snapshot is in an incompatible state."
    endpoint: tuple[str, int] | None = None  # the real PostgreSQL serving restored instances
    restored: set[str] = field(default_factory=set)  # DB instance and cluster identifiers created by restores
    instance_boot_seconds: float = 0.0  # simulated time an instance added to a restored cluster stays 'creating'
    ca_file: str | None = None  # the CA the validator trusts for the server above (its DRILL_CA_BUNDLE)

    def reset(self) -> None:
        self.outcome, self.restore_seconds = "COMPLETED", 900.0
        self.failure_message = Controls.failure_message
        self.endpoint = None
        self.restored = set()
        self.instance_boot_seconds = 0.0
        self.ca_file = None


def controls() -> Controls:
    from deckwatch.local.mock_services import current

    return current().backup


@dataclass
class _State:
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    points: dict[str, dict[str, Any]] = field(default_factory=dict)  # recovery point ARN -> point
    restores: dict[str, dict[str, Any]] = field(default_factory=dict)
    copies: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # idempotency token -> restore job id


def backend_state(backend: Any) -> _State:
    state = backend.__dict__.get("_deckwatch")
    if state is None:
        state = backend.__dict__.setdefault("_deckwatch", _State())
    return state  # type: ignore[no-any-return]


# ---------------------------------------------------------------- the backend's new operations ------------------
def start_backup_job(backend: Any, params: dict[str, Any], emit: bool = True) -> dict[str, Any]:
    """A backup job that completes at once and leaves a recovery point (RDS: a snapshot ARN)."""
    from moto.backup.exceptions import ResourceNotFoundException

    vault_name = params["BackupVaultName"]
    if vault_name not in backend.vaults:
        raise ResourceNotFoundException(msg=f"Backup vault {vault_name} not found")
    vault = backend.vaults[vault_name]
    resource_arn = params["ResourceArn"]
    job_id = str(uuid.uuid4()).upper()
    now = clock.now()
    source = _backup_rds.source(resource_arn)
    kind, rtype = ("cluster-snapshot", "Aurora") if source["cluster"] else ("snapshot", "RDS")
    point_arn = f"arn:aws:rds:{backend.region_name}:{backend.account_id}:{kind}:awsbackup:job-{job_id.lower()}"
    job = {
        "AccountId": backend.account_id,
        "BackupJobId": job_id,
        "BackupVaultName": vault_name,
        "BackupVaultArn": vault.backup_vault_arn,
        "RecoveryPointArn": point_arn,
        "ResourceArn": resource_arn,
        "ResourceType": rtype,
        "CreationDate": now - timedelta(minutes=5),
        "CompletionDate": now,
        "State": "COMPLETED",
        "PercentDone": "100.0",
        "BackupSizeInBytes": 53687091200,
        "IamRoleArn": params["IamRoleArn"],
        "ResourceName": resource_arn.rsplit(":", 1)[-1],
        "IsParent": False,
    }
    point = {
        "RecoveryPointArn": point_arn,
        "BackupVaultName": vault_name,
        "BackupVaultArn": vault.backup_vault_arn,
        "ResourceArn": resource_arn,
        "ResourceType": rtype,
        "IamRoleArn": params["IamRoleArn"],
        "Status": "COMPLETED",
        "CreationDate": job["CreationDate"],
        "CompletionDate": now,
        "BackupSizeInBytes": 53687091200,
        "IsEncrypted": True,
        "StorageClass": "WARM",
        "ResourceName": job["ResourceName"],
        "CreatedBy": {"BackupPlanId": "deckwatch-local"},
        "_source": source,
        "_job": job_id,
    }
    state = backend_state(backend)
    state.jobs[job_id] = job
    state.points[point_arn] = point
    if emit:
        emit_event(
            backend,
            "Backup Job State Change",
            [point_arn],
            {
                "backupJobId": job_id,
                "backupVaultArn": vault.backup_vault_arn,
                "backupVaultName": vault_name,
                "creationDate": iso(job["CreationDate"]),
                "completionDate": iso(now),
                "resourceArn": resource_arn,
                "resourceType": rtype,
                "state": "COMPLETED",
                "statusMessage": "",
                "percentDone": 100.0,
                "iamRoleArn": params["IamRoleArn"],
            },
        )
    return {"BackupJobId": job_id, "RecoveryPointArn": point_arn, "CreationDate": job["CreationDate"]}


def start_copy_job(backend: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Copy a recovery point into a vault of (usually) another region: completes at once, leaves the copy in the
    destination region's backend and emits the Copy Job event in the source region, as AWS Backup does."""
    from moto.backup.exceptions import ResourceNotFoundException
    from moto.backup.models import backup_backends

    point = find_point(backend, params["SourceBackupVaultName"], params["RecoveryPointArn"])
    destination_vault_arn = params["DestinationBackupVaultArn"]
    region, vault_name = destination_vault_arn.split(":")[3], destination_vault_arn.rsplit(":", 1)[-1]
    destination = backup_backends[backend.account_id][region]
    if vault_name not in destination.vaults:
        raise ResourceNotFoundException(msg=f"Backup vault {destination_vault_arn} not found")
    job_id, now = str(uuid.uuid4()).upper(), clock.now()
    kind = "cluster-snapshot" if point["ResourceType"] == "Aurora" else "snapshot"
    copy_arn = f"arn:aws:rds:{region}:{backend.account_id}:{kind}:awsbackup:copyjob-{job_id.lower()}"
    backend_state(destination).points[copy_arn] = point | {
        "RecoveryPointArn": copy_arn,
        "BackupVaultName": vault_name,
        "BackupVaultArn": destination.vaults[vault_name].backup_vault_arn,
        "SourceBackupVaultArn": point["BackupVaultArn"],
        "CreationDate": now,
        "CompletionDate": now,
        "_job": job_id,
    }
    job = {
        "AccountId": backend.account_id,
        "CopyJobId": job_id,
        "SourceBackupVaultArn": point["BackupVaultArn"],
        "SourceRecoveryPointArn": point["RecoveryPointArn"],
        "DestinationBackupVaultArn": destination_vault_arn,
        "DestinationRecoveryPointArn": copy_arn,
        "ResourceArn": point["ResourceArn"],
        "ResourceType": point["ResourceType"],
        "CreationDate": now - timedelta(minutes=40),
        "CompletionDate": now,
        "State": "COMPLETED",
        "BackupSizeInBytes": point["BackupSizeInBytes"],
        "IamRoleArn": params["IamRoleArn"],
    }
    backend_state(backend).copies[job_id] = job
    emit_event(
        backend,
        "Copy Job State Change",
        [point["RecoveryPointArn"]],
        {
            "backupSizeInBytes": point["BackupSizeInBytes"],
            "completionDate": iso(now),
            "copyJobId": job_id,
            "creationDate": iso(job["CreationDate"]),
            "destinationBackupVaultArn": destination_vault_arn,
            "destinationRecoveryPointArn": copy_arn,
            "iamRoleArn": params["IamRoleArn"],
            "resourceArn": point["ResourceArn"],
            "resourceType": point["ResourceType"],
            "sourceBackupVaultArn": point["BackupVaultArn"],
            "state": "COMPLETED",
            "statusMessage": "",
        },
    )
    return {"CopyJobId": job_id, "CreationDate": now, "IsParent": False}


def public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if not k.startswith("_")}


def find_point(backend: Any, vault: str | None, arn: str) -> dict[str, Any]:
    from moto.backup.exceptions import ResourceNotFoundException

    point = backend_state(backend).points.get(arn)
    if point is None or (vault is not None and point["BackupVaultName"] != vault):
        raise ResourceNotFoundException(msg=f"Recovery point {arn} not found in vault {vault}")
    return point


def get_restore_metadata(backend: Any, vault: str, arn: str) -> dict[str, Any]:
    point = find_point(backend, vault, arn)
    src = point["_source"]
    common = {"Engine": src["engine"], "Port": str(src["port"]), "CopyTagsToSnapshot": "true"}
    common["VpcSecurityGroupIds"] = json.dumps(src["security_groups"])
    if src["subnet_group"]:
        common["DBSubnetGroupName"] = src["subnet_group"]
    if src["cluster"]:
        metadata = common | {
            "DBClusterIdentifier": src["id"],
            "EngineMode": "provisioned",
            "DatabaseName": src["db_name"],
            "StorageEncrypted": "true",
        }
    else:
        metadata = common | {
            "DBInstanceIdentifier": src["id"],
            "DBInstanceClass": src["class"],
            "DBName": src["db_name"],
            "MultiAZ": "false",
            "PubliclyAccessible": "false",
            "StorageType": "gp3",
        }
    return {
        "BackupVaultArn": point["BackupVaultArn"],
        "RecoveryPointArn": arn,
        "ResourceType": point["ResourceType"],
        "RestoreMetadata": metadata,
    }


def emit_event(backend: Any, detail_type: str, resources: list[str], detail: dict[str, Any]) -> None:
    """PutEvents on the default bus of the backend's region, as AWS Backup does (moto's events backend directly:
    restores finish on their own thread, see _backup_rds)."""
    from moto.events.models import events_backends

    events_backends[backend.account_id][backend.region_name].put_events(
        [{"Source": "aws.backup", "DetailType": detail_type, "Resources": resources, "Detail": json.dumps(detail)}]
    )


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
