"""Helpers of the drill tests.

A drill test module opens one embedded AWS with its own policy (`drill_runtime`); every test then starts from the
fixture data, with restores that complete, served over TLS (verify-full) by the real throwaway PostgreSQL (the
fixtures in tests/drills/conftest.py)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import yaml
from deckwatch.local.mock_services import backup
from deckwatch.local.mock_services._postgres import Cluster
from deckwatch.local.runtime import LocalAWS, Report

from support.samples import EVENTS, REPO_ROOT

Factory = Callable[..., AbstractContextManager[LocalAWS]]
DB_ARN = "arn:aws:rds:us-east-1:123456789012:db:shop-staging-db"
INPUTS = EVENTS / "statemachines" / "drill"
SECRET = "shop/staging/db-drill"
STAGING_POLICY = REPO_ROOT / "layers/deckwatch/deckwatch/policy/examples/staging.yaml"


def policy_variant(folder: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """The staging example policy, changed by `change` (a drill target added, a DR network named...)."""
    doc = yaml.safe_load(STAGING_POLICY.read_text(encoding="utf-8"))
    change(doc)
    path = folder / "staging.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@contextmanager
def drill_runtime(
    factory: Factory, policy: Path, reports_dir: Path, parameters: dict[str, str] | None = None
) -> Iterator[LocalAWS]:
    os.environ["DECKWATCH_DRILL_REPORTS_DIR"] = str(reports_dir)
    try:
        with factory("staging", policy_file=policy, parameters=parameters) as runtime:
            yield runtime
    finally:
        os.environ.pop("DECKWATCH_DRILL_REPORTS_DIR", None)


def serve(postgres: Cluster) -> None:
    """Restored databases are served by the real PostgreSQL, verified (verify-full) against its throwaway CA."""
    backup.serve_restores_from(postgres.host, postgres.port, SECRET, postgres.credentials(), ca_file=postgres.ca_file)


def console(name: str) -> dict[str, Any]:
    return json.loads((INPUTS / name).read_text(encoding="utf-8"))


def drill(rt: LocalAWS, payload: dict[str, Any] | None = None) -> tuple[Report, dict[str, Any]]:
    report = rt.start_execution(
        "DrillStateMachine", payload or console("staging-latest-point.json"), name=f"t-{uuid.uuid4().hex[:10]}"
    )
    assert len(report.executions) == 1, report.executions
    return report, report.executions[0]


def drill_report(report: Report) -> dict[str, Any]:
    found = [r for r in report.ledger if r["kind"] == "report"]
    assert len(found) == 1, [r["decision"] for r in report.ledger]
    return found[0]


def drill_instances(rt: LocalAWS, region: str | None = None) -> list[str]:
    """Drill databases still there (not being deleted), read from moto's RDS."""
    dbs = rt.client("rds", region=region).describe_db_instances()["DBInstances"]
    return [
        d["DBInstanceIdentifier"]
        for d in dbs
        if d["DBInstanceIdentifier"].startswith("deckwatch-drill-") and d.get("DBInstanceStatus") != "deleting"
    ]


def drill_clusters(rt: LocalAWS, region: str | None = None) -> list[str]:
    clusters = rt.client("rds", region=region).describe_db_clusters()["DBClusters"]
    return [
        c["DBClusterIdentifier"]
        for c in clusters
        if c["DBClusterIdentifier"].startswith("deckwatch-drill-") and c.get("Status") != "deleting"
    ]


def locks(rt: LocalAWS) -> Any:
    from deckwatch.state import StateStore

    return StateStore(rt.physical["StateTable"], client=rt.client("dynamodb")).leases


def lock_holder(rt: LocalAWS, key: str = "rds:shop-staging-db") -> dict[str, Any] | None:
    return locks(rt).holder(key)


def ops(report: Report) -> list[tuple[str, str]]:
    return [(c["service"], c["operation"]) for c in report.aws_calls]


def assert_cleaned_up(
    rt: LocalAWS, report: Report, region: str | None = None, lock: str = "rds:shop-staging-db"
) -> None:
    assert drill_instances(rt, region) == [] and drill_clusters(rt, region) == []
    cleanup = [r for r in report.ledger if r["decision"] in ("cleaned-up", "cleanup-incomplete")]
    assert [r["decision"] for r in cleanup] == ["cleaned-up"]
    assert lock_holder(rt, lock) is None
