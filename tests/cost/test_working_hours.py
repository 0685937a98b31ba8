"""Savings outside working hours (cost.schedule), through the embedded AWS in simulated time from a Wednesday
evening in Paris: the schedule fires every 15 minutes whatever the time and the policy's working hours decide;
nights take the savings (a resource under maintenance is left alone), mornings resume what the night stopped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from deckwatch.local.runtime import LocalAWS, Report
from support.cost import capacity
from support.cutover import Factory
from support.samples import REPO_ROOT

PARIS = ZoneInfo("Europe/Paris")
TICK = "CostActionsFunctionWorkingHours"


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS).timestamp()


@pytest.fixture(scope="module")
def rt(local_aws_factory: Factory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAWS]:
    doc = yaml.safe_load((REPO_ROOT / "layers/deckwatch/deckwatch/policy/examples/staging.yaml").read_text())
    doc["cost"]["savings"]["working_hours"] = [
        {"days": ["mon-fri"], "from": "08:00", "to": "19:00", "timezone": "Europe/Paris"}
    ]
    path: Path = tmp_path_factory.mktemp("policy") / "staging.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with local_aws_factory("staging", policy_file=path, start=paris(2027, 3, 17, 12)) as runtime:
        yield runtime


def decisions(report: Report) -> list[str]:
    return [r["decision"] for r in report.ledger]


def test_working_hours_take_nothing(rt: LocalAWS) -> None:
    report = rt.fire_schedule(TICK)
    assert report.invocations[0]["status"] == "ok" and report.executions == [] and report.ledger == []


def test_the_night_saves_and_the_morning_resumes(rt: LocalAWS) -> None:
    before = capacity(rt)
    from deckwatch import clock, maintenance

    with rt.control_plane() as deps:  # the database is being worked on tonight
        maintenance.start(
            deps,
            resource="rds:shop-staging-db",
            until=clock.iso(paris(2027, 3, 18, 6)),
            reason="minor version upgrade",
            actor="dba",
        )
    rt.clock.advance_to(paris(2027, 3, 17, 19, 5))
    night = rt.fire_schedule(TICK)
    (execution,) = night.executions
    assert execution["name"] == "savings-night-2027-03-18T070000Z" and execution["status"] == "SUCCEEDED"
    scheduled = next(r for r in night.ledger if r["decision"] == "savings-scheduled")
    assert scheduled["details"]["window"]["opens_at"] == "2027-03-18T07:00:00Z"  # Thursday 08:00 CET
    assert scheduled["details"]["window"]["window"] == "mon-fri 08:00-19:00 Europe/Paris"
    skipped = next(r for r in night.ledger if r["subject"] == "rds:shop-staging-db")
    assert skipped["decision"] == "skipped" and "minor version upgrade" in skipped["reason"]
    assert capacity(rt) == {**before, "shop-staging-web-blue": 0}  # the database stays up: under maintenance

    rt.clock.advance_to(paris(2027, 3, 17, 23))
    again = rt.fire_schedule(TICK)
    assert again.executions == [] and again.ledger == []  # one savings run per night

    rt.clock.advance_to(paris(2027, 3, 18, 8, 2))
    morning = rt.fire_schedule(TICK)
    (resume,) = morning.executions
    assert resume["name"].startswith("savings-day-2027-03-18T180000Z")  # the day's stretch ends 19:00 CET
    assert "resume-scheduled" in decisions(morning) and "restored" in decisions(morning)
    assert capacity(rt) == before
