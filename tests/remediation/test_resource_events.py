"""RDS and ECS events as AWS documents them (events/SOURCES.md): the RDS instance the documented event names, ECS
task placement failures and failed deployments annotating an open incident, and a failed deployment of the colour a
cutover deploys failing that cutover at once (through the cutover's rollback request)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from deckwatch.local.mock_services import elbv2
from deckwatch.local.runtime import LocalAWS, Report
from support.cutover import POLICY, WEB_ALARM, Factory, console_input, emit, image, live, record, weights
from support.samples import EVENTS, load_event

SAMPLES = EVENTS / "remediation_events"


@pytest.fixture(scope="module")
def rt(local_aws_factory: Factory) -> Iterator[LocalAWS]:
    """Staging with the cutover tests' policy (the web service's colours behind the ALB)."""
    with local_aws_factory("staging", approvals="approve", policy_file=POLICY) as runtime:
        yield runtime


def open_incident(rt: LocalAWS, resource: str, runbook: str) -> str:
    from deckwatch.remediation import incidents

    with rt.control_plane() as deps:
        inc, opened = incidents.open_or_join(
            deps, resource=resource, runbook=runbook, opener=f"test-{uuid.uuid4().hex[:8]}", alarm=None
        )
    assert opened
    return str(inc["incident_id"])


def close_incident(rt: LocalAWS, resource: str, runbook: str, iid: str) -> None:
    from deckwatch.remediation import incidents

    with rt.control_plane() as deps:
        incidents.close(deps, resource, runbook, iid)


def decision(report: Report) -> dict[str, Any]:
    [rec] = [r for r in report.ledger if r["capability"] == "remediation"]
    return rec


# ------------------------------------------------------------------ RDS -------------------------------------------
def test_the_documented_rds_event_names_its_instance_once(rt: LocalAWS) -> None:
    """SourceIdentifier "rds:my-db-instance" in the RDS guide's event: the resource is rds:my-db-instance."""
    rec = decision(rt.replay(load_event(SAMPLES / "rds-failover-documented.json")))
    assert (rec["decision"], rec["subject"]) == ("noted", "rds:my-db-instance")
    assert rec["reason"].startswith("RDS-EVENT-0049 failover completed: A Multi-AZ failover has completed.")


def test_the_documented_rds_event_annotates_its_instances_incident(rt: LocalAWS) -> None:
    iid = open_incident(rt, "rds:my-db-instance", "rds_failover")
    try:
        rec = decision(rt.replay(load_event(SAMPLES / "rds-failover-documented.json")))
    finally:
        close_incident(rt, "rds:my-db-instance", "rds_failover", iid)
    assert (rec["decision"], rec["subject"], rec["details"]["incident_id"]) == ("annotated", "rds:my-db-instance", iid)


def test_an_identifier_without_an_arn(rt: LocalAWS) -> None:
    event = load_event(SAMPLES / "rds-failover-documented.json")
    event["resources"], event["detail"]["SourceArn"] = [], ""
    assert decision(rt.replay(event))["subject"] == "rds:my-db-instance"


# ------------------------------------------------------------------ ECS -------------------------------------------
BLUE_KEY = "ecs:shop-staging/shop-staging-web-blue"


@pytest.mark.parametrize(
    ("sample", "note"),
    [
        ("ecs-task-placement-failure.json", "SERVICE_TASK_PLACEMENT_FAILURE: RESOURCE:FARGATE (ERROR)"),
        ("ecs-task-start-impaired.json", "SERVICE_TASK_START_IMPAIRED: service shop-staging-web-blue is unable"),
        ("ecs-deployment-failed.json", "SERVICE_DEPLOYMENT_FAILED: ECS deployment circuit breaker"),
    ],
)
def test_ecs_service_events_annotate_an_open_scale_out(rt: LocalAWS, sample: str, note: str) -> None:
    event = load_event(SAMPLES / sample)
    event["resources"] = [f"arn:aws:ecs:us-east-1:123456789012:service/{BLUE_KEY.removeprefix('ecs:')}"]
    iid = open_incident(rt, BLUE_KEY, "ecs_scale_out")
    try:
        report = rt.replay(event)
    finally:
        close_incident(rt, BLUE_KEY, "ecs_scale_out", iid)
    rec = decision(report)
    assert (rec["decision"], rec["subject"], rec["details"]["incident_id"]) == ("annotated", BLUE_KEY, iid)
    assert rec["reason"].startswith(note)
    assert report.executions == []


def test_a_failed_deployment_outside_a_cutover_is_noted(rt: LocalAWS) -> None:
    rec = decision(rt.replay(load_event(SAMPLES / "ecs-deployment-failed.json")))
    assert (rec["decision"], rec["subject"]) == ("noted", "ecs:shop-staging/shop-staging-web-green")


def deployment_failed(colour: str) -> dict[str, Any]:
    event = load_event(SAMPLES / "ecs-deployment-failed.json")
    event["resources"] = [f"arn:aws:ecs:us-east-1:123456789012:service/shop-staging/shop-staging-web-{colour}"]
    return event


def test_a_failed_deployment_of_the_colour_being_deployed_fails_the_cutover_at_once(rt: LocalAWS) -> None:
    stable = live(rt)
    new = "green" if stable == "blue" else "blue"
    elbv2.when_watched(WEB_ALARM, lambda: emit(deployment_failed(new)))  # during the first bake
    report = rt.start_execution("CutoverStateMachine", console_input("staging-image.json", image=image("ecs-1")))
    rb = record(report, "rolled-back")
    assert rb["details"]["reason"] == "ecs"
    assert "deployment failed" in rb["reason"] and "SERVICE_DEPLOYMENT_FAILED" in rb["reason"]
    assert weights(rt)[stable] == 100
    [failed] = [r for r in report.ledger if r["decision"] == "cutover-failed"]
    assert failed["details"]["colour"] == new and failed["details"]["service"] == "web"
    assert failed["subject"] == f"ecs:shop-staging/shop-staging-web-{new}"
    follow = [f for f in report.follow_ups if f["source"] == "aws.ecs"]
    assert follow and follow[0]["matched_rules"][0].startswith("RemediationEventsFunction")


def test_a_failed_deployment_of_the_stable_colour_leaves_the_cutover_alone(rt: LocalAWS) -> None:
    stable = live(rt)
    elbv2.when_watched(WEB_ALARM, lambda: emit(deployment_failed(stable)), phase="bake")
    report = rt.start_execution("CutoverStateMachine", console_input("staging-image.json", image=image("ecs-2")))
    assert "rolled-back" not in [r["decision"] for r in report.ledger]
    noted = [r for r in report.ledger if r["capability"] == "remediation" and r["decision"] == "noted"]
    assert [r["subject"] for r in noted] == [f"ecs:shop-staging/shop-staging-web-{stable}"]
    assert json.dumps(report.executions[0]["path"]).count("Bake") >= 1
