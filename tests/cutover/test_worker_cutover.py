"""Cutovers of a queue worker (kind ecs_worker): the workload stack's `worker`, two ECS services consuming one SQS
queue and no load balancer, through the real cutover state machine. Its traffic is split by task counts; the
canary is judged on the worker's own per-colour metrics (shop/worker) and its queue's age.

The embedded AWS is built from workload/template.yaml (`world="workload"`), with the month's staging policy, whose
worker bakes 10 minutes per step (10% -> 100%) with 5-minute analysis intervals."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from deckwatch.errors import PolicyError
from deckwatch.local import simulation
from deckwatch.local.mock_services import ecs, traffic
from deckwatch.local.runtime import LocalAWS, Report
from deckwatch.policy import parse
from support.cutover import Factory, decisions, only_execution, record, run

CLUSTER = "shop-staging"
NAMES = {c: f"shop-staging-worker-{c}" for c in ("blue", "green")}


@pytest.fixture(scope="module")
def workload(local_aws_factory: Factory) -> Iterator[LocalAWS]:
    with local_aws_factory(
        "staging", approvals="approve", world="workload", policy_file=simulation.policy("staging")
    ) as rt:
        yield rt


@pytest.fixture
def rt(workload: LocalAWS) -> Iterator[LocalAWS]:
    """The world, with default traffic (every release answers well) before and after the test, and the
    alarms evaluated after it (the cutover conftest sets them back to OK after each test)."""
    traffic.reset()
    yield workload
    traffic.reset()
    wait(workload, 10)  # the release's alarms evaluate out of their periods, a rollback's tasks start


def wait(rt: LocalAWS, minutes: int) -> None:
    """Let `minutes` of simulated time pass (the traffic model's minutes run while something waits)."""
    rt.scheduler.call_later(minutes * 60, lambda: None, f"wait {minutes} min")
    rt.settle()


def services(rt: LocalAWS) -> dict[str, dict[str, Any]]:
    found = rt.client("ecs").describe_services(cluster=CLUSTER, services=list(NAMES.values()))["services"]
    by_name = {s["serviceName"]: s for s in found}
    return {c: by_name[n] for c, n in NAMES.items()}


def counts(rt: LocalAWS) -> dict[str, int]:
    return {c: int(s["desiredCount"]) for c, s in services(rt).items()}


def live(rt: LocalAWS) -> str:
    n = counts(rt)
    return max(n, key=lambda c: (n[c], c == "blue"))


def recorded_shares(rt: LocalAWS) -> dict[str, int]:
    names = [f"/deckwatch/staging/traffic/worker/{c}" for c in NAMES]
    found = rt.client("ssm").get_parameters(Names=names)["Parameters"]
    return {p["Name"].rsplit("/", 1)[-1]: int(p["Value"]) for p in found}


def image(rt: LocalAWS, tag: str) -> str:
    return f"{rt.world['services']['worker']['repository']}:{tag}"


def release(rt: LocalAWS, tag: str, **changes: Any) -> Report:
    return run(rt, {"environment": "staging", "service": "worker", "image": image(rt, tag), **changes})


def canary_counts(capacity: int, weight: int) -> tuple[int, int]:
    """(new, stable) tasks at `weight` percent of `capacity`: the new colour ceil(capacity x weight / 100), the
    stable colour the rest but never its last task below 100%."""
    new = math.ceil(capacity * weight / 100)
    return new, max(capacity - new, 1 if weight < 100 else 0)


def updates(report: Report) -> list[tuple[str, int]]:
    """(service name, desiredCount) of every UpdateService the cutover recorded, in order."""
    out = []
    for r in report.ledger:
        action = r.get("action") or {}
        params = action.get("parameters") or {}
        if action.get("operation") == "UpdateService" and "desiredCount" in params and r.get("outcome") == "done":
            out.append((str(params["service"]), int(params["desiredCount"])))
    return out


def test_a_good_release_reaches_100_percent_with_the_stable_colour_scaled_down(rt: LocalAWS) -> None:
    report = release(rt, "good-1")
    execution = only_execution(report)
    assert execution["status"] == "SUCCEEDED", execution
    assert execution["path"].count("Shift") == 2 and "RollbackWindow" in execution["path"]
    plan = record(report, "planned")["details"]
    new, stable, capacity = plan["new"], plan["stable"], plan["capacity"]
    assert counts(rt) == {new: capacity, stable: 0}
    assert recorded_shares(rt) == {new: 100, stable: 0}  # remediation's live colour follows
    svc = services(rt)[new]
    assert svc["runningCount"] == capacity and svc["taskDefinition"].endswith(plan["revision"].rsplit("/", 1)[-1])
    # each step's split, verified: the new colour gains its tasks before the stable colour loses any
    first_new, first_stable = canary_counts(capacity, 10)
    assert [u for u in updates(report) if u[0] in NAMES.values()][-4:] == [
        (NAMES[new], first_new),
        (NAMES[stable], first_stable),
        (NAMES[new], capacity),
        (NAMES[stable], 0),
    ]
    # judged on evidence: the canary's own messages, its failures and the queue's age
    passed = [r for r in report.ledger if r["decision"] == "analysis-passed"]
    assert len(passed) == 4 and not [d for d in decisions(report) if d in ("analysis-no-data", "analysis-failed")]
    for r in passed:
        canary = r["details"]["canary"]
        assert canary["requests"] >= 20 and {"error_rate", "latency_p99", "queue_age"} <= set(canary)
    assert decisions(report)[-1] == "completed"


def test_a_bad_release_is_rolled_back_with_every_task_on_the_stable_colour(rt: LocalAWS) -> None:
    stable = live(rt)
    capacity = counts(rt)[stable]
    traffic.release(image(rt, "bad-1"), error_rate=0.3)
    report = release(rt, "bad-1")
    execution = only_execution(report)
    assert execution["status"] == "FAILED" and execution["error"] == "CutoverRolledBack"
    assert execution["path"].count("Shift") == 1
    new = next(c for c in NAMES if c != stable)
    rb = record(report, "rolled-back")
    assert rb["details"]["reason"] in ("alarm", "analysis")  # its error-rate alarm or its own figures
    assert "error" in rb["reason"]
    on_new, on_stable = canary_counts(capacity, 10)
    assert rb["details"]["weight_at_rollback"] == round(100 * on_new / (on_new + on_stable))  # observed, not 10
    assert counts(rt) == {stable: capacity, new: 0}
    assert recorded_shares(rt) == {stable: 100, new: 0}
    # the bad colour stopped first: its tasks went to zero before the stable colour got its tasks back
    assert updates(report)[-2:] == [(NAMES[new], 0), (NAMES[stable], capacity)]


def test_a_slow_release_is_rolled_back_by_the_analysis_on_its_message_age(rt: LocalAWS) -> None:
    """The worker's message-age alarm is not watched by the policy: the canary analysis alone sees its p99."""
    stable = live(rt)
    capacity = counts(rt)[stable]
    traffic.release(image(rt, "slow-1"), latency_ms=450.0)
    report = release(rt, "slow-1")
    rb = record(report, "rolled-back")
    assert rb["details"]["reason"] == "analysis" and "latency_p99" in rb["reason"]
    failed = [r for r in report.ledger if r["decision"] == "analysis-failed"]
    assert failed and failed[0]["details"]["canary"]["latency_p99"] > failed[0]["details"]["stable"]["latency_p99"]
    assert counts(rt) == {stable: capacity, next(c for c in NAMES if c != stable): 0}


def test_a_canary_whose_tasks_never_run_has_no_data_and_rolls_back(rt: LocalAWS) -> None:
    """No message handled by the canary is no evidence: the step never bakes, and it rolls back."""
    stable = live(rt)
    new = next(c for c in NAMES if c != stable)
    ecs.stick(NAMES[new])
    report = release(rt, "stuck-1")
    outcomes = [d for d in decisions(report) if d.startswith("analysis-")]
    assert outcomes and set(outcomes) == {"analysis-no-data"}
    assert "baked" not in decisions(report)
    rb = record(report, "rolled-back")
    assert rb["details"]["reason"] == "no-data"
    assert counts(rt)[new] == 0 and counts(rt)[stable] > 0


def test_a_shift_that_does_not_take_is_detected_and_the_stable_colour_keeps_its_tasks(rt: LocalAWS) -> None:
    """UpdateService answers, but the new colour's desired count stays at 0 (autoscaling puts it back): the read
    back after the call fails the shift, before the stable colour loses a task."""
    stable = live(rt)
    capacity = counts(rt)[stable]
    new = next(c for c in NAMES if c != stable)
    ecs.hold_count(NAMES[new])
    report = release(rt, "held-1")
    execution = only_execution(report)
    assert execution["path"][-3:] == ["Shift", "Rollback", "RolledBack"]
    rb = record(report, "rolled-back")
    assert rb["details"]["reason"] == "shift-failed" and "wants 0 tasks afterwards" in rb["reason"]
    assert rb["details"]["weight_at_rollback"] == 0
    assert counts(rt) == {stable: capacity, new: 0}
    assert (NAMES[stable], capacity - 1) not in updates(report)  # never lowered for a canary that did not start
    assert "shifted" not in decisions(report)


def test_a_dry_run_plans_the_split_and_changes_nothing(rt: LocalAWS) -> None:
    def world() -> Any:
        params = rt.client("ssm").get_parameters_by_path(Path="/deckwatch/staging/traffic/worker")["Parameters"]
        revisions = rt.client("ecs").list_task_definitions(familyPrefix="shop-staging-worker")["taskDefinitionArns"]
        return (
            {c: (s["desiredCount"], s["taskDefinition"]) for c, s in services(rt).items()},
            sorted((p["Name"], p["Value"]) for p in params),
            revisions,
        )

    before = world()
    report = release(rt, f"dry-{uuid.uuid4().hex[:6]}", dryRun=True)
    assert only_execution(report)["status"] == "SUCCEEDED"
    assert world() == before
    (plan,) = [r for r in report.ledger if r["decision"] == "planned" and r["kind"] == "decision"]
    assert plan["dry_run"] and plan["reason"].startswith("dry-run:")
    planned = [(a["operation"], a["parameters"]) for a in plan["details"]["actions"]]
    new, stable = NAMES[plan["details"]["new"]], NAMES[plan["details"]["stable"]]
    assert "RegisterTaskDefinition" in [op for op, _ in planned]
    updates = [p for op, p in planned if op == "UpdateService"]
    assert updates[0]["service"] == new and "taskDefinition" in updates[0] and "desiredCount" not in updates[0]
    # the plan, applied to the world as it is, ends with every task of the cutover on the new colour
    final = {NAMES[c]: count for c, (count, _) in before[0].items()}
    final |= {p["service"]: p["desiredCount"] for p in updates if "desiredCount" in p}
    assert final == {new: plan["details"]["capacity"], stable: 0}
    actions = [r for r in report.ledger if r["kind"] == "action"]
    assert actions and all(r["outcome"] == "dry-run" for r in actions)


# ------------------------------------------------------------------------------------------------ policy ----
WORKER = """
version: 1
environment: staging
services:
  - name: worker
    kind: {kind}
    ecs: {{cluster: shop-staging, services: {{blue: shop-staging-worker-blue, green: shop-staging-worker-green}}}}
{extra}
"""
QUEUE = "    queue: {name: shop-staging-worker, metrics_namespace: shop/worker, dimensions: {Environment: staging}}"
ALB = (
    "    alb: {load_balancer: shop-staging, listener_port: 443, "
    "target_groups: {blue: shop-staging-web-blue, green: shop-staging-web-green}}"
)


def test_a_worker_is_an_ecs_worker_with_a_queue_and_no_load_balancer() -> None:
    svc = parse(WORKER.format(kind="ecs_worker", extra=QUEUE), "p.yaml").policy.services[0]
    assert svc.queue is not None and svc.queue.dimensions == {"Environment": "staging"}
    assert parse(WORKER.format(kind="ecs", extra=ALB), "p.yaml").policy.services[0].alb is not None  # unchanged
    for kind, extra, message in (
        ("ecs_worker", "", "needs 'ecs' and 'queue'"),
        ("ecs_worker", f"{QUEUE}\n{ALB}", "has no 'alb'"),
        ("ecs", QUEUE, "needs both 'ecs' and 'alb'"),
        ("ecs", f"{QUEUE}\n{ALB}", "'queue' belongs to an ecs_worker service"),
        ("ecs_worker", QUEUE.replace("Environment: staging", "Colour: blue"), "Colour is added per colour"),
        ("ecs_worker", QUEUE.replace("shop/worker", "AWS/SQS"), "AWS's own"),
    ):
        with pytest.raises(PolicyError, match=message):
            parse(WORKER.format(kind=kind, extra=extra), "p.yaml")
