"""The standing fault matrix (support/fault_matrix.py) over a restore drill: a drill started from the console,
restored into the drill network, validated against the real PostgreSQL, cleaned up and reported. One case per
call site in the suite (kinds and durations in rotation), all eight per site with FAULT_MATRIX=full, as
tests/faults/test_fault_matrix.py does for the other workflows. The matrix's invariants include "no drill
database left" and "no lease left" besides the ledger's."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from deckwatch.local.mock_services import backup
from deckwatch.local.mock_services._postgres import Cluster
from deckwatch.local.runtime import LocalAWS, Report
from support import fault_matrix as fm
from support.drills import STAGING_POLICY, console, serve

Factory = Callable[..., AbstractContextManager[LocalAWS]]
FULL = os.environ.get("FAULT_MATRIX") == "full"
JANITOR_AFTER_SECONDS = 7 * 3600


@pytest.fixture(autouse=True)
def fresh(postgres: Cluster, tmp_path: Path) -> Iterator[None]:
    """Overrides the drills' per-test start (which needs a module runtime): each case starts its own."""
    os.environ["DECKWATCH_DRILL_REPORTS_DIR"] = str(tmp_path)
    try:
        yield
    finally:
        os.environ.pop("DECKWATCH_DRILL_REPORTS_DIR", None)
        postgres.load_fixture()


def _drill(postgres: Cluster) -> Callable[[LocalAWS], list[Report]]:
    def trigger(rt: LocalAWS) -> list[Report]:
        backup.controls().outcome = "COMPLETED"
        backup.controls().restore_seconds = 900.0
        serve(postgres)
        postgres.load_fixture()
        payload = console("staging-latest-point.json")
        drilled = rt.start_execution("DrillStateMachine", payload, name=f"fm-{uuid.uuid4().hex[:10]}")
        # the backstop as it runs in AWS: the hourly janitor, once a left database is older than max_age_hours (6)
        rt.clock.advance(JANITOR_AFTER_SECONDS)
        return [drilled, rt.fire_schedule("DrillFunctionJanitor")]

    return trigger


def test_fault_matrix_drill(local_aws_factory: Factory, postgres: Cluster) -> None:
    wf = fm.Workflow("drill", "staging", _drill(postgres), policy_file=STAGING_POLICY)

    def fresh_world() -> AbstractContextManager[LocalAWS]:
        return local_aws_factory(wf.environment, approvals=wf.approvals, policy_file=wf.policy_file)

    with fresh_world() as rt:
        sites, problems = fm.baseline(rt, wf)
    assert problems == [], f"the drill does not hold without faults: {problems}"
    assert len(sites) >= 10, sites
    results = []
    for case in fm.selected(fm.cases(wf, sites), FULL):
        with fresh_world() as rt:
            results.append(fm.run_case(rt, wf, case))
    failed = [f"{r.case.id}: {'; '.join(r.problems[:3])}" for r in results if not r.held]
    print(f"\nfault matrix drill: {len(results)} cases over {len(sites)} call sites, {len(results) - len(failed)} held")
    assert not failed, "\n".join(failed)
