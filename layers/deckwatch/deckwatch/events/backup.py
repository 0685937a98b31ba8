"""AWS Backup events (EventBridge)."""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator

from deckwatch.events import Envelope, Lenient


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
        """Backup and copy jobs say `state`; restore jobs and recovery points say `status`."""
        return (self.state or self.status or "").upper()

    @property
    def subject(self) -> str:
        return self.resourceArn or self.sourceResourceArn or self.recoveryPointArn or "unknown"


class BackupEvent(Envelope):
    source: Literal["aws.backup"]
    detail: BackupDetail  # type: ignore[assignment]

    @field_validator("detail")
    @classmethod
    def _has_phase(cls, detail: BackupDetail) -> BackupDetail:
        if not detail.phase:
            raise ValueError("a Backup event needs detail.state or detail.status")
        if detail.subject == "unknown":
            raise ValueError("a Backup event needs detail.resourceArn, sourceResourceArn or recoveryPointArn")
        return detail
