"""The traffic model on the world built from the workload stack: web behind the public ALB and api behind the
internal one (not in the staging policy: driven from the stack), CPU per ECS service, the worker's queue; and an
alarm storm made by load (a surge) that remediation's scale-out ends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from deckwatch import clock
from deckwatch.local.mock_services import traffic
from deckwatch.local.runtime import LocalAWS
from support.cutover import Factory


@pytest.fixture(scope="module")
def workload(local_aws_factory: Factory) -> Iterator[LocalAWS]:
    with local_aws_factory("staging", approvals="approve", world="workload") as rt:
        traffic.reset()
        yield rt
        traffic.reset()


def wait(rt: LocalAWS, minutes: int) -> None:
    """Let `minutes` of simulated time pass (the traffic model's minutes run while something waits)."""
    rt.scheduler.call_later(minutes * 60, lambda: None, f"wait {minutes} min")
    rt.settle()


def stat(rt: LocalAWS, namespace: str, metric: str, dims: dict[str, str], stat: str, minutes: int = 5) -> float:
    end = clock.now()
    found = rt.client("cloudwatch").get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": metric,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                    },
                    "Period": minutes * 60,
                    "Stat": stat,
                },
            }
        ],
        StartTime=end - timedelta(minutes=minutes),
        EndTime=end,
    )["MetricDataResults"][0]["Values"]
    return float(found[0]) if found else 0.0


def tg_dim(rt: LocalAWS, service: str, colour: str) -> dict[str, str]:
    entry: dict[str, Any] = rt.world["services"][service]
    return {
        "TargetGroup": entry["target_groups"][colour].split(":", 5)[5],
        "LoadBalancer": entry["load_balancer"].split("loadbalancer/", 1)[1],
    }


def test_both_load_balanced_services_get_traffic_on_their_live_colour(workload: LocalAWS) -> None:
    wait(workload, 6)
    assert stat(workload, "AWS/ApplicationELB", "RequestCount", tg_dim(workload, "web", "blue"), "Sum") > 10_000
    assert stat(workload, "AWS/ApplicationELB", "RequestCount", tg_dim(workload, "api", "blue"), "Sum") > 10_000
    assert stat(workload, "AWS/ApplicationELB", "RequestCount", tg_dim(workload, "api", "green"), "Sum") == 0


def test_ecs_services_report_cpu(workload: LocalAWS) -> None:
    dims = {"ClusterName": "shop-staging", "ServiceName": "shop-staging-web-blue"}
    assert 30 < stat(workload, "AWS/ECS", "CPUUtilization", dims, "Average") < 55  # one task, the usual load


def test_worker_queue_and_colours(workload: LocalAWS) -> None:
    queue = {"QueueName": "shop-staging-worker"}
    assert stat(workload, "AWS/SQS", "NumberOfMessagesSent", queue, "Sum") > 1000
    assert stat(workload, "AWS/SQS", "ApproximateAgeOfOldestMessage", queue, "Maximum") == 0  # two tasks keep up
    for colour in ("blue", "green"):  # the stack starts both worker colours with one task: both consume
        dims = {"Environment": "staging", "Colour": colour}
        assert stat(workload, "shop/worker", "MessagesProcessed", dims, "Sum") > 500


def test_worker_falls_behind_when_its_tasks_stop(workload: LocalAWS) -> None:
    ecs = workload.client("ecs")
    for colour in ("blue", "green"):
        ecs.update_service(cluster="shop-staging", service=f"shop-staging-worker-{colour}", desiredCount=0)
    wait(workload, 6)
    alarm = workload.client("cloudwatch").describe_alarms(AlarmNames=["shop-staging-worker-queue-age"])
    assert alarm["MetricAlarms"][0]["StateValue"] == "ALARM"
    for colour in ("blue", "green"):
        ecs.update_service(cluster="shop-staging", service=f"shop-staging-worker-{colour}", desiredCount=1)


def test_a_surge_makes_a_cpu_storm_that_scaling_out_ends(workload: LocalAWS) -> None:
    """Three times the usual load on web's one live task: its CPU alarms fire, remediation's scale-out (staging
    policy: web-cpu-high -> ecs_scale_out on the live colour) adds tasks, CPU falls, the alarm's OK verifies it."""
    since = clock.iso()
    traffic.surge("web", 3.0)
    try:
        wait(workload, 30)
    finally:
        traffic.surge("web", 1.0)
    records = workload.ledger_since(since)
    decisions = [(r["capability"], r["decision"]) for r in records]
    assert ("remediation", "acted") in decisions or any(
        r["capability"] == "remediation" and r.get("action") for r in records
    ), decisions
    found = workload.client("ecs").describe_services(cluster="shop-staging", services=["shop-staging-web-blue"])
    assert found["services"][0]["desiredCount"] >= 3
    cpu = workload.client("cloudwatch").describe_alarms(AlarmNames=["shop-staging-web-cpu-high"])["MetricAlarms"]
    assert cpu[0]["StateValue"] == "OK"
