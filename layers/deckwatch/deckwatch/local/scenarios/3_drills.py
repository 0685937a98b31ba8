# ruff: noqa: T201, N999 - a demo scenario narrates on stdout; scenario modules are named <n>_<capability>.py
"""Demo: a restore drill of the staging database, validated with real SQL against a local PostgreSQL."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

TITLE = "Restore drills: restore a recovery point in isolation, validate with real SQL, measure RTO and RPO"


def run(root: Path) -> None:
    from deckwatch.local.mock_services import _postgres, backup
    from deckwatch.local.runtime import LocalAWS
    from deckwatch.local.timeline import render

    work = Path(tempfile.mkdtemp(prefix="deckwatch-drill-demo-"))
    policy = root / "layers/deckwatch/deckwatch/policy/examples/staging.yaml"  # as it is: tls verify-full
    cluster = _postgres.Cluster.start() if _postgres.available() else None
    try:
        with LocalAWS(root, environment="staging", policy_file=policy) as rt:
            rt.extra_env["DECKWATCH_DRILL_REPORTS_DIR"] = str(work / "reports")
            if cluster is not None:
                backup.serve_restores_from(cluster.host, cluster.port, "shop/staging/db-drill", cluster.credentials(),
                                           ca_file=cluster.ca_file)  # fmt: skip
                print(f"\n== a real PostgreSQL ({cluster.bin.parent.name}) on 127.0.0.1:{cluster.port} serves the "
                      "restored instance: orders and customers, newest order 10 minutes old; TLS verify-full against "
                      "its throwaway CA (in AWS: the RDS CA bundle shipped in the layer)")  # fmt: skip
            else:
                print("\n== NO local PostgreSQL server binaries (/usr/lib/postgresql/*/bin): the validation is NOT "
                      "run; the drill reports its connection check as failed, never as passed")  # fmt: skip
            payload = json.loads((root / "events/statemachines/drill/staging-latest-point.json").read_text())
            print("\n== drill of the latest recovery point of shop-staging-db (restore takes 15 simulated minutes)")
            report = rt.start_execution("DrillStateMachine", payload, name="demo-drill")
            print(render(report))
            _summary(report.ledger, validated=cluster is not None)
            left = [
                d["DBInstanceIdentifier"]
                for d in rt.client("rds").describe_db_instances()["DBInstances"]
                if d["DBInstanceIdentifier"].startswith("deckwatch-drill-") and d["DBInstanceStatus"] != "deleting"
            ]
            print(f"   drill databases left running: {left or 'none'}")
    finally:
        if cluster is not None:
            cluster.stop()


def _summary(ledger: list[dict[str, object]], validated: bool) -> None:
    rec = next((r for r in ledger if r.get("kind") == "report"), None)
    if rec is None:
        print("   no drill report was written")
        return
    d = rec["details"] if isinstance(rec["details"], dict) else {}
    note = "" if validated else " (validation NOT run: no local PostgreSQL)"
    print(f"\n   outcome {rec['outcome']}{note}")
    for check in d.get("checks", []):
        print(f"     {'ok  ' if check['passed'] else 'FAIL'} {check['name']}: {check['observed']}")
    rto, rpo = d.get("rto_minutes"), d.get("rpo_minutes")
    print(f"   RTO {rto if rto is not None else 'not measured'} min (objective {d.get('rto_objective_minutes')})")
    print(f"   RPO {rpo if rpo is not None else 'not measured'} min (objective {d.get('rpo_objective_minutes')})")
    print(f"   report {d.get('report')}; cleaned up: {d.get('cleaned_up')}")
