"""Inputs of the drill state machine and of its tasks (statemachines/drill.asl.json)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from deckwatch.config import Environment
from deckwatch.events import Envelope, Lenient

Trigger = Literal["console", "backup-job", "schedule", "copy-job"]


class DrillRequest(BaseModel):
    """What starts a drill: a console input (events/statemachines/drill/*.json), a completed backup job, or the
    schedule. The latest completed recovery point is drilled when only the resource is given."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    environment: Environment
    recovery_point_arn: str | None = Field(default=None, alias="recoveryPointArn", min_length=1)
    resource_arn: str | None = Field(default=None, alias="resourceArn", min_length=1)
    dry_run: bool = Field(default=False, alias="dryRun")
    trigger: Trigger = "console"
    backup_job_id: str | None = Field(default=None, alias="backupJobId")
    backup_vault_name: str | None = Field(default=None, alias="backupVaultName")
    backup_completed_at: str | None = Field(default=None, alias="backupCompletedAt")
    region: str | None = Field(
        default=None,
        pattern=r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$",
        description="Where the recovery point is (a cross-region copy); default: the stack's region.",
    )
    copy_job_id: str | None = Field(default=None, alias="copyJobId")

    @model_validator(mode="after")
    def _one_subject(self) -> Self:
        if not self.recovery_point_arn and not self.resource_arn:
            raise ValueError("give recoveryPointArn or resourceArn")
        return self


class Drill(BaseModel):
    """The drill as Prepare resolved it; every later task reads it from $.drill."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    drill_id: str
    execution: str
    environment: Environment
    target: str  # the policy's DrillTarget.resource
    source_arn: str
    source_id: str
    lock_key: str
    recovery_point_arn: str
    vault: str
    backup_completed_at: str
    region: str  # where the restore runs: the stack's region, or a DR region for a cross-region copy
    kind: Literal["instance", "cluster"] = "instance"  # RDS DB instance, or Aurora cluster
    instance_id: str  # the restored DB instance (deckwatch-drill-<env>-<id>); Aurora: the instance the drill adds
    cluster_id: str = ""  # Aurora: the restored cluster (deckwatch-drill-<env>-<id>-cluster)
    instance_class: str = "db.t4g.medium"  # Aurora: the class of the instance the drill adds
    dry_run: bool
    trigger: Trigger
    policy_version: str
    requested_by: str
    lease_seconds: int
    wait_seconds: int
    poll_max: int


class TaskBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    execution: str
    state: dict[str, Any]

    def drill(self) -> Drill:
        return Drill.model_validate(self.state["drill"])


class PrepareTask(TaskBase):
    op: Literal["prepare"]


class StepTask(TaskBase):
    op: Literal[
        "lock",
        "metadata",
        "plan",
        "start_restore",
        "poll",
        "restored",
        "cluster_instance",
        "cleanup",
        "release",
        "report",
    ]


class WaitTask(TaskBase):
    op: Literal["wait"]
    task_token: str = Field(alias="taskToken", min_length=1)


class ScheduledTask(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    op: Literal["janitor", "schedule"]


EXECUTION_ARN = r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:]+:[^:]+$"


class StoppedTask(BaseModel):
    """A drill execution ended ABORTED or TIMED_OUT: its Catch path did not run (drills/stopped.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    op: Literal["stopped"]
    execution: str = Field(pattern=EXECUTION_ARN, max_length=2048)
    status: Literal["ABORTED", "TIMED_OUT"]


class StatusChangeDetail(Lenient):
    executionArn: str = Field(pattern=EXECUTION_ARN, max_length=2048)  # noqa: N815 - AWS's spelling
    status: Literal["ABORTED", "TIMED_OUT"]


class ExecutionStatusChange(Envelope):
    """The "Step Functions Execution Status Change" event of a stopped drill, as EventBridge delivers it to the drill
    function (its DrillFunctionStopped rule): parsed by the intake, so a malformed one is rejected into the ledger and
    the DLQ like any event."""

    source: Literal["aws.states"]
    detail: StatusChangeDetail  # type: ignore[assignment]

    def task(self) -> StoppedTask:
        return StoppedTask(op="stopped", execution=self.detail.executionArn, status=self.detail.status)


class DrillTask(BaseModel):
    task: Annotated[PrepareTask | StepTask | WaitTask | ScheduledTask | StoppedTask, Field(discriminator="op")]

    @model_validator(mode="before")
    @classmethod
    def _status_change(cls, data: Any) -> Any:
        """The "Step Functions Execution Status Change" event of a stopped drill, as EventBridge delivers it."""
        event = data.get("task") if isinstance(data, dict) else None
        if isinstance(event, dict) and event.get("source") == "aws.states":
            detail = event.get("detail")
            detail = detail if isinstance(detail, dict) else {}
            return {"task": {"op": "stopped", "execution": detail.get("executionArn"), "status": detail.get("status")}}
        return data


class Endpoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    address: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)


class ValidationRequest(BaseModel):
    """The validator function's input: which restored instance, checked against which policy target."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    environment: Environment
    target: str
    instance_id: str
    drill_id: str = ""
    endpoint: Endpoint | None = Field(
        default=None, description="Where to connect, as the drill resolved it (else: DescribeDBInstances here)."
    )
