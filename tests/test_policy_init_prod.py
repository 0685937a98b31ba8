"""`deckwatch policy init` against the production workload stack (the embedded AWS's `shop-prod`, built from
workload/template.yaml with prod's sizing): the policy a team would start production from validates, asks a
person to approve every cutover, bounds every scale-out by the stack's own prod maxima and holds canaries to the
stack's SLO. The staging stack's tests (test_policy_init.py) cover what does not depend on the environment."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from deckwatch.local import simulation
from deckwatch.local.policy_init import init
from deckwatch.local.runtime import LocalAWS
from deckwatch.policy import load_file
from deckwatch.policy.model import Policy
from support.cutover import Factory

STACK = "shop-prod"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def prod(local_aws_factory: Factory) -> Iterator[LocalAWS]:
    with local_aws_factory("prod", approvals="approve", world="workload", policy_file=simulation.policy("prod")) as rt:
        yield rt


@pytest.fixture(scope="module")
def outputs(prod: LocalAWS) -> dict[str, str]:
    stack = prod.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


@pytest.fixture(scope="module")
def generated(prod: LocalAWS, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Policy]:
    out = tmp_path_factory.mktemp("init") / "prod.yaml"
    _, text = init(prod.client, STACK, "prod", out)
    return text, load_file(out).policy


def test_the_prod_policy_validates_and_starts_in_dry_run(generated: tuple[str, Policy]) -> None:
    text, policy = generated
    assert policy.environment == "prod"
    assert policy.dry_run is True  # a generated policy plans until a person has read its ledger
    assert "# DECIDE:" in text


def test_every_prod_cutover_waits_for_a_person_after_the_pipelines_approval(
    generated: tuple[str, Policy], outputs: dict[str, str]
) -> None:
    _, policy = generated
    assert policy.services
    for svc in policy.services:
        assert svc.require_approval is True, svc.name
        assert [(t.pipeline, t.action) for t in svc.triggers] == [
            (outputs[f"{svc.name.title()}PipelineName"], "ApproveProd")
        ]


def test_prod_scale_outs_are_bounded_by_the_stacks_prod_maxima(
    generated: tuple[str, Policy], outputs: dict[str, str]
) -> None:
    """Each scale-out rule's bound is its own service's prod maximum, which is the capacity arithmetic's figure
    (workload/generate.py prod_max_tasks, documented in workload/README.md "Capacity")."""
    _, policy = generated
    sizing = _workload_generator()
    scale_outs = [r for r in policy.remediation.rules if r.runbook == "ecs_scale_out"]
    assert {_service_of(r.alarm) for r in scale_outs} == {"web", "api", "worker"}
    for rule in scale_outs:
        name = _service_of(rule.alarm)
        assert rule.bounds.max_tasks == int(outputs[f"{name.title()}MaxTasks"]) == sizing.prod_max_tasks(name), rule


def _service_of(match: object) -> str:
    text = str(getattr(match, "name", None) or getattr(match, "pattern", None) or getattr(match, "prefix", ""))
    return text.removeprefix("shop-prod-").split("-", 1)[0]


def _workload_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("workload_generate", REPO / "workload/generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def test_prod_canaries_are_held_to_the_stacks_slo(generated: tuple[str, Policy], outputs: dict[str, str]) -> None:
    _, policy = generated
    for svc in policy.services:
        limits = {m.name: m.max for m in svc.rollout.analysis.metrics}
        assert limits["error_rate"] == float(outputs["SloErrorRatePercent"]) / 100, svc.name
        if svc.kind == "ecs_worker":
            assert limits["queue_age"] == float(outputs["SloQueueAgeSeconds"]) == 60, svc.name
        else:
            assert limits["latency_p99"] == float(outputs["SloLatencySeconds"]) == 0.2, svc.name


def test_the_prod_policy_names_what_the_hand_written_one_names(generated: tuple[str, Policy]) -> None:
    """The month's hand-written prod policy (simulation/policies/prod.yaml) was copied from the stack by hand:
    everything it names for cutovers, drills and cost, the generated one names too."""
    _, policy = generated
    hand = load_file(Path(simulation.policy("prod"))).policy
    assert {s.name for s in hand.services} <= {s.name for s in policy.services}
    for svc in hand.services:
        mine = policy.service(svc.name)
        assert mine is not None and set(svc.alarms) <= set(mine.alarms), svc.name
    assert [t.resource for t in hand.drills.targets] == [t.resource for t in policy.drills.targets]
    assert hand.cost.budget == policy.cost.budget
