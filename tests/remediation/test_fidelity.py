"""Remediation against AWS's documented alarm events (events/SOURCES.md): suppressed and muted alarms are recorded,
not acted on or paged (unless a rule says otherwise); a replayed ALARM is true in the embedded AWS, so that no
verification passes without evidence; every duration is measured on Deckwatch's one clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
import yaml
from deckwatch.local.mock_services import faults
from deckwatch.local.runtime import LocalAWS, Report
from support.remediation import BLUE, CPU_ALARM, desired, policy_doc, staging_rules
from support.samples import EVENTS, load_event

Factory = Callable[..., AbstractContextManager[LocalAWS]]
DOC_ALARMS = ("ServiceAggregatedAlarm", "ServerCpuTooHigh", "EC2 CPU Utilization Anomaly")


def rules(respect: bool = True) -> list[dict[str, Any]]:
    documented: list[dict[str, Any]] = [
        {"alarm": {"name": name}, "runbook": "notify_only", "respect_suppression": respect} for name in DOC_ALARMS
    ]
    return documented + staging_rules()


@pytest.fixture(scope="module")
def rt(local_aws_factory: Factory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAWS]:
    path = tmp_path_factory.mktemp("fidelity") / "staging.yaml"
    path.write_text(yaml.safe_dump(policy_doc(rules=rules())), encoding="utf-8")
    with local_aws_factory("staging", policy_file=path) as runtime:
        yield runtime


@pytest.fixture(autouse=True)
def _clean(rt: LocalAWS) -> Iterator[None]:
    yield
    faults.clear_faults()
    faults.clear_reactions()
    cw = rt.client("cloudwatch")
    for name in (*DOC_ALARMS, CPU_ALARM):
        if (
            cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
            + cw.describe_alarms(AlarmNames=[name])["CompositeAlarms"]
        ):
            cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="test clean-up")
    rt.settle()


def ops(report: Report) -> list[tuple[str, str]]:
    return [(c["service"], c["operation"]) for c in report.aws_calls]


def state_of(rt: LocalAWS, name: str) -> str:
    found = rt.client("cloudwatch").describe_alarms(AlarmNames=[name])
    return str((found["MetricAlarms"] + found["CompositeAlarms"])[0]["StateValue"])


@contextmanager
def policy_rules(rt: LocalAWS, new_rules: list[dict[str, Any]]) -> Iterator[None]:
    """The stack's policy with other remediation rules (SSM, read again after the functions' one-minute cache)."""
    ssm, name = rt.client("ssm"), "/deckwatch/staging/policy"
    good = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    doc = yaml.safe_load(good)
    doc["remediation"]["rules"] = new_rules
    ssm.put_parameter(Name=name, Value=yaml.safe_dump(doc), Type="SecureString", Overwrite=True)
    rt.clock.advance(61)
    try:
        yield
    finally:
        ssm.put_parameter(Name=name, Value=good, Type="SecureString", Overwrite=True)
        rt.clock.advance(61)


# ------------------------------------------------------------------ suppression and mute rules ---------------------
@pytest.mark.parametrize("by", ["WaitPeriod", "ExtensionPeriod", "Alarm"])
def test_a_suppressed_composite_alarm_is_recorded_not_acted_on_nor_paged(rt: LocalAWS, by: str) -> None:
    event = load_event(EVENTS / "alarm_events/alarm-composite-suppressed.json")
    event["detail"]["state"] |= {"actionsSuppressedBy": by, "actionsSuppressedReason": f"Actions suppressed by {by}"}
    report = rt.replay(event)
    [rec] = report.ledger
    assert (rec["decision"], rec["details"]["silenced"]) == (
        "suppressed",
        f"actions suppressed by {by} (Actions suppressed by {by})",
    )
    assert report.executions == [] and ("sns", "Publish") not in ops(report)
    with rt.control_plane() as deps:
        assert deps.state.incidents.get("alarm:ServiceAggregatedAlarm", "notify_only") is None


def test_an_alarm_muted_by_a_mute_rule_is_recorded_in_its_window(rt: LocalAWS) -> None:
    report = rt.replay(load_event(EVENTS / "alarm_events/alarm-muted.json"))
    [rec] = report.ledger
    assert rec["decision"] == "suppressed"
    assert "muted by arn:aws:cloudwatch:us-east-1:123456789012:alarm-mute-rule:testMute" in rec["reason"]
    assert report.executions == [] and ("sns", "Publish") not in ops(report)


def test_outside_its_mute_window_an_alarm_acts(rt: LocalAWS) -> None:
    """The guide's anomaly alarm: a name with spaces, a mute rule whose window (2026) is not the event's (2019)."""
    report = rt.replay(load_event(EVENTS / "alarm_events/alarm-anomaly-band.json"))
    assert [r["decision"] for r in report.ledger if r["kind"] == "decision"][:1] == ["runbook-selected"]
    assert [e["state_machine"] for e in report.executions] == ["RemediationStateMachine"]
    assert ("sns", "Publish") in ops(report)  # notify_only pages


def test_a_rule_may_act_on_suppressed_alarms(rt: LocalAWS) -> None:
    with policy_rules(rt, rules(respect=False)):
        report = rt.replay(load_event(EVENTS / "alarm_events/alarm-composite-suppressed.json"))
    assert [r["decision"] for r in report.ledger if r["kind"] == "decision"][:1] == ["runbook-selected"]
    assert ("sns", "Publish") in ops(report)


def test_ok_resolves_whatever_the_suppression(rt: LocalAWS) -> None:
    event = load_event(EVENTS / "alarm_events/alarm-muted.json")
    event["detail"]["state"]["value"] = "OK"
    assert [r["decision"] for r in rt.replay(event).ledger] == ["resolved"]


# ------------------------------------------------------------------ evidence and one clock -------------------------
def test_a_replayed_alarm_is_in_alarm_in_the_world_quietly(rt: LocalAWS) -> None:
    """The sample's ALARM (its own timestamps in 2026) puts the world's alarm in ALARM without a second event: the
    verification then waits for real evidence, and without any it escalates instead of claiming a mitigation."""
    assert state_of(rt, CPU_ALARM) == "OK"
    event = load_event(EVENTS / "alarm_events/alarm-metric.json")
    report = rt.replay(event)
    assert state_of(rt, CPU_ALARM) == "ALARM"
    assert report.follow_ups == [f for f in report.follow_ups if f["source"] != "aws.cloudwatch"]  # no 2nd event
    closing = [r for r in report.ledger if r["details"].get("outcome")]
    assert [r["decision"] for r in closing] == ["incident-unverified"]
    assert closing[0]["details"]["time_to_mitigate_seconds"] is None
    assert "incident-mitigated" not in [r["decision"] for r in report.ledger]


def test_time_to_mitigate_is_measured_on_one_clock(rt: LocalAWS) -> None:
    rt.clock.advance(16 * 60)  # past the scale-out's cooldown of an earlier test
    before = desired(rt, BLUE)
    faults.recover_on("ecs", "UpdateService", CPU_ALARM)  # the scale-out fixes it: the alarm goes OK
    report = rt.replay(load_event(EVENTS / "alarm_events/alarm-metric.json"))
    assert desired(rt, BLUE) > before
    [closed] = [r for r in report.ledger if r["decision"] == "incident-mitigated"]
    ttm = closed["details"]["time_to_mitigate_seconds"]
    # between Deckwatch learning the ALARM and learning the OK, in simulated time: never the event's 2026 stamp
    assert isinstance(ttm, int | float) and 0 <= ttm <= report.simulated_seconds
    assert f"({ttm:.0f}s after the alarm)" in closed["reason"] or ttm == 0
    selected = next(r for r in report.ledger if r["decision"] == "runbook-selected")
    assert (
        selected["details"]["state_at"]
        == load_event(EVENTS / "alarm_events/alarm-metric.json")["detail"]["state"]["timestamp"]
    )


def test_an_ok_after_an_escalation_resolves_with_one_clock(rt: LocalAWS) -> None:
    rt.clock.advance(16 * 60)
    rt.replay(load_event(EVENTS / "alarm_events/alarm-metric.json"))  # unverified: escalated, stays open
    ok = load_event(EVENTS / "alarm_events/alarm-ok.json")
    report = rt.replay(ok)
    [resolved] = [r for r in report.ledger if r["decision"] == "resolved"]
    ttm = resolved["details"]["time_to_mitigate_seconds"]
    assert isinstance(ttm, int | float) and 0 <= ttm < 7200  # not the gap between the samples' own timestamps
    assert state_of(rt, CPU_ALARM) == "OK"
