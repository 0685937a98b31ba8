"""A month in the life (issue 12): the seeded plan, and the promises, each shown able to break (the month itself:
test_month.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from deckwatch.local import simulation
from deckwatch.local.runtime import LocalAWS
from deckwatch.local.simulation import scenario
from deckwatch.local.simulation.invariants import Checker, Violation
from deckwatch.local.simulation.run import EnvironmentRun, SimulationFailed
from deckwatch.local.simulation.scenario import Step
from support.cutover import Factory

# ------------------------------------------------------------------------------------------------ the plan ---


def test_the_plan_is_a_function_of_days_and_seed() -> None:
    assert scenario.plan(30, 5) == scenario.plan(30, 5)
    assert scenario.plan(30, 5) != scenario.plan(30, 6)
    # an environment's plan does not depend on the others simulated with it
    alone = scenario.plan(30, 5, ("staging",))
    assert alone == [s for s in scenario.plan(30, 5) if s.environment == "staging"]


def test_the_month_has_what_the_issue_asks_for() -> None:
    steps = scenario.plan(30, 1)
    releases = [s for s in steps if s.kind == "release" and s.params["service"] != "worker"]
    assert 38 <= len(releases) <= 46
    assert {s.environment for s in releases} == {"dev", "staging", "prod"}
    qualities = Counter(s.params.get("quality") for s in releases)
    assert qualities["bad"] >= 3 and qualities["slow"] >= 2
    assert [s.environment for s in releases if s.params.get("approval") == "reject"] == ["prod"]
    assert [s.params.get("burst") for s in releases if "burst" in s.params] == [0, 1, 2]  # one superseded
    assert len([s for s in releases if s.params.get("rollback_by_person")]) == 1
    for env in ("dev", "staging", "prod"):
        mine = [s for s in steps if s.environment == env]
        quiet = [s for s in mine if s.kind == "stack-update"]
        assert len(quiet) == 2 and all(2 <= (s.at / 3600 + scenario.HOUR0) % 24 < 5 for s in quiet)
        assert len([s for s in mine if s.params.get("stack_update_at")]) == 1  # one during a cutover
        assert {"cpu-storm", "storage-storm", "rds-failover"} <= {s.kind for s in mine}
        backups = [s for s in mine if s.kind == "backup"]
        assert len(backups) == 30 and sum(1 for s in backups if s.params["stale_hours"]) == 1
    staging = [s.kind for s in steps if s.environment == "staging"]
    assert staging.count("cost-anomaly") == 2 and staging.count("resume") == 2 and "policy-change" in staging


def test_steps_happen_when_planned() -> None:
    assert scenario.clock_text(0) == "d00 09:00"
    assert scenario.clock_text(scenario.at_hour(2, 3.5)) == "d02 03:30"
    assert all(s.at >= 0 for s in scenario.plan(3, 7))


# ------------------------------------------------------------------------------------- invariant 5, pure ---


def test_a_world_changing_call_needs_its_ledger_record() -> None:
    record = {"kind": "action", "action": {"operation": "ModifyListener"}, "execution_arn": "arn:x"}
    assert Checker.unattributed([("elastic-load-balancing", "ModifyListener")], [record]) == []
    assert Checker.unattributed([("elastic-load-balancing", "ModifyListener")], []) == [
        "elastic-load-balancing:ModifyListener"
    ]
    nameless = {**record, "execution_arn": None}  # a record that names no event nor execution does not count
    assert Checker.unattributed([("ecs", "ModifyListener")], [nameless]) == ["ecs:ModifyListener"]
    assert Checker.unattributed([("dynamodb", "PutItem"), ("sns", "Publish")], []) == []  # Deckwatch's own


# ----------------------------------------------------------------------------- promises that can break ---


class Rogue(EnvironmentRun):
    """The month with a saboteur: steps that break each promise, to show that the checks catch it."""

    def _do_rogue_shift(self, step: Step) -> None:
        """Someone sends half of web to the idle colour, after registering an image there by hand."""
        web = self.rt.world["services"]["web"]
        ecs = self.rt.client("ecs")
        td = ecs.describe_task_definition(taskDefinition="shop-staging-web")["taskDefinition"]
        keep = ("family", "containerDefinitions", "cpu", "memory", "networkMode", "requiresCompatibilities")
        td = {k: td[k] for k in keep if td.get(k)}
        td["containerDefinitions"][0]["image"] = "example.com/hotfix:by-hand"
        arn = ecs.register_task_definition(**td)["taskDefinition"]["taskDefinitionArn"]
        ecs.update_service(cluster="shop-staging", service=web["ecs"]["green"], taskDefinition=arn, desiredCount=1)
        self.rt.scheduler.call_later(120, self._rogue_listener, "rogue shift")

    def _rogue_listener(self) -> None:
        web = self.rt.world["services"]["web"]
        groups = [{"TargetGroupArn": arn, "Weight": 50} for arn in web["target_groups"].values()]
        self.rt.client("elbv2").modify_listener(
            ListenerArn=web["listener"], DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}]
        )

    def _do_rogue_scale(self, step: Step) -> None:
        """Someone scales the live colour of web to zero by hand (not a savings action)."""
        web = self.rt.world["services"]["web"]
        self.rt.client("ecs").update_service(cluster="shop-staging", service=web["ecs"]["blue"], desiredCount=0)


@pytest.fixture(scope="module")
def staging(local_aws_factory: Factory) -> Iterator[LocalAWS]:
    with local_aws_factory("staging", world="workload", policy_file=simulation.policy("staging")) as rt:
        yield rt


def _fails(rt: LocalAWS, *steps: Step) -> SimulationFailed:
    with pytest.raises(SimulationFailed) as failed:
        Rogue(rt, "staging", list(steps), 7, lambda text: None).run()
    return failed.value


def _restore(rt: LocalAWS) -> None:
    """What the saboteur did, undone, so that the next test starts from the stack as it was."""
    web = rt.world["services"]["web"]
    blue, green = web["target_groups"]["blue"], web["target_groups"]["green"]
    groups = [{"TargetGroupArn": blue, "Weight": 100}, {"TargetGroupArn": green, "Weight": 0}]
    rt.client("elbv2").modify_listener(
        ListenerArn=web["listener"], DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}]
    )
    rt.client("ecs").update_service(cluster="shop-staging", service=web["ecs"]["blue"], desiredCount=1)
    rt.scheduler.call_later(60, lambda: None, "warm-up")
    rt.settle()


def test_an_image_nobody_cut_over_breaks_promise_2(staging: LocalAWS) -> None:
    try:
        failed = _fails(staging, Step(60, "staging", "rogue-shift"))
    finally:
        _restore(staging)
    assert failed.violation.invariant == 2
    assert "example.com/hotfix:by-hand serves 50% of web (green) without a cutover" in str(failed)
    assert "** rogue-shift" in str(failed)  # the readable timeline of the last events


def test_a_colour_with_traffic_and_no_tasks_breaks_promise_1(staging: LocalAWS) -> None:
    try:
        failed = _fails(staging, Step(60, "staging", "rogue-scale"))
    finally:
        _restore(staging)
    assert failed.violation.invariant == 1
    assert "web blue takes 100% with 0 running task(s)" in str(failed)


def test_remediation_under_a_cutover_lock_breaks_promise_3(staging: LocalAWS) -> None:
    checker = Checker(staging)
    service = staging.world["services"]["web"]["ecs"]["blue"]
    action: dict[str, Any] = {
        "capability": "remediation",
        "kind": "action",
        "decision": "acted",
        "subject": f"ecs:shop-staging/{service}",
        "action": {"service": "ecs", "operation": "UpdateService", "parameters": {"service": service}},
    }
    checker.on_records([action])  # the live colour, nobody holds it: fine
    with staging.control_plane() as deps:
        deps.state.leases.acquire(f"ecs:shop-staging/{service}", "arn:cutover", "cutover", 600)
        try:
            with pytest.raises(Violation, match=r"invariant 3: remediation acted on .* while cutover holds it"):
                checker.on_records([action])
            problems = checker.final([], lambda: {})
        finally:
            deps.state.leases.release(f"ecs:shop-staging/{service}", "arn:cutover")
    assert any("lock left open" in p for p in problems)  # promise 4 at the end: a lock still held
    idle = {**action, "action": {**action["action"], "parameters": {"service": service.replace("blue", "green")}}}
    with pytest.raises(Violation, match=r"invariant 3: remediation acted on shop-staging-web-green, the idle colour"):
        checker.on_records([idle])
