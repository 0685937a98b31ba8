"""Fixtures of the cutover tests (helpers are in support/cutover.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from deckwatch.local.runtime import LocalAWS
from support.cutover import POLICY, Factory


@pytest.fixture(autouse=True)
def _clean_faults() -> Iterator[None]:
    from deckwatch.local.mock_services import awslambda, ecs, elbv2

    elbv2.reset()
    ecs.unstick_all()
    yield
    elbv2.reset()
    elbv2.recover_alarms()
    ecs.unstick_all()
    awslambda.pass_checks()


@pytest.fixture(scope="module")
def staging(local_aws_factory: Factory) -> Iterator[LocalAWS]:
    with local_aws_factory("staging", approvals="approve", policy_file=POLICY) as rt:
        yield rt
