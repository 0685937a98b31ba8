"""Which AWS Backup events concern a drill target, and which failures alert at once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deckwatch.events.backup import BackupEvent
from deckwatch.triage import decide

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.policy.model import DrillTarget

FAILED = frozenset({"FAILED", "ABORTED", "EXPIRED", "PARTIAL"})


def target_for(targets: list[DrillTarget], resource_arn: str) -> DrillTarget | None:
    """A target names a DB instance/cluster id or its ARN; an RDS ARN ends with ':db:<id>' or ':cluster:<id>'."""
    for t in targets:
        if resource_arn == t.resource or resource_arn.endswith((f":db:{t.resource}", f":cluster:{t.resource}")):
            return t
    return None


def triage(event: BackupEvent, deps: Services) -> dict[str, Any]:
    policy = deps.policy().policy
    d = event.detail
    kind = event.detail_type.removesuffix(" State Change")
    subject = d.subject
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
        return decide(
            deps,
            event,
            capability="drills",
            subject=subject,
            decision="validation-requested",
            reason=f"restore test {d.phase} for {subject}",
            details={"restore_job": d.restoreJobId, "plan": d.restoreTestingPlanArn},
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
        return decide(
            deps,
            event,
            capability="drills",
            subject=subject,
            decision="drill-candidate",
            reason=f"backup job {d.backupJobId} completed for drill target {target.resource}",
            details={"backup_job": d.backupJobId, "completed": d.completionDate},
        )
    if kind == "Copy Job" and d.phase == "COMPLETED":
        return decide(
            deps,
            event,
            capability="drills",
            subject=subject,
            decision="copy-recorded",
            reason=f"copy job {d.copyJobId} completed",
            details={"copy_job": d.copyJobId},
        )
    return decide(
        deps, event, capability="drills", subject=subject, decision="ignored", reason=f"{kind} {d.phase} needs no drill"
    )
