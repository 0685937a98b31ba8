"""Where a stack's events may come from (deckwatch.scope): its account, its regions, and names that repeat."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from deckwatch import scope
from deckwatch.config import Settings
from deckwatch.context import Services
from deckwatch.local.runtime import LocalAWS

HOME = "123456789012"


@pytest.fixture(scope="module")
def rt(local_aws_factory: Callable[..., AbstractContextManager[LocalAWS]]) -> Iterator[LocalAWS]:
    with local_aws_factory("staging") as runtime:
        yield runtime


@pytest.fixture
def deps(rt: LocalAWS) -> Iterator[Services]:
    with rt.control_plane() as services:
        yield services


def with_policy(deps: Services, **changes: Any) -> Services:
    loaded = deps.policy()
    deps._policy = dataclasses.replace(loaded, policy=loaded.policy.model_copy(update=changes))
    return deps


def test_the_stack_knows_its_account_from_its_environment(rt: LocalAWS, deps: Services) -> None:
    assert rt.function_env()["ACCOUNT_ID"] == HOME  # template.yaml Globals: AWS::AccountId
    assert (deps.settings.account, deps.settings.region) == (HOME, "us-east-1")
    assert scope.home(deps) == (HOME, ["us-east-1"])


def test_dr_regions_count_for_backup_events_only(deps: Services) -> None:
    from deckwatch.policy.model import DrillNetwork

    network = DrillNetwork(db_subnet_group="dr-drills", security_group="dr-sg")
    drills = deps.policy().policy.drills.model_copy(update={"dr_networks": {"us-west-2": network}})
    with_policy(deps, drills=drills)
    assert scope.home(deps) == (HOME, ["us-east-1", "us-west-2"])
    assert scope.foreign(deps, "aws.backup", HOME, "us-west-2") is None  # a copy in the DR region
    # a pipeline, alarm, ECS service or DB named in the policy is the stack region's: the same name elsewhere is
    # another resource
    for source in ("aws.codepipeline", "aws.cloudwatch", "aws.ecs", "aws.rds"):
        why = scope.foreign(deps, source, HOME, "us-west-2")
        assert why is not None and why.startswith("event from us-west-2: the policy names")
    assert scope.foreign(deps, "aws.codepipeline", HOME, "us-east-1") is None


def test_the_policy_names_the_account_and_regions(deps: Services) -> None:
    with_policy(deps, account="210987654321", regions=["eu-west-1", "us-east-1"])
    assert scope.foreign(deps, "aws.backup", HOME, "us-east-1") == (
        f"event from account {HOME}: this stack acts on account 210987654321 (policy account)"
    )
    assert scope.foreign(deps, "aws.backup", "210987654321", "eu-west-1") is None
    assert scope.foreign(deps, "aws.backup", "210987654321", "us-west-2") == (
        "event from us-west-2: this stack acts on eu-west-1, us-east-1 (policy regions)"
    )


def test_cost_anomaly_detection_is_global(deps: Services) -> None:
    assert scope.foreign(deps, "aws.ce", HOME, "us-east-1") is None
    assert scope.foreign(deps, "aws.ce", HOME, "ap-south-1") is None  # its home region, whatever the stack's
    assert scope.foreign(deps, "aws.ce", "210987654321", "us-east-1") is not None


def test_settings_read_the_account(deps: Services) -> None:
    env = dict.fromkeys(("ENVIRONMENT", "LEDGER_TABLE", "STATE_TABLE", "IDEMPOTENCY_TABLE", "TOPIC_ARN"), "x")
    env |= {"ENVIRONMENT": "dev", "DLQ_URL": "u", "POLICY_PARAMETER": "p", "ACCOUNT_ID": "111122223333"}
    assert Settings.from_env(env).account == "111122223333"
