"""Planned maintenance (deckwatch.maintenance): resources under maintenance, started with `deckwatch maintenance`
or scheduled in the policy, have their alarms recorded and not remediated or paged, and an open incident on them
shows the maintenance in its timeline. Through the embedded AWS, the CLI as a person runs it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from deckwatch import clock
from deckwatch.local.cli import main
from deckwatch.local.runtime import LocalAWS
from support.cost import published
from support.remediation import BLUE, CPU_ALARM, alarm, alarm_event, desired, new_service, policy_doc, staging_rules

DB_ALARM = "shop-staging-db-free-storage-low"


@pytest.fixture(scope="module")
def staging_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The remediation tests' policy, with the database under a weekly maintenance that is always open."""
    doc = policy_doc(rules=staging_rules())
    doc["maintenance"] = [
        {
            "resources": ["rds:shop-staging-db"],
            "reason": "storage migration",
            "windows": [{"days": ["mon-sun"], "from": "00:00", "to": "24:00", "timezone": "Europe/Paris"}],
        }
    ]
    path = tmp_path_factory.mktemp("policy") / "staging.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _no_maintenance_left(rt: LocalAWS) -> Iterator[None]:
    yield
    with rt.control_plane() as deps:
        for resource in list(deps.state.maintenance.all()):
            deps.state.maintenance.stop(resource)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def later(seconds: int) -> str:
    return clock.iso(clock.now_epoch() + seconds)


def deliver(rt: LocalAWS, event: dict[str, Any]) -> list[dict[str, Any]]:
    return rt.replay(event).ledger


def test_an_alarm_on_a_resource_under_maintenance_is_recorded_not_acted_on(
    rt: LocalAWS, capsys: pytest.CaptureFixture[str]
) -> None:
    resource = "ecs:shop-staging/shop-staging-web-blue"
    code, out, err = cli(
        capsys, "maintenance", "start", "--env", "staging", "--resource", resource, "--until", later(7200),
        "--reason", "kernel patching", "--actor", "alice",
    )  # fmt: skip
    assert code == 0, err
    assert "under maintenance until" in out
    before, sent = desired(rt, BLUE), len(published(rt))
    records = deliver(rt, alarm_event(CPU_ALARM))
    assert [r["decision"] for r in records] == ["under-maintenance"]
    held = records[0]
    assert held["details"]["maintenance"]["reason"] == "kernel patching"
    assert held["details"]["maintenance"]["source"] == "deckwatch maintenance"
    assert "not remediated, not paged" in held["reason"]
    assert desired(rt, BLUE) == before  # not scaled out
    assert len(published(rt)) == sent  # nobody paged
    code, out, _ = cli(capsys, "maintenance", "list", "--env", "staging", "--json")
    listed = [json.loads(line) for line in out.splitlines()]
    assert [r["resource"] for r in listed if r["source"] == "deckwatch maintenance"] == [resource]

    assert cli(capsys, "maintenance", "stop", "--env", "staging", "--resource", resource, "--actor", "alice")[0] == 0
    with rt.control_plane() as deps:
        trail = [r["decision"] for r in deps.ledger.by_subject(resource)]
    assert {"maintenance-started", "maintenance-stopped"} <= set(trail)
    after = deliver(rt, alarm_event(CPU_ALARM))
    assert after[0]["decision"] == "runbook-selected"  # maintenance over: remediation as usual
    deliver(rt, alarm_event(CPU_ALARM, state="OK"))


def test_maintenance_scheduled_in_the_policy_holds_its_alarms(rt: LocalAWS) -> None:
    records = deliver(rt, alarm_event(DB_ALARM))
    assert [r["decision"] for r in records] == ["under-maintenance"]
    entry = records[0]["details"]["maintenance"]
    assert entry["source"] == "policy maintenance[0]" and entry["reason"] == "storage migration"
    assert entry["window"] == "mon-sun 00:00-24:00 Europe/Paris"


def test_an_open_incident_shows_the_maintenance_in_its_timeline(
    rt: LocalAWS, capsys: pytest.CaptureFixture[str]
) -> None:
    from deckwatch.remediation import incidents

    name = "storm-cpu-50"
    resource = new_service(rt, "storm-svc-50", desired=2, cluster="storm")
    alarm(rt, name)
    since = clock.iso()
    rt.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="Threshold Crossed: test")
    rt.settle()  # nothing recovers it: the incident stays open, escalated
    opened = rt.ledger_since(since)
    iid = next(r["details"]["incident_id"] for r in opened if r["decision"] == "runbook-selected")
    assert cli(
        capsys, "maintenance", "start", "--env", "staging", "--resource", f"alarm:{name}", "--until", later(3600),
        "--reason", "load test", "--actor", "bob",
    )[0] == 0  # fmt: skip
    held = deliver(rt, alarm_event(name, state="INSUFFICIENT_DATA"))
    assert [r["decision"] for r in held] == ["under-maintenance"]
    assert held[0]["details"]["incident_id"] == iid
    with rt.control_plane() as deps:
        timeline = [r["decision"] for r in incidents.timeline(deps, resource, "ecs_scale_out", iid)]
    assert "maintenance-started" in timeline and "under-maintenance" in timeline
    deliver(rt, alarm_event(name, state="OK"))


def test_a_dry_run_records_the_plan_and_changes_nothing(rt: LocalAWS, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(
        capsys, "maintenance", "start", "--env", "staging", "--resource", "rds:shop-staging-replica",
        "--until", later(600), "--reason", "resize", "--dry-run", "--actor", "carol",
    )  # fmt: skip
    assert code == 0 and "dry-run" in out
    with rt.control_plane() as deps:
        assert deps.state.maintenance.all() == {}
        planned = deps.ledger.by_subject("rds:shop-staging-replica")
    assert [(r["decision"], r["dry_run"]) for r in planned] == [("planned", True)]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--resource", "shop-staging-db", "--until", "+1h"], "--resource 'shop-staging-db': a resource key"),
        (["--resource", "rds:db", "--until", "2027-01-10T06:00"], "has no time zone offset"),
        (["--resource", "rds:db", "--until", "2020-01-10T06:00:00Z"], "is already past"),
        (["--resource", "rds:db", "--until", "tomorrow"], "--until 'tomorrow'"),
    ],
)
def test_bad_maintenance_requests_exit_2_in_one_line(
    rt: LocalAWS, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = cli(capsys, "maintenance", "start", "--env", "staging", *argv, "--reason", "x", "--actor", "d")
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err
