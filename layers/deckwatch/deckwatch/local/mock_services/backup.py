"""AWS Backup jobs, recovery points and restores for the embedded AWS (moto 5.2.5 has vaults and plans only).

Stateful, on moto's own backup backend (one per region), with responses serialised by botocore's service model
(moto's ActionResult): StartBackupJob, DescribeBackupJob, ListBackupJobs, StartCopyJob, DescribeCopyJob,
ListRecoveryPointsByResource, ListRecoveryPointsByBackupVault, DescribeRecoveryPoint,
GetRecoveryPointRestoreMetadata, StartRestoreJob, DescribeRestoreJob, ListRestoreJobs, PutRestoreValidationResult.
RDS DB instances (ResourceType RDS) and Aurora clusters (Aurora: a restore creates the cluster, no instance).
A copy job copies a recovery point into a vault of another region at once and emits its Copy Job event in the
source region; every event goes to the bus of the region it happens in.

A restore runs as AWS Backup's does, asynchronously: `controls().restore_seconds` of simulated time after
StartRestoreJob (the runtime's scheduler runs it then), the DB instance or cluster is created through moto's RDS
(in the subnet group and security groups of the restore metadata, never public), and the real "Restore Job State Change"
event is put on the default bus (the local runtime routes it through the template's rules). Tests steer the
outcome with `controls()` ("COMPLETED", "FAILED", or "NEVER": the job stays RUNNING for ever).

Restored databases are served by a real PostgreSQL when `controls().endpoint` names one (host, port): moto's
DescribeDBInstances and DescribeDBClusters then report that address and port for what a restore created.

This module wires the operations into moto and seeds the demo world; the state, backup and copy jobs are in
_backup_jobs.py, restores in _backup_restores.py, and the RDS side of a restore in _backup_rds.py.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from deckwatch.local.mock_services import _backup_rds, client
from deckwatch.local.mock_services._backup_jobs import (
    BACKUP_ROLE,
    SEED_DR_VAULT,
    SEED_VAULT,
    Controls,
    backend_state,
    controls,
    find_point,
    get_restore_metadata,
    public,
    start_backup_job,
    start_copy_job,
)
from deckwatch.local.mock_services._backup_restores import (
    find_restore,
    put_validation,
    simulate_restore_test,
    start_restore_job,
)

__all__ = [
    "SEED_DR_VAULT",
    "SEED_VAULT",
    "Controls",
    "controls",
    "install",
    "seed",
    "serve_restores_from",
    "simulate_restore_test",
    "start_backup_job",
]
_installed = False
_lock = threading.Lock()


# ---------------------------------------------------------------- wiring into moto ------------------------------
def install() -> None:
    """Route the new operations to the backup backend, and serve restored instances from controls().endpoint."""
    global _installed  # noqa: PLW0603 - moto's classes are process-wide, so is this flag
    with _lock:
        if _installed:
            return
        from moto.backup import urls
        from moto.backup.responses import BackupResponse
        from moto.core.responses import ActionResult, EmptyResult

        urls.url_paths["{0}/.*$"] = urls.response.dispatch  # after moto's own paths: only what they don't match

        def params(self: Any) -> dict[str, Any]:
            body = json.loads(self.body) if self.body else {}
            uri = {k: unquote(v) for k, v in (getattr(self, "uri_match", None) or {}).items()}
            return {**body, **uri, **{k: v[0] for k, v in self.querystring.items()}}

        def backend(self: Any) -> Any:
            return self.backup_backend

        def op_start_backup_job(self: Any) -> Any:
            return ActionResult(start_backup_job(backend(self), params(self)))

        def op_describe_backup_job(self: Any) -> Any:
            from moto.backup.exceptions import ResourceNotFoundException

            job = backend_state(backend(self)).jobs.get(params(self)["backupJobId"])
            if job is None:
                raise ResourceNotFoundException(msg="Backup job not found")
            return ActionResult(public(job))

        def op_start_copy_job(self: Any) -> Any:
            return ActionResult(start_copy_job(backend(self), params(self)))

        def op_describe_copy_job(self: Any) -> Any:
            from moto.backup.exceptions import ResourceNotFoundException

            job = backend_state(backend(self)).copies.get(params(self)["copyJobId"])
            if job is None:
                raise ResourceNotFoundException(msg="Copy job not found")
            return ActionResult({"CopyJob": public(job)})

        def op_list_backup_jobs(self: Any) -> Any:
            p = params(self)
            jobs = [
                public(j)
                for j in backend_state(backend(self)).jobs.values()
                if p.get("resourceArn") in (None, j["ResourceArn"]) and p.get("state") in (None, j["State"])
            ]
            return ActionResult({"BackupJobs": jobs})

        def op_list_recovery_points_by_resource(self: Any) -> Any:
            arn = params(self)["resourceArn"]
            points = [
                {
                    k: p[k]
                    for k in (
                        "RecoveryPointArn",
                        "CreationDate",
                        "Status",
                        "EncryptionKeyArn",
                        "BackupSizeInBytes",
                        "BackupVaultName",
                        "IsParent",
                        "ResourceName",
                    )
                    if k in p
                }
                for p in backend_state(backend(self)).points.values()
                if p["ResourceArn"] == arn
            ]
            points.sort(key=lambda p: p["CreationDate"], reverse=True)
            return ActionResult({"RecoveryPoints": points})

        def op_list_recovery_points_by_backup_vault(self: Any) -> Any:
            vault = params(self)["backupVaultName"]
            points = [public(p) for p in backend_state(backend(self)).points.values() if p["BackupVaultName"] == vault]
            return ActionResult({"RecoveryPoints": points})

        def op_describe_recovery_point(self: Any) -> Any:
            p = params(self)
            return ActionResult(public(find_point(backend(self), p["backupVaultName"], p["recoveryPointArn"])))

        def op_get_recovery_point_restore_metadata(self: Any) -> Any:
            p = params(self)
            return ActionResult(get_restore_metadata(backend(self), p["backupVaultName"], p["recoveryPointArn"]))

        def op_start_restore_job(self: Any) -> Any:
            return ActionResult(start_restore_job(backend(self), params(self)))

        def op_describe_restore_job(self: Any) -> Any:
            return ActionResult(public(find_restore(backend(self), params(self)["restoreJobId"])))

        def op_list_restore_jobs(self: Any) -> Any:
            p = params(self)
            jobs = [
                public(j)
                for j in backend_state(backend(self)).restores.values()
                if p.get("status") in (None, j["Status"])
            ]
            return ActionResult({"RestoreJobs": jobs})

        def op_put_restore_validation_result(self: Any) -> Any:
            p = params(self)
            put_validation(backend(self), p["restoreJobId"], p["ValidationStatus"], p.get("ValidationStatusMessage"))
            return EmptyResult()

        for name, fn in dict(locals()).items():
            if name.startswith("op_"):
                setattr(BackupResponse, name[3:], fn)

        _backup_rds.serve_endpoints()
        _installed = True


def _vault(runtime: Any) -> str:
    """Where drill targets are backed up: the workload stack's vault, or the seeded one of the policy's world."""
    return str(getattr(runtime, "world", {}).get("backup_vault") or SEED_VAULT)


def seed(runtime: Any) -> None:
    """A vault (and one per DR region) where drill targets are backed up."""
    policy = runtime.policy.policy
    if not policy.drills.targets:
        return
    if _vault(runtime) == SEED_VAULT:
        client("backup").create_backup_vault(BackupVaultName=SEED_VAULT)
    for dr_region in policy.drills.dr_networks:  # where cross-region copies go
        client("backup", region=dr_region).create_backup_vault(BackupVaultName=SEED_DR_VAULT)


def refresh(runtime: Any) -> None:
    """One completed backup job (hence a recovery point) per drill target, completed just now."""
    from moto.backup.models import backup_backends

    from deckwatch.local.runtime import ACCOUNT, REGION

    policy = runtime.policy.policy
    if not policy.drills.targets:
        return
    backend = backup_backends[ACCOUNT][REGION]
    for target in policy.drills.targets:
        arn = target.resource
        if not arn.startswith("arn:"):
            kind = "cluster" if target.engine == "aurora-postgresql" else "db"
            arn = f"arn:aws:rds:{REGION}:{ACCOUNT}:{kind}:{target.resource}"
        start_backup_job(
            backend,
            {"BackupVaultName": _vault(runtime), "ResourceArn": arn, "IamRoleArn": BACKUP_ROLE.format(account=ACCOUNT)},
            emit=False,
        )


def serve_restores_from(
    host: str, port: int, secret_name: str, credentials: dict[str, str], ca_file: Path | None = None
) -> None:
    """Point every restored database at a real PostgreSQL, and store the validator's credentials there.
    `ca_file`: the CA of the server's certificate, which the validator then trusts for verify-full (the runtime
    gives the functions DRILL_CA_BUNDLE pointing at it)."""
    c = controls()
    c.endpoint = (host, port)
    c.ca_file = str(ca_file) if ca_file is not None else None
    sm = client("secretsmanager")
    value = json.dumps(credentials)
    try:
        sm.put_secret_value(SecretId=secret_name, SecretString=value)
    except sm.exceptions.ResourceNotFoundException:
        sm.create_secret(
            Name=secret_name, SecretString=value, Tags=[{"Key": "deckwatch:drill-credentials", "Value": "true"}]
        )
