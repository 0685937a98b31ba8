"""Blue-green that protects production (issue 11): the canary judged on its own target group's figures, with the
embedded AWS's traffic model splitting requests by the listener's weights, minute by minute.

The cutover policy bakes 5 minutes per step (10% -> 50% -> 100%) with 5-minute analysis intervals."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from deckwatch.local.mock_services import codepipeline, traffic
from deckwatch.local.runtime import LocalAWS, Report
from support.cutover import (
    WEB_ALARM,
    console_input,
    decisions,
    image,
    live,
    only_execution,
    record,
    run,
    weights,
)
from support.samples import EVENTS, load_event


@pytest.fixture(autouse=True)
def _default_traffic(staging: LocalAWS) -> Iterator[None]:
    traffic.reset()
    yield
    traffic.reset()


def analyses(report: Report) -> list[dict[str, Any]]:
    return [r for r in report.ledger if str(r["decision"]).startswith("analysis-")]


def lb_5xx_percent(rt: LocalAWS, start: float, end: float) -> float:
    """The load balancer's own 5xx share over [start, end): what its 5xx-rate alarm sees."""
    lb = rt.world["services"]["web"]["load_balancer"].split("loadbalancer/", 1)[-1]
    dims = [{"Name": "LoadBalancer", "Value": lb}]

    def total(metric: str) -> float:
        out = rt.client("cloudwatch").get_metric_statistics(
            Namespace="AWS/ApplicationELB",
            MetricName=metric,
            Dimensions=dims,
            StartTime=datetime.fromtimestamp(start, tz=UTC),
            EndTime=datetime.fromtimestamp(end, tz=UTC) + timedelta(seconds=1),
            Period=60,
            Statistics=["Sum"],
        )
        return sum(float(p["Sum"]) for p in out["Datapoints"])

    return 100 * total("HTTPCode_Target_5XX_Count") / max(1.0, total("RequestCount"))


def test_a_canary_failing_40_percent_at_10_percent_rolls_back_on_its_own_figures(staging: LocalAWS) -> None:
    stable = live(staging)
    bad = image(f"flaky-{uuid.uuid4().hex[:6]}")
    traffic.release(bad, error_rate=0.4)
    report = run(staging, console_input("staging-image.json", image=bad))
    execution = only_execution(report)
    assert execution["path"][-4:] == ["Bake", "Analyze", "Rollback", "RolledBack"]
    rolled = record(report, "rolled-back")
    assert rolled["details"]["reason"] == "analysis" and rolled["details"]["weight_at_rollback"] == 10
    (failed,) = analyses(report)
    assert failed["decision"] == "analysis-failed"
    assert 0.3 < failed["details"]["canary"]["error_rate"] < 0.5  # 40% of its own requests
    assert failed["details"]["stable"]["error_rate"] < 0.02
    # the load balancer as a whole stayed under its alarm's 5% while the canary failed: only the analysis saw it
    shifted = record(report, "shifted")
    started, ended = _epoch(shifted["time"]), _epoch(rolled["time"])
    assert lb_5xx_percent(staging, started, ended) < 5.0
    assert "alarm" not in rolled["reason"]
    # within two analysis intervals of the canary's first bad minute, 100% is back on the stable colour
    assert ended - started <= 2 * 5 * 60
    assert weights(staging) == {stable: 100, next(c for c in ("blue", "green") if c != stable): 0}
    print(f"\nfirst bad minute -> 100% on {stable}: {ended - started:.0f} s simulated")


def test_a_canary_that_gets_no_requests_does_not_advance_and_rolls_back(staging: LocalAWS) -> None:
    stable = live(staging)
    new = next(c for c in ("blue", "green") if c != stable)
    traffic.starve(f"shop-staging-web-{new}")  # a misrouted canary: its target group receives nothing
    report = run(staging, console_input("staging-image.json", image=image(f"starved-{uuid.uuid4().hex[:6]}")))
    execution = only_execution(report)
    assert execution["path"].count("Shift") == 1  # never beyond the first step
    assert [a["decision"] for a in analyses(report)] == ["analysis-no-data", "analysis-no-data"]
    rolled = record(report, "rolled-back")
    assert rolled["details"]["reason"] == "no-data" and rolled["details"]["weight_at_rollback"] == 10
    assert weights(staging) == {stable: 100, new: 0}


def test_the_test_listener_follows_the_colour_being_deployed(staging: LocalAWS) -> None:
    for _ in range(2):  # both directions
        idle = next(c for c in ("blue", "green") if c != live(staging))
        report = run(staging, console_input("staging-image.json", image=image(f"tested-{uuid.uuid4().hex[:6]}")))
        assert only_execution(report)["status"] == "SUCCEEDED"
        (route,) = [r for r in report.ledger if r["decision"] == "test-route"]
        assert route["reason"] == f"the test listener reaches {idle} (shop-staging-web-{idle})"
        check = record(report, "pre-traffic-passed")
        assert check["details"] == {"slot": idle, "test_target": f"shop-staging-web-{idle}"}
        ssm = staging.client("ssm")
        assert ssm.get_parameter(Name="/deckwatch/staging/traffic/web/test")["Parameter"]["Value"] == idle
        action = _listener(staging, 8443)["DefaultActions"][0]
        groups = action.get("ForwardConfig", {}).get("TargetGroups") or [{"TargetGroupArn": action["TargetGroupArn"]}]
        assert [g["TargetGroupArn"] for g in groups if g.get("Weight", 1)] == [
            staging.world["services"]["web"]["target_groups"][idle]
        ]


def test_three_releases_in_a_row_each_canary_on_the_idle_colour(staging: LocalAWS) -> None:
    """Through the pipeline (BuildImage SUCCEEDED), release after release: the new image only ever lands on the idle
    colour, goes through every step, and the traffic parameters follow the listener."""
    ecs = staging.client("ecs")
    for n in range(3):
        before = live(staging)
        idle = next(c for c in ("blue", "green") if c != before)
        live_td = _task_definition(staging, before)
        tag = f"release-{n}-{uuid.uuid4().hex[:6]}"
        report = staging.replay(_build_event(tag))
        execution = only_execution(report)
        assert execution["status"] == "SUCCEEDED", execution
        shifts = [r for r in report.ledger if r["decision"] == "shifted"]
        assert [s["reason"] for s in shifts] == [f"{idle} {w}%, {before} {100 - w}%" for w in (10, 50, 100)]
        passed = [a for a in analyses(report) if a["decision"] == "analysis-passed"]
        assert len(passed) == 3  # one interval per 5-minute bake, each judged on figures
        # the live colour never ran the new image before its canary: its task definition was left alone
        deploys = [
            r
            for r in report.ledger
            if (r.get("action") or {}).get("operation") == "UpdateService"
            and (r.get("action") or {}).get("parameters", {}).get("taskDefinition")
        ]
        assert {d["action"]["parameters"]["service"] for d in deploys} == {f"shop-staging-web-{idle}"}
        assert _task_definition(staging, before) == live_td or live(staging) == idle
        assert live(staging) == idle and weights(staging) == {idle: 100, before: 0}
        ssm = staging.client("ssm")
        params = {
            p["Name"].rsplit("/", 1)[-1]: p["Value"]
            for p in ssm.get_parameters_by_path(Path="/deckwatch/staging/traffic/web")["Parameters"]
        }
        assert params == {
            idle: "100",
            before: "0",
            "test": idle,
            # and what each colour runs (the workload's ECS services take their task definitions from these)
            f"{idle}-task-definition": _task_definition(staging, idle),
            f"{before}-task-definition": _task_definition(staging, before),
        }
        image_now = ecs.describe_task_definition(taskDefinition=_task_definition(staging, idle))["taskDefinition"]
        assert image_now["containerDefinitions"][0]["image"] == image(tag)


@pytest.mark.slow
def test_a_healthy_canary_under_noise_is_never_rolled_back(staging: LocalAWS) -> None:
    """20 runs, each with its own seed of the traffic model's noise: every healthy release completes."""
    outcomes = []
    for seed in range(20):
        traffic.reseed(1000 + seed)
        report = run(staging, console_input("staging-image.json", image=image(f"noise-{seed}-{uuid.uuid4().hex[:4]}")))
        outcomes.append((seed, only_execution(report)["status"], [a["decision"] for a in analyses(report)]))
    false_rollbacks = [o for o in outcomes if o[1] != "SUCCEEDED"]
    assert false_rollbacks == [], false_rollbacks
    assert all(d == ["analysis-passed"] * 3 for _, _, d in outcomes)


def test_transitions_of_a_three_step_canary_with_analysis(staging: LocalAWS) -> None:
    report = run(staging, console_input("staging-image.json", image=image(f"count-{uuid.uuid4().hex[:6]}")))
    execution = only_execution(report)
    assert execution["status"] == "SUCCEEDED"
    assert execution["path"].count("Analyze") == 3
    assert execution["transitions"] < 60
    print(f"\n3-step canary with analysis: {execution['transitions']} state transitions")


def test_an_alarm_still_rolls_back_at_once_mid_interval(staging: LocalAWS) -> None:
    from deckwatch.local.mock_services import elbv2

    stable = live(staging)
    elbv2.when_watched(WEB_ALARM, lambda: elbv2.fire(WEB_ALARM, "5XX burst"), phase="bake")
    report = run(staging, console_input("staging-image.json", image=image(f"burst-{uuid.uuid4().hex[:6]}")))
    assert only_execution(report)["path"][-3:] == ["Bake", "Rollback", "RolledBack"]
    assert record(report, "rolled-back")["details"]["reason"] == "alarm"
    assert analyses(report) == []  # the alarm's own event answered before any interval ended
    assert live(staging) == stable
    assert "rolled-back" in decisions(report)


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _listener(rt: LocalAWS, port: int) -> dict[str, Any]:
    elb = rt.client("elbv2")
    lb = rt.world["services"]["web"]["load_balancer"]
    return next(li for li in elb.describe_listeners(LoadBalancerArn=lb)["Listeners"] if li["Port"] == port)


def _task_definition(rt: LocalAWS, colour: str) -> str:
    found = rt.client("ecs").describe_services(cluster="shop-staging", services=[f"shop-staging-web-{colour}"])
    return str(found["services"][0]["taskDefinition"])


def _build_event(tag: str) -> dict[str, Any]:
    event = load_event(EVENTS / "pipeline_events/action-build-succeeded.json")
    key = f"shop-web/ImageDefin/{uuid.uuid4().hex[:7]}"
    codepipeline.put_artifact(key, codepipeline.image_definitions(image(tag)))
    event["detail"]["execution-id"] = str(uuid.uuid4())
    event["detail"]["output-artifacts"][0]["s3location"]["key"] = key
    return event
