"""The cost-savings state machine's Lambda tasks (statemachines/cost_savings.asl.json) and its console input.

Console input (events/statemachines/cost_savings/*.json), also what an anomaly starts:
    {"action": "save" | "resume", "environment": "staging", "anomalyId"?: "...", "resources"?: ["ecs:c/s", ...],
     "dryRun"?: false, "approval"?: false, "reason"?: "...", "requestedBy"?: "..."}
Production savings always go through the approval gate; resume never needs one (it restores capacity).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from deckwatch.config import Environment
from deckwatch.context import Services
from deckwatch.cost import savings
from deckwatch.errors import InvalidEventError
from deckwatch.ledger import Record


class SavingsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    action: Literal["save", "resume"]
    environment: Environment
    anomaly_id: str | None = Field(default=None, alias="anomalyId", min_length=1, max_length=256)
    resources: list[Annotated[str, Field(pattern=r"^(ecs|rds):.+$")]] | None = Field(
        default=None, description="Resource keys (ecs:<cluster>/<service>, rds:<db>); default: all of them."
    )
    dry_run: bool = Field(default=False, alias="dryRun")
    approval: bool = False
    reason: str = Field(default="", max_length=500)
    requested_by: str = Field(default="console", alias="requestedBy", min_length=1, max_length=256)
    # filled in by the validate task for the approval gate
    subject: str | None = None
    summary: str | None = Field(default=None, max_length=2000)
    approval_timeout_seconds: int | None = Field(default=None, alias="approvalTimeoutSeconds", ge=60)


class Approval(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    approved: bool = False
    actor: str | None = None


class ValidateTask(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    op: Literal["validate"]
    execution: str
    request: SavingsRequest


class SaveTask(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    op: Literal["save", "resume"]
    execution: str
    request: SavingsRequest
    approval: Approval = Field(default_factory=Approval)


class DeclinedTask(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    op: Literal["declined"]
    execution: str
    request: SavingsRequest
    failure: dict[str, Any] = Field(default_factory=dict)


class ScheduleTask(BaseModel):
    """The working-hours schedule's tick (cost.schedule): take or resume savings as cost.savings.working_hours say."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    op: Literal["working_hours"]


class CostTask(BaseModel):
    task: Annotated[ValidateTask | SaveTask | DeclinedTask | ScheduleTask, Field(discriminator="op")]


def handle(task: ValidateTask | SaveTask | DeclinedTask | ScheduleTask, deps: Services) -> dict[str, Any]:
    if isinstance(task, ScheduleTask):
        from deckwatch.cost import schedule

        return schedule.tick(deps)
    from deckwatch.logging import task as log_task

    resources = task.request.resources
    log_task(task.op, execution=task.execution, resource=",".join(resources) if resources else None)
    if task.request.environment != deps.settings.environment:
        raise InvalidEventError(f"{task.request.environment} savings sent to the {deps.settings.environment} stack")
    if isinstance(task, ValidateTask):
        return validate(task, deps)
    if isinstance(task, DeclinedTask):
        return declined(task, deps)
    return run(task, deps)


def validate(task: ValidateTask, deps: Services) -> dict[str, Any]:
    policy = deps.policy().policy
    req = task.request
    approval = req.action == "save" and (
        req.approval or policy.environment == "prod" or policy.cost.savings.mode == "approve"
    )
    from deckwatch.cost.savings import ecs_targets

    targets = [f"ECS {cluster}/{service}" for cluster, service in ecs_targets(policy)]
    targets += [f"RDS {db}" for db in policy.cost.savings.rds_instances]
    verb = "Scale to zero / stop" if req.action == "save" else "Resume"
    summary = f"{verb} in {policy.environment}: {', '.join(targets) or 'nothing listed'}."
    if req.reason:
        summary += f" Reason: {req.reason}."
    if req.dry_run or policy.dry_run:
        summary += " (dry-run)"
    full = req.model_copy(
        update={
            "approval": approval,
            "subject": req.subject or (f"anomaly/{req.anomaly_id}" if req.anomaly_id else f"savings/{req.environment}"),
            "summary": summary[:2000],
            "approval_timeout_seconds": policy.cost.savings.approval_timeout_minutes * 60,
        }
    )
    return {"request": full.model_dump(by_alias=True), "approval": {"approved": False}}


def run(task: SaveTask, deps: Services) -> dict[str, Any]:
    req = task.request
    env = deps.settings.environment
    actor = req.requested_by if not task.approval.actor else f"{req.requested_by}, approved by {task.approval.actor}"
    if req.action == "save":
        result = savings.save(
            deps,
            run_id=task.execution,
            actor=actor,
            dry_run=req.dry_run,
            approved=task.approval.approved,
            anomaly_id=req.anomaly_id,
            execution=task.execution,
        )
        title, verb = "reversible savings", "change"
        footer = f"Resume with: deckwatch resume --env {env} (or the cost-savings console input action=resume)."
    else:
        result = savings.resume(
            deps,
            run_id=task.execution,
            actor=actor,
            resources=req.resources,
            dry_run=req.dry_run,
            execution=task.execution,
        )
        title, verb, footer = "resume", "restore", "Capacity restored to what it was before the savings action."
    if not result["changed"] and not result["skipped"]:
        footer = "Nothing to do."
    deps.notifier.publish(
        subject=f"cost {title} in {env}" + (" (dry-run)" if result["dry_run"] else ""),
        text=f"{title.capitalize()} ({req.reason or req.requested_by}):\n{savings.describe(result, verb)}\n\n{footer}",
        capability="cost",
        environment=env,
        severity="warning",
        data={"execution": task.execution, **result},
    )
    return result


def declined(task: DeclinedTask, deps: Services) -> dict[str, Any]:
    loaded = deps.policy()
    req = task.request
    cause = str(task.failure.get("Error") or "declined")
    deps.ledger.append(
        Record(
            record_id=f"{task.execution}:cost:declined",
            environment=deps.settings.environment,
            capability="cost",
            subject=req.subject or f"savings/{req.environment}",
            kind="decision",
            decision="declined",
            reason=f"savings not taken: {cause}",
            execution_arn=task.execution,
            dry_run=loaded.policy.dry_run or req.dry_run,
            policy_version=loaded.version,
            actor=req.requested_by,
        )
    )
    return {"declined": True, "cause": cause}
