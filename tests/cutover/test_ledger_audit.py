"""The ledger as an auditor reads it: after a release and a rollback on the staging stack, `deckwatch ledger
verify` finds every chain whole; after an administrator edits one record behind Deckwatch's back, it says which."""

from __future__ import annotations

import pytest
from deckwatch.local.cli import main
from deckwatch.local.mock_services import elbv2
from support.cutover import (
    POLICY,
    WEB_ALARM,
    Factory,
    build_event,
    console_input,
    emit,
    image,
    only_execution,
    record,
    run,
)
from support.samples import EVENTS, load_event


def test_ledger_verify_after_a_release_and_a_rollback(
    local_aws_factory: Factory, capsys: pytest.CaptureFixture[str]
) -> None:
    with local_aws_factory("staging", approvals="approve", policy_file=POLICY) as rt:
        assert only_execution(rt.replay(build_event(rt, "audit-1")))["status"] == "SUCCEEDED"
        request = load_event(EVENTS / "pipeline_events/rollback-requested.json")
        elbv2.when_watched(WEB_ALARM, lambda: emit(request))
        assert record(run(rt, console_input("staging-image.json", image=image("audit-2"))), "rolled-back")
        capsys.readouterr()
        assert main(["ledger", "verify", "--env", "staging"]) == 0
        summary = capsys.readouterr().out.strip().splitlines()[-1]
        checked = int(summary.split(": ")[1].split()[0])
        assert checked > 20 and summary.endswith("0 findings")

        ddb, table = rt.client("dynamodb"), rt.physical["LedgerTable"]
        items = ddb.scan(TableName=table)["Items"]
        done = next(i for i in items if i.get("decision", {}).get("S") == "completed")
        ddb.update_item(
            TableName=table,
            Key={"pk": done["pk"], "sk": done["sk"]},
            UpdateExpression="SET reason = :r",
            ExpressionAttributeValues={":r": {"S": "nothing to see"}},
        )
        assert main(["ledger", "verify", "--env", "staging", "--subject", done["pk"]["S"]]) == 1
        out = capsys.readouterr().out
        assert f"changed: {done['pk']['S']}: record {done['record_id']['S']}" in out
        assert main(["ledger", "verify", "--env", "staging", "--since", "2026-01-01"]) == 2
        assert "only --subject narrows it" in capsys.readouterr().err
