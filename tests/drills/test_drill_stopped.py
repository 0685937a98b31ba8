"""A drill stopped from the console runs no Catch path: its "Step Functions Execution Status Change" (ABORTED)
event reaches the drill function, which deletes what the drill restored, releases its lock and reports it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deckwatch.drills import validate
from deckwatch.local.runtime import LocalAWS
from support.drills import Factory, assert_cleaned_up, drill, drill_report, drill_runtime, lock_holder, ops
from support.samples import EVENTS, load_event

SAMPLE = EVENTS / "drill" / "execution-aborted.json"


@pytest.fixture(scope="module")
def rt(local_aws_factory: Factory, drill_policy: Path, reports_dir: Path) -> Iterator[LocalAWS]:
    with drill_runtime(local_aws_factory, drill_policy, reports_dir) as runtime:
        yield runtime


def stop_while_validating(rt: LocalAWS, monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator presses Stop in the console while the validator runs its SQL."""
    original = validate.run_checks

    def run_checks(*args: Any, **kwargs: Any) -> dict[str, Any]:
        sfn = rt.client("stepfunctions")
        machine = rt.physical["DrillStateMachine"]
        (running,) = sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]
        sfn.stop_execution(executionArn=running["executionArn"], cause="operator stop")
        return original(*args, **kwargs)

    monkeypatch.setattr(validate, "run_checks", run_checks)


def test_a_drill_stopped_from_the_console_is_cleaned_up(rt: LocalAWS, monkeypatch: pytest.MonkeyPatch) -> None:
    stop_while_validating(rt, monkeypatch)
    report, execution = drill(rt)
    assert execution["status"] == "ABORTED"
    assert "Validate" in execution["path"] and "Cleanup" not in execution["path"]  # no Catch path ran

    stopped = [f for f in report.follow_ups if f["detail-type"] == "Step Functions Execution Status Change"]
    assert [f["matched_rules"] for f in stopped] == [["DrillFunctionStopped"]]
    rec = drill_report(report)
    assert rec["outcome"] == "failed" and "DrillStoppedError" in rec["reason"] and "ABORTED" in rec["reason"]
    assert ("rds", "DeleteDBInstance") in ops(report) and ("sns", "Publish") in ops(report)
    assert_cleaned_up(rt, report)


def test_the_stopped_event_delivered_again_does_nothing_more(rt: LocalAWS, monkeypatch: pytest.MonkeyPatch) -> None:
    stop_while_validating(rt, monkeypatch)
    _, execution = drill(rt)
    monkeypatch.undo()
    event = load_event(SAMPLE)
    machine = rt.physical["DrillStateMachine"]
    event["detail"]["executionArn"] = f"{machine.replace(':stateMachine:', ':execution:')}:{execution['name']}"
    again = rt.replay(event)
    assert again.invocations == [{"function": "DrillFunction", "status": "ok", "error": None}]
    assert again.ledger == [] and [op for op in ops(again) if op[0] in ("rds", "sns")] == []
    assert lock_holder(rt) is None


def test_the_sample_of_a_drill_that_never_started_is_a_no_op(rt: LocalAWS) -> None:
    report = rt.replay(load_event(SAMPLE))
    assert report.matched_rules == ["DrillFunctionStopped"]
    assert report.invocations == [{"function": "DrillFunction", "status": "ok", "error": None}]
    assert report.ledger == [] and report.dead_letters == []


def test_a_malformed_stopped_event_goes_to_the_dlq(rt: LocalAWS) -> None:
    event = load_event(SAMPLE)
    del event["detail"]["executionArn"]
    report = rt.replay(event)
    assert [(i["function"], i["status"]) for i in report.invocations] == [("DrillFunction", "error")]
    assert [d["function"] for d in report.dead_letters] == ["DrillFunction"]
    assert any(m["requestPayload"]["id"] == event["id"] for m in rt.dead_letter_messages())
