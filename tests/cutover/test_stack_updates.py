"""Issue 11 on the real workload stack: a Deckwatch cutover, then a workload stack update through CloudFormation.

The embedded AWS builds its world from workload/template.yaml (`world="workload"`: stack `shop-staging` created by
moto's CloudFormation after the bootstrap's SSM parameters). Deckwatch cuts web over to green with the example
staging policy, which names the workload's own resources; then the workload stack is updated with real changes
(every ECS service, target group and listener gets a tag, and the HealthCheckPath parameter changes, which every
target group uses). The production listener must still send 100% to green, the test listener still reach what
Deckwatch pointed it at, and no desired count may change. The control shows the update did reach those resources.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deckwatch.local import workload_world
from deckwatch.local.runtime import LocalAWS
from support.cutover import Factory, console_input, weights

ROOT = Path(__file__).resolve().parents[2]
STACK = "shop-staging"
TAGGED = ("AWS::ECS::Service", "AWS::ElasticLoadBalancingV2::TargetGroup", "AWS::ElasticLoadBalancingV2::Listener")


@pytest.fixture(scope="module")
def workload(local_aws_factory: Factory) -> Iterator[LocalAWS]:
    with local_aws_factory("staging", approvals="approve", world="workload") as rt:
        yield rt


def _desired(rt: LocalAWS) -> dict[str, int]:
    names = [n for s in rt.world["services"].values() for n in s["ecs"].values()]
    found = rt.client("ecs").describe_services(cluster=rt.world["cluster"], services=names)["services"]
    return {s["serviceName"]: int(s["desiredCount"]) for s in found}


def _images(rt: LocalAWS) -> dict[str, str]:
    """ECS service -> the image it runs."""
    ecs = rt.client("ecs")
    names = [n for s in rt.world["services"].values() for n in s["ecs"].values()]
    out = {}
    for svc in ecs.describe_services(cluster=rt.world["cluster"], services=names)["services"]:
        td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        out[svc["serviceName"]] = td["containerDefinitions"][0]["image"]
    return out


def _test_listener_target(rt: LocalAWS, service: str = "web") -> dict[str, int]:
    world = rt.world["services"][service]
    colour_of = {arn: colour for colour, arn in world["target_groups"].items()}
    listener = rt.client("elbv2").describe_listeners(ListenerArns=[world["test_listener"]])["Listeners"][0]
    groups = listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
    return {colour_of[g["TargetGroupArn"]]: int(g["Weight"]) for g in groups}


def _changed_template(revision: str) -> str:
    """workload/template.yaml with a tag on every ECS service, target group and listener that takes tags."""
    template = copy.deepcopy(workload_world.template(ROOT))
    for res in template["Resources"].values():
        if res["Type"] in TAGGED and "Tags" in res.get("Properties", {}):
            res["Properties"]["Tags"] = [*res["Properties"]["Tags"], {"Key": "shop:revision", "Value": revision}]
    return json.dumps(template)


def _update(rt: LocalAWS, body: str, **changed: str) -> str:
    return workload_world.update_stack(rt, body, changed)


@pytest.fixture(scope="module")
def after_cutover(workload: LocalAWS) -> dict[str, Any]:
    report = workload.start_execution("CutoverStateMachine", console_input("staging-image.json"), name="stack-upd-1")
    (execution,) = [e for e in report.executions if e["state_machine"] == "CutoverStateMachine"]
    return {
        "execution": execution,
        "weights": weights(workload),
        "desired": _desired(workload),
        "images": _images(workload),
    }


def test_the_world_is_the_workload_stack(workload: LocalAWS) -> None:
    cf = workload.client("cloudformation")
    assert cf.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    web = workload.world["services"]["web"]
    assert web["load_balancer"] == workload.world["outputs"]["WebLoadBalancerArn"]
    assert web["listener"] == workload.world["outputs"]["WebProductionListenerArn"]
    assert set(web["target_groups"]) == {"blue", "green"}
    assert "load_balancer" not in workload.world["services"]["worker"]  # no ALB: its queue instead
    assert workload.world["services"]["worker"]["queue_name"] == "shop-staging-worker"


def test_cutover_moves_web_to_green(after_cutover: dict[str, Any]) -> None:
    assert after_cutover["execution"]["status"] == "SUCCEEDED", after_cutover["execution"]
    assert after_cutover["weights"] == {"blue": 0, "green": 100}
    assert after_cutover["desired"]["shop-staging-web-blue"] == 0  # scaled down after the rollback window


def test_stack_update_moves_no_traffic_and_no_count(workload: LocalAWS, after_cutover: dict[str, Any]) -> None:
    test_route = _test_listener_target(workload)
    status = _update(workload, _changed_template("2"), HealthCheckPath="/livez")
    assert status == "UPDATE_COMPLETE"
    assert weights(workload) == {"blue": 0, "green": 100}  # the production listener still sends all to green
    assert weights(workload, "api") == {"blue": 100, "green": 0}
    assert _test_listener_target(workload) == test_route
    assert _desired(workload) == after_cutover["desired"]
    # nor what runs: CloudFormation re-sends each service's TaskDefinition, which is what Deckwatch deployed
    assert _images(workload) == after_cutover["images"]
    assert after_cutover["images"]["shop-staging-web-green"] == console_input("staging-image.json")["image"]


def test_control_the_update_reached_the_resources(workload: LocalAWS, after_cutover: dict[str, Any]) -> None:
    """The update above is real: the services carry the new tag, the target groups the new health check path."""
    web = workload.world["services"]["web"]
    elb = workload.client("elbv2")
    group = elb.describe_target_groups(TargetGroupArns=[web["target_groups"]["green"]])["TargetGroups"][0]
    assert group["HealthCheckPath"] == "/livez"
    ecs = workload.client("ecs")
    found = ecs.describe_services(cluster="shop-staging", services=[web["ecs"]["green"]], include=["TAGS"])
    assert {"key": "shop:revision", "value": "2"} in found["services"][0]["tags"]
    # a count in the template does reach the service: the update path is live, and the template is what spares it
    body = json.loads(_changed_template("3"))
    body["Resources"]["GreenService"]["Properties"]["DesiredCount"] = 3
    assert _update(workload, json.dumps(body)) == "UPDATE_COMPLETE"
    assert _desired(workload)["shop-staging-web-green"] == 3
