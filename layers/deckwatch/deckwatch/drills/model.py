"""Inputs of the drill state machine and of its tasks (statemachines/drill.asl.json)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Environment = Literal["dev", "staging", "prod"]
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
    instance_id: str  # the restored DB instance (deckwatch-drill-<env>-<id>)
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
    op: Literal["lock", "metadata", "plan", "start_restore", "poll", "restored", "cleanup", "release", "report"]


class WaitTask(TaskBase):
    op: Literal["wait"]
    task_token: str = Field(alias="taskToken", min_length=1)


class ScheduledTask(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    op: Literal["janitor", "schedule"]


class DrillTask(BaseModel):
    task: Annotated[PrepareTask | StepTask | WaitTask | ScheduledTask, Field(discriminator="op")]


class ValidationRequest(BaseModel):
    """The validator function's input: which restored instance, checked against which policy target."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    environment: Environment
    target: str
    instance_id: str
    drill_id: str = ""
