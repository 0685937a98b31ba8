"""Pydantic models of the AWS events Deckwatch consumes (see the field notes on AWS event schemas).

The envelope is strict about what Deckwatch relies on and tolerant of everything else: AWS adds fields over time,
and an unknown field must never break a handler. Numbers that AWS emits as strings stay strings.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class Envelope(Lenient):
    """The EventBridge envelope common to every AWS service event."""

    version: str = "0"
    id: str = Field(min_length=1, max_length=256)
    detail_type: str = Field(alias="detail-type", min_length=1)
    source: str = Field(min_length=1)
    account: str = ""
    time: str = Field(min_length=1)
    region: str = ""
    resources: list[str] = Field(default_factory=list)
    detail: dict[str, Any]

    @field_validator("account", mode="before")
    @classmethod
    def _account_as_text(cls, value: Any) -> str:
        # AWS documentation samples sometimes show the account as a bare number.
        return str(value) if value is not None else ""


# --- CodePipeline ------------------------------------------------------------------------------------------


class S3Location(Lenient):
    bucket: str
    key: str


class Artifact(Lenient):
    name: str
    s3location: S3Location | None = None


class ActionType(Lenient):
    owner: str = ""
    category: str
    provider: str = ""
    version: str | int = "1"


class PipelineDetail(Lenient):
    pipeline: str = Field(min_length=1)
    execution_id: str = Field(alias="execution-id", min_length=1)
    state: str = Field(min_length=1)
    stage: str | None = None
    action: str | None = None
    type: ActionType | None = None
    output_artifacts: list[Artifact] = Field(default_factory=list, alias="output-artifacts")


class PipelineEvent(Envelope):
    source: Literal["aws.codepipeline"]
    detail: PipelineDetail  # type: ignore[assignment]


# --- CloudWatch alarms -------------------------------------------------------------------------------------


class AlarmState(Lenient):
    value: Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
    reason: str = ""
    reasonData: str | None = None  # noqa: N815 - AWS's spelling
    timestamp: str = ""


class AlarmDetail(Lenient):
    alarmName: str = Field(min_length=1)  # noqa: N815
    state: AlarmState
    previousState: AlarmState | None = None  # noqa: N815
    configuration: dict[str, Any] = Field(default_factory=dict)

    @property
    def is_composite(self) -> bool:
        return "alarmRule" in self.configuration


class AlarmEvent(Envelope):
    source: Literal["aws.cloudwatch"]
    detail: AlarmDetail  # type: ignore[assignment]

    @property
    def alarm_arn(self) -> str:
        return self.resources[0] if self.resources else self.detail.alarmName


# --- AWS Backup --------------------------------------------------------------------------------------------


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


# --- Cost Anomaly Detection --------------------------------------------------------------------------------


class Impact(Lenient):
    totalImpact: float = 0.0  # noqa: N815
    totalImpactPercentage: float | None = None  # noqa: N815
    maxImpact: float | None = None  # noqa: N815
    totalActualSpend: float | None = None  # noqa: N815
    totalExpectedSpend: float | None = None  # noqa: N815


class RootCause(Lenient):
    service: str | None = None
    region: str | None = None
    linkedAccount: str | None = None  # noqa: N815
    usageType: str | None = None  # noqa: N815


class AnomalyDetail(Lenient):
    anomalyId: str = Field(min_length=1)  # noqa: N815
    monitorArn: str = Field(min_length=1)  # noqa: N815
    monitorName: str | None = None  # noqa: N815
    impact: Impact
    rootCauses: list[RootCause] = Field(default_factory=list)  # noqa: N815
    # The EventBridge event says dimensionValue; the SNS alert says dimensionalValue.
    dimensionValue: str | None = Field(default=None, alias="dimensionalValue")  # noqa: N815
    anomalyStartDate: str | None = None  # noqa: N815
    anomalyEndDate: str | None = None  # noqa: N815


class AnomalyEvent(Envelope):
    source: Literal["aws.ce"]
    detail: AnomalyDetail  # type: ignore[assignment]
