#!/usr/bin/env python3
"""Renders the per-service part of workload/template.yaml from one table, SERVICES.

Every service of the reference workload has the same anatomy - a blue and a green ECS service, per-colour
scaling and alarms, a build and a pipeline whose last word is Deckwatch's cutover state machine - but a
different shape (public ALB, internal ALB, queue worker). Writing that anatomy out by hand three times is how
copies drift apart, so it is declared once, here, and rendered into the template between

    # BEGIN GENERATED <section> ...
    # END GENERATED <section>

markers in the Parameters, Mappings, Resources and Outputs sections. Everything outside the markers (network,
database, cache, edge, backup, cost, security) is hand-written.

    python3 workload/generate.py                 rewrite the generated sections of workload/template.yaml
    python3 workload/generate.py --check         exit 1 if the committed template differs from the output
    python3 workload/generate.py traffic-parameters ENV
                                                 print "name value" for every SSM traffic parameter the
                                                 stack of ENV resolves, with its bootstrap value
                                                 (used by workload/bootstrap.sh)

Standard library only: checks.sh and the tests run it with whatever Python is at hand.

Logical ids: the web service keeps the ids it had in v1 of this template (BlueService, HttpsListener,
Pipeline...), so an existing shop-<env> stack updates in place. Renaming the logical id of a resource with a
fixed physical name (an ECS service, a target group) makes CloudFormation create the new one before deleting
the old, which fails on the name. New services use <Prefix><Part> ids (ApiBlueService...).
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "template.yaml"
ENVIRONMENTS = ("dev", "staging", "prod")
COLOURS = ("blue", "green")
WIDTH = 120

# --------------------------------------------------------------------------------------------- the tables ---

# The service-level objectives every alarm threshold is derived from. LatencyMs is the single latency target
# (issue 20: 200 ms at p99); the template needs it in seconds too (TargetResponseTime is in seconds and
# CloudFormation cannot divide), so LatencySeconds is computed here rather than typed in.
SLO = {
    "LatencyMs": 200,
    "ErrorRatePercent": 1,  # 5xx (or failed messages) above 1% for 3 of 5 minutes: 10x the 99.9% budget burn
    "QueueAgeSeconds": 60,  # a message is handled within a minute of being sent
}
SLO["LatencySeconds"] = SLO["LatencyMs"] / 1000


@dataclass(frozen=True)
class Size:
    """Per-environment sizing of one service. See workload/README.md "Capacity" for the prod arithmetic."""

    cpu: str  # Fargate task CPU units
    memory: str  # Fargate task memory, MiB
    min_tasks: int  # floor for the live colour (Deckwatch keeps it; the template's MinCapacity is 0)
    max_tasks: int  # MaxCapacity of each colour's scalable target
    scaling_target: int  # ALB services: requests per target per minute; worker: backlog messages per task
    db_pool: int  # connections per task in the application's pool


# The prod capacity model (issue 20: 100,000+ concurrent users). workload/README.md "Capacity" walks through
# the same arithmetic; prod's MaxTasks and scaling targets below are computed from it, not typed in.
CAPACITY = {
    "concurrent_users": 100_000,
    # Dynamic requests that reach the origin per active user per second (pages, API calls from the browser);
    # static assets are served from CloudFront's cache and not counted.
    "requests_per_user_per_second": 0.1,
    "api_calls_per_web_request": 1.0,  # web renders from api (cache-first)
    "messages_per_request": 0.05,  # share of web + api requests that enqueue work (orders, e-mails)
    # What one 1 vCPU / 2 GiB task sustains at ~70% CPU with p99 under the 200 ms SLO (load-test figures to
    # confirm per release): requests per second for ALB services, messages per second for the worker.
    "per_task": {"web": 250, "api": 400, "worker": 100},
    "scale_out_at": 0.7,  # target tracking aims at 70% of a task's sustainable rate
    "az_headroom": 1.5,  # lose one of three AZs and still carry peak on the other two
    "worker_backlog_seconds": 30,  # target backlog per task: 30 s of work (queue-age SLO is 60 s)
}


def peak_rate(name: str) -> float:
    """Peak requests (ALB services) or messages (worker) per second in prod."""
    c = CAPACITY
    web = c["concurrent_users"] * c["requests_per_user_per_second"]
    api = web * c["api_calls_per_web_request"]
    return {"web": web, "api": api, "worker": (web + api) * c["messages_per_request"]}[name]


def prod_max_tasks(name: str) -> int:
    per_task = CAPACITY["per_task"][name]
    return math.ceil(math.ceil(peak_rate(name) / per_task) * CAPACITY["az_headroom"])


def prod_scaling_target(name: str) -> int:
    per_task = CAPACITY["per_task"][name]
    if name == "worker":  # backlog per task, in messages
        return round(per_task * CAPACITY["worker_backlog_seconds"])
    return round(per_task * CAPACITY["scale_out_at"] * 60)  # ALBRequestCountPerTarget is per minute


PUBLIC, INTERNAL, QUEUE = "public-alb", "internal-alb", "queue"
WORKER_METRICS_NAMESPACE = "shop/worker"  # the queue worker's EMF metrics (its per-colour alarms read them)


@dataclass(frozen=True)
class Service:
    name: str  # the Deckwatch policy service name; also the container name and the name suffix
    prefix: str  # logical-id prefix
    kind: str  # PUBLIC, INTERNAL or QUEUE
    description: str
    db_user: str  # PostgreSQL role the tasks connect as (IAM auth)
    source_parameter: str
    source_default: str
    sizes: dict[str, Size]
    calls: tuple[str, ...] = ()  # services this one calls (reaches their internal load balancer)
    sends_to: tuple[str, ...] = ()  # queue services this one enqueues work for
    legacy_ids: dict[str, str] = field(default_factory=dict)
    # A security group's description cannot change without replacing the group, which fails on its fixed
    # name: web keeps its v1 text.
    group_description: str | None = None

    @property
    def alb(self) -> bool:
        return self.kind in (PUBLIC, INTERNAL)


# Logical ids the web service had in v1; see the module docstring.
WEB_V1_IDS = {
    "ImageRepository": "ImageRepository",
    "TaskRole": "TaskRole",
    "TaskDefinition": "WebTaskDefinition",
    "SecurityGroup": "AppSecurityGroup",
    "TasksFromLoadBalancerIngress": "AppFromAlbIngress",
    "LoadBalancerToTasksEgress": "AlbToAppEgress",
    "ToDbEgress": "AppToDbEgress",
    "DbIngress": "DbFromAppIngress",
    "EndpointIngress": "EndpointFromAppIngress",
    "BlueTargetGroup": "BlueTargetGroup",
    "GreenTargetGroup": "GreenTargetGroup",
    "ProductionListener": "HttpsListener",
    "TestListener": "TestListener",
    "BlueService": "BlueService",
    "GreenService": "GreenService",
    "BlueScalableTarget": "BlueScalableTarget",
    "GreenScalableTarget": "GreenScalableTarget",
    "BlueCpuScaling": "BlueCpuScaling",
    "GreenCpuScaling": "GreenCpuScaling",
    "BuildLogGroup": "BuildLogGroup",
    "BuildRole": "BuildRole",
    "BuildProject": "BuildProject",
    "PipelineRole": "PipelineRole",
    "Pipeline": "Pipeline",
    # hand-written, shared with the edge (CloudFront origin, WAF): not generated
    "LoadBalancer": "LoadBalancer",
    "LoadBalancerSecurityGroup": "AlbSecurityGroup",
}

SERVICES: tuple[Service, ...] = (
    Service(
        name="web",
        prefix="Web",
        kind=PUBLIC,
        description="public storefront behind CloudFront and the public ALB",
        db_user="shop_app",
        source_parameter="SourceRepository",
        source_default="example-org/shop-web",
        calls=("api",),
        sends_to=("worker",),
        sizes={
            "dev": Size("256", "512", 1, 4, 2500, 2),
            "staging": Size("512", "1024", 2, 6, 5000, 2),
            # 10,000 req/s / 250 per task = 40 tasks x 1.5 = 60; scale out at 175 req/s = 10,500 per minute
            "prod": Size("1024", "2048", 6, prod_max_tasks("web"), prod_scaling_target("web"), 2),
        },
        legacy_ids=WEB_V1_IDS,
        group_description="Web tasks - traffic only from the ALB",
    ),
    Service(
        name="api",
        prefix="Api",
        kind=INTERNAL,
        description="internal JSON API behind an internal ALB, called by web",
        db_user="shop_api",
        source_parameter="ApiSourceRepository",
        source_default="example-org/shop-api",
        sends_to=("worker",),
        sizes={
            "dev": Size("256", "512", 1, 4, 4000, 2),
            "staging": Size("512", "1024", 2, 6, 8000, 2),
            # 10,000 req/s / 400 per task = 25 tasks x 1.5 = 38; scale out at 280 req/s = 16,800 per minute
            "prod": Size("1024", "2048", 6, prod_max_tasks("api"), prod_scaling_target("api"), 2),
        },
    ),
    Service(
        name="worker",
        prefix="Worker",
        kind=QUEUE,
        description="queue worker (orders, e-mails) consuming the shop-<env>-worker SQS queue",
        db_user="shop_worker",
        source_parameter="WorkerSourceRepository",
        source_default="example-org/shop-worker",
        sizes={
            "dev": Size("256", "512", 1, 2, 300, 2),
            "staging": Size("512", "1024", 1, 4, 600, 2),
            # 5% of 20,000 req/s = 1,000 msg/s / 100 per task = 10 tasks x 1.5 = 15; backlog 3,000 per task
            "prod": Size("1024", "2048", 3, prod_max_tasks("worker"), prod_scaling_target("worker"), 2),
        },
    ),
)
BY_NAME = {s.name: s for s in SERVICES}


def ids(s: Service) -> dict[str, str]:
    """Every logical id the generator uses for service `s` (legacy ids win)."""
    p = s.prefix
    out = {
        "LogGroup": f"{p}LogGroup",
        "ImageRepository": f"{p}ImageRepository",
        "TaskRole": f"{p}TaskRole",
        "TaskDefinition": f"{p}TaskDefinition",
        "SecurityGroup": f"{p}SecurityGroup",
        "TasksFromLoadBalancerIngress": f"{p}TasksFromLoadBalancerIngress",
        "LoadBalancerToTasksEgress": f"{p}LoadBalancerToTasksEgress",
        "ToDbEgress": f"{p}ToDbEgress",
        "DbIngress": f"DbFrom{p}Ingress",
        "ToCacheEgress": f"{p}ToCacheEgress",
        "CacheIngress": f"CacheFrom{p}Ingress",
        "EndpointIngress": f"EndpointFrom{p}Ingress",
        "LoadBalancer": f"{p}LoadBalancer",
        "LoadBalancerSecurityGroup": f"{p}LoadBalancerSecurityGroup",
        "TestClientsIngress": f"{p}LoadBalancerFromTestClientsIngress",
        "DnsRecord": f"{p}DnsRecord",
        "ProductionListener": f"{p}ProductionListener",
        "TestListener": f"{p}TestListener",
        "Queue": f"{p}Queue",
        "DeadLetterQueue": f"{p}DeadLetterQueue",
        "QueuePolicy": f"{p}QueuePolicy",
        "QueueAgeAlarm": f"{p}QueueAgeAlarm",
        "DeadLetterDepthAlarm": f"{p}DeadLetterDepthAlarm",
        "BuildLogGroup": f"{p}BuildLogGroup",
        "BuildRole": f"{p}BuildRole",
        "BuildProject": f"{p}BuildProject",
        "PipelineRole": f"{p}PipelineRole",
        "Pipeline": f"{p}Pipeline",
    }
    for c in COLOURS:
        ct = c.title()
        out |= {
            f"{ct}TargetGroup": f"{p}{ct}TargetGroup",
            f"{ct}Service": f"{p}{ct}Service",
            f"{ct}ScalableTarget": f"{p}{ct}ScalableTarget",
            f"{ct}CpuScaling": f"{p}{ct}CpuScaling",
            f"{ct}RequestScaling": f"{p}{ct}RequestScaling",
            f"{ct}BacklogScaling": f"{p}{ct}BacklogScaling",
        }
        for metric in alarm_metrics(s):
            out[f"{ct}{metric.part}Alarm"] = f"{p}{ct}{metric.part}Alarm"
    for caller in callers(s):
        out[f"From{caller.prefix}Ingress"] = f"{p}LoadBalancerFrom{caller.prefix}Ingress"
    return out | s.legacy_ids


def callers(s: Service) -> list[Service]:
    return [c for c in SERVICES if s.name in c.calls]


def pipeline_name(s: Service) -> Fn:
    return If("IsDev", f"shop-{s.name}-dev", f"shop-{s.name}")


def traffic_parameters(s: Service) -> dict[str, tuple[str, str]]:
    """CloudFormation parameter -> (SSM parameter name pattern, bootstrap value pattern), both with {env}: for ALB
    services the listener weights and the test colour; for every service the task definition each colour runs."""
    base = f"/deckwatch/{{env}}/traffic/{s.name}"
    out = {}
    if s.alb:
        out |= {
            f"{s.prefix}BlueWeight": (f"{base}/blue", "100"),
            f"{s.prefix}GreenWeight": (f"{base}/green", "0"),
            f"{s.prefix}TestColour": (f"{base}/test", "green"),
        }
    # the family until Deckwatch's first release of the colour (CreateService takes its latest revision: the
    # stack's own), then the exact revision Deckwatch deployed to it
    for c in COLOURS:
        out[f"{s.prefix}{c.title()}TaskDefinition"] = (f"{base}/{c}-task-definition", f"shop-{{env}}-{s.name}")
    return out


# ------------------------------------------------------------------------------------- intrinsic values ---


class Fn:
    """A CloudFormation intrinsic, emitted in short form (!Ref X, !Sub "...", !If [...])."""

    __slots__ = ("arg", "tag")

    def __init__(self, tag: str, arg: object) -> None:
        self.tag, self.arg = tag, arg

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fn) and (self.tag, self.arg) == (other.tag, other.arg)

    def __hash__(self) -> int:
        return hash((self.tag, repr(self.arg)))

    def __repr__(self) -> str:
        return f"!{self.tag} {self.arg!r}"


def Ref(name: str) -> Fn:  # noqa: N802 - named after the intrinsic
    return Fn("Ref", name)


def Sub(text: str, variables: dict | None = None) -> Fn:  # noqa: N802
    return Fn("Sub", text if variables is None else [text, variables])


def GetAtt(path: str) -> Fn:  # noqa: N802
    return Fn("GetAtt", path)


def If(condition: str, yes: object, no: object) -> Fn:  # noqa: N802
    return Fn("If", [condition, yes, no])


def FindInMap(mapping: str, key: object, attribute: str) -> Fn:  # noqa: N802
    return Fn("FindInMap", [mapping, key, attribute])


def Select(index: int, items: object) -> Fn:  # noqa: N802
    return Fn("Select", [index, items])


def Split(sep: str, text: object) -> Fn:  # noqa: N802
    return Fn("Split", [sep, text])


def Join(sep: str, items: list) -> Fn:  # noqa: N802
    return Fn("Join", [sep, items])


ENV = Ref("Environment")
NO_VALUE = Ref("AWS::NoValue")


def env_map(mapping: str, attribute: str) -> Fn:
    return FindInMap(mapping, ENV, attribute)


def sized(s: Service, attribute: str) -> Fn:
    return FindInMap(f"{s.prefix}Sizing", ENV, attribute)


def shop(suffix: str = "") -> Fn:
    return Sub(f"shop-${{Environment}}{suffix}")


def tags(s: Service | None = None, colour: str | None = None, *extra: tuple[str, object]) -> list[dict]:
    out: list[dict] = [{"Key": "Environment", "Value": ENV}]
    if s is not None:
        out.append({"Key": "deckwatch:service", "Value": s.name})
    if colour is not None:
        out.append({"Key": "deckwatch:colour", "Value": colour})
    out += [{"Key": k, "Value": v} for k, v in extra]
    return out


def statement(action: str | list[str], resource: object, sid: str | None = None, **extra: object) -> dict:
    out: dict = {}
    if sid:
        out["Sid"] = sid
    out |= {"Effect": "Allow", "Action": action, "Resource": resource}
    return out | extra


def role(service_principal: str, statements: list[dict], policy_name: str, s: Service, comment: str = "") -> dict:
    out: dict = {"#": comment} if comment else {}
    out |= {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": service_principal},
                        "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"aws:SourceAccount": Ref("AWS::AccountId")}},
                    }
                ],
            },
            "Policies": [
                {"PolicyName": policy_name, "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}
            ],
            "Tags": tags(s),
        },
    }
    return out


# ----------------------------------------------------------------------------------------------- alarms ---


@dataclass(frozen=True)
class AlarmMetric:
    part: str  # logical-id part
    suffix: str  # name suffix: shop-<env>-<service>-<colour>-<suffix>
    runbook: str | None = None  # deckwatch:runbook tag


def alarm_metrics(s: Service) -> list[AlarmMetric]:
    common = [AlarmMetric("CpuHigh", "cpu-high"), AlarmMetric("MemoryHigh", "memory-high", "notify_only")]
    if s.alb:
        return [*common, AlarmMetric("5xxRate", "5xx-rate"), AlarmMetric("P99Latency", "p99-latency")]
    return [*common, AlarmMetric("ErrorRate", "error-rate"), AlarmMetric("MessageAge", "message-age")]


def alarm_name(s: Service, colour: str | None, suffix: str) -> str:
    return f"shop-{{env}}-{s.name}-{colour}-{suffix}" if colour else f"shop-{{env}}-{s.name}-{suffix}"


def colour_alarm_names(s: Service, colour: str, env: str) -> list[str]:
    return [alarm_name(s, colour, m.suffix).format(env=env) for m in alarm_metrics(s)]


def alarm(
    s: Service, colour: str | None, suffix: str, description: str, body: dict, runbook: str | None = None
) -> dict:
    extra = [("deckwatch:runbook", runbook)] if runbook else []
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": shop(f"-{s.name}-{colour}-{suffix}" if colour else f"-{s.name}-{suffix}"),
            "AlarmDescription": description,
            **body,
            "AlarmActions": [Ref("DeckwatchTopicArn")],
            "OKActions": [Ref("DeckwatchTopicArn")],
            "Tags": [*tags(s, colour), {"Key": "deckwatch:managed", "Value": "true"}]
            + [{"Key": k, "Value": v} for k, v in extra],
        },
    }


def metric_alarm(
    namespace: str,
    metric: str,
    dimensions: list[dict],
    threshold: object,
    statistic: str = "Average",
    comparison: str = "GreaterThanThreshold",
    missing: str = "notBreaching",
    evaluate: tuple = (5, 3),
) -> dict:
    out: dict = {"Namespace": namespace, "MetricName": metric, "Dimensions": dimensions}
    if statistic.startswith("p"):
        out["ExtendedStatistic"] = statistic
    else:
        out["Statistic"] = statistic
    return out | {
        "Period": 60,
        "EvaluationPeriods": evaluate[0],
        "DatapointsToAlarm": evaluate[1],
        "Threshold": threshold,
        "ComparisonOperator": comparison,
        "TreatMissingData": missing,
    }


def stat(metric_id: str, namespace: str, metric: str, dimensions: list[dict], statistic: str = "Sum") -> dict:
    return {
        "Id": metric_id,
        "ReturnData": False,
        "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dimensions},
            "Period": 60,
            "Stat": statistic,
        },
    }


def ecs_dimensions(s: Service, colour: str) -> list[dict]:
    return [
        {"Name": "ClusterName", "Value": Ref("Cluster")},
        {"Name": "ServiceName", "Value": GetAtt(f"{ids(s)[colour.title() + 'Service']}.Name")},
    ]


def colour_alarms(s: Service, colour: str) -> dict:
    i, ct = ids(s), colour.title()
    out: dict = {}
    desc = f"{s.name} {colour}"
    out[i[f"{ct}CpuHighAlarm"]] = alarm(
        s,
        colour,
        "cpu-high",
        f"{desc}: CPU above 80% despite target tracking",
        metric_alarm("AWS/ECS", "CPUUtilization", ecs_dimensions(s, colour), 80, evaluate=(5, 4)),
    )
    out[i[f"{ct}MemoryHighAlarm"]] = alarm(
        s,
        colour,
        "memory-high",
        f"{desc}: memory above 85% (scaling on CPU will not fix a leak)",
        metric_alarm("AWS/ECS", "MemoryUtilization", ecs_dimensions(s, colour), 85, evaluate=(5, 4)),
        runbook="notify_only",
    )
    if s.alb:
        lb, tg = ids(s)["LoadBalancer"], i[f"{ct}TargetGroup"]
        dims = [
            {"Name": "TargetGroup", "Value": GetAtt(f"{tg}.TargetGroupFullName")},
            {"Name": "LoadBalancer", "Value": GetAtt(f"{lb}.LoadBalancerFullName")},
        ]
        out[i[f"{ct}5xxRateAlarm"]] = alarm(
            s,
            colour,
            "5xx-rate",
            f"{desc}: share of its target group's requests answered 5xx above the SLO error rate",
            {
                "Metrics": [
                    {
                        "Id": "rate",
                        "Label": "5xx percent",
                        "Expression": "100 * FILL(errors, 0) / FILL(requests, 1)",
                        "ReturnData": True,
                    },
                    stat("requests", "AWS/ApplicationELB", "RequestCount", dims),
                    stat("errors", "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", dims),
                ],
                "ComparisonOperator": "GreaterThanThreshold",
                "Threshold": FindInMap("Slo", "Targets", "ErrorRatePercent"),
                "EvaluationPeriods": 5,
                "DatapointsToAlarm": 3,
                "TreatMissingData": "notBreaching",
            },
        )
        out[i[f"{ct}P99LatencyAlarm"]] = alarm(
            s,
            colour,
            "p99-latency",
            f"{desc}: p99 target response time above the {SLO['LatencyMs']} ms SLO",
            metric_alarm(
                "AWS/ApplicationELB",
                "TargetResponseTime",
                dims,
                FindInMap("Slo", "Targets", "LatencySeconds"),
                statistic="p99",
            ),
        )
    else:
        dims = [{"Name": "Environment", "Value": ENV}, {"Name": "Colour", "Value": colour}]
        out[i[f"{ct}ErrorRateAlarm"]] = alarm(
            s,
            colour,
            "error-rate",
            f"{desc}: share of messages its tasks failed above the SLO error rate (EMF metrics shop/worker)",
            {
                "Metrics": [
                    {
                        "Id": "rate",
                        "Label": "failed percent",
                        "Expression": "100 * FILL(failed, 0) / (FILL(processed, 0) + FILL(failed, 0) + 0.000001)",
                        "ReturnData": True,
                    },
                    stat("processed", WORKER_METRICS_NAMESPACE, "MessagesProcessed", dims),
                    stat("failed", WORKER_METRICS_NAMESPACE, "MessagesFailed", dims),
                ],
                "ComparisonOperator": "GreaterThanThreshold",
                "Threshold": FindInMap("Slo", "Targets", "ErrorRatePercent"),
                "EvaluationPeriods": 5,
                "DatapointsToAlarm": 3,
                "TreatMissingData": "notBreaching",
            },
        )
        out[i[f"{ct}MessageAgeAlarm"]] = alarm(
            s,
            colour,
            "message-age",
            f"{desc}: p99 age of the messages its tasks finish (sent -> done) above the queue-age SLO",
            metric_alarm(
                WORKER_METRICS_NAMESPACE,
                "MessageAge",
                dims,
                FindInMap("Slo", "Targets", "QueueAgeSeconds"),
                statistic="p99",
            ),
        )
    return out


def queue_alarms(s: Service) -> dict:
    i = ids(s)
    return {
        i["QueueAgeAlarm"]: alarm(
            s,
            None,
            "queue-age",
            "Oldest message in the work queue older than the queue-age SLO: the workers (either colour) fall behind",
            metric_alarm(
                "AWS/SQS",
                "ApproximateAgeOfOldestMessage",
                [{"Name": "QueueName", "Value": GetAtt(f"{i['Queue']}.QueueName")}],
                FindInMap("Slo", "Targets", "QueueAgeSeconds"),
                statistic="Maximum",
            ),
        ),
        i["DeadLetterDepthAlarm"]: alarm(
            s,
            None,
            "dlq-depth",
            "Messages in the dead-letter queue: a message failed 5 times and needs a human",
            metric_alarm(
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                [{"Name": "QueueName", "Value": GetAtt(f"{i['DeadLetterQueue']}.QueueName")}],
                0,
                statistic="Maximum",
                evaluate=(1, 1),
            ),
            runbook="notify_only",
        ),
    }


# ------------------------------------------------------------------------------------------ per service ---

BUILDSPEC = """\
version: 0.2
env:
  shell: bash
  # Read by the pipeline's Cutover action as #{BuildVariables.IMAGE_URI}.
  exported-variables: [IMAGE_URI, IMAGE_TAG]
phases:
  pre_build:
    commands:
      - aws ecr get-login-password | docker login --username AWS --password-stdin "${REPOSITORY_URI%%/*}"
      # Unique per build: tags are immutable, and a commit may be rebuilt.
      - TAG="$(echo "${CODEBUILD_RESOLVED_SOURCE_VERSION:-src}" | cut -c1-12)-${CODEBUILD_BUILD_NUMBER}"
  build:
    commands:
      - |
        if [ "${PIPELINE_STAGE:-build}" = "release" ]; then
          # Release: give the image Deckwatch cut over to an extra immutable tag.
          IMAGE_URI=$(python3 -c 'import json;print(json.load(open("imageDetail.json"))["ImageURI"])')
          IMAGE_TAG="${IMAGE_URI##*:}"
          REPOSITORY="${REPOSITORY_URI#*/}"
          MANIFEST=$(aws ecr batch-get-image --repository-name "$REPOSITORY" --image-ids imageTag="$IMAGE_TAG" \\
            --query 'images[0].imageManifest' --output text)
          aws ecr put-image --repository-name "$REPOSITORY" --image-tag "release-$IMAGE_TAG" \\
            --image-manifest "$MANIFEST"
        else
          docker build --target test -t app-test .
          docker run --rm app-test
          docker build -t "$REPOSITORY_URI:$TAG" .
          docker push "$REPOSITORY_URI:$TAG"
          IMAGE_URI="$REPOSITORY_URI:$TAG"
          IMAGE_TAG="$TAG"
          printf '[{"name":"%s","imageUri":"%s"}]' "$CONTAINER_NAME" "$IMAGE_URI" > imagedefinitions.json
          printf '{"ImageURI":"%s"}' "$IMAGE_URI" > imageDetail.json
        fi
artifacts:
  files: [imagedefinitions.json, imageDetail.json]
"""


RELEASE_VARIABLES = '[{"name":"PIPELINE_STAGE","value":"release","type":"PLAINTEXT"}]'


def cutover_input(s: Service, prod: bool) -> Fn:
    """The Step Functions input the pipeline hands Deckwatch's cutover state machine (README: release flow).
    `prod`: the prod pipeline's Cutover comes after ApproveProd (approvedByPipeline true)."""
    doc = {
        "environment": "${Environment}",
        "service": s.name,
        "image": "#{BuildVariables.IMAGE_URI}",
        "pipeline": "${Pipeline}",
        "pipelineExecutionId": "#{codepipeline.PipelineExecutionId}",
        "commit": "#{SourceVariables.CommitId}",
        "approvedByPipeline": "@APPROVED@",
        "requestedBy": "pipeline:${Pipeline}/Cutover",
    }
    text = json.dumps(doc, separators=(",", ":")).replace('"@APPROVED@"', "${Approved}")
    return Sub(
        text, {"Pipeline": f"shop-{s.name}" if prod else pipeline_name(s), "Approved": "true" if prod else "false"}
    )


def service_resources(s: Service) -> dict:
    i = ids(s)
    res: dict = {}
    svc_sg = i["SecurityGroup"]
    lb, lb_sg = i["LoadBalancer"], i["LoadBalancerSecurityGroup"]

    # --- logs, image, roles, task definition -----------------------------------------------------------
    res[i["LogGroup"]] = {
        "#": f"=== {s.name}: {s.description} ===",
        "Type": "AWS::Logs::LogGroup",
        "Properties": {
            "LogGroupName": Sub(f"/ecs/shop-${{Environment}}/{s.name}"),
            "RetentionInDays": env_map("EnvConfig", "LogRetentionDays"),
            "KmsKeyId": GetAtt("LogKey.Arn"),
            "Tags": tags(s),
        },
    }
    res[i["ImageRepository"]] = {
        "Type": "AWS::ECR::Repository",
        "Properties": {
            "RepositoryName": shop(f"-{s.name}"),
            "ImageTagMutability": "IMMUTABLE",
            "ImageScanningConfiguration": {"ScanOnPush": True},
            "EncryptionConfiguration": {"EncryptionType": "KMS", "KmsKey": GetAtt("DataKey.Arn")},
            "LifecyclePolicy": {
                "LifecyclePolicyText": '{"rules": [{"rulePriority": 1, "description": "keep the last 50 images", '
                '"selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 50}, '
                '"action": {"type": "expire"}}]}'
            },
            "Tags": tags(s),
        },
    }
    task_statements = [
        statement(
            "rds-db:connect",
            Sub(
                f"arn:${{AWS::Partition}}:rds-db:${{AWS::Region}}:${{AWS::AccountId}}:dbuser:"
                f"${{Database.DbiResourceId}}/{s.db_user}"
            ),
            sid="DatabaseIamAuth",
        )
    ]
    for target in s.sends_to:
        q = ids(BY_NAME[target])["Queue"]
        task_statements += [
            statement("sqs:SendMessage", GetAtt(f"{q}.Arn"), sid=f"Enqueue{BY_NAME[target].prefix}"),
            statement(
                ["kms:GenerateDataKey", "kms:Decrypt"], GetAtt("DataKey.Arn"), sid=f"Enqueue{BY_NAME[target].prefix}Key"
            ),
        ]
    if s.kind == QUEUE:
        task_statements += [
            statement(
                ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
                GetAtt(f"{i['Queue']}.Arn"),
                sid="Consume",
            ),
            statement("kms:Decrypt", GetAtt("DataKey.Arn"), sid="ConsumeKey"),
            # The worker reports its colour in its metrics; it learns it from its own task's group
            # ("service:shop-<env>-worker-<colour>").
            statement(
                "ecs:DescribeTasks",
                Sub("arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task/shop-${Environment}/*"),
                sid="OwnColour",
            ),
        ]
    res[i["TaskRole"]] = role(
        "ecs-tasks.amazonaws.com",
        task_statements,
        "task",
        s,
        comment=f"{s.name} tasks: IAM auth to PostgreSQL as {s.db_user} (no database password reaches a task)"
        + (", the work queue" if s.sends_to or s.kind == QUEUE else "")
        + ".",
    )

    environment = [
        {"Name": "APP_ENV", "Value": ENV},
        {"Name": "SERVICE_NAME", "Value": s.name},
    ]
    if s.alb:
        environment.append({"Name": "PORT", "Value": Ref("ContainerPort")})
    environment += [
        {"Name": "DB_HOST", "Value": GetAtt("Database.Endpoint.Address")},
        {"Name": "DB_NAME", "Value": "shop"},
        {"Name": "DB_USER", "Value": s.db_user},
        {"Name": "DB_IAM_AUTH", "Value": "true"},
        {"Name": "DB_POOL_MAX", "Value": sized(s, "DbPoolMax")},
        {"Name": "CACHE_HOST", "Value": GetAtt("Cache.PrimaryEndPoint.Address")},
        {"Name": "CACHE_PORT", "Value": GetAtt("Cache.PrimaryEndPoint.Port")},
        {"Name": "CACHE_TLS", "Value": "true"},
    ]
    for target in s.calls:
        t = BY_NAME[target]
        environment.append({"Name": f"{t.name.upper()}_URL", "Value": Sub(f"https://{t.name}.${{InternalDomainName}}")})
    for target in s.sends_to:
        environment.append({"Name": f"{target.upper()}_QUEUE_URL", "Value": Ref(ids(BY_NAME[target])["Queue"])})
    if s.kind == QUEUE:
        environment += [
            {"Name": "QUEUE_URL", "Value": Ref(i["Queue"])},
            {"Name": "METRICS_NAMESPACE", "Value": WORKER_METRICS_NAMESPACE},
        ]
    container: dict = {
        "Name": s.name,
        "Image": Ref("ContainerImage"),
        "Essential": True,
        "ReadonlyRootFilesystem": True,
    }
    if s.alb:
        container["PortMappings"] = [{"ContainerPort": Ref("ContainerPort"), "Protocol": "tcp"}]
    container |= {
        "Environment": environment,
        "Secrets": [{"Name": "CACHE_AUTH_TOKEN", "ValueFrom": Sub("${CacheAuthSecret}:token::")}],
        "LogConfiguration": {
            "LogDriver": "awslogs",
            "Options": {
                "awslogs-group": Ref(i["LogGroup"]),
                "awslogs-region": Ref("AWS::Region"),
                "awslogs-stream-prefix": s.name,
            },
        },
    }
    res[i["TaskDefinition"]] = {
        "#": "One family for both colours. CloudFormation registers the first revision (ContainerImage); Deckwatch's "
        "cutover registers the next ones outside the stack (copying the live colour's revision with the new image).",
        "Type": "AWS::ECS::TaskDefinition",
        "Properties": {
            "Family": shop(f"-{s.name}"),
            "RequiresCompatibilities": ["FARGATE"],
            "NetworkMode": "awsvpc",
            "Cpu": sized(s, "TaskCpu"),
            "Memory": sized(s, "TaskMemory"),
            "RuntimePlatform": {"OperatingSystemFamily": "LINUX", "CpuArchitecture": "X86_64"},
            "ExecutionRoleArn": GetAtt("TaskExecutionRole.Arn"),
            "TaskRoleArn": GetAtt(f"{i['TaskRole']}.Arn"),
            "ContainerDefinitions": [container],
            "Tags": tags(s),
        },
    }

    # --- network: the service's group and the rules that connect it -----------------------------------
    res[svc_sg] = {
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {
            "GroupName": shop(f"-{s.name}"),
            "GroupDescription": s.group_description
            or f"{s.name} tasks" + (" - traffic only from their load balancer" if s.alb else " - no inbound traffic"),
            "VpcId": Ref("Vpc"),
            "SecurityGroupEgress": [
                {
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                    "CidrIp": "0.0.0.0/0",
                    "Description": "HTTPS to AWS APIs, partners and internal load balancers",
                },
            ],
            "Tags": tags(s),
        },
    }
    if s.alb:
        res[i["TasksFromLoadBalancerIngress"]] = {
            "Type": "AWS::EC2::SecurityGroupIngress",
            "Properties": {
                "GroupId": Ref(svc_sg),
                "IpProtocol": "tcp",
                "FromPort": Ref("ContainerPort"),
                "ToPort": Ref("ContainerPort"),
                "SourceSecurityGroupId": Ref(lb_sg),
                "Description": f"From the {s.name} load balancer only",
            },
        }
        res[i["LoadBalancerToTasksEgress"]] = {
            "Type": "AWS::EC2::SecurityGroupEgress",
            "Properties": {
                "GroupId": Ref(lb_sg),
                "IpProtocol": "tcp",
                "FromPort": Ref("ContainerPort"),
                "ToPort": Ref("ContainerPort"),
                "DestinationSecurityGroupId": Ref(svc_sg),
                "Description": f"Load balancer to {s.name} tasks",
            },
        }
    for part, other, port, what in (
        ("ToDbEgress", "DbSecurityGroup", 5432, "PostgreSQL"),
        ("ToCacheEgress", "CacheSecurityGroup", 6379, "the cache (TLS)"),
    ):
        res[i[part]] = {
            "Type": "AWS::EC2::SecurityGroupEgress",
            "Properties": {
                "GroupId": Ref(svc_sg),
                "IpProtocol": "tcp",
                "FromPort": port,
                "ToPort": port,
                "DestinationSecurityGroupId": Ref(other),
                "Description": f"{s.name} tasks to {what}",
            },
        }
    for part, group, port in (
        ("DbIngress", "DbSecurityGroup", 5432),
        ("CacheIngress", "CacheSecurityGroup", 6379),
        ("EndpointIngress", "EndpointSecurityGroup", 443),
    ):
        res[i[part]] = {
            "Type": "AWS::EC2::SecurityGroupIngress",
            "Properties": {
                "GroupId": Ref(group),
                "IpProtocol": "tcp",
                "FromPort": port,
                "ToPort": port,
                "SourceSecurityGroupId": Ref(svc_sg),
                "Description": f"From {s.name} tasks",
            },
        }

    # --- internal load balancer ------------------------------------------------------------------------
    if s.kind == INTERNAL:
        res[lb_sg] = {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupName": shop(f"-{s.name}-alb"),
                "GroupDescription": f"Internal {s.name} ALB - HTTPS from its callers, test listener from the test "
                "network",
                "VpcId": Ref("Vpc"),
                "SecurityGroupIngress": [
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 8443,
                        "ToPort": 8443,
                        "CidrIp": Ref("TestListenerCidr"),
                        "Description": "Test listener for pre-traffic checks",
                    },
                ],
                "SecurityGroupEgress": [
                    {
                        "IpProtocol": "-1",
                        "CidrIp": "127.0.0.1/32",
                        "Description": "Placeholder - real egress is the rule to the tasks",
                    },
                ],
                "Tags": tags(s),
            },
        }
        for caller in callers(s):
            res[i[f"From{caller.prefix}Ingress"]] = {
                "Type": "AWS::EC2::SecurityGroupIngress",
                "Properties": {
                    "GroupId": Ref(lb_sg),
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                    "SourceSecurityGroupId": Ref(ids(caller)["SecurityGroup"]),
                    "Description": f"From {caller.name} tasks",
                },
            }
        res[lb] = {
            "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
            "DependsOn": ["AccessLogsBucketPolicy"],
            "Properties": {
                "Name": shop(f"-{s.name}"),
                "Type": "application",
                "Scheme": "internal",
                "Subnets": [Ref("PrivateSubnet1"), Ref("PrivateSubnet2"), Ref("PrivateSubnet3")],
                "SecurityGroups": [Ref(lb_sg)],
                "LoadBalancerAttributes": [
                    {"Key": "access_logs.s3.enabled", "Value": "true"},
                    {"Key": "access_logs.s3.bucket", "Value": Ref("AccessLogsBucket")},
                    {"Key": "access_logs.s3.prefix", "Value": f"alb-{s.name}"},
                    {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"},
                    {"Key": "routing.http.desync_mitigation_mode", "Value": "defensive"},
                    {"Key": "deletion_protection.enabled", "Value": If("IsDev", "false", "true")},
                ],
                "Tags": tags(s),
            },
        }
        res[i["DnsRecord"]] = {
            "#": f"{s.name}.<InternalDomainName> in the VPC's private zone; the certificate must cover it.",
            "Type": "AWS::Route53::RecordSet",
            "Properties": {
                "HostedZoneId": Ref("InternalZone"),
                "Name": Sub(f"{s.name}.${{InternalDomainName}}"),
                "Type": "A",
                "AliasTarget": {
                    "DNSName": GetAtt(f"{lb}.DNSName"),
                    "HostedZoneId": GetAtt(f"{lb}.CanonicalHostedZoneID"),
                },
            },
        }

    # --- target groups and listeners (weights from SSM) ------------------------------------------------
    if s.alb:
        for c in COLOURS:
            res[i[f"{c.title()}TargetGroup"]] = {
                "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
                "Properties": {
                    "Name": shop(f"-{s.name}-{c}"),
                    "VpcId": Ref("Vpc"),
                    "TargetType": "ip",
                    "Protocol": "HTTP",
                    "Port": Ref("ContainerPort"),
                    "HealthCheckPath": Ref("HealthCheckPath"),
                    "HealthCheckIntervalSeconds": 15,
                    "HealthyThresholdCount": 2,
                    "UnhealthyThresholdCount": 3,
                    "Matcher": {"HttpCode": "200"},
                    # Short drain so a Deckwatch rollback takes effect within a minute.
                    "TargetGroupAttributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}],
                    "Tags": tags(s, c),
                },
            }
        p = s.prefix
        res[i["ProductionListener"]] = {
            "#": f"Forward weights come from SSM (/deckwatch/<env>/traffic/{s.name}/blue|green, parameters "
            f"{p}BlueWeight/{p}GreenWeight), which Deckwatch writes on every shift: a stack update re-resolves them "
            "and leaves traffic where Deckwatch put it.",
            "Type": "AWS::ElasticLoadBalancingV2::Listener",
            "Properties": {
                "LoadBalancerArn": Ref(lb),
                "Port": 443,
                "Protocol": "HTTPS",
                "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
                "Certificates": [{"CertificateArn": Ref("CertificateArn")}],
                "DefaultActions": [
                    {
                        "Type": "forward",
                        "ForwardConfig": {
                            "TargetGroups": [
                                {"TargetGroupArn": Ref(i["BlueTargetGroup"]), "Weight": Ref(f"{p}BlueWeight")},
                                {"TargetGroupArn": Ref(i["GreenTargetGroup"]), "Weight": Ref(f"{p}GreenWeight")},
                            ],
                            # No stickiness: a canary step must move the stated share of requests.
                            "TargetGroupStickinessConfig": {"Enabled": False},
                        },
                    }
                ],
                "Tags": tags(s),
            },
        }
        res[i["TestListener"]] = {
            "#": f"Pre-traffic checks: all of it to the colour named by /deckwatch/<env>/traffic/{s.name}/test "
            f"({p}TestColour, blue|green -> 100/0 weights through the TestListenerWeights mapping).",
            "Type": "AWS::ElasticLoadBalancingV2::Listener",
            "Properties": {
                "LoadBalancerArn": Ref(lb),
                "Port": 8443,
                "Protocol": "HTTPS",
                "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
                "Certificates": [{"CertificateArn": Ref("CertificateArn")}],
                "DefaultActions": [
                    {
                        "Type": "forward",
                        "ForwardConfig": {
                            "TargetGroups": [
                                {
                                    "TargetGroupArn": Ref(i["BlueTargetGroup"]),
                                    "Weight": FindInMap("TestListenerWeights", Ref(f"{p}TestColour"), "Blue"),
                                },
                                {
                                    "TargetGroupArn": Ref(i["GreenTargetGroup"]),
                                    "Weight": FindInMap("TestListenerWeights", Ref(f"{p}TestColour"), "Green"),
                                },
                            ],
                            "TargetGroupStickinessConfig": {"Enabled": False},
                        },
                    }
                ],
                "Tags": tags(s),
            },
        }

    # --- queue --------------------------------------------------------------------------------------------
    if s.kind == QUEUE:
        res[i["DeadLetterQueue"]] = {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": shop(f"-{s.name}-dlq"),
                "MessageRetentionPeriod": 1209600,  # 14 days to investigate
                "KmsMasterKeyId": GetAtt("DataKey.Arn"),
                "KmsDataKeyReusePeriodSeconds": 300,
                "Tags": tags(s),
            },
        }
        res[i["Queue"]] = {
            "#": "Both colours consume this one queue: a worker canary is a share of the consuming tasks.",
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": shop(f"-{s.name}"),
                "VisibilityTimeout": 120,
                "MessageRetentionPeriod": 345600,
                "ReceiveMessageWaitTimeSeconds": 20,
                "KmsMasterKeyId": GetAtt("DataKey.Arn"),
                "KmsDataKeyReusePeriodSeconds": 300,
                "RedrivePolicy": {"deadLetterTargetArn": GetAtt(f"{i['DeadLetterQueue']}.Arn"), "maxReceiveCount": 5},
                "Tags": tags(s),
            },
        }
        res[i["QueuePolicy"]] = {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [Ref(i["Queue"]), Ref(i["DeadLetterQueue"])],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "sqs:*",
                            "Resource": [GetAtt(f"{i['Queue']}.Arn"), GetAtt(f"{i['DeadLetterQueue']}.Arn")],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                },
            },
        }

    # --- the two colours --------------------------------------------------------------------------------
    for c in COLOURS:
        ct = c.title()
        props: dict = {
            "ServiceName": shop(f"-{s.name}-{c}"),
            "Cluster": Ref("Cluster"),
            # what Deckwatch last deployed to this colour (SSM, like the weights): a stack update re-sends it, never
            # the stack's own revision, which would roll the colour back to ContainerImage
            "TaskDefinition": Ref(f"{s.prefix}{ct}TaskDefinition"),
            "CapacityProviderStrategy": If(
                "IsDev",
                [{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}],
                [{"CapacityProvider": "FARGATE", "Weight": 1}],
            ),
            "DeploymentController": {"Type": "ECS"},
            "DeploymentConfiguration": {
                "MinimumHealthyPercent": 100,
                "MaximumPercent": 200,
                "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
            },
        }
        if s.alb:
            props["HealthCheckGracePeriodSeconds"] = 60
        props["NetworkConfiguration"] = {
            "AwsvpcConfiguration": {
                "AssignPublicIp": "DISABLED",
                "Subnets": [Ref("PrivateSubnet1"), Ref("PrivateSubnet2"), Ref("PrivateSubnet3")],
                "SecurityGroups": [Ref(svc_sg)],
            }
        }
        if s.alb:
            props["LoadBalancers"] = [
                {
                    "ContainerName": s.name,
                    "ContainerPort": Ref("ContainerPort"),
                    "TargetGroupArn": Ref(i[f"{ct}TargetGroup"]),
                }
            ]
        props |= {"EnableECSManagedTags": True, "PropagateTags": "SERVICE", "Tags": tags(s, c)}
        service: dict = {}
        if c == "blue":
            service["#"] = (
                'No DesiredCount, on purpose: "For existing services, if a desired count is not specified, it is '
                'omitted from the operation" (AWS::ECS::Service DesiredCount, https://docs.aws.amazon.com/'
                "AWSCloudFormation/latest/UserGuide/aws-resource-ecs-service.html#cfn-ecs-service-desiredcount). "
                "A stack update never changes how many tasks a colour runs; Deckwatch and autoscaling own that. "
                "A new service starts with 1 task."
            )
        service["Type"] = "AWS::ECS::Service"
        # the family's first revision exists before the service is created from its name
        service["DependsOn"] = [i["TaskDefinition"]]
        if s.alb:
            service["DependsOn"] += [i["ProductionListener"], i["TestListener"]]
        service["Properties"] = props
        res[i[f"{ct}Service"]] = service

    # --- scaling: MinCapacity 0, metrics that cannot scale a colour with no tasks ------------------------
    for c in COLOURS:
        ct = c.title()
        target: dict = {}
        if c == "blue":
            target["#"] = (
                "MinCapacity 0 on both colours, so registering or updating a scalable target never raises a colour "
                "Deckwatch scaled to zero; and every policy below measures the colour's own tasks (CPU, requests per "
                "target, queue backlog only while the colour has tasks), so a colour at zero produces no signal to "
                "scale out on. The live colour's floor (<Service>MinTasks output) is Deckwatch's to keep."
            )
        target |= {
            "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
            "DependsOn": i[f"{ct}Service"],
            "Properties": {
                "ServiceNamespace": "ecs",
                "ScalableDimension": "ecs:service:DesiredCount",
                "ResourceId": Sub(f"service/shop-${{Environment}}/shop-${{Environment}}-{s.name}-{c}"),
                "MinCapacity": 0,
                "MaxCapacity": sized(s, "MaxTasks"),
                "Tags": tags(s, c),
            },
        }
        res[i[f"{ct}ScalableTarget"]] = target
        res[i[f"{ct}CpuScaling"]] = {
            "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
            "Properties": {
                "PolicyName": shop(f"-{s.name}-{c}-cpu"),
                "PolicyType": "TargetTrackingScaling",
                "ScalingTargetId": Ref(i[f"{ct}ScalableTarget"]),
                "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": 60,
                    "ScaleInCooldown": 300,
                    "ScaleOutCooldown": 60,
                    "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
                },
            },
        }
        if s.alb:
            res[i[f"{ct}RequestScaling"]] = {
                "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
                "Properties": {
                    "PolicyName": shop(f"-{s.name}-{c}-requests"),
                    "PolicyType": "TargetTrackingScaling",
                    "ScalingTargetId": Ref(i[f"{ct}ScalableTarget"]),
                    "TargetTrackingScalingPolicyConfiguration": {
                        "TargetValue": sized(s, "ScalingTarget"),
                        "ScaleInCooldown": 300,
                        "ScaleOutCooldown": 60,
                        "PredefinedMetricSpecification": {
                            "PredefinedMetricType": "ALBRequestCountPerTarget",
                            "ResourceLabel": Sub(
                                f"${{{lb}.LoadBalancerFullName}}/${{{i[ct + 'TargetGroup']}.TargetGroupFullName}}"
                            ),
                        },
                    },
                },
            }
        else:
            other = "Green" if ct == "Blue" else "Blue"
            task_dims = lambda colour: [  # noqa: E731
                {"Name": "ClusterName", "Value": shop()},
                {"Name": "ServiceName", "Value": shop(f"-{s.name}-{colour}")},
            ]
            res[i[f"{ct}BacklogScaling"]] = {
                "#": "Backlog per task of the whole service (both colours share the queue), so both colours scale by "
                "the same factor and a canary keeps its share; 0 while this colour has no tasks.",
                "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
                "Properties": {
                    "PolicyName": shop(f"-{s.name}-{c}-backlog"),
                    "PolicyType": "TargetTrackingScaling",
                    "ScalingTargetId": Ref(i[f"{ct}ScalableTarget"]),
                    "TargetTrackingScalingPolicyConfiguration": {
                        "TargetValue": sized(s, "ScalingTarget"),
                        "ScaleInCooldown": 300,
                        "ScaleOutCooldown": 60,
                        "CustomizedMetricSpecification": {
                            "Metrics": [
                                {
                                    "Id": "visible",
                                    "ReturnData": False,
                                    "MetricStat": {
                                        "Metric": {
                                            "Namespace": "AWS/SQS",
                                            "MetricName": "ApproximateNumberOfMessagesVisible",
                                            "Dimensions": [
                                                {"Name": "QueueName", "Value": GetAtt(f"{i['Queue']}.QueueName")}
                                            ],
                                        },
                                        "Stat": "Sum",
                                    },
                                },
                                {
                                    "Id": "mine",
                                    "ReturnData": False,
                                    "MetricStat": {
                                        "Metric": {
                                            "Namespace": "ECS/ContainerInsights",
                                            "MetricName": "RunningTaskCount",
                                            "Dimensions": task_dims(c),
                                        },
                                        "Stat": "Average",
                                    },
                                },
                                {
                                    "Id": "other",
                                    "ReturnData": False,
                                    "MetricStat": {
                                        "Metric": {
                                            "Namespace": "ECS/ContainerInsights",
                                            "MetricName": "RunningTaskCount",
                                            "Dimensions": task_dims(other.lower()),
                                        },
                                        "Stat": "Average",
                                    },
                                },
                                {
                                    "Id": "backlog_per_task",
                                    "Label": "messages visible per running task (both colours)",
                                    "Expression": (
                                        "IF(FILL(mine, 0) > 0, visible / (FILL(mine, 0) + FILL(other, 0)), 0)"
                                    ),
                                    "ReturnData": True,
                                },
                            ]
                        },
                    },
                },
            }

    # --- alarms -----------------------------------------------------------------------------------------
    for c in COLOURS:
        res |= colour_alarms(s, c)
    if s.kind == QUEUE:
        res |= queue_alarms(s)

    # --- build and pipeline -----------------------------------------------------------------------------
    res[i["BuildLogGroup"]] = {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {
            "LogGroupName": Sub(f"/aws/codebuild/shop-${{Environment}}-{s.name}"),
            "RetentionInDays": env_map("EnvConfig", "LogRetentionDays"),
            "KmsKeyId": GetAtt("LogKey.Arn"),
            "Tags": tags(s),
        },
    }
    res[i["BuildRole"]] = role(
        "codebuild.amazonaws.com",
        [
            statement(["logs:CreateLogStream", "logs:PutLogEvents"], GetAtt(f"{i['BuildLogGroup']}.Arn")),
            {"#": "GetAuthorizationToken has no resource-level form.", **statement("ecr:GetAuthorizationToken", "*")},
            statement(
                [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:InitiateLayerUpload",
                    "ecr:UploadLayerPart",
                    "ecr:CompleteLayerUpload",
                    "ecr:PutImage",
                    "ecr:DescribeImages",
                ],
                GetAtt(f"{i['ImageRepository']}.Arn"),
            ),
            statement(["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"], Sub("${ArtifactBucket.Arn}/*")),
            statement(
                ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"],
                [GetAtt("ArtifactKey.Arn"), GetAtt("DataKey.Arn")],
            ),
        ],
        "build-image",
        s,
    )
    res[i["BuildProject"]] = {
        "#": "PrivilegedMode lets CodeBuild run Docker to build and test the image. Acceptable because the project "
        "only "
        "runs the inline buildspec below from this pipeline - never pull-request builds or third-party code.",
        "Type": "AWS::CodeBuild::Project",
        "Properties": {
            "Name": shop(f"-{s.name}"),
            "Description": f"Builds, tests and pushes the {s.name} image; also tags released images",
            "ServiceRole": GetAtt(f"{i['BuildRole']}.Arn"),
            "EncryptionKey": GetAtt("ArtifactKey.Arn"),
            "TimeoutInMinutes": 30,
            "Source": {"Type": "CODEPIPELINE", "BuildSpec": BUILDSPEC},
            "Artifacts": {"Type": "CODEPIPELINE"},
            "Environment": {
                "Type": "LINUX_CONTAINER",
                "ComputeType": "BUILD_GENERAL1_MEDIUM",
                "Image": "aws/codebuild/amazonlinux2-x86_64-standard:5.0",
                "PrivilegedMode": True,
                "EnvironmentVariables": [
                    {"Name": "REPOSITORY_URI", "Value": GetAtt(f"{i['ImageRepository']}.RepositoryUri")},
                    {"Name": "CONTAINER_NAME", "Value": s.name},
                ],
            },
            "LogsConfig": {"CloudWatchLogs": {"Status": "ENABLED", "GroupName": Ref(i["BuildLogGroup"])}},
            "Tags": tags(s),
        },
    }
    sm = Ref("DeckwatchCutoverStateMachineArn")
    res[i["PipelineRole"]] = role(
        "codepipeline.amazonaws.com",
        [
            statement(
                ["codestar-connections:UseConnection", "codeconnections:UseConnection"], Ref("CodeStarConnectionArn")
            ),
            statement(["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"], Sub("${ArtifactBucket.Arn}/*")),
            statement(["s3:GetBucketVersioning", "s3:GetBucketLocation"], GetAtt("ArtifactBucket.Arn")),
            statement(
                ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"], GetAtt("ArtifactKey.Arn")
            ),
            statement(["codebuild:StartBuild", "codebuild:BatchGetBuilds"], GetAtt(f"{i['BuildProject']}.Arn")),
            {
                "#": "The Cutover action starts Deckwatch's cutover state machine and waits for the execution.",
                **statement("states:StartExecution", sm, sid="StartCutover"),
            },
            statement(
                ["states:DescribeExecution", "states:StopExecution"],
                Sub(
                    f"arn:${{AWS::Partition}}:states:${{Region}}:${{Account}}:execution:${{Machine}}:shop-${{Environment}}-{s.name}-*",
                    {
                        "Region": Select(3, Split(":", sm)),
                        "Account": Select(4, Split(":", sm)),
                        "Machine": Select(6, Split(":", sm)),
                    },
                ),
                sid="WatchCutover",
            ),
            statement("sns:Publish", Ref("DeckwatchTopicArn"), sid="ApprovalNotifications"),
        ],
        "pipeline",
        s,
    )
    approval_stage = {
        "Name": "Approval",
        "Actions": [
            {
                "Name": "ApproveProd",
                "ActionTypeId": {"Category": "Approval", "Owner": "AWS", "Provider": "Manual", "Version": "1"},
                "Configuration": {
                    "NotificationArn": Ref("DeckwatchTopicArn"),
                    "CustomData": Sub(
                        f"Approve #{{BuildVariables.IMAGE_URI}} for {s.name} in shop-${{Environment}}: "
                        "in prod the Cutover "
                        "action then has Deckwatch shift traffic to it; elsewhere it gets the release- tag."
                    ),
                },
            }
        ],
    }

    def cutover_stage(prod: bool) -> dict:
        return {
            "Name": "Cutover",
            "Actions": [
                {
                    "Name": "Cutover",
                    "ActionTypeId": {"Category": "Invoke", "Owner": "AWS", "Provider": "StepFunctions", "Version": "1"},
                    "Configuration": {
                        "StateMachineArn": sm,
                        "ExecutionNamePrefix": shop(f"-{s.name}"),
                        "InputType": "Literal",
                        "Input": cutover_input(s, prod),
                    },
                    "InputArtifacts": [{"Name": "Image"}],
                }
            ],
        }

    res[i["Pipeline"]] = {
        "#": "Source -> BuildImage -> (prod: ApproveProd ->) Cutover -> (else: ApproveProd ->) ReleaseImage. The "
        "pipeline never deploys to a colour: Cutover hands the image to Deckwatch's cutover state machine and "
        "fails when the cutover fails or rolls back. BuildImage (dev, staging) and ApproveProd (prod) keep the "
        "names the Deckwatch policies trigger on.",
        "Type": "AWS::CodePipeline::Pipeline",
        "Properties": {
            "Name": pipeline_name(s),
            "PipelineType": "V2",
            "ExecutionMode": "QUEUED",
            "RoleArn": GetAtt(f"{i['PipelineRole']}.Arn"),
            "ArtifactStore": {
                "Type": "S3",
                "Location": Ref("ArtifactBucket"),
                "EncryptionKey": {"Id": GetAtt("ArtifactKey.Arn"), "Type": "KMS"},
            },
            "Stages": [
                {
                    "Name": "Source",
                    "Actions": [
                        {
                            "Name": "Source",
                            "Namespace": "SourceVariables",
                            "ActionTypeId": {
                                "Category": "Source",
                                "Owner": "AWS",
                                "Provider": "CodeStarSourceConnection",
                                "Version": "1",
                            },
                            "Configuration": {
                                "ConnectionArn": Ref("CodeStarConnectionArn"),
                                "FullRepositoryId": Ref(s.source_parameter),
                                "BranchName": Ref("SourceBranch"),
                                "OutputArtifactFormat": "CODE_ZIP",
                            },
                            "OutputArtifacts": [{"Name": "Source"}],
                        }
                    ],
                },
                {
                    "Name": "Build",
                    "Actions": [
                        {
                            "Name": "BuildImage",
                            "Namespace": "BuildVariables",
                            "ActionTypeId": {
                                "Category": "Build",
                                "Owner": "AWS",
                                "Provider": "CodeBuild",
                                "Version": "1",
                            },
                            "Configuration": {"ProjectName": Ref(i["BuildProject"])},
                            "InputArtifacts": [{"Name": "Source"}],
                            "OutputArtifacts": [{"Name": "Image"}],
                        }
                    ],
                },
                If("IsProd", approval_stage, cutover_stage(prod=False)),
                If("IsProd", cutover_stage(prod=True), approval_stage),
                {
                    "Name": "Release",
                    "Actions": [
                        {
                            "Name": "ReleaseImage",
                            "ActionTypeId": {
                                "Category": "Build",
                                "Owner": "AWS",
                                "Provider": "CodeBuild",
                                "Version": "1",
                            },
                            "Configuration": {
                                "ProjectName": Ref(i["BuildProject"]),
                                "EnvironmentVariables": RELEASE_VARIABLES,
                            },
                            "InputArtifacts": [{"Name": "Image"}],
                        }
                    ],
                },
            ],
            "Tags": tags(s),
        },
    }
    return res


def dashboard() -> dict:
    """One dashboard for the stack: per service traffic/latency per colour, tasks, plus the database."""
    widgets: list[str] = []
    variables: dict = {}
    y = 0
    for s in SERVICES:
        i = ids(s)
        n = s.prefix
        if s.alb:
            variables[f"{n}Lb"] = GetAtt(f"{i['LoadBalancer']}.LoadBalancerFullName")
            for c in COLOURS:
                variables[f"{n}{c.title()}Tg"] = GetAtt(f"{i[c.title() + 'TargetGroup']}.TargetGroupFullName")
            widgets.append(
                f'{{"type": "metric", "x": 0, "y": {y}, "width": 12, "height": 6, "properties": {{"title": "{s.name}: '
                f'requests per colour", "region": "${{AWS::Region}}", "stat": "Sum", "period": 60, "metrics": ['
                f'["AWS/ApplicationELB", "RequestCount", "TargetGroup", "${{{n}BlueTg}}", '
                f'"LoadBalancer", "${{{n}Lb}}", '
                f'{{"label": "blue"}}], ["...", "${{{n}GreenTg}}", ".", ".", {{"label": "green"}}]]}}}}'
            )
            widgets.append(
                f'{{"type": "metric", "x": 12, "y": {y}, "width": 12, "height": 6, "properties": {{"title": "{s.name}: '
                f'p99 latency per colour (SLO {SLO["LatencyMs"]} ms)", "region": "${{AWS::Region}}", '
                f'"stat": "p99", "period": 60, '
                f'"metrics": [["AWS/ApplicationELB", "TargetResponseTime", "TargetGroup", "${{{n}BlueTg}}", '
                f'"LoadBalancer", "${{{n}Lb}}", {{"label": "blue"}}], ["...", "${{{n}GreenTg}}", ".", ".", '
                f'{{"label": "green"}}]]}}}}'
            )
        else:
            variables[f"{n}Queue"] = GetAtt(f"{i['Queue']}.QueueName")
            widgets.append(
                f'{{"type": "metric", "x": 0, "y": {y}, "width": 12, "height": 6, "properties": {{"title": "{s.name}: '
                f'queue", "region": "${{AWS::Region}}", "stat": "Maximum", "period": 60, "metrics": [["AWS/SQS", '
                f'"ApproximateNumberOfMessagesVisible", "QueueName", "${{{n}Queue}}"], [".", '
                f'"ApproximateAgeOfOldestMessage", ".", ".", {{"yAxis": "right"}}]]}}}}'
            )
            widgets.append(
                f'{{"type": "metric", "x": 12, "y": {y}, "width": 12, "height": 6, "properties": {{"title": "{s.name}: '
                f'failed messages per colour", "region": "${{AWS::Region}}", "stat": "Sum", "period": 60, "metrics": ['
                f'["shop/worker", "MessagesFailed", "Environment", "${{Environment}}", "Colour", "blue"], ["...", '
                f'"green"]]}}}}'
            )
        y += 6
    services = [f"shop-${{Environment}}-{s.name}-{c}" for s in SERVICES for c in COLOURS]
    cpu = ", ".join(
        f'["AWS/ECS", "CPUUtilization", "ClusterName", "shop-${{Environment}}", "ServiceName", "{n}"]' for n in services
    )
    widgets.append(
        f'{{"type": "metric", "x": 0, "y": {y}, "width": 12, "height": 6, "properties": {{"title": "ECS CPU per '
        f'service and colour", "region": "${{AWS::Region}}", "stat": "Average", "period": 60, "metrics": [{cpu}]}}}}'
    )
    widgets.append(
        f'{{"type": "metric", "x": 12, "y": {y}, "width": 12, "height": 6, "properties": {{"title": "Database and '
        f'cache", "region": "${{AWS::Region}}", "stat": "Average", "period": 300, "metrics": [["AWS/RDS", '
        f'"DatabaseConnections", "DBInstanceIdentifier", "shop-${{Environment}}-db"], [".", "CPUUtilization", ".", '
        f'"."], ["AWS/ElastiCache", "EngineCPUUtilization", "ReplicationGroupId", "shop-${{Environment}}-cache"]]}}}}'
    )
    body = '{"widgets": [\n  ' + ",\n  ".join(widgets) + "\n]}\n"
    return {
        "Dashboard": {
            "#": "=== stack dashboard (all services) ===",
            "Type": "AWS::CloudWatch::Dashboard",
            "Properties": {"DashboardName": shop(), "DashboardBody": Sub(body, variables), "Tags": tags()},
        }
    }


def parameters() -> dict:
    out: dict = {}
    for s in SERVICES:
        out[s.source_parameter] = {
            "Type": "String",
            "Default": s.source_default,
            "Description": f"Full repository id (owner/name) of the {s.name} service source.",
        }
    for s in SERVICES:
        for param, (path, value) in traffic_parameters(s).items():
            colour = param.removeprefix(s.prefix).removesuffix("Weight").removesuffix("TaskDefinition").lower()
            if param.endswith("TestColour"):
                what, when = f"colour (blue|green) the {s.name} test listener (8443) forwards to", "on every shift"
            elif param.endswith("TaskDefinition"):
                what = f"task definition (family:revision or ARN) {s.name} {colour} runs"
                when = "before every deployment to the colour"
            else:
                what, when = f"integer weight (0-100) of {s.name} {colour} on the production listener", "on every shift"
            out[param] = {
                "Type": "AWS::SSM::Parameter::Value<String>",
                "Description": f"Name of the SSM parameter {path.format(env='<env>')} holding the {what}. Deckwatch "
                f"writes it {when}; bootstrap value {value.format(env='<env>')} (workload/bootstrap.sh).",
            }
    return out


def mappings() -> dict:
    out: dict = {
        "Slo": {"Targets": {k: SLO[k] for k in ("LatencyMs", "LatencySeconds", "ErrorRatePercent", "QueueAgeSeconds")}},
        "TestListenerWeights": {"blue": {"Blue": 100, "Green": 0}, "green": {"Blue": 0, "Green": 100}},
    }
    for s in SERVICES:
        out[f"{s.prefix}Sizing"] = {
            env: {
                "TaskCpu": z.cpu,
                "TaskMemory": z.memory,
                "MinTasks": z.min_tasks,
                "MaxTasks": z.max_tasks,
                "ScalingTarget": z.scaling_target,
                "DbPoolMax": str(z.db_pool),
            }
            for env, z in s.sizes.items()
        }
    return out


def resources() -> dict:
    out: dict = {}
    for s in SERVICES:
        out |= service_resources(s)
    return out | dashboard()


def outputs() -> dict:
    out: dict = {}
    for s in SERVICES:
        i, p = ids(s), s.prefix
        o: dict = {}
        for c in COLOURS:
            ct = c.title()
            o[f"{p}{ct}ServiceName"] = {
                "Description": f"Deckwatch policy services[{s.name}].ecs.services.{c}",
                "Value": GetAtt(f"{i[ct + 'Service']}.Name"),
            }
            o[f"{p}{ct}ServiceArn"] = {"Value": Ref(i[f"{ct}Service"])}
        if s.alb:
            o[f"{p}LoadBalancerName"] = {
                "Description": f"Deckwatch policy services[{s.name}].alb.load_balancer",
                "Value": GetAtt(f"{i['LoadBalancer']}.LoadBalancerName"),
            }
            o[f"{p}LoadBalancerArn"] = {"Value": Ref(i["LoadBalancer"])}
            o[f"{p}ProductionListenerArn"] = {
                "Description": "443 listener whose forward weights Deckwatch shifts (and mirrors to SSM)",
                "Value": Ref(i["ProductionListener"]),
            }
            o[f"{p}TestListenerArn"] = {
                "Description": "8443 listener Deckwatch points at the colour under test",
                "Value": Ref(i["TestListener"]),
            }
            for c in COLOURS:
                ct = c.title()
                o[f"{p}{ct}TargetGroupArn"] = {
                    "Description": f"Deckwatch policy services[{s.name}].alb.target_groups.{c} "
                    f"(name shop-<env>-{s.name}-{c})",
                    "Value": Ref(i[f"{ct}TargetGroup"]),
                }
            o[f"{p}TrafficParameterPrefix"] = {
                "Description": "SSM parameters blue, green (weights) and test (colour) below this prefix",
                "Value": Sub(f"/deckwatch/${{Environment}}/traffic/{s.name}/"),
            }
        if s.kind == QUEUE:
            o[f"{p}QueueUrl"] = {"Description": "Work queue both colours consume", "Value": Ref(i["Queue"])}
            o[f"{p}QueueArn"] = {"Value": GetAtt(f"{i['Queue']}.Arn")}
            o[f"{p}QueueName"] = {"Value": GetAtt(f"{i['Queue']}.QueueName")}
            o[f"{p}DeadLetterQueueUrl"] = {"Value": Ref(i["DeadLetterQueue"])}
            o[f"{p}MetricsNamespace"] = {
                "Description": f"Deckwatch policy services[{s.name}].queue.metrics_namespace: the worker's EMF metrics "
                "(MessagesProcessed, MessagesFailed, MessageAge by Environment and Colour)",
                "Value": WORKER_METRICS_NAMESPACE,
            }
        for c in COLOURS:
            o[f"{p}{c.title()}Alarms"] = {
                "Description": f"Alarms of the {c} colour (comma-separated): canary signals when {c} is the new colour",
                "Value": Join(",", [Ref(i[f"{c.title()}{m.part}Alarm"]) for m in alarm_metrics(s)]),
            }
        if s.kind == QUEUE:
            o[f"{p}ServiceAlarms"] = {
                "Description": "Alarms of the service as a whole (queue age, dead letters)",
                "Value": Join(",", [Ref(i["QueueAgeAlarm"]), Ref(i["DeadLetterDepthAlarm"])]),
            }
        o[f"{p}PipelineName"] = {
            "Description": f"Deckwatch policy services[{s.name}].triggers[].pipeline; "
            "actions BuildImage, ApproveProd, Cutover",
            "Value": Ref(i["Pipeline"]),
        }
        o[f"{p}ImageRepositoryUri"] = {"Value": GetAtt(f"{i['ImageRepository']}.RepositoryUri")}
        o[f"{p}ContainerName"] = {"Description": "Container whose image a cutover replaces", "Value": s.name}
        o[f"{p}MinTasks"] = {
            "Description": "Floor Deckwatch keeps on the live colour (the scalable targets' MinCapacity is 0)",
            "Value": sized(s, "MinTasks"),
        }
        o[f"{p}MaxTasks"] = {"Description": "MaxCapacity of each colour", "Value": sized(s, "MaxTasks")}
        out |= o
    slo = {  # the alarms' thresholds, for the control plane's canary analysis (deckwatch policy init)
        "SloLatencySeconds": "p99 response time target: canary analysis latency_p99 max",
        "SloErrorRatePercent": "error rate target (percent): canary analysis error_rate max",
        "SloQueueAgeSeconds": "queue age target: a worker canary's message-age limit",
    }
    for key, text in slo.items():
        out[key] = {"Description": text, "Value": FindInMap("Slo", "Targets", key.removeprefix("Slo"))}
    return out


SECTIONS = {"parameters": parameters, "mappings": mappings, "resources": resources, "outputs": outputs}


# ---------------------------------------------------------------------------------------------- emitter ---

_RESERVED = re.compile(
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|null|Null|NULL|~"
    r"|[-+]?(?:\d[\d_]*)?\.?\d[\d_]*(?:[eE][-+]?\d+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|0x[0-9a-fA-F]+|0o?[0-7]+"
    r"|\d{4}-\d\d?-\d\d?.*|[-+]?\d[\d_]*(?::[0-5]?\d)+(?:\.\d*)?)$"
)
_PLAIN = re.compile(r"^[A-Za-z0-9_/.(][A-Za-z0-9 _/.:()+=$*<>@-]*$")


def scalar(v: object) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    s = str(v)
    single = '"' in s and "'" not in s and "\\" not in s and "\n" not in s
    plain = (
        s
        and _PLAIN.match(s)
        and not _RESERVED.match(s)
        and ": " not in s
        and not s.endswith((":", " "))
        and " #" not in s
    )
    if plain:
        return s
    return f"'{s}'" if single else json.dumps(s)


def _atomic(v: object) -> bool:
    if isinstance(v, Fn):
        a = v.arg
        return isinstance(a, str) or (isinstance(a, list) and all(_atomic(x) for x in a) and len(a) <= 3)
    if isinstance(v, (dict, list)):
        return False
    return not (isinstance(v, str) and "\n" in v)


def flow(v: object) -> str | None:
    """One-line form of v, or None if it has no sensible one."""
    if isinstance(v, Fn):
        a = v.arg
        if isinstance(a, str):
            return None if "\n" in a else f"!{v.tag} {a if v.tag == 'GetAtt' else scalar(a)}"
        inner = flow(a)
        return None if inner is None else f"!{v.tag} {inner}"
    if isinstance(v, dict):
        if "#" in v:
            return None
        parts = []
        for k, x in v.items():
            f = flow(x)
            if f is None:
                return None
            parts.append(f"{k}: {f}")
        return "{" + ", ".join(parts) + "}"
    if isinstance(v, (list, tuple)):
        parts = [flow(x) for x in v]
        if any(p is None for p in parts):
            return None
        return "[" + ", ".join(parts) + "]"  # type: ignore[arg-type]
    if isinstance(v, str) and "\n" in v:
        return None
    return scalar(v)


def _inline_ok(v: object, used: int) -> str | None:
    """The flow form of v when it is simple enough to read on one line and fits."""
    if isinstance(v, dict):
        ok = bool(v) and all(_atomic(x) for x in v.values())
    elif isinstance(v, list):
        ok = all(_atomic(x) for x in v)
    elif isinstance(v, Fn):
        a = v.arg
        ok = isinstance(a, str) or all(_atomic(x) or (isinstance(x, list) and all(_atomic(y) for y in x)) for x in a)
        if isinstance(a, str) and "\n" in a:
            ok = False
        if isinstance(a, str):
            return flow(v) if ok else None  # a long string cannot be broken anyway
    else:
        f = flow(v)
        return f
    if not ok:
        return None
    f = flow(v)
    return f if f is not None and used + len(f) <= WIDTH else None


def _comment(text: str, indent: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(" " * indent + "# " + line + " " + w) > WIDTH:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}" if line else w
    if line:
        lines.append(line)
    return [" " * indent + "# " + x for x in lines]


def _literal(text: str, indent: int) -> tuple[str, list[str]]:
    header = "|" if text.endswith("\n") and not text.endswith("\n\n") else "|-"
    body = [(" " * indent + ln) if ln else "" for ln in text.rstrip("\n").split("\n")]
    return header, body


def emit_value(prefix: str, v: object, indent: int) -> list[str]:
    """Lines for `prefix` (e.g. '  Key:' or '  -') followed by value v, children at `indent`."""
    if isinstance(v, str) and "\n" in v:
        header, body = _literal(v, indent)
        return [f"{prefix} {header}", *body]
    if isinstance(v, Fn) and isinstance(v.arg, str) and "\n" in v.arg:
        header, body = _literal(v.arg, indent)
        return [f"{prefix} !{v.tag} {header}", *body]
    f = _inline_ok(v, len(prefix) + 1)
    if f is not None:
        return [f"{prefix} {f}"]
    if isinstance(v, Fn):
        return [f"{prefix} !{v.tag}", *emit_seq(v.arg if isinstance(v.arg, list) else [v.arg], indent)]
    if isinstance(v, dict):
        return [prefix, *emit_map(v, indent)]
    if isinstance(v, list):
        return [prefix, *emit_seq(v, indent)] if v else [f"{prefix} []"]
    return [f"{prefix} {flow(v)}"]


def emit_map(d: dict, indent: int) -> list[str]:
    lines: list[str] = []
    pad = " " * indent
    for k, v in d.items():
        if k == "#":
            continue
        if isinstance(v, dict) and "#" in v:
            lines += _comment(v["#"], indent)
        lines += emit_value(f"{pad}{k}:", v, indent + 2)
    return lines


def emit_seq(items: list, indent: int) -> list[str]:
    lines: list[str] = []
    pad = " " * indent
    for x in items:
        if isinstance(x, dict) and "#" in x:
            lines += _comment(x["#"], indent)
        if isinstance(x, dict) and x:
            f = _inline_ok(x, indent + 2)
            if f is not None:
                lines.append(f"{pad}- {f}")
                continue
            sub = emit_map(x, indent + 2)
            sub[0] = pad + "- " + sub[0][indent + 2 :]
            lines += sub
        else:
            lines += emit_value(f"{pad}-", x, indent + 2)
    return lines


def render_section(name: str) -> list[str]:
    data = SECTIONS[name]()
    lines: list[str] = []
    for k, v in data.items():
        sub = emit_map({k: v}, 2)
        if name == "resources" and lines:
            lines.append("")
        lines += sub
    return lines


# ------------------------------------------------------------------------------------------- long form ---

_LONG = {"Ref": "Ref", "Condition": "Condition"}


def to_long(v: object) -> object:
    """v as CloudFormation's JSON form (what a YAML loader makes of the emitted short form)."""
    if isinstance(v, Fn):
        key = _LONG.get(v.tag, f"Fn::{v.tag}")
        if v.tag == "GetAtt" and isinstance(v.arg, str):
            return {key: v.arg.split(".", 1)}
        return {key: to_long(v.arg)}
    if isinstance(v, dict):
        return {k: to_long(x) for k, x in v.items() if k != "#"}
    if isinstance(v, (list, tuple)):
        return [to_long(x) for x in v]
    return v


# ----------------------------------------------------------------------------------------------- driver ---


def begin_marker(name: str) -> str:
    return f"  # BEGIN GENERATED {name} (workload/generate.py: edit its SERVICES table and re-run; do not edit by hand)"


def end_marker(name: str) -> str:
    return f"  # END GENERATED {name}"


def render(text: str) -> str:
    lines = text.split("\n")
    for name in SECTIONS:
        begin, end = begin_marker(name), end_marker(name)
        try:
            a, b = lines.index(begin), lines.index(end)
        except ValueError:
            raise SystemExit(f"{TEMPLATE}: markers for the generated {name} section are missing") from None
        if b < a:
            raise SystemExit(f"{TEMPLATE}: END before BEGIN for {name}")
        lines[a + 1 : b] = render_section(name)
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv[:1] == ["traffic-parameters"]:
        if len(argv) != 2 or argv[1] not in ENVIRONMENTS:
            sys.stderr.write(f"usage: generate.py traffic-parameters {{{'|'.join(ENVIRONMENTS)}}}\n")
            return 2
        for s in SERVICES:
            for path, value in traffic_parameters(s).values():
                sys.stdout.write(f"{path.format(env=argv[1])} {value.format(env=argv[1])}\n")
        return 0
    current = TEMPLATE.read_text(encoding="utf-8")
    wanted = render(current)
    if argv == ["--check"]:
        if wanted != current:
            sys.stderr.write(f"{TEMPLATE} is out of date: run python3 workload/generate.py\n")
            return 1
        sys.stdout.write("generated sections up to date\n")
        return 0
    if argv:
        sys.stderr.write(__doc__ or "")
        return 2
    if wanted != current:
        TEMPLATE.write_text(wanted, encoding="utf-8")
        sys.stdout.write(f"rewrote the generated sections of {TEMPLATE}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
