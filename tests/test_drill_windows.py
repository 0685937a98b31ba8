"""Drill hours (drills.windows) and planned maintenance for restore drills, through the embedded AWS in simulated
time: the hourly schedule and completed backup jobs start drills only inside the windows (weekends here) and never
on a database under maintenance; each decision records the window that allowed or blocked it. The policy is in
dry-run: a drill that starts records its plan (what is tested here is whether and when it starts)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import yaml
from deckwatch import clock, maintenance
from deckwatch.local.runtime import LocalAWS
from support.cutover import Factory
from support.samples import EVENTS, REPO_ROOT, load_event

PARIS = ZoneInfo("Europe/Paris")
TICK = "DrillFunctionSchedule"


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS).timestamp()


@pytest.fixture(scope="module")
def rt(local_aws_factory: Factory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAWS]:
    doc = yaml.safe_load((REPO_ROOT / "layers/deckwatch/deckwatch/policy/examples/staging.yaml").read_text())
    doc["dry_run"] = True
    doc["drills"]["schedule"] = "rate(1 day)"
    doc["drills"]["windows"] = [{"days": ["sat-sun"], "from": "00:00", "to": "24:00", "timezone": "Europe/Paris"}]
    path = tmp_path_factory.mktemp("policy") / "staging.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with local_aws_factory("staging", policy_file=path, start=paris(2027, 3, 17, 10)) as runtime:
        yield runtime


def test_a_weekday_tick_defers_the_drill_to_the_weekend(rt: LocalAWS) -> None:
    report = rt.fire_schedule(TICK)
    assert report.executions == []
    (deferred,) = report.ledger
    assert deferred["decision"] == "drill-deferred"
    assert deferred["details"]["window"]["opens_at"] == "2027-03-19T23:00:00Z"  # Saturday 00:00 CET


def test_a_backup_completed_on_a_weekday_is_not_drilled(rt: LocalAWS) -> None:
    report = rt.replay(load_event(EVENTS / "backup_events/backup-job-completed.json"))
    assert report.executions == []
    assert [r["decision"] for r in report.ledger] == ["drill-deferred"]


def test_a_database_under_maintenance_is_not_drilled_on_the_weekend(rt: LocalAWS) -> None:
    rt.clock.advance_to(paris(2027, 3, 20, 2))
    with rt.control_plane() as deps:
        maintenance.start(
            deps, resource="rds:shop-staging-db", until=clock.iso(paris(2027, 3, 20, 6)), reason="vacuum", actor="dba"
        )
    report = rt.fire_schedule(TICK)
    assert report.executions == []
    (held,) = report.ledger
    assert held["decision"] == "under-maintenance" and "vacuum" in held["reason"]
    assert held["details"]["window"]["open"] is True


def test_the_next_weekend_tick_drills(rt: LocalAWS) -> None:
    rt.clock.advance_to(paris(2027, 3, 21, 3))  # Sunday, a day later, maintenance over
    report = rt.fire_schedule(TICK)
    scheduled = next(r for r in report.ledger if r["decision"] == "drill-scheduled")
    assert scheduled["details"]["window"]["window"] == "sat-sun 00:00-24:00 Europe/Paris"
    assert [e["state_machine"] for e in report.executions] == ["DrillStateMachine"]
