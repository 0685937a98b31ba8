"""What a drill says about itself: RTO and RPO against their objectives and its verdict as Deckwatch metrics (the
dashboard's drills), log lines keyed by the execution and the resource, and never the database password (the
validator reads it from Secrets Manager and connects with it: logs, ledger, report and DLQ must not carry it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deckwatch import metrics
from deckwatch.local.mock_services import backup
from deckwatch.local.mock_services._postgres import Cluster
from deckwatch.local.runtime import LocalAWS
from support.drills import DB_ARN, SECRET, Factory, drill, drill_report, drill_runtime, serve

Emitted = list[tuple[dict[str, Any], dict[str, str]]]


@pytest.fixture(scope="module")
def emitted() -> Iterator[Emitted]:
    seen: Emitted = []
    original = metrics.emit

    def record(settings: Any, values: dict[str, Any], **dimensions: str) -> dict[str, Any]:
        seen.append((values, dimensions))
        return original(settings, values, **dimensions)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(metrics, "emit", record)
        yield seen


@pytest.fixture(scope="module")
def rt(local_aws_factory: Factory, drill_policy: Path, reports_dir: Path, emitted: Emitted) -> Iterator[LocalAWS]:
    with drill_runtime(local_aws_factory, drill_policy, reports_dir) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def passed(rt: LocalAWS, postgres: Cluster) -> dict[str, Any]:
    """One good drill (module-scoped: set up as conftest's `fresh` sets up each test, which runs after it)."""
    backup.controls().outcome = "COMPLETED"
    backup.controls().restore_seconds = 900.0
    serve(postgres)
    postgres.load_fixture()
    report, execution = drill(rt)
    assert execution["status"] == "SUCCEEDED", execution
    record = drill_report(report)
    assert record["decision"] == "drill-passed"
    return {"report": report, "record": record}


def test_a_drill_emits_rto_and_rpo_against_objectives(passed: dict[str, Any], emitted: Emitted) -> None:
    (values, dims) = next((v, d) for v, d in emitted if "DrillRto" in v)
    details = passed["record"]["details"]
    assert dims == {"Target": "shop-staging-db"}
    assert values["DrillsPassed"] == 1 and values["DrillsFailed"] == 0
    assert values["DrillRto"] == pytest.approx(details["rto_minutes"] * 60)
    assert values["DrillRpo"] == pytest.approx(details["rpo_minutes"] * 60)
    assert (values["DrillRtoObjective"], values["DrillRpoObjective"]) == (60 * 60, 1500 * 60)


def test_drill_logs_carry_execution_and_resource(rt: LocalAWS, passed: dict[str, Any]) -> None:
    lines = [json.loads(t) for t in rt.runner.logs.getvalue().splitlines() if t.startswith("{")]
    tasks = [line for line in lines if line.get("message") == "task"]
    execution = passed["report"].executions[0]["name"]
    ours = [line for line in tasks if str(line.get("execution", "")).endswith(f":{execution}")]
    assert {line["op"] for line in ours} >= {"prepare", "start_restore", "cleanup", "report"}
    assert all(line["resource"] == DB_ARN for line in ours if line["op"] != "prepare")
    validated = [line for line in tasks if line["op"] == "validate"]
    assert validated and validated[-1]["resource"].startswith("deckwatch-drill-staging-")


def test_the_database_password_never_leaves_the_validator(
    rt: LocalAWS, passed: dict[str, Any], postgres: Cluster, reports_dir: Path
) -> None:
    secret = json.loads(rt.client("secretsmanager").get_secret_value(SecretId=SECRET)["SecretString"])
    password = secret["password"]
    assert password == postgres.credentials()["password"] and len(password) >= 12  # the one the drill connected with
    logs = rt.runner.logs.getvalue()
    ledger = json.dumps(rt.ledger_items())  # every item, as stored
    reports = "".join(p.read_text(encoding="utf-8") for p in sorted(reports_dir.rglob("*.json")))
    dead = json.dumps(rt.dead_letter_messages())
    assert "validate" in logs and "drill-passed" in ledger and reports  # what is searched is there
    for where in (logs, ledger, reports, dead):
        assert password not in where
