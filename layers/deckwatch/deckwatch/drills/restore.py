"""The restore itself: start it, wait for it (event-driven, with a bounded polling fallback), tag what it
created, and clean up whatever happened. Every call goes to the drill's region (a DR region for a copy)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from deckwatch import clock
from deckwatch.actions import Executor
from deckwatch.drills.common import record
from deckwatch.drills.plan import drill_tags
from deckwatch.errors import ActionError
from deckwatch.ledger import Action

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.drills.model import StepTask, WaitTask

TERMINAL = frozenset({"COMPLETED", "FAILED", "ABORTED"})


def start_restore(task: StepTask, deps: Services) -> dict[str, Any]:
    drill = task.drill()
    meta = task.state["restore_metadata"]
    params = {
        "RecoveryPointArn": drill.recovery_point_arn,
        "Metadata": meta["metadata"],
        "IamRoleArn": meta["iam_role"],
        "IdempotencyToken": drill.drill_id,  # a retried task starts the same job, not a second one
        "ResourceType": meta["resource_type"],
    }
    requested_at = clock.iso()
    # before the call: a restore started whose answer is lost (and then retried with the same token) is in the
    # ledger either way, and nothing is restored while the ledger cannot be written
    record(
        deps,
        drill,
        "start-restore-intent",
        kind="intent",
        decision="intent",
        reason=f"about to restore {drill.recovery_point_arn} into {drill.instance_id}",
        action=Action(service="backup", operation="StartRestoreJob", parameters=params),
        outcome="pending",
    )
    job = Executor(deps.clients, dry_run=False).call("backup", "StartRestoreJob", region=drill.region, **params)[
        "RestoreJobId"
    ]
    record(
        deps,
        drill,
        "start-restore",
        decision="restore-started",
        reason=f"restore job {job} into {drill.instance_id}",
        action=Action(service="backup", operation="StartRestoreJob", parameters=params),
        outcome="started",
        details={"restore_job": job, "requested_at": requested_at},
    )
    return {"restore_job_id": job, "requested_at": requested_at}


# ---------------------------------------------------------------- event-driven wait ------------------------------
def wait(task: WaitTask, deps: Services) -> dict[str, Any]:
    """Register the task token for the restore job; answer at once if the job has already ended (the event
    may have come first)."""
    job = task.state["restore"]["restore_job_id"]
    drill = task.drill()
    deps.state.restore_waits.register(job, task.task_token, drill.execution, drill.wait_seconds + 3600)
    described = deps.clients("backup", region=drill.region).describe_restore_job(RestoreJobId=job)
    if described["Status"] in TERMINAL:
        answered = notify(deps, job, _result(described, "describe"))
        return {"registered": True, "answered": answered}
    return {"registered": True, "answered": False}


def notify(deps: Services, job: str, result: dict[str, Any], sfn: Any = None) -> bool:
    """Answer the drill waiting on restore job `job` (once: the waiter is claimed by a conditional delete)."""
    old = deps.state.restore_waits.claim(job)
    if old is None:
        return False  # nobody waits (a restore test, a redelivered event, or the drill moved on)
    client = sfn or deps.clients("stepfunctions")
    try:
        client.send_task_success(taskToken=old["token"], output=json.dumps(result))
    except (client.exceptions.TaskTimedOut, client.exceptions.InvalidToken, client.exceptions.TaskDoesNotExist):
        return False
    return True


def event_result(detail: Any) -> dict[str, Any]:
    """The answer a Restore Job State Change event gives the waiting drill."""
    return {
        "status": detail.phase,
        "created_resource_arn": getattr(detail, "createdResourceArn", None),
        "message": detail.statusMessage or "",
        "completed_at": detail.completionDate or clock.iso(),
        "via": "event",
    }


def _result(described: dict[str, Any], via: str) -> dict[str, Any]:
    done = described.get("CompletionDate")
    return {
        "status": described["Status"],
        "created_resource_arn": described.get("CreatedResourceArn"),
        "message": described.get("StatusMessage", ""),
        "completed_at": clock.iso(done.timestamp()) if done else None,
        "via": via,
    }


def poll(task: StepTask, deps: Services) -> dict[str, Any]:
    """The fallback when no event came in time: one DescribeRestoreJob per call, bounded by drill.poll_max."""
    job = task.state["restore"]["restore_job_id"]
    attempt = int(task.state.get("poll", {}).get("attempt", 0)) + 1
    out = _result(deps.clients("backup", region=task.drill().region).describe_restore_job(RestoreJobId=job), "poll")
    if out["status"] in TERMINAL:
        # the waiter is no longer needed: drop it so a late event answers nobody
        deps.state.restore_waits.drop(job)
    exhausted = attempt >= task.drill().poll_max
    return out | {"attempt": attempt, "terminal": out["status"] in TERMINAL, "exhausted": exhausted}


def restored(task: StepTask, deps: Services) -> dict[str, Any]:
    """Tag what the restore created as a drill resource (the janitor's and the bill's way to recognise it)."""
    drill = task.drill()
    rds = deps.clients("rds", region=drill.region)
    arn = task.state["restore_result"].get("created_resource_arn") or drill.cluster_id or drill.instance_id
    tags = drill_tags(drill)
    Executor(deps.clients, dry_run=False).call(
        "rds", "AddTagsToResource", region=drill.region, ResourceName=arn, Tags=tags
    )
    record(
        deps,
        drill,
        "tag",
        decision="tagged",
        action=Action(service="rds", operation="AddTagsToResource", parameters={"ResourceName": arn, "Tags": tags}),
        outcome="done",
    )
    if drill.kind == "cluster":
        return {"cluster_arn": arn}  # the endpoint comes once the drill's instance is up (aurora.add_instance)
    return {"instance_arn": arn, "endpoint": instance_endpoint(rds, drill.instance_id)}


def instance_endpoint(rds: Any, ident: str) -> dict[str, Any] | None:
    """Where the validator connects: resolved here, so the validator (in a VPC) needs no RDS API in the region."""
    found = rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"]
    endpoint = found[0].get("Endpoint") if found else None
    return {"address": endpoint["Address"], "port": int(endpoint["Port"])} if endpoint else None


# ---------------------------------------------------------------- clean-up ------------------------------------
def cleanup(task: StepTask, deps: Services) -> dict[str, Any]:
    """Delete the drill's instance (and then its Aurora cluster), whatever happened before. Confirms by describing
    them afterwards."""
    from botocore.exceptions import BotoCoreError, ClientError

    drill = task.drill()
    rds = deps.clients("rds", region=drill.region)
    try:
        existed = _exists(rds, drill.instance_id)
    except (ClientError, BotoCoreError):  # cannot tell: delete it by its known name anyway (RDS says if it is not)
        existed = True
    if existed:
        params = {"DBInstanceIdentifier": drill.instance_id, "SkipFinalSnapshot": True, "DeleteAutomatedBackups": True}
        action: Action | None = Action(service="rds", operation="DeleteDBInstance", parameters=params)
        try:
            Executor(deps.clients, dry_run=False).call("rds", "DeleteDBInstance", region=drill.region, **params)
        except ActionError as exc:
            if getattr(exc, "code", "") == "DBInstanceNotFound":
                existed, action = False, None
            else:
                _cleanup_failed(deps, drill, action, exc)
                raise
    else:
        action = None
    try:
        gone = not _exists(rds, drill.instance_id, deleting_counts_as_gone=True)
    except (ClientError, BotoCoreError):
        gone = False  # not confirmed: recorded as incomplete, and the janitor looks again
    if drill.kind == "cluster":
        from deckwatch.drills import aurora

        cluster_existed, cluster_gone = aurora.delete_cluster(rds, deps, drill)
        existed, gone = existed or cluster_existed, gone and cluster_gone
    restore_status = (task.state.get("restore_result") or task.state.get("poll") or {}).get("status")
    pending = "restore" in task.state and not existed and restore_status not in ("FAILED", "ABORTED")
    note = (
        "the restore never finished: the janitor deletes the instance if it appears later"
        if pending
        else ("deleted" if existed else "nothing was restored")
    )
    record(
        deps,
        drill,
        "cleanup",
        decision="cleaned-up" if gone else "cleanup-incomplete",
        reason=note,
        action=action,
        outcome="deleted" if existed and gone else ("absent" if gone else "still-present"),
    )
    return {"deleted": existed, "confirmed_gone": gone, "janitor_pending": pending, "note": note}


def _cleanup_failed(deps: Services, drill: Any, action: Action | None, exc: Exception) -> None:
    """Told before the state machine retries (and the janitor after it): a running drill database costs money and
    holds restored data, so its name is in the ledger at once."""
    record(
        deps,
        drill,
        "cleanup-failed",
        decision="cleanup-incomplete",
        reason=f"{drill.instance_id} could not be deleted: {exc}; the janitor retries every hour",
        action=action,
        outcome="still-present",
    )


def _exists(rds: Any, ident: str, deleting_counts_as_gone: bool = False) -> bool:
    try:
        found = rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"]
    except rds.exceptions.DBInstanceNotFoundFault:
        return False
    if deleting_counts_as_gone:
        return any(db.get("DBInstanceStatus") != "deleting" for db in found)
    return bool(found)


def release(task: StepTask, deps: Services) -> dict[str, Any]:
    drill = task.drill()
    deps.state.leases.release(drill.lock_key, drill.execution)
    return {"released": drill.lock_key}
