"""The policy: what Deckwatch manages in one environment, and how. Strict (unknown fields are errors).

Exported as JSON Schema by `deckwatch policy schema`; every field carries a description for that document.
"""

from __future__ import annotations

import itertools
import re
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from deckwatch.config import Environment
from deckwatch.policy.names import (
    ALARM_REF,
    LAMBDA_REF,
    PIPELINE_REF,
    RDS_REF,
    SECRET_REF,
    ActionName,
    AlarmName,
    AliasName,
    BudgetName,
    DbIdentifier,
    DbSubnetGroupName,
    EcsName,
    FunctionName,
    LoadBalancerName,
    MetricNamespace,
    MonitorName,
    PipelineName,
    QueueName,
    SecretName,
    SecurityGroupName,
    TargetGroupName,
)
from deckwatch.policy.windows import Maintenance, Release, Window

# Names of things in a database, not in AWS (tables, columns, the database): PostgreSQL's own identifiers
SqlName = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^\S+$", description="A PostgreSQL name.")]
# A person or team to escalate to: free text, one line
Target = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")]
Minutes = Annotated[int, Field(ge=0, le=7 * 24 * 60)]
# Deckwatch's own alarms (template.yaml: deckwatch-<env>-...): never remediated by Deckwatch itself.
OWN_ALARM_NAMES = re.compile(r"^deckwatch-(dev|staging|prod)-")
Region = Annotated[
    str, Field(pattern=r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$", description="An AWS region, e.g. us-west-2.")
]


class Strict(BaseModel):
    # no NaN or infinity (YAML's .nan, .inf, 1e999): no threshold or budget means anything as one
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)


class Notifications(Strict):
    emails: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = Field(
        default_factory=list, description="Addresses subscribed to the notifications topic."
    )
    approvers: list[str] = Field(default_factory=list, description="Who may approve gated actions (informational).")
    chat_webhook_secret: SecretName | None = Field(
        default=None, description=f"Secrets Manager name of a chat webhook URL (never the URL itself). {SECRET_REF}"
    )


class Colours(Strict):
    blue: EcsName
    green: EcsName


class TargetGroups(Strict):
    blue: TargetGroupName
    green: TargetGroupName


class EcsTarget(Strict):
    cluster: EcsName
    services: Colours = Field(description="One ECS service per colour.")


class AlbTarget(Strict):
    load_balancer: LoadBalancerName
    listener_port: int = Field(ge=1, le=65535, description="Production listener; forwards to both colours by weight.")
    test_listener_port: int | None = Field(default=None, ge=1, le=65535, description="Reaches the idle colour.")
    target_groups: TargetGroups


MetricDimension = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")]


class QueueTarget(Strict):
    """A queue worker's traffic: the one SQS queue both colours consume, and the metrics its tasks publish per
    colour. A worker has no load balancer to split; its canary is a share of the consuming tasks, and its figures
    are the ones it publishes itself (the workload's EMF metrics), because no AWS service counts them per colour."""

    name: QueueName = Field(
        description="The work queue (AWS/SQS ApproximateAgeOfOldestMessage by QueueName: the queue_age metric)."
    )
    metrics_namespace: MetricNamespace = Field(
        description="Namespace of the worker's own metrics, each with the dimensions below and Colour (blue|green): "
        "MessagesProcessed and MessagesFailed (Count: error_rate), MessageAge (Seconds, sent to done: latency_p99)."
    )
    dimensions: dict[MetricDimension, MetricDimension] = Field(
        default_factory=dict,
        max_length=29,
        description="The worker's metrics' other dimensions (name -> value), e.g. {Environment: staging}.",
    )

    @field_validator("dimensions")
    @classmethod
    def _colour_is_ours(cls, dims: dict[str, str]) -> dict[str, str]:
        if "Colour" in dims:
            raise ValueError("Colour is added per colour by the analysis; leave it out")
        return dims


class LambdaTarget(Strict):
    function: FunctionName
    alias: AliasName


class AnalysisMetric(Strict):
    """One figure compared between the canary and the stable colour in each interval (Flagger's metric checks)."""

    name: Literal["error_rate", "latency_p99", "unhealthy_hosts", "queue_age"] = Field(
        description="error_rate: failed requests / requests (ALB: HTTPCode_Target_5XX_Count / RequestCount per "
        "target group; Lambda: Errors / Invocations per version; queue worker: MessagesFailed / (MessagesProcessed "
        "+ MessagesFailed) per colour); latency_p99: seconds (ALB TargetResponseTime p99; Lambda Duration p99; "
        "queue worker: MessageAge p99 per colour); unhealthy_hosts: the target group's UnHealthyHostCount maximum "
        "(ECS behind an ALB only); queue_age: seconds, the queue's ApproximateAgeOfOldestMessage maximum (queue "
        "worker only; one queue for both colours, so give it an absolute `max`)."
    )
    max: float | None = Field(default=None, ge=0, description="Absolute limit on the canary's figure.")
    max_relative: float | None = Field(
        default=None,
        ge=1,
        description="Limit relative to the stable colour in the same interval: canary <= stable x max_relative + "
        "min_delta (skipped when the stable colour has no figure).",
    )
    min_delta: float = Field(
        default=0.0, ge=0, description="Slack of the relative limit, so that a stable figure near 0 fails no canary."
    )


def _default_metrics() -> list[AnalysisMetric]:
    return [
        AnalysisMetric(name="error_rate", max=0.05, max_relative=2.0, min_delta=0.01),
        AnalysisMetric(name="latency_p99", max_relative=1.5, min_delta=0.05),
        AnalysisMetric(name="unhealthy_hosts", max=0),
    ]


class Analysis(Strict):
    """Canary analysis during every bake: the new colour against the stable one, interval by interval, on the
    target group's (or version's) own figures, which load-balancer-wide alarms cannot see at a small share."""

    enabled: bool = True
    interval_minutes: int = Field(default=5, ge=1, le=60, description="Length of one analysis interval.")
    min_requests: int = Field(
        default=20,
        ge=1,
        description="Requests (Lambda: invocations) the canary must receive in an interval for its figures to "
        "count; fewer is 'no data': the canary did not receive traffic.",
    )
    failed_intervals: int = Field(default=1, ge=1, description="Consecutive failing intervals that roll back.")
    no_data_intervals: int = Field(
        default=2,
        ge=1,
        description="Consecutive intervals without data that roll back; meanwhile the canary does not advance "
        "(an interval without data does not count towards the bake).",
    )
    metrics: list[AnalysisMetric] = Field(default_factory=_default_metrics)


class Rollout(Strict):
    strategy: Literal["canary", "linear", "all_at_once"] = "canary"
    steps: list[Annotated[int, Field(ge=1, le=100)]] = Field(
        default_factory=lambda: [10, 100], description="Percent of traffic on the new colour after each step."
    )
    bake_minutes: Minutes = 10
    rollback_window_minutes: Minutes = 30
    on_rollback_hook: FunctionName | None = Field(
        default=None, description=f"Lambda function invoked after a rollback. {LAMBDA_REF}"
    )
    pre_traffic_check: FunctionName | None = Field(
        default=None, description=f"Lambda function run against the test listener. {LAMBDA_REF}"
    )
    approval_timeout_minutes: int = Field(
        default=60, ge=1, le=7 * 24 * 60, description="Unanswered production approval counts as rejected after this."
    )
    stable_timeout_minutes: int = Field(
        default=15, ge=1, le=180, description="The idle colour must be stable with healthy targets within this."
    )
    analysis: Analysis = Field(default_factory=Analysis)

    @field_validator("steps")
    @classmethod
    def _increasing_to_100(cls, steps: list[int]) -> list[int]:
        if not steps or steps[-1] != 100:
            raise ValueError("must end at 100")
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError("must be strictly increasing")
        return steps


class PipelineTrigger(Strict):
    pipeline: PipelineName = Field(description=f"A pipeline of the stack's own account and region. {PIPELINE_REF}")
    action: ActionName
    state: Literal["SUCCEEDED", "STARTED"] = "SUCCEEDED"


class Service(Strict):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")]
    kind: Literal["ecs", "ecs_worker", "lambda"] = Field(
        default="ecs",
        description="ecs: blue/green ECS services behind an ALB (ecs + alb; traffic split by listener weights); "
        "ecs_worker: blue/green ECS services consuming one queue (ecs + queue; traffic split by task counts); "
        "lambda: an alias's weighted versions (lambda).",
    )
    ecs: EcsTarget | None = None
    alb: AlbTarget | None = None
    queue: QueueTarget | None = None
    function: LambdaTarget | None = Field(default=None, alias="lambda")
    alarms: list[AlarmName] = Field(
        default_factory=list, description=f"Alarms watched during bake and rollback window. {ALARM_REF}"
    )
    rollout: Rollout = Field(default_factory=Rollout)
    require_approval: bool = False
    triggers: list[PipelineTrigger] = Field(default_factory=list)
    release: Release | None = Field(
        default=None,
        description="This service's release windows and freezes (fields set here replace the environment's).",
    )

    @model_validator(mode="after")
    def _target_matches_kind(self) -> Self:
        if self.kind == "ecs" and (self.ecs is None or self.alb is None):
            raise ValueError("an ecs service needs both 'ecs' and 'alb' (a queue worker is kind ecs_worker)")
        if self.kind == "ecs_worker" and (self.ecs is None or self.queue is None or self.alb is not None):
            raise ValueError("an ecs_worker service needs 'ecs' and 'queue', and has no 'alb'")
        if self.queue is not None and self.kind != "ecs_worker":
            raise ValueError("'queue' belongs to an ecs_worker service")
        if self.kind == "lambda" and self.function is None:
            raise ValueError("a lambda service needs 'lambda'")
        return self


class AlarmMatch(Strict):
    name: AlarmName | None = None
    prefix: AlarmName | None = Field(default=None, description=f"The start of alarm names. {ALARM_REF}")
    pattern: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="A shell-style pattern of alarm names, e.g. 'shop-prod-web-*-cpu-high' (per-colour alarms).",
    )
    tag: dict[str, str] | None = Field(default=None, description="{key: ..., value: ...} on the alarm.")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if sum(x is not None for x in (self.name, self.prefix, self.pattern, self.tag)) != 1:
            raise ValueError("give exactly one of name, prefix, pattern, tag")
        if self.tag is not None and set(self.tag) != {"key", "value"}:
            raise ValueError("tag needs exactly 'key' and 'value'")
        own = next((x for x in (self.name, self.prefix) if x is not None and OWN_ALARM_NAMES.match(x)), None)
        if own is not None:
            raise ValueError(f"{own!r} names Deckwatch's own alarms (deckwatch-<env>-...), which it never remediates")
        return self


class Bounds(Strict):
    max_tasks: int | None = Field(default=None, ge=1)
    min_healthy_tasks: int | None = Field(default=None, ge=0)
    max_storage_gib: int | None = Field(default=None, ge=20, le=65536)


Runbook = Literal[
    "ecs_scale_out",
    "ecs_replace_tasks",
    "ecs_force_new_deployment",
    "rollback_cutover",
    "rds_failover",
    "rds_grow_storage",
    "notify_only",
]


class RemediationRule(Strict):
    alarm: AlarmMatch
    runbook: Runbook
    service: str | None = Field(
        default=None,
        description="A policy service (services[].name): an ECS runbook acts on the colour that serves its traffic "
        "now (cluster and service are filled in), and an alarm about its idle colour (tag deckwatch:colour) acts "
        "on nothing.",
    )
    parameters: dict[str, str | int | float | bool] = Field(default_factory=dict)
    bounds: Bounds = Field(default_factory=Bounds)
    cooldown_minutes: Minutes = 15
    verify_minutes: Minutes = 10
    approval_required: bool = False
    escalate_to: Target | None = None
    on_insufficient_data: Literal["ignore", "notify"] = "notify"
    respect_suppression: bool = Field(
        default=True,
        description="A state change whose actions CloudWatch holds back - a composite alarm's suppressor "
        "(state.actionsSuppressedBy: WaitPeriod, ExtensionPeriod, Alarm) or an alarm mute rule whose window holds it "
        "(muteDetail) - is recorded and neither acts nor pages. false: act on it as on any other.",
    )


class Remediation(Strict):
    max_actions_per_hour: int = Field(default=6, ge=0, le=1000)
    approval_timeout_minutes: int = Field(
        default=30, ge=1, le=7 * 24 * 60, description="Unanswered approval of a remediation: escalate after this."
    )
    rules: list[RemediationRule] = Field(default_factory=list)


class DrillNetwork(Strict):
    db_subnet_group: DbSubnetGroupName
    security_group: SecurityGroupName


class Objectives(Strict):
    rto_minutes: int = Field(ge=1)
    rpo_minutes: int = Field(ge=1)


class Assertion(Strict):
    name: str = Field(min_length=1)
    sql: str = Field(min_length=1, description="A query returning one boolean; true means the check passes.")


class DrillChecks(Strict):
    tables: list[SqlName] = Field(default_factory=list)
    row_count_floors: dict[SqlName, int] = Field(default_factory=dict)
    freshness: dict[SqlName, SqlName] = Field(default_factory=dict, description="table -> timestamp column")
    assertions: list[Assertion] = Field(default_factory=list)
    statement_timeout_ms: int = Field(default=15000, ge=100, le=600000)


class Sampling(Strict):
    min_days_between: int | None = Field(default=None, ge=0)
    every_nth_job: int | None = Field(default=None, ge=1)


class DrillTarget(Strict):
    resource: DbIdentifier = Field(description=f"DB instance or cluster identifier (or ARN). {RDS_REF}")
    engine: Literal["postgres", "aurora-postgresql"] = Field(
        default="postgres",
        description="postgres: an RDS DB instance; aurora-postgresql: an Aurora cluster (a restore creates the cluster "
        "only, so the drill adds one instance of `instance_class` to it).",
    )
    instance_class: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^\S+$")] = Field(
        default="db.t4g.medium",
        description="Class of the instance a drill adds to a restored Aurora cluster (RDS CreateDBInstance "
        "DBInstanceClass, e.g. db.r6g.large: no constraint beyond the classes RDS offers).",
    )
    drill_copies: bool = Field(
        default=False,
        description="Also drill COMPLETED cross-region copies, in their destination region (into "
        "drills.dr_networks[<region>]); otherwise copies are recorded only.",
    )
    database: SqlName
    secret: SecretName = Field(description=f"Secrets Manager name of the validator's credentials. {SECRET_REF}")
    sampling: Sampling = Field(default_factory=Sampling)
    objectives: Objectives
    checks: DrillChecks = Field(default_factory=DrillChecks)
    tls: Literal["verify-full", "require", "disable"] = Field(
        default="verify-full",
        description="How the validator connects: verify-full (certificate and host name, the RDS CA bundle), "
        "require (encrypted, unverified) or disable (plain TCP: only for a local PostgreSQL without TLS).",
    )


class Drills(Strict):
    network: DrillNetwork | None = None
    dr_networks: dict[Region, DrillNetwork] = Field(
        default_factory=dict,
        description="Drill networks in other regions, by region: where cross-region copies are drilled (targets with "
        "drill_copies). The validator must reach them (VPC peering or a transit gateway).",
    )
    max_age_hours: int = Field(default=6, ge=1, le=168)
    schedule: str | None = Field(
        default=None,
        pattern=r"^rate\(\d+ (hour|hours|day|days)\)$",
        description="How often to drill the latest recovery point of every target, e.g. 'rate(7 days)' "
        "(checked hourly by the drill schedule rule; none: no periodic drills).",
    )
    targets: list[DrillTarget] = Field(default_factory=list)
    windows: list[Window] = Field(
        default_factory=list,
        description="When drills may start (scheduled and backup-triggered), e.g. outside business hours; "
        "none: any time.",
    )

    @model_validator(mode="after")
    def _network_when_targets(self) -> Self:
        if self.targets and self.network is None:
            raise ValueError("drill targets need a 'network' to restore into")
        copying = [t.resource for t in self.targets if t.drill_copies]
        if copying and not self.dr_networks:
            raise ValueError(f"targets {copying} drill copies: name their region's network in 'dr_networks'")
        return self


class CostThresholds(Strict):
    absolute_usd: float = Field(default=100.0, ge=0)
    percent: float = Field(default=20.0, ge=0)


class EcsRef(Strict):
    cluster: EcsName
    service: EcsName


class Savings(Strict):
    mode: Literal["act", "approve", "notify"] = "notify"
    services: list[str] = Field(
        default_factory=list,
        description="Policy services (services[].name) whose ECS colours are both scaled to zero and resumed exactly "
        "(whichever serves traffic at the time).",
    )
    ecs_services: list[EcsRef] = Field(default_factory=list)
    rds_instances: list[DbIdentifier] = Field(default_factory=list)
    working_hours: list[Window] = Field(
        default_factory=list,
        description="Weekly windows of working hours: outside them (nights, weekends) the savings are taken on a "
        "schedule, and resumed when they open (in 'approve' mode, each night asks for an approval).",
    )
    min_severity: Literal["medium", "high"] = Field(
        default="high", description="Anomaly severity from which savings are taken (or proposed, in 'approve' mode)."
    )
    approval_timeout_minutes: int = Field(
        default=60,
        ge=1,
        le=7 * 24 * 60,
        description="How long an 'approve' request waits before it counts as rejected.",
    )


class Cost(Strict):
    budget: BudgetName | None = None
    monthly_budget_usd: float | None = Field(default=None, gt=0)
    anomaly_monitor: MonitorName | None = None
    allocation_tag: dict[str, str] | None = None
    thresholds: CostThresholds = Field(default_factory=CostThresholds)
    savings: Savings = Field(default_factory=Savings)
    notify_unattributed: bool = Field(
        default=True,
        description="Notify anomalies and budget alerts no environment claims (shared account: keep it on in one).",
    )


class Policy(Strict):
    """Deckwatch policy for one environment."""

    version: Literal[1] = Field(description="Policy format version.")
    environment: Environment
    dry_run: bool = Field(default=False, description="Plan and record every action, change nothing.")
    account: Annotated[str, Field(pattern=r"^\d{12}$")] | None = Field(
        default=None,
        description="The AWS account whose events this stack acts on (default: the stack's own account). Events "
        "from any other account are recorded as ignored and never act.",
    )
    regions: list[Region] | None = Field(
        default=None,
        min_length=1,
        description="The regions whose events this stack acts on (default: the stack's own region and the regions "
        "of drills.dr_networks). Alarms, pipelines, ECS services and DB instances named in this policy are those of "
        "the stack's own region.",
    )
    notifications: Notifications = Field(default_factory=Notifications)
    services: list[Service] = Field(default_factory=list)
    remediation: Remediation = Field(default_factory=Remediation)
    drills: Drills = Field(default_factory=Drills)
    cost: Cost = Field(default_factory=Cost)
    release: Release = Field(
        default_factory=Release, description="When cutovers may shift traffic: windows, freezes (every service)."
    )
    maintenance: list[Maintenance] = Field(
        default_factory=list, description="Planned maintenance of named resources, weekly or dated."
    )

    @model_validator(mode="after")
    def _unique_service_names(self) -> Self:
        names = [s.name for s in self.services]
        dupes = sorted({n for n in names if names.count(n) > 1})
        # "<path>: message" lets the loader point at the offending field and its line
        if dupes:
            where = names.index(dupes[0], names.index(dupes[0]) + 1)
            raise ValueError(f"services[{where}].name: service names must be unique: {', '.join(dupes)}")
        if self.environment == "prod" and self.cost.savings.mode == "act":
            raise ValueError("cost.savings.mode: 'act' is not allowed in prod (use 'approve' or 'notify')")
        for i, rule in enumerate(self.remediation.rules):
            if rule.service is None:
                continue
            svc = self.service(rule.service)
            if svc is None or svc.ecs is None:
                raise ValueError(f"remediation.rules[{i}].service: no ECS service {rule.service!r} in services")
            if not rule.runbook.startswith("ecs_"):
                raise ValueError(f"remediation.rules[{i}].service: only ECS runbooks act on a service's live colour")
        for i, name in enumerate(self.cost.savings.services):
            found = self.service(name)
            if found is None or found.ecs is None:
                raise ValueError(f"cost.savings.services[{i}]: no ECS service {name!r} in services")
        for i, m in enumerate(self.maintenance):
            for j, key in enumerate(m.resources):
                name = key.split(":", 1)[1]
                if key.startswith("service:") and "*" not in key and self.service(name) is None:
                    raise ValueError(f"maintenance[{i}].resources[{j}]: no service {name!r} in services")
        return self

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
