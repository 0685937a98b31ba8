"""Helpers of the cost tests: sample events with fresh ids, capacity of the demo world, published messages."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

from deckwatch.local.runtime import LocalAWS

from support.samples import EVENTS

ANOMALY_SAMPLE = EVENTS / "cost_events" / "anomaly-detected.json"
ALERTS = EVENTS / "cost_alerts"
CONSOLE = EVENTS / "statemachines" / "cost_savings"


def anomaly_event(
    environment: str = "staging", *, anomaly_id: str | None = None, impact: float = 240.5, percent: float = 62.0
) -> dict[str, Any]:
    """The AWS-documented EventBridge sample, retargeted at `environment`'s monitor, with fresh ids."""
    event = json.loads(ANOMALY_SAMPLE.read_text(encoding="utf-8"))
    event["id"] = str(uuid.uuid4())
    d = event["detail"]
    d["anomalyId"] = anomaly_id or str(uuid.uuid4())
    d["monitorName"] = f"shop-{environment}-services"
    d["impact"]["totalImpact"] = impact
    d["impact"]["totalImpactPercentage"] = percent
    return event


def sns_alert(path: str, environment: str = "staging", **message_changes: Any) -> dict[str, Any]:
    """An SNS sample (notification JSON) with a fresh MessageId, on `environment`'s cost-alerts topic."""
    doc = json.loads((ALERTS / path).read_text(encoding="utf-8"))
    sns = doc["Records"][0]["Sns"] if "Records" in doc else doc
    sns["MessageId"] = str(uuid.uuid4())
    sns["TopicArn"] = f"arn:aws:sns:us-east-1:123456789012:deckwatch-{environment}-cost-alerts"
    if message_changes:
        body = json.loads(sns["Message"])
        body.update(copy.deepcopy(message_changes))
        sns["Message"] = json.dumps(body)
    return doc


def console(name: str) -> dict[str, Any]:
    return json.loads((CONSOLE / name).read_text(encoding="utf-8"))


def capacity(rt: LocalAWS) -> dict[str, Any]:
    from deckwatch.cost.savings import ecs_targets

    ecs, rds = rt.client("ecs"), rt.client("rds")
    savings = rt.policy.policy.cost.savings
    out: dict[str, Any] = {}
    for cluster, service in ecs_targets(rt.policy.policy):
        out[service] = ecs.describe_services(cluster=cluster, services=[service])["services"][0]["desiredCount"]
    for db in savings.rds_instances:
        out[db] = rds.describe_db_instances(DBInstanceIdentifier=db)["DBInstances"][0]["DBInstanceStatus"]
    return out


def published(rt: LocalAWS) -> list[dict[str, Any]]:
    """Every message published to the environment's notifications topic so far (moto keeps them)."""
    from moto.sns.models import sns_backends

    backend = sns_backends["123456789012"]["us-east-1"]
    topic = backend.topics[rt.physical["NotificationsTopic"]]
    return [{"subject": n[2], "message": n[1]} for n in topic.sent_notifications]


def ops(report: Any) -> list[tuple[str, str]]:
    return [(c["service"], c["operation"]) for c in report.aws_calls]
