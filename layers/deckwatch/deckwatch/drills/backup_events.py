"""What each AWS Backup event does: answer the drill waiting on a restore job, alert on failed jobs, start
sampled drills on completed backups, validate restore-testing restores, record copies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deckwatch.decisions import decide
from deckwatch.drills.common import target_for
from deckwatch.events.backup import IN_PROGRESS, BackupEvent

if TYPE_CHECKING:
    from deckwatch.context import Services

FAILED = frozenset({"FAILED", "ABORTED", "EXPIRED", "PARTIAL"})

__all__ = ["FAILED", "target_for", "triage"]


def triage(event: BackupEvent, deps: Services) -> dict[str, Any]:
    from deckwatch.drills import restore, trigger

    policy = deps.policy().policy
    d = event.detail
    kind = event.kind
    subject = event.subject
    answered = False
    if kind == "Restore Job" and d.restoreJobId and not d.restoreTestingPlanArn and d.phase in restore.TERMINAL:
        answered = restore.notify(deps, d.restoreJobId, restore.event_result(d))
    if d.phase in IN_PROGRESS:
        # CREATED, PENDING, RUNNING: the job's outcome comes in a later event; recorded, nothing to do
        return decide(
            deps,
            event,
            capability="drills",
            subject=subject,
            decision="ignored",
            reason=f"{kind} {d.job_id or ''} {d.phase}: in progress, nothing to do until it ends".replace("  ", " "),
        )
    if kind in ("Backup Job", "Copy Job") and d.phase in FAILED:
        deps.notifier.publish(
            subject=f"{kind} {d.phase} for {subject}",
            text=d.statusMessage or d.phase,
            capability="drills",
            environment=policy.environment,
            severity="critical",
            data=d.model_dump(exclude_none=True),
        )
        return decide(
            deps,
            event,
            capability="drills",
            subject=subject,
            decision="alerted",
            reason=f"{kind} {d.phase}: {d.statusMessage or 'no message'}",
        )
    target = target_for(policy.drills.targets, subject)
    if kind == "Restore Job" and d.restoreTestingPlanArn:
        if target is None or d.phase != "COMPLETED":
            why = "not a drill target" if target is None else f"restore test {d.phase}"
            return decide(deps, event, capability="drills", subject=subject, decision="ignored", reason=why)
        decision, reason, details = trigger.validate_restore_test(event, deps, target)
        return decide(
            deps, event, capability="drills", subject=subject, decision=decision, reason=reason, details=details
        )
    if answered:
        return decide(
            deps,
            event,
            capability="drills",
            subject=subject,
            decision="restore-signalled",
            reason=f"restore job {d.restoreJobId} {d.phase}: the waiting drill was answered",
            details={"restore_job": d.restoreJobId},
        )
    if target is None:
        return decide(
            deps,
            event,
            capability="drills",
            subject=subject,
            decision="ignored",
            reason=f"{subject} is not a drill target in {policy.environment}",
        )
    if kind == "Backup Job" and d.phase == "COMPLETED":
        decision, reason, details = trigger.backup_completed(event, deps, target)
        return decide(
            deps, event, capability="drills", subject=subject, decision=decision, reason=reason, details=details
        )
    if kind == "Copy Job" and d.phase == "COMPLETED":
        decision, reason, details = trigger.copy_completed(event, deps, target)
        return decide(
            deps, event, capability="drills", subject=subject, decision=decision, reason=reason, details=details
        )
    return decide(
        deps, event, capability="drills", subject=subject, decision="ignored", reason=f"{kind} {d.phase} needs no drill"
    )
