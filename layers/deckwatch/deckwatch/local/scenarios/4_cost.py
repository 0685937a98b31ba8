# ruff: noqa: T201, N999 - a demo scenario narrates on stdout; scenarios are named <n>_<capability> to order them
"""Cost: an anomaly in staging raises an alert with its root causes and the month's forecast, scales the staging
services to zero and stops the database (reversibly), then a person resumes and the exact capacity returns."""

from __future__ import annotations

import json
from pathlib import Path

from deckwatch.local.runtime import LocalAWS
from deckwatch.local.timeline import render

TITLE = "cost: anomaly in staging -> alert + reversible scale-down -> resume"


def _capacity(rt: LocalAWS) -> str:
    from deckwatch.cost.savings import ecs_targets

    ecs, rds = rt.client("ecs"), rt.client("rds")
    policy = rt.policy.policy.cost.savings
    parts = []
    for cluster, service in ecs_targets(rt.policy.policy):
        svc = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
        parts.append(f"{service}={svc['desiredCount']}")
    for db in policy.rds_instances:
        parts.append(f"{db}={rds.describe_db_instances(DBInstanceIdentifier=db)['DBInstances'][0]['DBInstanceStatus']}")
    return ", ".join(parts)


def run(root: Path) -> None:
    with LocalAWS(root, environment="staging") as rt:
        print(f"\n== capacity before: {_capacity(rt)}")
        event = json.loads((root / "events" / "cost_events" / "anomaly-detected.json").read_text(encoding="utf-8"))
        print("\n== Cost Anomaly Detection reports a high anomaly on the staging monitor (EventBridge)")
        print(render(rt.replay(event)))
        print(f"\n== capacity after the savings action: {_capacity(rt)}")
        print("\n== a few hours later, a person resumes (console input cost_savings/resume-staging.json)")
        rt.clock.advance(6 * 3600)
        resume = json.loads(
            (root / "events" / "statemachines" / "cost_savings" / "resume-staging.json").read_text(encoding="utf-8")
        )
        print(render(rt.start_execution("CostSavingsStateMachine", resume, name="demo-cost-resume")))
        print(f"\n== capacity after resume (exactly as before): {_capacity(rt)}")
        print("\n== the weekly report (schedule fired in simulated time)")
        report = rt.fire_schedule("CostReportFunctionWeeklyReport")
        print(render(report))
