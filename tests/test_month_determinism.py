"""A month is a function of its seed (issue 12): the same seed, the same releases, incidents, drills and savings.
A module of its own, apart from tests/test_month.py, so that the two long simulations can run on two test workers."""

from __future__ import annotations

from typing import Any

import pytest
from deckwatch.local.simulation.run import simulate
from support.samples import REPO_ROOT


@pytest.mark.slow
def test_the_same_seed_gives_the_same_month() -> None:
    first, second = (simulate(REPO_ROOT, days=1, seed=3, environments=("staging",)) for _ in range(2))

    def stable(month: Any) -> Any:
        s = month.results[0].summary
        return {k: s[k] for k in ("releases", "incidents", "drills", "savings", "lambda_invocations", "shipped")}

    assert stable(first) == stable(second)
