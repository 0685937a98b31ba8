"""What starts drills and what the AWS Backup events do besides: sampling of completed backup jobs, the periodic
schedule, and the validation of AWS Backup restore-testing restores (reported with PutRestoreValidationResult)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from deckwatch import clock
from deckwatch.actions import Executor
from deckwatch.drills.common import db_id, home, source_arn, state_machine_arn
from deckwatch.errors import ActionError
from deckwatch.ledger import Action, Record

VALIDATOR_TIMEOUT_SECONDS = 120  # template.yaml DrillValidatorFunction Timeout

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.events.backup import BackupEvent
    from deckwatch.policy.model import DrillTarget


def held_back(deps: Services, resource: str) -> tuple[str, str, dict[str, Any]] | None:
    """Whether a drill of `resource` may start now: (decision, reason, details) when it may not (outside the
    policy's drills.windows, or the database is under maintenance), None when it may. The verdict's window is
    in the details either way it is recorded."""
    from deckwatch import maintenance, windows

    verdict = windows.check(deps.policy().policy.drills.windows, clock.now())
    if not verdict.open:
        return "drill-deferred", f"outside the drill windows ({windows.describe(verdict)})", {"window": verdict.doc()}
    under = maintenance.covering(deps, [f"rds:{db_id(resource)}"])
    if under is not None:
        return "under-maintenance", f"not drilled: {under.describe()}", {"maintenance": under.doc()}
    return None


def sample(deps: Services, target: DrillTarget, resource: str, stream: str = "") -> tuple[bool, str]:
    """Count this completed job and decide whether it is drilled (every Nth job, at most one per N days). Each
    `stream` counts apart: backups, and the copies into each DR region."""
    key = f"{stream}{db_id(resource)}"
    count, last = deps.state.drill_sampling.count_job(key)
    s = target.sampling
    if s.every_nth_job and (count - 1) % s.every_nth_job:
        return False, f"job {count}: drilled every {s.every_nth_job} jobs"
    now = clock.now_epoch()
    if s.min_days_between and last is not None and now - last < s.min_days_between * 86400:
        hours = (now - last) / 3600
        return False, f"last drill {hours:.1f} h ago, at most one per {s.min_days_between} day(s)"
    deps.state.drill_sampling.mark_drilled(key, now)
    return True, f"job {count} sampled for a drill"


def start_drill(deps: Services, name: str, payload: dict[str, Any]) -> str:
    """Start the drill state machine; a second start with the same name (a redelivery) is the same drill."""
    sfn = deps.clients("stepfunctions")
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", name)[:80]
    try:
        return str(
            sfn.start_execution(stateMachineArn=state_machine_arn(deps), name=safe, input=json.dumps(payload))[
                "executionArn"
            ]
        )
    except sfn.exceptions.ExecutionAlreadyExists:
        return f"{state_machine_arn(deps).replace(':stateMachine:', ':execution:')}:{safe}"


def backup_completed(event: BackupEvent, deps: Services, target: DrillTarget) -> tuple[str, str, dict[str, Any]]:
    d = event.detail
    resource = str(d.resourceArn)
    blocked = held_back(deps, resource)
    if blocked is not None:  # before sampling: a job that could not be drilled does not use up a sample
        return blocked[0], blocked[1], {"backup_job": d.backupJobId, **blocked[2]}
    drilled, why = sample(deps, target, resource)
    if not drilled:
        return "drill-sampled-out", why, {"backup_job": d.backupJobId}
    kinds = (":snapshot:", ":cluster-snapshot:", ":recovery-point:")  # RDS, Aurora, other services
    point = next((r for r in event.resources if any(k in r for k in kinds)), None)
    if point is None and d.backupJobId:
        point = deps.clients("backup").describe_backup_job(BackupJobId=d.backupJobId).get("RecoveryPointArn")
    payload = {
        "environment": deps.settings.environment,
        "resourceArn": resource,
        "trigger": "backup-job",
        "backupJobId": d.backupJobId,
        "backupCompletedAt": d.completionDate or event.time,
        "dryRun": False,
    }
    if point:
        payload["recoveryPointArn"] = point
    vault = (event.detail.model_extra or {}).get("backupVaultName")
    if isinstance(vault, str):
        payload["backupVaultName"] = vault
    execution = start_drill(deps, f"backup-{event.id}", payload)
    return "drill-started", f"{why}: drill of {point or 'the latest point'}", {"execution": execution} | payload


def copy_completed(event: BackupEvent, deps: Services, target: DrillTarget) -> tuple[str, str, dict[str, Any]]:
    """A completed copy is recorded; a cross-region copy of a target with drill_copies is drilled in its
    destination region, into drills.dr_networks[<region>]. Its RPO counts to the copy's completion: the moment
    that data became recoverable in the DR region."""
    d = event.detail
    extra = d.model_extra or {}
    point, vault = extra.get("destinationRecoveryPointArn"), extra.get("destinationBackupVaultArn")
    details: dict[str, Any] = {"copy_job": d.copyJobId, "destination": point}
    recorded = f"copy job {d.copyJobId} completed"
    if not target.drill_copies:
        return "copy-recorded", recorded, details
    if not (isinstance(point, str) and point.startswith("arn:") and isinstance(vault, str) and vault.count(":") >= 6):
        return "copy-recorded", f"{recorded}; not drilled: the event names no destination recovery point", details
    region = vault.split(":")[3]
    if region == home(deps)[1]:
        return "copy-recorded", f"{recorded}; a copy within {region} is not drilled again", details
    if region not in deps.policy().policy.drills.dr_networks:
        return "copy-recorded", f"{recorded}; not drilled: no drill network in {region} (drills.dr_networks)", details
    resource = str(d.resourceArn)
    blocked = held_back(deps, resource)
    if blocked is not None:
        return blocked[0], blocked[1], details | blocked[2]
    drilled, why = sample(deps, target, resource, stream=f"copy#{region}#")
    if not drilled:
        return "drill-sampled-out", why, details
    payload = {
        "environment": deps.settings.environment,
        "resourceArn": resource,
        "recoveryPointArn": point,
        "backupVaultName": vault.rsplit(":", 1)[-1],
        "region": region,
        "trigger": "copy-job",
        "copyJobId": d.copyJobId,
        "backupCompletedAt": d.completionDate or event.time,
        "dryRun": False,
    }
    execution = start_drill(deps, f"copy-{event.id}", payload)
    return "drill-started", f"{why}: drill of the copy in {region}", details | {"execution": execution} | payload


def validate_restore_test(event: BackupEvent, deps: Services, target: DrillTarget) -> tuple[str, str, dict[str, Any]]:
    """Validate what a restore testing plan restored, and tell AWS Backup (PutRestoreValidationResult)."""
    d = event.detail
    extra = d.model_extra or {}
    created = str(extra.get("createdResourceArn") or "")
    instance = db_id(created) if created else ""
    # one attempt, waiting as long as the validator may run (its 120 s timeout): a retry would validate twice
    lam = deps.clients("lambda", attempts=1, read_timeout=VALIDATOR_TIMEOUT_SECONDS + 10)
    payload = {"environment": deps.settings.environment, "target": target.resource, "instance_id": instance}
    response = lam.invoke(
        FunctionName=deps.settings.require("drill_validator_function"),
        InvocationType="RequestResponse",
        Payload=json.dumps(payload).encode(),
    )
    result = json.loads(response["Payload"].read() or b"{}")
    if response.get("FunctionError"):
        status, message, checks = "FAILED", f"validator error: {result.get('errorMessage')}", []
    else:
        checks = result.get("checks", [])
        failed = [c["name"] for c in checks if not c["passed"]]
        status = "SUCCESSFUL" if result.get("passed") else "FAILED"
        message = (
            f"deckwatch: {len(checks)} checks passed"
            if status == "SUCCESSFUL"
            else "deckwatch: failed " + ", ".join(failed)
        )
    params = {"RestoreJobId": d.restoreJobId, "ValidationStatus": status, "ValidationStatusMessage": message[:1000]}
    try:
        Executor(deps.clients, dry_run=False).call("backup", "PutRestoreValidationResult", **params)
        reported = True
    except ActionError as exc:
        if exc.code != "ResourceNotFoundException":
            raise
        reported = False
        message += " (not reported: AWS Backup does not know this restore job)"
    deps.ledger.append(
        Record(
            record_id=f"{event.id}:drills:restore-test-validation",
            environment=deps.settings.environment,
            capability="drills",
            subject=str(d.sourceResourceArn or event.subject),
            kind="action",
            decision="validation-reported" if reported else "validation-unreported",
            reason=message,
            event_id=event.id,
            action=Action(service="backup", operation="PutRestoreValidationResult", parameters=params),
            outcome=status,
            policy_version=deps.policy().version,
            details={"checks": [{k: c.get(k) for k in ("name", "passed", "observed")} for c in checks]},
        )
    )
    decision = "validated" if status == "SUCCESSFUL" else "validation-failed"
    if status != "SUCCESSFUL":
        deps.notifier.publish(
            subject=f"restore test validation FAILED for {target.resource}",
            text=message,
            capability="drills",
            environment=deps.settings.environment,
            severity="critical",
            data={"restore_job": d.restoreJobId, "plan": d.restoreTestingPlanArn, "instance": instance},
        )
    details = {"restore_job": d.restoreJobId, "plan": d.restoreTestingPlanArn, "status": status, "reported": reported}
    return decision, message, details


def schedule(deps: Services) -> dict[str, Any]:
    """The hourly tick: when the policy's drills.schedule (rate(N hours|days)) is due, drill the latest point of
    every target."""
    loaded = deps.policy()
    drills = loaded.policy.drills
    if not drills.schedule or not drills.targets:
        return {"due": False, "reason": "the policy sets no drills.schedule"}
    number, unit = re.findall(r"\d+|hour|day", drills.schedule)[:2]
    every = int(number) * (3600 if unit == "hour" else 86400)
    now = int(clock.now_epoch())
    from deckwatch import windows

    verdict = windows.check(drills.windows, clock.now())
    if not verdict.open:  # not claimed: the first tick inside a window is due
        reason = f"{drills.schedule}: outside the drill windows ({windows.describe(verdict)})"
        _schedule_record(deps, f"schedule:deferred:{clock.iso()[:10]}", "drills", "drill-deferred", reason, verdict)
        return {"due": False, "reason": reason}
    if not deps.state.drill_schedule.claim_tick(now, every, slack=300):  # 5 min slack for the tick
        return {"due": False, "reason": f"{drills.schedule}: not due yet"}
    account, region = home(deps)
    started = []
    for target in drills.targets:
        resource = source_arn(target.resource, region, account, target.engine)
        blocked = held_back(deps, resource)
        if blocked is not None:
            _schedule_record(deps, f"schedule:{now}:{resource}", resource, blocked[0], blocked[1], verdict, blocked[2])
            continue
        execution = start_drill(
            deps,
            f"schedule-{db_id(resource)}-{now}",
            {"environment": deps.settings.environment, "resourceArn": resource, "trigger": "schedule"},
        )
        started.append(execution)
        deps.ledger.append(
            Record(
                record_id=f"schedule:{now}:{resource}",
                environment=deps.settings.environment,
                capability="drills",
                subject=resource,
                kind="decision",
                decision="drill-scheduled",
                reason=f"{drills.schedule}: drill of the latest recovery point",
                policy_version=loaded.version,
                actor="schedule",
                details={"execution": execution, "window": verdict.doc()},
            )
        )
    return {"due": True, "started": started}


def _schedule_record(
    deps: Services,
    record_id: str,
    subject: str,
    decision: str,
    reason: str,
    verdict: Any,
    details: dict[str, Any] | None = None,
) -> None:
    deps.ledger.append(
        Record(
            record_id=record_id,
            environment=deps.settings.environment,
            capability="drills",
            subject=subject,
            kind="decision",
            decision=decision,
            reason=reason,
            policy_version=deps.policy().version,
            actor="schedule",
            details={"window": verdict.doc(), **(details or {})},
        )
    )
