"""The registry of cost actions: each declares its parameters and the IAM actions it needs. tests/cost proves
that template.yaml grants CostActionsFunction exactly these ECS and RDS actions, no more."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EcsScaleToZero(_Params):
    cluster: str = Field(min_length=1)
    service: str = Field(min_length=1)


class EcsRestore(_Params):
    cluster: str = Field(min_length=1)
    service: str = Field(min_length=1)
    desired_count: int = Field(ge=1)


class RdsStop(_Params):
    db_instance: str = Field(min_length=1)


class RdsStart(_Params):
    db_instance: str = Field(min_length=1)


@dataclass(frozen=True)
class ActionSpec:
    params: type[_Params]
    iam: tuple[str, ...]
    reverses: str | None = None


ACTIONS: dict[str, ActionSpec] = {
    # DescribeTaskDefinition: the task size, to estimate what the stopped capacity saves
    "ecs_scale_to_zero": ActionSpec(
        EcsScaleToZero, ("ecs:DescribeServices", "ecs:DescribeTaskDefinition", "ecs:UpdateService")
    ),
    "ecs_restore": ActionSpec(EcsRestore, ("ecs:DescribeServices", "ecs:UpdateService"), reverses="ecs_scale_to_zero"),
    "rds_stop": ActionSpec(RdsStop, ("rds:DescribeDBInstances", "rds:StopDBInstance")),
    "rds_start": ActionSpec(RdsStart, ("rds:DescribeDBInstances", "rds:StartDBInstance"), reverses="rds_stop"),
}


def iam_actions() -> set[str]:
    return {a for spec in ACTIONS.values() for a in spec.iam}


# On-demand list prices (us-east-1, USD per hour) to estimate savings; an estimate, labelled as such everywhere.
FARGATE_VCPU_HOUR = 0.04048
FARGATE_GB_HOUR = 0.004445
RDS_HOURLY = {
    "db.t4g.micro": 0.016,
    "db.t4g.small": 0.032,
    "db.t4g.medium": 0.065,
    "db.t4g.large": 0.129,
    "db.m6g.large": 0.152,
    "db.m6g.xlarge": 0.304,
    "db.r6g.large": 0.215,
    "db.r6g.xlarge": 0.43,
}


def fargate_hourly(cpu_units: str | int | None, memory_mib: str | int | None, tasks: int) -> float | None:
    try:
        cpu, mem = int(str(cpu_units)), int(str(memory_mib))
    except ValueError:
        return None
    return round(tasks * (cpu / 1024 * FARGATE_VCPU_HOUR + mem / 1024 * FARGATE_GB_HOUR), 4)
