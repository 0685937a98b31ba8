"""Helpers of the remediation tests: the staging policy whose remediation rules cover every runbook (the fixtures
in tests/remediation/conftest.py write it), helpers to create resources in the embedded AWS and to read an
incident back from the ledger."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import yaml
from deckwatch import clock
from deckwatch.local.runtime import LocalAWS, Report

from support.samples import EVENTS

CLUSTER = "shop-staging"
BLUE = "shop-staging-web-blue"
CPU_ALARM = "shop-staging-web-cpu-high"
CONSOLE = EVENTS / "statemachines" / "remediation"
STORM_RESOURCES = 52  # storm-cpu-00..49: 50-resource storm; -50: one-resource storm; -51: escalation


def policy_doc(environment: str = "staging", **remediation: Any) -> dict[str, Any]:
    doc = yaml.safe_load(
        (
            Path(__file__).resolve().parents[2] / f"layers/deckwatch/deckwatch/policy/examples/{environment}.yaml"
        ).read_text()
    )
    doc["remediation"] = {"max_actions_per_hour": 1000, **remediation}
    return doc


def staging_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        {
            "alarm": {"name": CPU_ALARM},
            "runbook": "ecs_scale_out",
            "parameters": {"cluster": CLUSTER, "service": BLUE, "step": 2},
            "bounds": {"max_tasks": 12},
            "cooldown_minutes": 15,
            "verify_minutes": 10,
            "escalate_to": "web-oncall",
        },
        {
            "alarm": {"prefix": "shop-staging-db-free-storage"},
            "runbook": "rds_grow_storage",
            "parameters": {"db_instance": "shop-staging-db", "percent": 20},
            "bounds": {"max_storage_gib": 500},
        },
        {
            "alarm": {"name": "shop-staging-web-degraded"},
            "runbook": "ecs_force_new_deployment",
            "parameters": {"cluster": CLUSTER, "service": "shop-staging-web-green"},
            "verify_minutes": 5,
        },
        {
            "alarm": {"name": "shop-staging-web-5xx-rate"},
            "runbook": "rollback_cutover",
            "parameters": {"service": "web"},
        },
        {"alarm": {"name": "shop-staging-queue-depth"}, "runbook": "notify_only", "on_insufficient_data": "ignore"},
    ]
    rules += [
        {
            "alarm": {"name": f"storm-cpu-{i:02d}"},
            "runbook": "ecs_scale_out",
            "parameters": {"cluster": "storm", "service": f"storm-svc-{i:02d}", "step": 1},
            "bounds": {"max_tasks": 10},
            "verify_minutes": 5,
        }
        for i in range(STORM_RESOURCES)
    ]
    return rules


def console(name: str, **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((CONSOLE / name).read_text(encoding="utf-8"))
    doc.update(overrides)
    return doc


def run(rt: LocalAWS, payload: dict[str, Any]) -> tuple[Report, dict[str, Any]]:
    report = rt.start_execution("RemediationStateMachine", payload, name=f"test-{uuid.uuid4().hex[:12]}")
    assert len(report.executions) == 1, report.executions
    return report, report.executions[0]


def new_service(rt: LocalAWS, name: str, desired: int = 2, cluster: str = CLUSTER) -> str:
    ecs = rt.client("ecs")
    ecs.create_cluster(clusterName=cluster)
    td = ecs.list_task_definitions(familyPrefix="shop-staging-web")["taskDefinitionArns"][0]
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td, desiredCount=desired, launchType="FARGATE")
    return f"ecs:{cluster}/{name}"


def desired(rt: LocalAWS, service: str, cluster: str = CLUSTER) -> int:
    svc = rt.client("ecs").describe_services(cluster=cluster, services=[service])["services"][0]
    return int(svc["desiredCount"])


def ops(report: Report) -> list[tuple[str, str]]:
    return [(c["service"], c["operation"]) for c in report.aws_calls]


def by_kind(report: Report, kind: str) -> list[dict[str, Any]]:
    return [r for r in report.ledger if r["kind"] == kind]


def closing(report: Report) -> dict[str, Any]:
    found = [r for r in report.ledger if r["decision"].startswith("incident-") and r["details"].get("outcome")]
    assert len(found) == 1, [r["decision"] for r in report.ledger]
    return found[0]


def alarm(rt: LocalAWS, name: str) -> None:
    rt.client("cloudwatch").put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/ECS",
        MetricName="CPUUtilization",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=3,
        Threshold=80,
        ComparisonOperator="GreaterThanThreshold",
    )


def alarm_event(name: str, state: str = "ALARM", **detail: Any) -> dict[str, Any]:
    """A CloudWatch Alarm State Change event as AWS sends it, at the current (simulated) time."""
    sample = json.loads((EVENTS / "alarm_events" / "alarm-metric.json").read_text(encoding="utf-8"))
    now = clock.now()
    sample["id"] = str(uuid.uuid4())
    sample["time"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    sample["resources"] = [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"]
    sample["detail"]["alarmName"] = name
    sample["detail"]["state"]["value"] = state
    sample["detail"]["state"]["timestamp"] = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"
    sample["detail"].update(detail)
    return sample


def put_events(rt: LocalAWS, events: list[dict[str, Any]]) -> None:
    """Deliver many events at once, as EventBridge does in a storm (no settling in between)."""
    client = rt.client("events")
    for i in range(0, len(events), 10):
        client.put_events(
            Entries=[
                {
                    "Source": e["source"],
                    "DetailType": e["detail-type"],
                    "Detail": json.dumps(e["detail"]),
                    "Resources": e["resources"],
                }
                for e in events[i : i + 10]
            ]
        )
