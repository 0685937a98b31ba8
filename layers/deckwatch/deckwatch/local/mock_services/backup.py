"""AWS Backup jobs, recovery points and restores for the embedded AWS (moto 5.2.5 has vaults and plans only).

Stateful, on moto's own backup backend, with responses serialised by botocore's service model (moto's
ActionResult): StartBackupJob, DescribeBackupJob, ListBackupJobs, ListRecoveryPointsByResource,
ListRecoveryPointsByBackupVault, DescribeRecoveryPoint, GetRecoveryPointRestoreMetadata, StartRestoreJob,
DescribeRestoreJob, ListRestoreJobs, PutRestoreValidationResult.

A restore runs as AWS Backup's does, asynchronously: shortly after StartRestoreJob (real time `CONTROLS.real_delay`)
the simulated clock moves on by `CONTROLS.restore_seconds`, the DB instance is created through moto's RDS (in the
subnet group and security groups of the restore metadata, never public), and the real "Restore Job State Change"
event is put on the default bus (the local runtime routes it through the template's rules). Tests steer the
outcome with `CONTROLS` ("COMPLETED", "FAILED", or "NEVER": the job stays RUNNING for ever).

Restored instances are served by a real PostgreSQL when `CONTROLS.endpoint` names one (host, port): moto's
DescribeDBInstances then reports that address and port for every instance a restore created.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import unquote

from deckwatch import aws, clock

Outcome = Literal["COMPLETED", "FAILED", "NEVER"]
BACKUP_ROLE = "arn:aws:iam::{account}:role/service-role/AWSBackupDefaultServiceRole"
SEED_VAULT = "deckwatch-local-vault"


@dataclass
class Controls:
    """How the next restores behave (process-wide; `reset()` between tests)."""

    outcome: Outcome = "COMPLETED"
    restore_seconds: float = 900.0  # simulated duration of a restore
    real_delay: float = 0.05  # real seconds before the restore finishes (it is asynchronous, as in AWS)
    failure_message: str = "Restore failed: the DB snapshot is in an incompatible state."
    endpoint: tuple[str, int] | None = None  # the real PostgreSQL serving restored instances
    restored: set[str] = field(default_factory=set)  # DB instance identifiers created by restores

    def reset(self) -> None:
        self.outcome, self.restore_seconds, self.real_delay = "COMPLETED", 900.0, 0.05
        self.failure_message = Controls.failure_message
        self.endpoint = None
        self.restored = set()


CONTROLS = Controls()
_installed = False
_lock = threading.Lock()


@dataclass
class _State:
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    points: dict[str, dict[str, Any]] = field(default_factory=dict)  # recovery point ARN -> point
    restores: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # idempotency token -> restore job id
    timers: list[threading.Timer] = field(default_factory=list)


def _state(backend: Any) -> _State:
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
    point_arn = f"arn:aws:rds:{backend.region_name}:{backend.account_id}:snapshot:awsbackup:job-{job_id.lower()}"
    source = _source_instance(resource_arn)
    job = {
        "AccountId": backend.account_id,
        "BackupJobId": job_id,
        "BackupVaultName": vault_name,
        "BackupVaultArn": vault.backup_vault_arn,
        "RecoveryPointArn": point_arn,
        "ResourceArn": resource_arn,
        "ResourceType": "RDS",
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
        "ResourceType": "RDS",
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
    state = _state(backend)
    state.jobs[job_id] = job
    state.points[point_arn] = point
    if emit:
        _emit(
            "Backup Job State Change",
            [point_arn],
            {
                "backupJobId": job_id,
                "backupVaultArn": vault.backup_vault_arn,
                "backupVaultName": vault_name,
                "creationDate": _iso(job["CreationDate"]),
                "completionDate": _iso(now),
                "resourceArn": resource_arn,
                "resourceType": "RDS",
                "state": "COMPLETED",
                "statusMessage": "",
                "percentDone": 100.0,
                "iamRoleArn": params["IamRoleArn"],
            },
        )
    return {"BackupJobId": job_id, "RecoveryPointArn": point_arn, "CreationDate": job["CreationDate"]}


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if not k.startswith("_")}


def _point(backend: Any, vault: str | None, arn: str) -> dict[str, Any]:
    from moto.backup.exceptions import ResourceNotFoundException

    point = _state(backend).points.get(arn)
    if point is None or (vault is not None and point["BackupVaultName"] != vault):
        raise ResourceNotFoundException(msg=f"Recovery point {arn} not found in vault {vault}")
    return point


def get_restore_metadata(backend: Any, vault: str, arn: str) -> dict[str, Any]:
    point = _point(backend, vault, arn)
    src = point["_source"]
    metadata = {
        "DBInstanceIdentifier": src["id"],
        "Engine": src["engine"],
        "DBInstanceClass": src["class"],
        "DBName": src["db_name"],
        "Port": str(src["port"]),
        "MultiAZ": "false",
        "PubliclyAccessible": "false",
        "VpcSecurityGroupIds": json.dumps(src["security_groups"]),
        "StorageType": "gp3",
        "CopyTagsToSnapshot": "true",
    }
    if src["subnet_group"]:
        metadata["DBSubnetGroupName"] = src["subnet_group"]
    return {
        "BackupVaultArn": point["BackupVaultArn"],
        "RecoveryPointArn": arn,
        "ResourceType": "RDS",
        "RestoreMetadata": metadata,
    }


def start_restore_job(backend: Any, params: dict[str, Any]) -> dict[str, Any]:
    from moto.backup.exceptions import InvalidParameterValueException

    state = _state(backend)
    token = params.get("IdempotencyToken")
    if token and token in state.tokens:
        return {"RestoreJobId": state.tokens[token]}
    point = _point(backend, None, params["RecoveryPointArn"])
    metadata = dict(params.get("Metadata") or {})
    instance_id = metadata.get("DBInstanceIdentifier")
    if not instance_id:
        raise InvalidParameterValueException(msg="Metadata DBInstanceIdentifier is required for an RDS restore")
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
        "ResourceType": "RDS",
        "RecoveryPointCreationDate": point["CreationDate"],
        "_metadata": metadata,
        "_source": point["_source"],
    }
    state.restores[job_id] = job
    if token:
        state.tokens[token] = job_id
    outcome = CONTROLS.outcome
    if outcome != "NEVER":
        timer = threading.Timer(CONTROLS.real_delay, _finish_restore, args=(backend, job_id, outcome))
        timer.daemon = True
        state.timers.append(timer)
        timer.start()
    return {"RestoreJobId": job_id}


def _finish_restore(backend: Any, job_id: str, outcome: Outcome, test_plan: str | None = None) -> None:
    from deckwatch.local import moto_patches

    with _lock:
        job = _state(backend).restores[job_id]
        if job["Status"] != "RUNNING":
            return
        if moto_patches.HOOKS.advance is not None:
            moto_patches.HOOKS.advance(CONTROLS.restore_seconds)
        if outcome == "COMPLETED":
            meta, src = job["_metadata"], job["_source"]
            instance_id = meta["DBInstanceIdentifier"]
            groups = json.loads(meta.get("VpcSecurityGroupIds") or "[]")
            network = {"DBSubnetGroupName": meta["DBSubnetGroupName"]} if meta.get("DBSubnetGroupName") else {}
            _create_instance(
                job,
                **network,
                DBInstanceIdentifier=instance_id,
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
            CONTROLS.restored.add(instance_id)
            job.update(
                Status="COMPLETED",
                PercentDone="100.00%",
                CompletionDate=clock.now(),
                CreatedResourceArn=f"arn:aws:rds:{backend.region_name}:{backend.account_id}:db:{instance_id}",
            )
        elif job["Status"] == "RUNNING":
            job.update(Status="FAILED", StatusMessage=CONTROLS.failure_message, CompletionDate=clock.now())
    detail = {
        "restoreJobId": job_id,
        "backupSizeInBytes": str(job["BackupSizeInBytes"]),
        "creationDate": _iso(job["CreationDate"]),
        "completionDate": _iso(job["CompletionDate"]),
        "iamRoleArn": job["IamRoleArn"],
        "percentDone": job["PercentDone"],
        "resourceType": "RDS",
        "status": job["Status"],
        "statusMessage": job.get("StatusMessage", ""),
        "backupVaultArn": job["BackupVaultArn"],
        "recoveryPointArn": job["RecoveryPointArn"],
        "sourceResourceArn": job["SourceResourceArn"],
    }
    if job.get("CreatedResourceArn"):
        detail["createdResourceArn"] = job["CreatedResourceArn"]
    if test_plan:
        detail["restoreTestingPlanArn"] = test_plan
    _emit("Restore Job State Change", [test_plan] if test_plan else [], detail)


def _create_instance(job: dict[str, Any], **kwargs: Any) -> None:
    """The restore's RDS instance, created in moto's RDS backend (directly: this runs on the restore's own
    thread, where boto3 clients would race the handlers' environment); an RDS refusal fails the job, as in AWS."""
    from moto.core.exceptions import JsonRESTError, ServiceException
    from moto.core.parse import XFormedDict
    from moto.rds.models import rds_backends

    account, region = job["AccountId"], job["BackupVaultArn"].split(":")[3]
    try:
        rds_backends[account][region].create_db_instance(XFormedDict(kwargs))  # type: ignore[arg-type]
    except (JsonRESTError, ServiceException) as exc:
        job.update(Status="FAILED", StatusMessage=str(exc), CompletionDate=clock.now())


def _restore(backend: Any, job_id: str) -> dict[str, Any]:
    from moto.backup.exceptions import ResourceNotFoundException

    job = _state(backend).restores.get(job_id)
    if job is None:
        raise ResourceNotFoundException(msg=f"Restore job {job_id} not found")
    return job


def put_validation(backend: Any, job_id: str, status: str, message: str | None) -> None:
    from moto.backup.exceptions import InvalidRequestException

    job = _restore(backend, job_id)
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
    _finish_restore(backend, job_id, "COMPLETED", test_plan=plan_arn)
    return str(job_id)


def _start_for_test(backend: Any, recovery_point_arn: str, instance_id: str) -> str:
    saved = CONTROLS.outcome
    CONTROLS.outcome = "NEVER"  # finished by the caller, synchronously
    try:
        return str(
            start_restore_job(
                backend, {"RecoveryPointArn": recovery_point_arn, "Metadata": {"DBInstanceIdentifier": instance_id}}
            )["RestoreJobId"]
        )
    finally:
        CONTROLS.outcome = saved


def _source_instance(resource_arn: str) -> dict[str, Any]:
    """What a snapshot remembers of its instance (from moto's RDS when it exists)."""
    ident = resource_arn.rsplit(":", 1)[-1]
    src = {
        "id": ident,
        "engine": "postgres",
        "class": "db.t4g.medium",
        "db_name": "postgres",
        "port": 5432,
        "subnet_group": "",
        "security_groups": [],
        "master_user": "postgres",
        "storage": 20,
    }
    found = aws.client("rds").describe_db_instances(
        Filters=[{"Name": "db-instance-id", "Values": [resource_arn, ident]}]
    )["DBInstances"]
    if found:
        db = found[0]
        src.update(
            engine=db["Engine"],
            **{"class": db["DBInstanceClass"], "db_name": db.get("DBName") or "postgres"},
            port=db.get("Endpoint", {}).get("Port", 5432),
            subnet_group=db.get("DBSubnetGroup", {}).get("DBSubnetGroupName", ""),
            security_groups=[g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", [])],
            master_user=db.get("MasterUsername", "postgres"),
            storage=db.get("AllocatedStorage", 20),
        )
    return src


def _emit(detail_type: str, resources: list[str], detail: dict[str, Any]) -> None:
    """PutEvents on the default bus, as AWS Backup does (moto's events backend directly: see _create_instance)."""
    from moto.events.models import events_backends

    from deckwatch.local.runtime import ACCOUNT, REGION

    events_backends[ACCOUNT][REGION].put_events(
        [{"Source": "aws.backup", "DetailType": detail_type, "Resources": resources, "Detail": json.dumps(detail)}]
    )


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


# ---------------------------------------------------------------- wiring into moto ------------------------------
def install() -> None:
    """Route the new operations to the backup backend, and serve restored instances from CONTROLS.endpoint."""
    global _installed  # noqa: PLW0603 - moto's classes are process-wide, so is this flag
    with _lock:
        if _installed:
            return
        from moto.backup import urls
        from moto.backup.responses import BackupResponse
        from moto.core.responses import ActionResult, EmptyResult
        from moto.rds.models import DBInstance

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

            job = _state(backend(self)).jobs.get(params(self)["backupJobId"])
            if job is None:
                raise ResourceNotFoundException(msg="Backup job not found")
            return ActionResult(_public(job))

        def op_list_backup_jobs(self: Any) -> Any:
            p = params(self)
            jobs = [
                _public(j)
                for j in _state(backend(self)).jobs.values()
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
                for p in _state(backend(self)).points.values()
                if p["ResourceArn"] == arn
            ]
            points.sort(key=lambda p: p["CreationDate"], reverse=True)
            return ActionResult({"RecoveryPoints": points})

        def op_list_recovery_points_by_backup_vault(self: Any) -> Any:
            vault = params(self)["backupVaultName"]
            points = [_public(p) for p in _state(backend(self)).points.values() if p["BackupVaultName"] == vault]
            return ActionResult({"RecoveryPoints": points})

        def op_describe_recovery_point(self: Any) -> Any:
            p = params(self)
            return ActionResult(_public(_point(backend(self), p["backupVaultName"], p["recoveryPointArn"])))

        def op_get_recovery_point_restore_metadata(self: Any) -> Any:
            p = params(self)
            return ActionResult(get_restore_metadata(backend(self), p["backupVaultName"], p["recoveryPointArn"]))

        def op_start_restore_job(self: Any) -> Any:
            return ActionResult(start_restore_job(backend(self), params(self)))

        def op_describe_restore_job(self: Any) -> Any:
            return ActionResult(_public(_restore(backend(self), params(self)["restoreJobId"])))

        def op_list_restore_jobs(self: Any) -> Any:
            p = params(self)
            jobs = [
                _public(j) for j in _state(backend(self)).restores.values() if p.get("status") in (None, j["Status"])
            ]
            return ActionResult({"RestoreJobs": jobs})

        def op_put_restore_validation_result(self: Any) -> Any:
            p = params(self)
            put_validation(backend(self), p["restoreJobId"], p["ValidationStatus"], p.get("ValidationStatusMessage"))
            return EmptyResult()

        for name, fn in dict(locals()).items():
            if name.startswith("op_"):
                setattr(BackupResponse, name[3:], fn)

        original_address = DBInstance.address

        def address(self: Any) -> str:
            if CONTROLS.endpoint is not None and self.db_instance_identifier in CONTROLS.restored:
                return CONTROLS.endpoint[0]
            return str(original_address.fget(self))  # type: ignore[attr-defined]

        DBInstance.address = property(address)  # type: ignore[assignment,method-assign]
        original_endpoint = DBInstance.endpoint

        def endpoint(self: Any) -> dict[str, Any]:
            out = dict(original_endpoint.fget(self))  # type: ignore[attr-defined]
            if CONTROLS.endpoint is not None and self.db_instance_identifier in CONTROLS.restored:
                out["Port"] = CONTROLS.endpoint[1]
            return out

        DBInstance.endpoint = property(endpoint)  # type: ignore[assignment,method-assign]
        _installed = True


def seed(runtime: Any) -> None:
    """A vault, and one completed backup job (hence a recovery point) per drill target of the policy."""
    from moto.backup.models import backup_backends

    CONTROLS.reset()
    policy = runtime.policy.policy
    if not policy.drills.targets:
        return
    from deckwatch.local.runtime import ACCOUNT, REGION

    aws.client("backup").create_backup_vault(BackupVaultName=SEED_VAULT)
    backend = backup_backends[ACCOUNT][REGION]
    for target in policy.drills.targets:
        arn = target.resource
        if not arn.startswith("arn:"):
            arn = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{target.resource}"
        start_backup_job(
            backend,
            {"BackupVaultName": SEED_VAULT, "ResourceArn": arn, "IamRoleArn": BACKUP_ROLE.format(account=ACCOUNT)},
            emit=False,
        )


def serve_restores_from(host: str, port: int, secret_name: str, credentials: dict[str, str]) -> None:
    """Point every restored instance at a real PostgreSQL, and store the validator's credentials there."""
    CONTROLS.endpoint = (host, port)
    sm = aws.client("secretsmanager")
    value = json.dumps(credentials)
    try:
        sm.put_secret_value(SecretId=secret_name, SecretString=value)
    except sm.exceptions.ResourceNotFoundException:
        sm.create_secret(
            Name=secret_name, SecretString=value, Tags=[{"Key": "deckwatch:drill-credentials", "Value": "true"}]
        )
