"""Cost in staging (savings mode 'act'), end to end through the embedded AWS: the template's rules and SNS
subscription, the real handlers, the cost-savings state machine run by moto's engine, moto's ECS and RDS."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from deckwatch.local.runtime import LocalAWS
from support.cost import anomaly_event, capacity, console, ops, published, sns_alert

BEFORE = {"shop-staging-web-blue": 2, "shop-staging-web-green": 0, "shop-staging-db": "available"}
STOPPED = {"shop-staging-web-blue": 0, "shop-staging-web-green": 0, "shop-staging-db": "stopped"}


@pytest.fixture(scope="module")
def rt(local_aws_factory: Callable[..., AbstractContextManager[LocalAWS]]) -> Iterator[LocalAWS]:
    with local_aws_factory("staging") as runtime:
        yield runtime


def resume(rt: LocalAWS) -> None:
    report = rt.start_execution("CostSavingsStateMachine", console("resume-staging.json"))
    assert report.executions[0]["status"] == "SUCCEEDED", report.executions


def decisions(report: object, kind: str = "decision") -> list[str]:
    return [r["decision"] for r in report.ledger if r["kind"] == kind]  # type: ignore[attr-defined]


def test_anomaly_alerts_scales_down_and_resume_restores_exact_capacity(rt: LocalAWS) -> None:
    assert capacity(rt) == BEFORE
    sent = len(published(rt))
    report = rt.replay(json.dumps(anomaly_event()))

    assert report.matched_rules == ["CostEventsFunctionAnomalyDetected"]
    assert [e["path"] for e in report.executions] == [["Validate", "Route", "Save", "Done"]]
    alert = next(r for r in report.ledger if r["kind"] == "decision")
    assert (alert["decision"], alert["details"]["severity"], alert["details"]["action"]) == (
        "alerted",
        "high",
        "savings-started",
    )
    assert alert["details"]["attributed_to"] == "staging"
    assert alert["details"]["service"] == "Amazon Relational Database Service"  # largest contribution
    forecast = alert["details"]["forecast"]
    assert forecast["budget_usd"] == 800 and forecast["forecast_month_usd"] > forecast["actual_to_date_usd"] > 0
    actions = {r["subject"]: r for r in report.ledger if r["kind"] == "action"}
    assert set(actions) == {"ecs:shop-staging/shop-staging-web-blue", "rds:shop-staging-db"}
    blue = actions["ecs:shop-staging/shop-staging-web-blue"]
    assert blue["action"] == {
        "service": "ecs",
        "operation": "UpdateService",
        "parameters": {"cluster": "shop-staging", "service": "shop-staging-web-blue", "desiredCount": 0},
    }
    assert blue["details"]["change"]["previous_desired_count"] == 2
    assert blue["execution_arn"].endswith(f"cost-{alert['subject'].split('/')[1]}")
    assert ("ecs", "UpdateService") in ops(report) and ("rds", "StopDBInstance") in ops(report)
    assert capacity(rt) == STOPPED

    messages = published(rt)[sent:]
    text = messages[0]["message"]
    assert "HIGH" in text and "Root causes:" in text and "USE1-InstanceUsage:db.r6g.xlarge" in text
    assert "Forecast: Month" in text and "budget of $800.00" in text
    assert "Reversible savings started" in text and "deckwatch resume --env staging" in text
    assert "2 task(s) -> 0" in messages[1]["message"]

    rt.clock.advance(5 * 3600)
    report = rt.start_execution("CostSavingsStateMachine", console("resume-staging.json"), name="resume-1")
    assert report.executions[0]["path"] == ["Validate", "Route", "Resume", "Done"]
    restored = {r["subject"]: r for r in report.ledger if r["decision"] == "restored"}
    assert restored["ecs:shop-staging/shop-staging-web-blue"]["action"]["parameters"]["desiredCount"] == 2
    assert restored["rds:shop-staging-db"]["details"]["estimated_savings_usd"] == pytest.approx(5 * 0.065, abs=0.01)
    assert capacity(rt) == BEFORE

    again = rt.start_execution("CostSavingsStateMachine", console("resume-staging.json"), name="resume-2")
    assert [r for r in again.ledger if r["kind"] == "action"] == []  # nothing left to restore


def test_severity_rising_alerts_again_repeated_updates_do_not(rt: LocalAWS, fresh: str) -> None:
    # medium first (one threshold), through the IMMEDIATE SNS alert (dimensionalValue spelling)
    first = rt.replay(
        sns_alert("anomaly-immediate.json", anomalyId=fresh, impact={"totalImpact": 60.0, "totalImpactPercentage": 5.0})
    )
    assert first.matched_rules == ["CostAlertsTopic"]
    rec = first.ledger[0]
    assert (rec["decision"], rec["details"]["severity"], rec["details"]["action"]) == (
        "alerted",
        "medium",
        "notify-only",
    )
    assert rec["details"]["channel"] == "sns"
    # the same anomaly grows a little: same severity -> recorded as an update, no alert, no action
    sent = len(published(rt))
    update = rt.replay(json.dumps(anomaly_event(anomaly_id=fresh, impact=75.0, percent=8.0)))
    assert decisions(update) == ["updated"]
    assert ("sns", "Publish") not in ops(update)
    assert len(published(rt)) == sent
    # it grows past both thresholds: alerted again, says it rose, and (high) starts savings
    rose = rt.replay(json.dumps(anomaly_event(anomaly_id=fresh, impact=180.0, percent=40.0)))
    rec = next(r for r in rose.ledger if r["kind"] == "decision")
    assert (rec["decision"], rec["details"]["severity"], rec["details"]["previous_severity"]) == (
        "alerted",
        "high",
        "medium",
    )
    assert "up from medium" in published(rt)[sent]["message"]
    assert capacity(rt) == STOPPED
    # and the next update of a high anomaly changes nothing
    same = rt.replay(json.dumps(anomaly_event(anomaly_id=fresh, impact=200.0, percent=45.0)))
    assert decisions(same) == ["updated"] and same.executions == []
    resume(rt)
    assert capacity(rt) == BEFORE


def test_unknown_environment_is_recorded_and_notified_not_acted_on(rt: LocalAWS) -> None:
    event = anomaly_event()
    event["detail"]["monitorName"] = "billing-team-services"
    event["detail"]["monitorArn"] = "arn:aws:ce::123456789012:anomalymonitor/unknown"
    sent = len(published(rt))
    report = rt.replay(json.dumps(event))
    assert decisions(report) == ["unattributed"]
    assert report.executions == []
    assert ("ecs", "UpdateService") not in ops(report)
    assert "Cost anomaly (unattributed)" in published(rt)[sent]["message"]
    assert "Nothing was changed" in published(rt)[sent]["message"]
    assert capacity(rt) == BEFORE


def test_another_environments_anomaly_is_ignored(rt: LocalAWS) -> None:
    report = rt.replay(json.dumps(anomaly_event("prod")))
    assert decisions(report) == ["ignored"]
    assert ("sns", "Publish") not in ops(report)


def test_lock_held_by_a_cutover_is_never_acted_on(rt: LocalAWS) -> None:

    with rt.control_plane() as deps:
        deps.state.leases.acquire("ecs:shop-staging/shop-staging-web-blue", "cutover-exec-42", "cutover", 3600)
    try:
        report = rt.replay(json.dumps(anomaly_event()))
    finally:
        with rt.control_plane() as deps:
            deps.state.leases.release("ecs:shop-staging/shop-staging-web-blue", "cutover-exec-42")
    refusal = [r for r in report.ledger if r["kind"] == "refusal"]
    assert [(r["subject"], r["details"]["holder"]) for r in refusal] == [
        ("ecs:shop-staging/shop-staging-web-blue", "cutover-exec-42")
    ]
    assert [r["subject"] for r in report.ledger if r["kind"] == "action"] == ["rds:shop-staging-db"]
    assert capacity(rt) == {**BEFORE, "shop-staging-db": "stopped"}
    resume(rt)
    assert capacity(rt) == BEFORE


def test_console_dry_run_records_the_plan_and_changes_nothing(rt: LocalAWS) -> None:
    report = rt.start_execution("CostSavingsStateMachine", console("save-staging-dry-run.json"))
    planned = [r for r in report.ledger if r["kind"] == "action"]
    assert {r["subject"] for r in planned} == {"ecs:shop-staging/shop-staging-web-blue", "rds:shop-staging-db"}
    assert all(r["dry_run"] and r["decision"] == "planned" for r in planned)
    assert ("ecs", "UpdateService") not in ops(report) and ("rds", "StopDBInstance") not in ops(report)
    assert capacity(rt) == BEFORE


def test_console_save_then_cli_resume(rt: LocalAWS, capsys: pytest.CaptureFixture[str]) -> None:
    from deckwatch.local.cli import main

    report = rt.start_execution("CostSavingsStateMachine", console("save-staging.json"))
    assert report.executions[0]["path"] == ["Validate", "Route", "Save", "Done"]
    assert capacity(rt) == STOPPED
    assert main(["resume", "--env", "staging", "--list"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {x["resource"] for x in listed} == {"ecs:shop-staging/shop-staging-web-blue", "rds:shop-staging-db"}
    assert main(["resume", "--env", "staging", "ecs:shop-staging/shop-staging-web-blue", "--actor", "alice"]) == 0
    assert capacity(rt) == {**BEFORE, "shop-staging-db": "stopped"}
    assert main(["resume", "--env", "staging", "--actor", "alice"]) == 0
    assert capacity(rt) == BEFORE
    assert main(["resume", "--env", "staging", "not-a-key"]) == 2


@pytest.mark.parametrize(
    ("path", "alert_type", "amount"),
    [("budget-actual.json", "ACTUAL", 652.18), ("budget-forecasted-lambda-record.json", "FORECASTED", 1012.40)],
)
def test_budget_notifications_are_parsed_and_alerted(rt: LocalAWS, path: str, alert_type: str, amount: float) -> None:
    doc = sns_alert(path)
    sent = len(published(rt))
    report = rt.replay(doc)
    assert report.invocations == [{"function": "CostAlertsFunction", "status": "ok", "error": None}]
    rec = report.ledger[0]
    assert (rec["subject"], rec["decision"]) == ("budget/shop-staging-monthly", "alerted")
    assert (rec["details"]["budget"]["alert_type"], rec["details"]["budget"]["amount_usd"]) == (alert_type, amount)
    text = published(rt)[sent]["message"]
    assert f"{alert_type} threshold" in text and "Forecast: Month" in text
    # SNS redelivers at least once: the same MessageId is handled once
    again = rt.replay(doc)
    assert again.ledger == [] and ("sns", "Publish") not in ops(again)


@pytest.mark.parametrize(
    ("message", "why"),
    [
        ('{"anomalyId": "x", "impact": {"totalImpact": 1}}', "monitorArn"),
        ("{not json", "looks like JSON but is not"),
        ("Hello, this is not a cost alert.", "neither a Cost Anomaly Detection alert nor an AWS Budgets"),
        ("AWS Budget Notification November 30, 2026\nBudget Type: Cost\n", "without budget_name and alert_type"),
    ],
)
def test_malformed_messages_are_rejected_to_the_dlq(rt: LocalAWS, message: str, why: str) -> None:
    doc = sns_alert("anomaly-immediate.json")
    doc["Message"] = message
    report = rt.replay(doc)
    assert report.invocations[0]["status"] == "error"
    assert report.invocations[0]["error"].startswith("InvalidEventError: malformed event")
    assert why in report.invocations[0]["error"]
    assert [(r["kind"], r["event_id"]) for r in report.ledger] == [("rejection", doc["MessageId"])]
    assert report.ledger[0]["subject"] == doc["TopicArn"]
    assert [d["function"] for d in report.dead_letters] == ["CostAlertsFunction"]
    kept = [m for m in rt.dead_letter_messages() if "Records" in m["requestPayload"]]
    assert any(m["requestPayload"]["Records"][0]["Sns"]["MessageId"] == doc["MessageId"] for m in kept)


def test_malformed_anomaly_event_is_rejected_to_the_dlq(rt: LocalAWS) -> None:
    event = anomaly_event()
    del event["detail"]["impact"]
    report = rt.replay(json.dumps(event))
    assert "detail.impact" in report.invocations[0]["error"]
    assert [d["function"] for d in report.dead_letters] == ["CostEventsFunction"]


def test_weekly_report(rt: LocalAWS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DECKWATCH_REPORT_DIR", str(tmp_path))
    sent = len(published(rt))
    report = rt.fire_schedule("CostReportFunctionWeeklyReport")
    assert report.invocations == [{"function": "CostReportFunction", "status": "ok", "error": None}]
    rec = report.ledger[0]
    assert rec["kind"] == "report"
    files = list(tmp_path.rglob("*.json"))
    assert len(files) == 1
    doc = json.loads(files[0].read_text(encoding="utf-8"))
    assert doc["environment"] == "staging"
    # seeded: 0.8 x the demo daily costs, 7 days
    assert doc["week"]["total_usd"] == pytest.approx(7 * 0.8 * 21.9, rel=0.01)
    assert doc["week"]["top_services"][0]["service"] == "Amazon Elastic Container Service"
    assert doc["forecast"]["budget_usd"] == 800
    assert doc["open_anomalies"] and all(a["anomaly_id"] for a in doc["open_anomalies"])
    assert doc["savings"]["actions"] and doc["savings"]["estimated_savings_usd"] > 0
    key = next(s for s in rec["details"]["stored"] if s.startswith("s3://"))
    bucket, _, obj = key.removeprefix("s3://").partition("/")
    assert json.loads(rt.client("s3").get_object(Bucket=bucket, Key=obj)["Body"].read())["environment"] == "staging"
    assert "Weekly cost report, staging" in published(rt)[sent]["message"]


@pytest.mark.parametrize("name", ["scheduled-event.json", "console-week-ending.json"])
def test_report_direct_invocation_inputs(rt: LocalAWS, name: str) -> None:
    from support.samples import EVENTS

    event = json.loads((EVENTS / "cost_report" / name).read_text(encoding="utf-8"))
    outcome = rt.invoke(rt.physical["CostReportFunction"], event)
    assert outcome.ok, outcome.error
    if "weekEnding" in event:
        assert outcome.payload["week"] == {**outcome.payload["week"], "start": "2026-11-23", "end": "2026-11-30"}
