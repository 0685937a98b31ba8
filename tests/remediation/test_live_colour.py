"""Remediation acts on the colour that serves traffic now (issue 11): after cutovers in both directions, a CPU alarm
on the live colour scales the live colour, and an alarm about the idle colour acts on nothing (recorded).

The staging example policy: rules with `service: web` for the service-wide alarm and each colour's own alarm
(`shop-staging-web-<colour>-cpu-high`, tagged deckwatch:colour, as the workload tags them)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from deckwatch.local.mock_services import faults
from deckwatch.local.runtime import LocalAWS
from support.cutover import console_input, image, live, only_execution
from support.samples import REPO_ROOT


@pytest.fixture(scope="module")
def example(local_aws_factory: object) -> Iterator[LocalAWS]:
    policy = REPO_ROOT / "layers/deckwatch/deckwatch/policy/examples/staging.yaml"
    with local_aws_factory("staging", policy_file=policy) as rt:  # type: ignore[operator]
        yield rt


def desired(rt: LocalAWS, colour: str) -> int:
    found = rt.client("ecs").describe_services(cluster="shop-staging", services=[f"shop-staging-web-{colour}"])
    return int(found["services"][0]["desiredCount"])


def cutover(rt: LocalAWS) -> str:
    report = rt.start_execution(
        "CutoverStateMachine",
        console_input("staging-image.json", image=image(f"colour-{uuid.uuid4().hex[:6]}")),
        name=f"t-{uuid.uuid4().hex[:10]}",
    )
    assert only_execution(report)["status"] == "SUCCEEDED"
    return live(rt)


def alarm(rt: LocalAWS, name: str) -> list[dict[str, Any]]:
    """The alarm goes to ALARM (its real event); the world recovers once the runbook acted. Returns the records."""
    cw = rt.client("cloudwatch")
    faults.recover_on("ecs", "UpdateService", name)
    report = rt.act(f"{name} ALARM", lambda: cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="hot"))
    faults.clear_reactions()
    cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="reset")  # quiet between cases
    rt.settle()
    rt.clock.advance(20 * 60)  # past the runbook's cooldown
    return report.ledger


@pytest.mark.parametrize("direction", ["blue to green", "green to blue"])
def test_a_cpu_alarm_scales_the_live_colour_and_an_idle_one_acts_on_nothing(example: LocalAWS, direction: str) -> None:
    now_live = cutover(example)
    idle = next(c for c in ("blue", "green") if c != now_live)
    # room under the policy's max_tasks (6) for the scale-outs below, whatever the cutover deployed
    example.client("ecs").update_service(cluster="shop-staging", service=f"shop-staging-web-{now_live}", desiredCount=2)
    before_live, before_idle = desired(example, now_live), desired(example, idle)

    records = alarm(example, f"shop-staging-web-{now_live}-cpu-high")
    selected = [r for r in records if r["decision"] == "runbook-selected"]
    assert len(selected) == 1
    details: Any = selected[0]["details"]
    assert details["resource"] == f"ecs:shop-staging/shop-staging-web-{now_live}"
    assert desired(example, now_live) == before_live + 2 and desired(example, idle) == before_idle

    records = alarm(example, f"shop-staging-web-{idle}-cpu-high")
    (ignored,) = [r for r in records if r["kind"] == "decision"]
    assert ignored["decision"] == "ignored"
    assert ignored["reason"] == (
        f"shop-staging-web-{idle}-cpu-high is about web's idle colour {idle} ({now_live} serves the traffic)"
    )
    assert not [r for r in records if r["kind"] == "action"]
    assert desired(example, idle) == before_idle and desired(example, now_live) == before_live + 2

    # the service-wide alarm (no colour) acts on the live colour too
    records = alarm(example, "shop-staging-web-cpu-high")
    acted = [r for r in records if r["kind"] == "action"]
    assert [a["subject"] for a in acted] == [f"ecs:shop-staging/shop-staging-web-{now_live}"]
