"""AWS Backup events (EventBridge).

Every shape the AWS Backup Developer Guide documents is accepted ("Monitoring AWS Backup events using Amazon
EventBridge", https://docs.aws.amazon.com/aws-backup/latest/devguide/eventbridge.html; samples in
events/backup_events/, sources in events/SOURCES.md): a job in CREATED, PENDING or RUNNING, and a restore job that
FAILED, names no resource in its detail (`resourceArn`, `sourceResourceArn`, `recoveryPointArn`); some name it only
in the envelope's `resources` (the recovery point, an AMI, a snapshot), a backup job CREATED nowhere at all.
"""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator

from deckwatch.events import Envelope, Lenient

# Phases in which a job is still on its way: nothing to act on yet (AWS sends a later event for its outcome).
IN_PROGRESS = frozenset({"CREATED", "PENDING", "RUNNING", "ABORTING"})


class BackupDetail(Lenient):
    state: str | None = None
    status: str | None = None
    resourceArn: str | None = None  # noqa: N815
    sourceResourceArn: str | None = None  # noqa: N815
    resourceType: str | None = None  # noqa: N815
    backupJobId: str | None = None  # noqa: N815
    restoreJobId: str | None = None  # noqa: N815
    copyJobId: str | None = None  # noqa: N815
    recoveryPointArn: str | None = None  # noqa: N815
    restoreTestingPlanArn: str | None = None  # noqa: N815
    creationDate: str | None = None  # noqa: N815
    completionDate: str | None = None  # noqa: N815
    statusMessage: str | None = None  # noqa: N815

    @property
    def phase(self) -> str:
        """Backup and copy jobs say `state`; restore jobs and recovery points say `status` (CREATED: `state`)."""
        return (self.state or self.status or "").upper()

    @property
    def job_id(self) -> str | None:
        return self.backupJobId or self.restoreJobId or self.copyJobId


class BackupEvent(Envelope):
    source: Literal["aws.backup"]
    detail: BackupDetail  # type: ignore[assignment]

    @field_validator("detail")
    @classmethod
    def _has_phase(cls, detail: BackupDetail) -> BackupDetail:
        if not detail.phase:
            raise ValueError("a Backup event needs detail.state or detail.status")
        return detail

    @property
    def kind(self) -> str:
        """ "Backup Job", "Copy Job", "Restore Job"..."""
        return self.detail_type.removesuffix(" State Change")

    @property
    def subject(self) -> str:
        """The resource the event is about: the detail's resource ARN (the protected resource, a restore's source
        or its recovery point) where it names one, else the envelope's first resource, else the job."""
        d = self.detail
        named = d.resourceArn or d.sourceResourceArn or d.recoveryPointArn
        if named:
            return named
        if self.resources:
            return self.resources[0]
        return f"{self.kind.lower().replace(' ', '-')}/{d.job_id}" if d.job_id else "unknown"
