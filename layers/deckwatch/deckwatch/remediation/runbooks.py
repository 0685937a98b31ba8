"""The runbook registry (Cloud Custodian style): each runbook declares its parameters (a pydantic model), the IAM
actions it needs (tests/remediation/test_iam.py proves template.yaml grants the remediation function exactly their
union), whether it is disruptive (approval in production), the resource it locks, and how it plans its calls.

A plan is the list of AWS calls the runbook would make, computed from the resource's current state and the
policy's bounds; it is recorded as is (dry-run) or executed call by call (`act`). A plan that would break a bound
raises `Refusal` with the reason, which the state machine records as a refused action.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from deckwatch.ledger import Action
from deckwatch.locks import resource_key
from deckwatch.remediation.errors import UnknownRunbookError

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.policy.model import Bounds, Policy

ROLLBACK_DETAIL_TYPE = "Deckwatch Rollback Requested"


class Refusal(Exception):  # noqa: N818 - a decision, not a failure: the state machine records it and stops
    """The runbook may not act: a bound would be broken, or its precondition does not hold."""


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EcsService(Params):
    cluster: str = Field(min_length=1, max_length=255)
    service: str = Field(min_length=1, max_length=255)


class ScaleOut(EcsService):
    step: int = Field(default=1, ge=1, le=50, description="Tasks added to the desired count.")


class ReplaceTasks(EcsService):
    batch_size: int = Field(default=1, ge=1, le=10, description="Tasks stopped in one batch (one batch per run).")


class ForceDeployment(EcsService):
    pass


class RollbackCutover(Params):
    service: str = Field(min_length=1, description="Policy service name (services[].name).")
    reason: str = Field(default="", max_length=500)


class RdsFailover(Params):
    db_instance: str | None = Field(default=None, min_length=1)
    db_cluster: str | None = Field(default=None, min_length=1, description="Aurora: fail the cluster over.")

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.db_instance is None) == (self.db_cluster is None):
            raise ValueError("give exactly one of db_instance, db_cluster")
        return self


class GrowStorage(Params):
    db_instance: str = Field(min_length=1)
    percent: int = Field(default=10, ge=10, le=100, description="RDS needs at least 10% more storage.")


class NotifyOnly(Params):
    message: str = Field(default="", max_length=2000)


@dataclass(frozen=True)
class PlanContext:
    deps: Services
    policy: Policy
    bounds: Bounds
    alarm: str | None
    summary_hint: str = ""


@dataclass(frozen=True)
class Plan:
    actions: list[Action]
    summary: str


@dataclass(frozen=True)
class Runbook:
    name: str
    params: type[Params]
    iam_actions: frozenset[str]
    disruptive: bool
    description: str
    planner: Callable[[Any, PlanContext], Plan]
    resource_of: Callable[[Any], str]
    target_params: Callable[[str], dict[str, Any]]

    def validate(self, target: str | None, parameters: dict[str, Any]) -> Params:
        """Parameters from the target (a resource key) overlaid with explicit ones. Raises ValidationError."""
        merged = {**(self.target_params(target) if target else {}), **parameters}
        return self.params.model_validate(merged)

    def plan(self, params: Params, ctx: PlanContext) -> Plan:
        return self.planner(params, ctx)


# ------------------------------------------------------------------------------------------- targets ----------
def _ecs_target(target: str) -> dict[str, Any]:
    kind, _, rest = target.partition(":")
    cluster, _, service = rest.partition("/")
    if kind != "ecs" or not cluster or not service:
        raise ValueError(f"target {target!r}: an ECS runbook's target is ecs:<cluster>/<service>")
    return {"cluster": cluster, "service": service}


def _rds_target(target: str) -> dict[str, Any]:
    kind, _, ident = target.partition(":")
    if kind != "rds" or not ident:
        raise ValueError(f"target {target!r}: an RDS runbook's target is rds:<db instance or cluster id>")
    return {"db_instance": ident}


def _service_target(target: str) -> dict[str, Any]:
    kind, _, name = target.partition(":")
    if kind != "service" or not name:
        raise ValueError(f"target {target!r}: rollback_cutover's target is service:<policy service name>")
    return {"service": name}


def _no_target(target: str) -> dict[str, Any]:
    del target
    return {}


# ------------------------------------------------------------------------------------------- planners ---------
def _describe_service(p: EcsService, ctx: PlanContext) -> dict[str, Any]:
    found = ctx.deps.clients("ecs").describe_services(cluster=p.cluster, services=[p.service]).get("services", [])
    if not found or found[0].get("status") == "INACTIVE":
        raise Refusal(f"ECS service {p.cluster}/{p.service} not found")
    return dict(found[0])


def _plan_scale_out(p: ScaleOut, ctx: PlanContext) -> Plan:
    desired = int(_describe_service(p, ctx)["desiredCount"])
    ceiling = ctx.bounds.max_tasks
    new = desired + p.step if ceiling is None else min(desired + p.step, ceiling)
    if new <= desired:
        raise Refusal(f"bounds: {p.service} already runs {desired} tasks, max_tasks is {ceiling}")
    resource_id = f"service/{p.cluster}/{p.service}"
    actions = []
    targets = (
        ctx.deps.clients("application-autoscaling")
        .describe_scalable_targets(
            ServiceNamespace="ecs", ResourceIds=[resource_id], ScalableDimension="ecs:service:DesiredCount"
        )
        .get("ScalableTargets", [])
    )
    if targets and int(targets[0]["MinCapacity"]) < new:
        # raise the floor first, or target tracking scales the new tasks back in
        actions.append(
            Action(
                service="application-autoscaling",
                operation="RegisterScalableTarget",
                parameters={
                    "ServiceNamespace": "ecs",
                    "ResourceId": resource_id,
                    "ScalableDimension": "ecs:service:DesiredCount",
                    "MinCapacity": new,
                    "MaxCapacity": max(int(targets[0]["MaxCapacity"]), new),
                },
            )
        )
    actions.append(Action(service="ecs", operation="UpdateService", parameters={**_svc(p), "desiredCount": new}))
    bound = f", max_tasks {ceiling}" if ceiling is not None else ""
    return Plan(actions, f"scale {p.cluster}/{p.service} out from {desired} to {new} tasks{bound}")


def _svc(p: EcsService) -> dict[str, Any]:
    return {"cluster": p.cluster, "service": p.service}


def _plan_replace_tasks(p: ReplaceTasks, ctx: PlanContext) -> Plan:
    desired = int(_describe_service(p, ctx)["desiredCount"])
    floor = ctx.bounds.min_healthy_tasks if ctx.bounds.min_healthy_tasks is not None else math.ceil(desired / 2)
    ecs = ctx.deps.clients("ecs")
    arns = ecs.list_tasks(cluster=p.cluster, serviceName=p.service, desiredStatus="RUNNING").get("taskArns", [])
    tasks = ecs.describe_tasks(cluster=p.cluster, tasks=arns).get("tasks", []) if arns else []
    unhealthy = [t for t in tasks if t.get("healthStatus") == "UNHEALTHY"]
    healthy = sorted(
        (t for t in tasks if t.get("healthStatus") != "UNHEALTHY"),
        key=lambda t: str(t.get("startedAt") or t.get("createdAt") or ""),
    )
    chosen: list[dict[str, Any]] = []
    healthy_left = len(healthy)
    for task in [*unhealthy, *healthy]:
        if len(chosen) == p.batch_size:
            break
        if task in unhealthy:
            chosen.append(task)
        elif healthy_left - 1 >= floor:
            chosen.append(task)
            healthy_left -= 1
    if not chosen:
        raise Refusal(
            f"bounds: {p.service} has {len(healthy)} healthy tasks; stopping one would go below the healthy "
            f"minimum {floor}"
        )
    actions = [
        Action(
            service="ecs",
            operation="StopTask",
            parameters={"cluster": p.cluster, "task": t["taskArn"], "reason": "deckwatch remediation: replace task"},
        )
        for t in chosen
    ]
    return Plan(actions, f"replace {len(chosen)} task(s) of {p.cluster}/{p.service}, keeping >= {floor} healthy")


def _plan_force_deployment(p: ForceDeployment, ctx: PlanContext) -> Plan:
    _describe_service(p, ctx)
    return Plan(
        [Action(service="ecs", operation="UpdateService", parameters={**_svc(p), "forceNewDeployment": True})],
        f"force a new deployment of {p.cluster}/{p.service}",
    )


def cutover_locks(policy: Policy, service: str) -> list[str]:
    """The lock keys a cutover of `service` holds (both colours, and the alias for Lambda)."""
    svc = policy.service(service)
    if svc is None:
        return []
    if svc.ecs is not None:
        return [resource_key("ecs", svc.ecs.cluster, getattr(svc.ecs.services, c)) for c in ("blue", "green")]
    if svc.function is not None:
        return [resource_key("lambda", svc.function.function, svc.function.alias)]
    return []


def _plan_rollback(p: RollbackCutover, ctx: PlanContext) -> Plan:
    keys = cutover_locks(ctx.policy, p.service)
    if not keys:
        raise Refusal(f"{p.service} is not a service of the policy")
    holders = [h for h in (ctx.deps.state.leases.holder(k) for k in keys) if h is not None]
    cutover = next((h for h in holders if h["capability"] == "cutover"), None)
    if cutover is None:
        raise Refusal(f"no cutover of {p.service} is in its rollback window (no cutover holds {', '.join(keys)})")
    detail = {
        "environment": ctx.policy.environment,
        "service": p.service,
        "reason": p.reason or f"alarm {ctx.alarm or '(console)'} in ALARM during the cutover's rollback window",
        "requested_by": "remediation",
    }
    entry = {"Source": "deckwatch", "DetailType": ROLLBACK_DETAIL_TYPE, "Detail": json.dumps(detail)}
    return Plan(
        [Action(service="events", operation="PutEvents", parameters={"Entries": [entry]})],
        f"hand {p.service} over to its cutover's rollback (cutover {cutover['owner']})",
    )


def _plan_failover(p: RdsFailover, ctx: PlanContext) -> Plan:
    rds = ctx.deps.clients("rds")
    if p.db_cluster is not None:
        if not rds.describe_db_clusters(DBClusterIdentifier=p.db_cluster).get("DBClusters"):
            raise Refusal(f"DB cluster {p.db_cluster} not found")
        return Plan(
            [Action(service="rds", operation="FailoverDBCluster", parameters={"DBClusterIdentifier": p.db_cluster})],
            f"fail Aurora cluster {p.db_cluster} over to a replica",
        )
    found = rds.describe_db_instances(DBInstanceIdentifier=p.db_instance).get("DBInstances", [])
    if not found:
        raise Refusal(f"DB instance {p.db_instance} not found")
    if not found[0].get("MultiAZ"):
        raise Refusal(f"{p.db_instance} is not Multi-AZ: a failover reboot has no standby to fail over to")
    return Plan(
        [
            Action(
                service="rds",
                operation="RebootDBInstance",
                parameters={"DBInstanceIdentifier": p.db_instance, "ForceFailover": True},
            )
        ],
        f"reboot {p.db_instance} with failover to its standby",
    )


def _plan_grow_storage(p: GrowStorage, ctx: PlanContext) -> Plan:
    found = ctx.deps.clients("rds").describe_db_instances(DBInstanceIdentifier=p.db_instance).get("DBInstances", [])
    if not found:
        raise Refusal(f"DB instance {p.db_instance} not found")
    current = int(found[0]["AllocatedStorage"])
    ceiling = ctx.bounds.max_storage_gib or 65536
    new = min(math.ceil(current * (100 + p.percent) / 100), ceiling)
    if new < math.ceil(current * 1.1):
        raise Refusal(
            f"bounds: {p.db_instance} has {current} GiB; +{p.percent}% would exceed max_storage_gib {ceiling} "
            "(and RDS grows storage by 10% at least)"
        )
    return Plan(
        [
            Action(
                service="rds",
                operation="ModifyDBInstance",
                parameters={"DBInstanceIdentifier": p.db_instance, "AllocatedStorage": new, "ApplyImmediately": True},
            )
        ],
        f"grow {p.db_instance} storage from {current} to {new} GiB (+{p.percent}%, max {ceiling})",
    )


def _plan_notify(p: NotifyOnly, ctx: PlanContext) -> Plan:
    subject = f"[deckwatch {ctx.policy.environment}] alarm {ctx.alarm or '(console)'}: notify only"
    text = p.message or f"Alarm {ctx.alarm} is in ALARM; its runbook only notifies. {ctx.summary_hint}".strip()
    return Plan(
        [
            Action(
                service="sns",
                operation="Publish",
                parameters={
                    "TopicArn": ctx.deps.settings.topic_arn,
                    "Subject": subject[:100],
                    "Message": text,
                    "MessageAttributes": {
                        "capability": {"DataType": "String", "StringValue": "remediation"},
                        "severity": {"DataType": "String", "StringValue": "warning"},
                        "environment": {"DataType": "String", "StringValue": ctx.policy.environment},
                    },
                },
            )
        ],
        f"notify about {ctx.alarm or 'the console request'}",
    )


def _ecs_key(p: EcsService) -> str:
    return resource_key("ecs", p.cluster, p.service)


def _rds_key(p: Any) -> str:
    return resource_key("rds", str(getattr(p, "db_cluster", None) or p.db_instance))


REGISTRY: dict[str, Runbook] = {
    rb.name: rb
    for rb in (
        Runbook(
            "ecs_scale_out",
            ScaleOut,
            frozenset(
                {
                    "ecs:DescribeServices",
                    "ecs:UpdateService",
                    "application-autoscaling:DescribeScalableTargets",
                    "application-autoscaling:RegisterScalableTarget",
                }
            ),
            disruptive=False,
            description="raise the desired count (and the Application Auto Scaling minimum) by a step",
            planner=_plan_scale_out,
            resource_of=_ecs_key,
            target_params=_ecs_target,
        ),
        Runbook(
            "ecs_replace_tasks",
            ReplaceTasks,
            frozenset({"ecs:DescribeServices", "ecs:ListTasks", "ecs:DescribeTasks", "ecs:StopTask"}),
            disruptive=False,
            description="stop unhealthy, then oldest tasks in a batch, never below the healthy minimum",
            planner=_plan_replace_tasks,
            resource_of=_ecs_key,
            target_params=_ecs_target,
        ),
        Runbook(
            "ecs_force_new_deployment",
            ForceDeployment,
            frozenset({"ecs:DescribeServices", "ecs:UpdateService"}),
            disruptive=False,
            description="replace every task through a new deployment",
            planner=_plan_force_deployment,
            resource_of=_ecs_key,
            target_params=_ecs_target,
        ),
        Runbook(
            "rollback_cutover",
            RollbackCutover,
            frozenset({"events:PutEvents"}),
            disruptive=False,
            description="hand over to the running cutover's rollback (event Deckwatch Rollback Requested)",
            planner=_plan_rollback,
            resource_of=lambda p: resource_key("service", p.service),
            target_params=_service_target,
        ),
        Runbook(
            "rds_failover",
            RdsFailover,
            frozenset(
                {"rds:DescribeDBInstances", "rds:RebootDBInstance", "rds:DescribeDBClusters", "rds:FailoverDBCluster"}
            ),
            disruptive=True,
            description="Multi-AZ reboot with failover, or Aurora cluster failover",
            planner=_plan_failover,
            resource_of=_rds_key,
            target_params=_rds_target,
        ),
        Runbook(
            "rds_grow_storage",
            GrowStorage,
            frozenset({"rds:DescribeDBInstances", "rds:ModifyDBInstance"}),
            disruptive=False,
            description="raise allocated storage by a percentage, within max_storage_gib",
            planner=_plan_grow_storage,
            resource_of=_rds_key,
            target_params=_rds_target,
        ),
        Runbook(
            "notify_only",
            NotifyOnly,
            frozenset({"sns:Publish"}),
            disruptive=False,
            description="tell people, change nothing",
            planner=_plan_notify,
            resource_of=lambda p: "",
            target_params=_no_target,
        ),
    )
}


def get(name: str) -> Runbook:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownRunbookError(f"no runbook {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def iam_actions() -> frozenset[str]:
    """Every IAM action the registry's runbooks need (what the remediation function's role must grant)."""
    return frozenset().union(*(rb.iam_actions for rb in REGISTRY.values()))
