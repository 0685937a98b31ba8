"""Release windows and change freezes through the embedded AWS, in simulated time starting on a Friday evening in
Paris (tests/cutover/policies/windows.yaml: weekdays 09:00-16:00 Europe/Paris, a freeze 2027-04-05..09 with an
emergency override, an api service that refuses outside its windows). Each test moves the clock on to its own
local moment; the state machine's Wait states (TimestampPath) wait in simulated time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from deckwatch.local.mock_services import elbv2, traffic
from deckwatch.local.runtime import LocalAWS, Report
from support.cost import published
from support.cutover import (
    Factory,
    console_input,
    decisions,
    image,
    live,
    only_execution,
    ops,
    record,
    run,
    weights,
)
from support.samples import REPO_ROOT

PARIS = ZoneInfo("Europe/Paris")
POLICY = REPO_ROOT / "tests" / "cutover" / "policies" / "windows.yaml"


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS).timestamp()


def local(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(PARIS)


def at(rt: LocalAWS, epoch: float) -> None:
    """Move simulated time on to `epoch` (tests run in file order, each at a later local moment)."""
    assert rt.clock.time() <= epoch, "this test's moment is already past"
    rt.clock.advance_to(epoch)


@pytest.fixture(scope="module")
def rt(local_aws_factory: Factory) -> Iterator[LocalAWS]:
    with local_aws_factory("staging", policy_file=POLICY, start=paris(2027, 3, 19, 16)) as runtime:
        traffic.enable(False)  # whole weekends pass: no per-minute metrics (analysis is off in this policy)
        yield runtime


def messages(rt: LocalAWS, since: int) -> list[str]:
    return [m["subject"] for m in published(rt)[since:]]


def shifts(report: Report) -> list[dict[str, Any]]:
    return [r for r in report.ledger if r["decision"] == "shifted"]


def test_release_triggered_friday_evening_waits_until_monday_morning(rt: LocalAWS) -> None:
    at(rt, paris(2027, 3, 19, 17))  # Friday 17:00 in Paris (16:00 UTC)
    before, sent = live(rt), len(published(rt))
    report = run(rt, console_input("staging-image.json", image=image("friday-1")))
    execution = only_execution(report)
    assert execution["status"] == "SUCCEEDED", execution
    assert execution["path"][:6] == ["Begin", "Route", "WaitForWindow", "Begin", "Route", "Deploy"]  # waited once
    waiting = record(report, "waiting-for-window")
    assert local(waiting["time"]).strftime("%a %H:%M") == "Fri 17:00"
    assert waiting["details"]["window"]["opens_at"] == "2027-03-22T08:00:00Z"  # Monday 09:00 CET
    assert waiting["details"]["window"]["window"] == "mon-fri 09:00-16:00 Europe/Paris"
    assert waiting["reason"].startswith("planned: ")
    assert any("waiting for its window" in s for s in messages(rt, sent))
    planned = record(report, "planned")
    assert local(planned["time"]).strftime("%a %Y-%m-%d %H:%M") == "Mon 2027-03-22 09:00"
    assert planned["details"]["window"]["open"] is True
    assert shifts(report) and all(local(r["time"]) >= local("2027-03-22T08:00:00Z") for r in shifts(report))
    assert decisions(report)[-1] == "completed"
    after = live(rt)
    assert after != before and weights(rt) == {after: 100, before: 0}


def test_the_window_after_the_clocks_change_opens_at_nine_local(rt: LocalAWS) -> None:
    """Europe/Paris moves to summer time on Sunday 2027-03-28: Monday's 09:00 is 07:00 UTC, not 08:00."""
    at(rt, paris(2027, 3, 26, 17))
    report = run(rt, console_input("staging-image.json", image=image("dst-1")))
    assert only_execution(report)["status"] == "SUCCEEDED"
    assert record(report, "waiting-for-window")["details"]["window"]["opens_at"] == "2027-03-29T07:00:00Z"
    planned = record(report, "planned")
    assert planned["time"].startswith("2027-03-29T07:00")
    assert local(planned["time"]).strftime("%H:%M %Z") == "09:00 CEST"


def test_a_bake_that_would_cross_the_window_end_pauses_until_the_next_window(rt: LocalAWS) -> None:
    at(rt, paris(2027, 3, 29, 15, 45))  # Monday, 15 minutes before the window closes; steps 10/50/100, 5 min bakes
    report = run(rt, console_input("staging-image.json", image=image("late-1")))
    execution = only_execution(report)
    assert execution["status"] == "SUCCEEDED", execution
    paused = record(report, "paused")
    assert paused["details"]["window"]["resumes_at"] == "2027-03-30T07:00:00Z"  # Tuesday 09:00 CEST
    assert "would end after the window closes" in paused["reason"]
    assert "watched" in paused["reason"]  # the canary keeps its traffic and its alarms are watched meanwhile
    closed_from, reopened = local("2027-03-29T14:00:00Z"), local("2027-03-30T07:00:00Z")
    times = [local(r["time"]) for r in shifts(report)]
    assert not [t for t in times if closed_from <= t < reopened]  # no shift while the window is closed
    assert times[-1] >= reopened
    assert record(report, "resumed")
    assert "Bake" in execution["path"][execution["path"].index("InWindow") :]
    assert decisions(report)[-1] == "completed"


def test_a_dry_run_outside_the_window_says_it_would_wait(rt: LocalAWS) -> None:
    at(rt, paris(2027, 4, 3, 11))  # Saturday
    report = run(rt, console_input("staging-dry-run.json"))
    assert only_execution(report)["path"] == ["Begin", "Route", "EndEarly", "Done"]
    waiting = record(report, "waiting-for-window")
    # Monday's window is inside the freeze (2027-04-05..09): the next opening outside it is a week later
    assert waiting["dry_run"] is True and waiting["details"]["window"]["opens_at"] == "2027-04-12T07:00:00Z"
    plan = next(r for r in report.ledger if r["decision"] == "planned" and r["kind"] == "decision")
    assert plan["dry_run"] is True and plan["details"]["window"]["open"] is False


def test_a_freeze_refuses_a_release(rt: LocalAWS) -> None:
    at(rt, paris(2027, 4, 6, 10))  # Tuesday, inside the window, during the freeze
    before, sent = weights(rt), len(published(rt))
    report = run(rt, console_input("staging-image.json", image=image("frozen-1")))
    execution = only_execution(report)
    assert (execution["status"], execution["error"]) == ("FAILED", "ReleaseRefused")
    assert execution["path"] == ["Begin", "ReleaseRefused"]
    refused = record(report, "refused")
    assert refused["kind"] == "refusal"
    assert "quarter-end close" in refused["reason"] and "emergencyOverride" in refused["reason"]
    assert refused["details"]["window"]["freeze"].startswith("freeze 2027-04-05 to 2027-04-09")
    assert weights(rt) == before
    assert ("elastic-load-balancing-v2", "ModifyListener") not in ops(report) and ("ecs", "UpdateService") not in ops(
        report
    )
    assert any("REFUSED" in s for s in messages(rt, sent))


def test_an_approved_emergency_override_releases_during_the_freeze(rt: LocalAWS) -> None:
    before = live(rt)
    report = run(rt, console_input("staging-emergency-override.json"))
    execution = only_execution(report)
    assert execution["status"] == "SUCCEEDED", execution
    assert execution["path"][:5] == ["Begin", "Route", "EmergencyOverride", "Begin", "Route"]
    asked = record(report, "override-requested")
    assert "CVE-2026-4242" in asked["reason"] and "quarter-end close" in asked["reason"]
    approvals = [r for r in report.ledger if r["kind"] == "approval"]
    assert [a["decision"] for a in approvals] == ["requested", "approved"]
    overridden = record(report, "freeze-overridden")
    assert overridden["details"]["window"]["approval"] == "approved"
    assert decisions(report)[-1] == "completed"
    assert weights(rt)[before] == 0


def test_a_rejected_emergency_override_refuses_the_release(rt: LocalAWS) -> None:
    before = weights(rt)
    rt.approvals = "reject"
    try:
        report = run(rt, console_input("staging-emergency-override.json", image=image("frozen-2")))
    finally:
        rt.approvals = "approve"
    execution = only_execution(report)
    assert execution["path"] == ["Begin", "Route", "EmergencyOverride", "OverrideDeclined", "Begin", "ReleaseRefused"]
    assert "emergency override rejected" in record(report, "refused")["reason"]
    assert weights(rt) == before


def test_an_unanswered_emergency_override_expires_and_refuses(rt: LocalAWS) -> None:
    rt.approvals = "timeout"
    try:
        report = run(rt, console_input("staging-emergency-override.json", image=image("frozen-3")))
    finally:
        rt.approvals = "approve"
    execution = only_execution(report)
    assert execution["path"][-3:] == ["OverrideDeclined", "Begin", "ReleaseRefused"]
    assert [r["decision"] for r in report.ledger if r["kind"] == "approval"] == ["requested", "expired"]
    assert "emergency override expired" in record(report, "refused")["reason"]


def test_a_rollback_during_a_freeze_happens_at_once(rt: LocalAWS) -> None:
    stable = live(rt)
    elbv2.bad_image(image("frozen-bad"))
    report = run(rt, console_input("staging-emergency-override.json", image=image("frozen-bad")))
    execution = only_execution(report)
    assert execution["error"] == "CutoverRolledBack"
    assert execution["path"][-3:] == ["Bake", "Rollback", "RolledBack"]
    rolled = record(report, "rolled-back")
    assert rolled["details"]["reason"] == "alarm"
    assert rolled["details"]["time_to_rollback_seconds"] < 5  # nothing waits for a window on the way back
    assert weights(rt)[stable] == 100


def test_a_service_that_refuses_outside_its_windows(rt: LocalAWS) -> None:
    at(rt, paris(2027, 4, 10, 11))  # Saturday, after the freeze
    report = run(rt, {"environment": "staging", "service": "api", "version": "2"})
    execution = only_execution(report)
    assert execution["path"] == ["Begin", "ReleaseRefused"]
    refused = record(report, "refused")
    assert "outside_window: refuse" in refused["reason"]
    assert refused["details"]["window"]["opens_at"] == "2027-04-12T07:00:00Z"
