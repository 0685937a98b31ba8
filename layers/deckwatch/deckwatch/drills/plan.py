"""The first steps of a drill: resolve the request (latest point when only the resource is given), take the lock,
read the restore metadata and point it at the drill network; in dry-run, record the plan instead of acting."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from deckwatch import clock
from deckwatch.drills.common import db_id, instance_prefix, record, restore_role, source_arn, target_for
from deckwatch.drills.errors import DrillInputError, RecoveryPointNotFoundError
from deckwatch.drills.model import Drill, DrillRequest
from deckwatch.ledger import Action, Record
from deckwatch.locks import acquire_or_record, resource_key

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.drills.model import PrepareTask, StepTask
    from deckwatch.policy.model import Drills

POLL_INTERVAL_SECONDS = 60  # statemachines/drill.asl.json PollWait
POLL_MAX = 15


def drill_id(execution: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, execution).hex[:12]


def prepare(task: PrepareTask, deps: Services) -> dict[str, Any]:
    did = drill_id(task.execution)
    try:
        req = DrillRequest.model_validate(task.state)
        return _prepare(req, task.execution, did, deps).model_dump()
    except (DrillInputError, ValueError) as exc:
        subject = str(task.state.get("resourceArn") or task.state.get("recoveryPointArn") or "drill-request")
        deps.ledger.append(
            Record(
                record_id=f"drill:{did}:rejected",
                environment=deps.settings.environment,
                capability="drills",
                subject=subject,
                kind="rejection",
                decision="rejected",
                reason=str(exc).splitlines()[0][:500],
                execution_arn=task.execution,
                details={"drill_id": did, "request": task.state},
            )
        )
        if isinstance(exc, DrillInputError):
            raise
        raise DrillInputError(str(exc)) from None


def _prepare(req: DrillRequest, execution: str, did: str, deps: Services) -> Drill:
    env = deps.settings.environment
    if req.environment != env:
        raise DrillInputError(f"a drill for {req.environment} was sent to the {env} stack")
    loaded = deps.policy()
    policy = loaded.policy
    account, home = _account_region(execution)
    region = req.region or home
    if region != home and region not in policy.drills.dr_networks:
        raise DrillInputError(f"no drill network in {region}: name one in drills.dr_networks.{region}")
    backup = deps.clients("backup", region=region)
    point: dict[str, Any]
    if req.recovery_point_arn:
        point = _find_point(backup, req.recovery_point_arn, req.backup_vault_name)
    else:
        point = _latest_point(backup, str(req.resource_arn))
    resource = str(point["ResourceArn"])
    target = target_for(policy.drills.targets, resource)
    if target is None:
        raise DrillInputError(f"{resource} is not a drill target in the {env} policy")
    if point.get("Status") not in ("COMPLETED", "AVAILABLE"):
        raise RecoveryPointNotFoundError(f"recovery point {point['RecoveryPointArn']} is {point.get('Status')}")
    completed = req.backup_completed_at or clock.iso(point["CompletionDate"].timestamp())
    source = source_arn(resource, home, account, target.engine)
    remote = region != home
    cluster = target.engine == "aurora-postgresql"
    drill = Drill(
        drill_id=did,
        execution=execution,
        environment=env,
        target=target.resource,
        source_arn=source,
        source_id=db_id(source),
        lock_key=resource_key("rds", db_id(source)),
        recovery_point_arn=str(point["RecoveryPointArn"]),
        vault=str(point["BackupVaultName"]),
        backup_completed_at=completed,
        region=region,
        kind="cluster" if cluster else "instance",
        instance_id=f"{instance_prefix(env)}{did}",
        cluster_id=f"{instance_prefix(env)}{did}-cluster" if cluster else "",
        instance_class=target.instance_class,
        dry_run=req.dry_run or policy.dry_run,
        trigger=req.trigger,
        policy_version=loaded.version,
        requested_by="console" if req.trigger == "console" else req.trigger,
        lease_seconds=policy.drills.max_age_hours * 3600,
        # Restore Job events stay in their own region: a drill in another region polls after a minute, as long
        # as the RTO objective allows, instead of waiting for an event that only a forwarding rule would bring
        wait_seconds=60 if remote else target.objectives.rto_minutes * 60,
        poll_max=POLL_MAX + (target.objectives.rto_minutes if remote else 0),
    )
    record(
        deps,
        drill,
        "start",
        kind="decision",
        decision="drill-started",
        reason=f"drill of {drill.recovery_point_arn} ({req.trigger}{', in ' + region if remote else ''})",
        details={
            "backup_completed_at": completed,
            "instance": drill.instance_id,
            "cluster": drill.cluster_id or None,
            "region": region,
            "backup_job": req.backup_job_id,
            "copy_job": req.copy_job_id,
            "drill": drill.model_dump(),  # what a clean-up after a console stop needs (drills/stopped.py)
        },
    )
    return drill


def _account_region(execution: str) -> tuple[str, str]:
    # arn:aws:states:<region>:<account>:execution:<machine>:<name>
    parts = execution.split(":")
    if len(parts) <= 5:
        raise DrillInputError(f"not an execution ARN: {execution!r}")
    return parts[4], parts[3]


def _find_point(backup: Any, arn: str, vault: str | None) -> dict[str, Any]:
    vaults = [vault] if vault else [v["BackupVaultName"] for v in backup.list_backup_vaults()["BackupVaultList"]]
    for name in vaults:
        try:
            return dict(backup.describe_recovery_point(BackupVaultName=name, RecoveryPointArn=arn))
        except backup.exceptions.ResourceNotFoundException:
            continue
    raise RecoveryPointNotFoundError(f"recovery point {arn} is in none of the vaults {vaults}")


def _latest_point(backup: Any, resource_arn: str) -> dict[str, Any]:
    points = [
        p
        for p in backup.list_recovery_points_by_resource(ResourceArn=resource_arn).get("RecoveryPoints", [])
        if p.get("Status") in ("COMPLETED", "AVAILABLE")
    ]
    if not points:
        raise RecoveryPointNotFoundError(f"no completed recovery point of {resource_arn}")
    latest = max(points, key=lambda p: p["CreationDate"])
    return _find_point(backup, latest["RecoveryPointArn"], latest.get("BackupVaultName"))


def lock(task: StepTask, deps: Services) -> dict[str, Any]:
    drill = task.drill()
    expires = acquire_or_record(
        deps.state.leases,
        deps.ledger,
        resource=drill.lock_key,
        owner=drill.execution,
        capability="drills",
        environment=drill.environment,
        lease_seconds=drill.lease_seconds,
        policy_version=drill.policy_version,
    )
    record(deps, drill, "lock", kind="decision", decision="locked", reason=f"{drill.lock_key} until {expires}")
    return {"resource": drill.lock_key, "expires_at": expires}


def metadata(task: StepTask, deps: Services) -> dict[str, Any]:
    """The recovery point's restore metadata, pointed at the drill network: the drill's own identifier, the
    policy's subnet group and security group, never public, single-AZ."""
    drill = task.drill()
    network = _network(deps, deps.policy().policy.drills, drill)
    got = deps.clients("backup", region=drill.region).get_recovery_point_restore_metadata(
        BackupVaultName=drill.vault, RecoveryPointArn=drill.recovery_point_arn
    )
    meta = {k: str(v) for k, v in got.get("RestoreMetadata", {}).items()}
    meta.update(
        DBSubnetGroupName=network["subnet_group"], VpcSecurityGroupIds=json.dumps([network["security_group_id"]])
    )
    if drill.kind == "cluster":
        # an Aurora restore creates the cluster only (no instance: the drill adds one); public access and AZs
        # are instance settings
        meta.update(DBClusterIdentifier=drill.cluster_id)
        for key in ("DBInstanceIdentifier", "PubliclyAccessible", "MultiAZ", "AvailabilityZones"):
            meta.pop(key, None)
    else:
        meta.update(DBInstanceIdentifier=drill.instance_id, PubliclyAccessible="false", MultiAZ="false")
        meta.pop("DBClusterIdentifier", None)
    return {
        "metadata": meta,
        "resource_type": got.get("ResourceType") or ("Aurora" if drill.kind == "cluster" else "RDS"),
        "iam_role": restore_role(deps, drill_account(drill)),
    }


def drill_account(drill: Drill) -> str:
    return _account_region(drill.execution)[0]


def _network(deps: Services, drills: Drills, drill: Drill) -> dict[str, str]:
    """The policy's drill network of the drill's region: drills.network at home, drills.dr_networks elsewhere."""
    network = drills.dr_networks.get(drill.region) if _is_remote(drill) else drills.network
    if network is None:
        raise DrillInputError(f"the policy names no drill network in {drill.region}")
    sg = network.security_group
    if not sg.startswith("sg-"):
        found = deps.clients("ec2", region=drill.region).describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [sg]}]
        )
        groups = found.get("SecurityGroups", [])
        if not groups:
            raise DrillInputError(f"drill security group {sg} does not exist in {drill.region}")
        sg = str(groups[0]["GroupId"])
    return {"subnet_group": network.db_subnet_group, "security_group_id": sg}


def _is_remote(drill: Drill) -> bool:
    return drill.region != _account_region(drill.execution)[1]


def plan(task: StepTask, deps: Services) -> dict[str, Any]:
    """Dry-run: every call the drill would make, recorded as dry-run actions; nothing is restored."""
    drill = task.drill()
    meta = task.state["restore_metadata"]
    restored = drill.cluster_id or drill.instance_id
    calls = [
        Action(
            service="backup",
            operation="StartRestoreJob",
            parameters={
                "RecoveryPointArn": drill.recovery_point_arn,
                "Metadata": meta["metadata"],
                "IamRoleArn": meta["iam_role"],
                "IdempotencyToken": drill.drill_id,
            },
        ),
        Action(
            service="rds",
            operation="AddTagsToResource",
            parameters={"ResourceName": restored, "Tags": drill_tags(drill)},
        ),
        *([cluster_instance_call(drill)] if drill.kind == "cluster" else []),
        Action(
            service="lambda",
            operation="Invoke",
            parameters={"FunctionName": "drill-validator", "Payload": {"instance_id": drill.instance_id}},
        ),
        Action(
            service="rds",
            operation="DeleteDBInstance",
            parameters={"DBInstanceIdentifier": drill.instance_id, "SkipFinalSnapshot": True},
        ),
        *(
            [
                Action(
                    service="rds",
                    operation="DeleteDBCluster",
                    parameters={"DBClusterIdentifier": drill.cluster_id, "SkipFinalSnapshot": True},
                )
            ]
            if drill.kind == "cluster"
            else []
        ),
    ]
    for i, call in enumerate(calls):
        record(
            deps, drill, f"plan-{i}", decision="planned", action=call, outcome="dry-run", dry_run=True,
            details={"region": drill.region},
        )  # fmt: skip
    return {"planned": [f"{c.service}:{c.operation}" for c in calls]}


def drill_tags(drill: Drill) -> list[dict[str, str]]:
    return [
        {"Key": "deckwatch:drill", "Value": drill.drill_id},
        {"Key": "deckwatch:environment", "Value": drill.environment},
        {"Key": "deckwatch:source", "Value": drill.source_id},
    ]


def cluster_instance_call(drill: Drill) -> Action:
    """The instance a drill adds to a restored Aurora cluster (AWS Backup restores the cluster alone)."""
    return Action(
        service="rds",
        operation="CreateDBInstance",
        parameters={
            "DBInstanceIdentifier": drill.instance_id,
            "DBClusterIdentifier": drill.cluster_id,
            "DBInstanceClass": drill.instance_class,
            "Engine": "aurora-postgresql",
            "PubliclyAccessible": False,
            "Tags": drill_tags(drill),
        },
    )
