"""AWS Backup restore jobs for the embedded AWS (see backup.py): asynchronous as in AWS, they create the instance
or Aurora cluster in moto's RDS and emit their Restore Job event; a restore testing plan's restores too."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

from deckwatch import clock
from deckwatch.local.mock_services import _backup_rds
from deckwatch.local.mock_services._backup_jobs import (
    BACKUP_ROLE,
    Outcome,
    backend_state,
    controls,
    emit_event,
    find_point,
    iso,
)

_lock = threading.Lock()


def start_restore_job(backend: Any, params: dict[str, Any]) -> dict[str, Any]:
    from moto.backup.exceptions import InvalidParameterValueException

    state = backend_state(backend)
    token = params.get("IdempotencyToken")
    if token and token in state.tokens:
        return {"RestoreJobId": state.tokens[token]}
    point = find_point(backend, None, params["RecoveryPointArn"])
    metadata = dict(params.get("Metadata") or {})
    key = "DBClusterIdentifier" if point["ResourceType"] == "Aurora" else "DBInstanceIdentifier"
    if not metadata.get(key):
        raise InvalidParameterValueException(msg=f"Metadata {key} is required for an {point['ResourceType']} restore")
    if metadata.get("PubliclyAccessible", "false").lower() == "true":
        raise InvalidParameterValueException(msg="deckwatch drills never restore publicly (local check)")
    job_id = str(uuid.uuid4()).upper()
    job = {
        "AccountId": backend.account_id,
        "RestoreJobId": job_id,
        "RecoveryPointArn": point["RecoveryPointArn"],
        "SourceResourceArn": point["ResourceArn"],
        "BackupVaultArn": point["BackupVaultArn"],
        "CreationDate": clock.now(),
        "Status": "RUNNING",
        "PercentDone": "0.00%",
        "BackupSizeInBytes": point["BackupSizeInBytes"],
        "IamRoleArn": params.get("IamRoleArn") or BACKUP_ROLE.format(account=backend.account_id),
        "ResourceType": point["ResourceType"],
        "RecoveryPointCreationDate": point["CreationDate"],
        "_metadata": metadata,
        "_source": point["_source"],
    }
    state.restores[job_id] = job
    if token:
        state.tokens[token] = job_id
    c = controls()
    if c.outcome != "NEVER":
        outcome = c.outcome
        _later(c.restore_seconds, lambda: _finish_restore(backend, job_id, outcome), f"restore job {job_id[:8]}")
    return {"RestoreJobId": job_id}


def _later(seconds: float, action: Any, what: str) -> None:
    """Asynchronous AWS work: done by the runtime's scheduler after `seconds` of simulated time (with no runtime,
    the clock moves on and it is done now)."""
    from deckwatch.local import moto_patches

    scheduler = moto_patches.HOOKS.scheduler
    if scheduler is None:
        action()
    else:
        scheduler.call_later(seconds, action, what)


def _finish_restore(backend: Any, job_id: str, outcome: Outcome, test_plan: str | None = None) -> None:
    c = controls()
    with _lock:
        job = backend_state(backend).restores[job_id]
        if job["Status"] != "RUNNING":
            return
        meta, src = job["_metadata"], job["_source"]
        groups = json.loads(meta.get("VpcSecurityGroupIds") or "[]")
        network = {"DBSubnetGroupName": meta["DBSubnetGroupName"]} if meta.get("DBSubnetGroupName") else {}
        restored = meta.get("DBClusterIdentifier") if src["cluster"] else meta["DBInstanceIdentifier"]
        if outcome == "COMPLETED" and src["cluster"]:
            _backup_rds.create_cluster(
                job,
                **network,
                DBClusterIdentifier=restored,
                Engine=meta.get("Engine") or src["engine"],
                DatabaseName=meta.get("DatabaseName") or src["db_name"],
                MasterUsername=src["master_user"],
                MasterUserPassword="restored-from-snapshot",
                VpcSecurityGroupIds=groups,
                Port=c.endpoint[1] if c.endpoint else int(meta.get("Port") or src["port"]),
                StorageEncrypted=True,
            )
        elif outcome == "COMPLETED":
            _backup_rds.create_instance(
                job,
                **network,
                DBInstanceIdentifier=restored,
                DBInstanceClass=meta.get("DBInstanceClass") or src["class"],
                Engine=meta.get("Engine") or src["engine"],
                DBName=meta.get("DBName") or src["db_name"],
                MasterUsername=src["master_user"],
                MasterUserPassword="restored-from-snapshot",
                AllocatedStorage=src["storage"],
                VpcSecurityGroupIds=groups,
                PubliclyAccessible=False,
                MultiAZ=False,
            )
        if outcome == "COMPLETED" and job["Status"] == "RUNNING":
            c.restored.add(restored)
            kind = "cluster" if src["cluster"] else "db"
            job.update(
                Status="COMPLETED",
                PercentDone="100.00%",
                CompletionDate=clock.now(),
                CreatedResourceArn=f"arn:aws:rds:{backend.region_name}:{backend.account_id}:{kind}:{restored}",
            )
        elif job["Status"] == "RUNNING":
            job.update(Status="FAILED", StatusMessage=c.failure_message, CompletionDate=clock.now())
    # The shapes of the AWS Backup Developer Guide: a FAILED restore names no vault, recovery point or source in
    # its detail, only the recovery point's resource in the envelope (events/backup_events/restore-job-failed.json)
    detail: dict[str, Any] = {
        "restoreJobId": job_id,
        "backupSizeInBytes": str(job["BackupSizeInBytes"]),
        "creationDate": iso(job["CreationDate"]),
        "iamRoleArn": job["IamRoleArn"],
        "percentDone": 0 if job["Status"] == "FAILED" else job["PercentDone"],
        "resourceType": job["ResourceType"],
        "status": job["Status"],
    }
    if job["Status"] == "FAILED":
        detail["statusMessage"] = job.get("StatusMessage", "")
    else:
        detail |= {
            "completionDate": iso(job["CompletionDate"]),
            "statusMessage": job.get("StatusMessage", ""),
            "backupVaultArn": job["BackupVaultArn"],
            "recoveryPointArn": job["RecoveryPointArn"],
            "sourceResourceArn": job["SourceResourceArn"],
        }
    if job.get("CreatedResourceArn"):
        detail["createdResourceArn"] = job["CreatedResourceArn"]
    if test_plan:
        detail["restoreTestingPlanArn"] = test_plan
    emit_event(backend, "Restore Job State Change", [test_plan] if test_plan else [job["RecoveryPointArn"]], detail)


def find_restore(backend: Any, job_id: str) -> dict[str, Any]:
    from moto.backup.exceptions import ResourceNotFoundException

    job = backend_state(backend).restores.get(job_id)
    if job is None:
        raise ResourceNotFoundException(msg=f"Restore job {job_id} not found")
    return job


def put_validation(backend: Any, job_id: str, status: str, message: str | None) -> None:
    from moto.backup.exceptions import InvalidRequestException

    job = find_restore(backend, job_id)
    if status not in ("FAILED", "SUCCESSFUL", "TIMED_OUT", "VALIDATING"):
        raise InvalidRequestException(msg=f"ValidationStatus {status} is not valid")
    if job["Status"] != "COMPLETED":
        raise InvalidRequestException(msg=f"restore job {job_id} is {job['Status']}, not COMPLETED")
    job["ValidationStatus"] = status
    if message:
        job["ValidationStatusMessage"] = message


# ---------------------------------------------------------------- helpers for tests and seeding --------------
def simulate_restore_test(
    recovery_point_arn: str, plan_arn: str, instance_id: str, account: str = "123456789012", region: str = "us-east-1"
) -> str:
    """What an AWS Backup restore testing plan does on its schedule: restore a point (no API starts one on
    demand). Completes synchronously and emits the event with restoreTestingPlanArn. Returns the job id."""
    from moto.backup.models import backup_backends

    backend = backup_backends[account][region]
    job_id = _start_for_test(backend, recovery_point_arn, instance_id)
    from deckwatch.local import moto_patches

    if moto_patches.HOOKS.scheduler is not None:
        moto_patches.HOOKS.scheduler.clock.advance(controls().restore_seconds)
    _finish_restore(backend, job_id, "COMPLETED", test_plan=plan_arn)
    return str(job_id)


def _start_for_test(backend: Any, recovery_point_arn: str, instance_id: str) -> str:
    c = controls()
    saved, c.outcome = c.outcome, "NEVER"  # finished by the caller, synchronously
    try:
        return str(
            start_restore_job(
                backend, {"RecoveryPointArn": recovery_point_arn, "Metadata": {"DBInstanceIdentifier": instance_id}}
            )["RestoreJobId"]
        )
    finally:
        c.outcome = saved
