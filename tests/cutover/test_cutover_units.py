"""Pieces of the cutover without a runtime: artifacts, rollback causes, EMF metrics, the rollback CLI's event."""

from __future__ import annotations

import json

import pytest
from deckwatch import metrics
from deckwatch.config import Settings
from deckwatch.cutover import artifacts
from deckwatch.cutover.errors import ArtifactError
from deckwatch.cutover.steps import classify
from deckwatch.local import routing
from deckwatch.local.commands.cutover import entry
from deckwatch.local.mock_services.codepipeline import image_definitions, zipped
from deckwatch.local.template import load
from support.samples import EVENTS, REPO_ROOT

IMG = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:7"
SETTINGS = {
    "LEDGER_TABLE": "l",
    "STATE_TABLE": "s",
    "IDEMPOTENCY_TABLE": "i",
    "TOPIC_ARN": "t",
    "DLQ_URL": "d",
    "POLICY_PARAMETER": "p",
}


def test_image_definitions_pick_the_service_container() -> None:
    doc = [{"name": "sidecar", "imageUri": "x"}, {"name": "web", "imageUri": IMG}]
    assert artifacts.image_from_bytes(zipped({"imagedefinitions.json": json.dumps(doc)}), "web") == IMG
    assert artifacts.image_from_bytes(zipped(image_definitions(IMG, "app")), "web") == IMG  # the only entry
    assert artifacts.image_from_bytes(json.dumps({"ImageURI": IMG}).encode(), "web") == IMG


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"README.md": "hi"}, "holds neither imagedefinitions.json nor imageDetail.json"),
        ({"imagedefinitions.json": "[{"}, "not valid JSON"),
        ({"imagedefinitions.json": json.dumps([{"name": "a", "imageUri": "1"}, {"name": "b"}])}, "no entry for"),
        ({"imageDetail.json": json.dumps({"ImageURI": ""})}, "expected imagedefinitions.json"),
        ({"imagedefinitions.json": json.dumps([{"name": "web"}])}, "has no imageUri"),
    ],
)
def test_malformed_artifacts_name_the_problem(files: dict[str, str], message: str) -> None:
    with pytest.raises(ArtifactError, match=message):
        artifacts.image_from_bytes(zipped(files), "web")


def test_rollback_causes_are_classified() -> None:
    alarm = {"alarm": "a", "state": "ALARM", "reason": "r", "at": "2026-11-30T09:31:40.567+0000"}
    reason, _, at = classify(alarm)
    assert reason == "alarm" and at is not None and int(at) % 60 == 40
    assert classify({"rollback": "x", "source": "pipeline"})[0] == "pipeline"
    failed = {"Error": "UnhealthyTargetsError", "Cause": json.dumps({"errorMessage": "2 unhealthy"})}
    assert classify(failed)[:2] == ("unhealthy-targets", "UnhealthyTargetsError: 2 unhealthy")
    assert classify({"Error": "RollbackRequestedError", "Cause": "manual: stop"})[0] == "manual"
    assert classify({"Error": "States.Timeout"})[0] == "approval-timeout"
    assert classify({"Error": "Boom"})[0] == "step-failed"


def test_metrics_are_embedded_metric_format(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings.from_env(SETTINGS | {"ENVIRONMENT": "prod"})
    doc = metrics.emit(settings, {"TimeToRollback": 0.42, "Rollbacks": 1}, Service="web", Reason="alarm")
    assert json.loads(capsys.readouterr().out) == doc
    spec = doc["_aws"]["CloudWatchMetrics"][0]
    assert sorted(spec["Dimensions"][0]) == ["Environment", "Reason", "Service"]
    assert {"Name": "TimeToRollback", "Unit": "Seconds"} in spec["Metrics"]
    assert doc["Reason"] == "alarm" and doc["TimeToRollback"] == [0.42] and doc["Environment"] == "prod"


def test_rollback_cli_event_reaches_the_cutover_function_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    e = entry("web", "staging", "bad", "alice")
    event = {"source": e["Source"], "detail-type": e["DetailType"], "detail": json.loads(e["Detail"])}
    sample = json.loads((EVENTS / "pipeline_events/rollback-requested.json").read_text(encoding="utf-8"))
    assert set(event["detail"]) == set(sample["detail"])
    rules = routing.rules(load(REPO_ROOT, {"Environment": "staging"}))
    assert [r.logical_id for r in rules if r.matches(event)] == ["PipelineEventsFunctionPipelineStateChange"]


def test_state_machine_arns_come_from_substitutions() -> None:
    from deckwatch.local.template import placeholders

    text = (REPO_ROOT / "statemachines" / "cutover.asl.json").read_text(encoding="utf-8")
    assert placeholders(text) == ["ApprovalFunctionArn", "CutoverFunctionArn"]
    doc = json.loads(text)
    for name, state in doc["States"].items():
        if state.get("Resource", "").endswith(".waitForTaskToken"):
            assert "TimeoutSecondsPath" in state or "TimeoutSeconds" in state, name
