"""Disruptive runbooks in production wait for a person: approved -> act, rejected -> nothing, no answer -> escalate.
One prod runtime; the simulated operator's answer is switched between runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest
from deckwatch.local.runtime import LocalAWS
from support.remediation import by_kind, closing, console, ops, run

Factory = Callable[..., AbstractContextManager[LocalAWS]]


@pytest.fixture(scope="module")
def rt(local_aws_factory: Factory) -> Iterator[LocalAWS]:
    with local_aws_factory("prod", approvals="approve") as runtime:
        rds = runtime.client("rds")
        for name in ("prod-db-a", "prod-db-b", "prod-db-c"):
            rds.create_db_instance(
                DBInstanceIdentifier=name,
                DBInstanceClass="db.r6g.large",
                Engine="postgres",
                MasterUsername="admin_user",
                MasterUserPassword="not-a-real-password-1",
                AllocatedStorage=100,
                MultiAZ=True,
            )
        yield runtime


def failover(rt: LocalAWS, db: str, answer: str) -> tuple[object, dict[str, object]]:
    rt.approvals = answer  # type: ignore[assignment]
    try:
        return run(rt, console("prod-failover.json", target=f"rds:{db}"))
    finally:
        rt.approvals = "approve"


def approvals(report: object) -> list[str]:
    return [r["decision"] for r in by_kind(report, "approval")]  # type: ignore[arg-type]


def test_console_input_sample_is_prod_failover() -> None:
    from deckwatch.remediation.tasks import RunInput

    run_input = RunInput.model_validate(console("prod-failover.json"))
    assert (run_input.environment, run_input.runbook, run_input.target) == ("prod", "rds_failover", "rds:shop-prod-db")


def test_approved_failover_acts(rt: LocalAWS) -> None:
    report, execution = failover(rt, "prod-db-a", "approve")
    assert execution["path"][:5] == ["Start", "Begin", "Allowed?", "Approval", "Act"]  # type: ignore[index]
    assert approvals(report) == ["requested", "approved"]
    assert ("rds", "RebootDBInstance") in ops(report)  # type: ignore[arg-type]
    (acted,) = by_kind(report, "action")  # type: ignore[arg-type]
    assert acted["action"]["parameters"] == {"DBInstanceIdentifier": "prod-db-a", "ForceFailover": True}
    assert closing(report)["details"]["outcome"] == "done"  # type: ignore[arg-type]


def test_rejected_failover_does_nothing(rt: LocalAWS) -> None:
    report, execution = failover(rt, "prod-db-b", "reject")
    assert execution["path"][-4:] == ["Approval", "Rejected", "Close", "Closed"]  # type: ignore[index]
    assert approvals(report) == ["requested", "rejected"]
    assert ("rds", "RebootDBInstance") not in ops(report)  # type: ignore[arg-type]
    assert by_kind(report, "action") == []  # type: ignore[arg-type]
    assert closing(report)["details"]["outcome"] == "rejected"  # type: ignore[arg-type]


def test_unanswered_approval_escalates(rt: LocalAWS) -> None:
    report, execution = failover(rt, "prod-db-c", "timeout")
    assert execution["path"][-6:] == [  # type: ignore[index]
        "Approval",
        "RecordApprovalExpiry",
        "ApprovalExpired",
        "Escalate",
        "Close",
        "Closed",
    ]
    assert approvals(report) == ["requested", "expired"]
    assert ("rds", "RebootDBInstance") not in ops(report)  # type: ignore[arg-type]
    escalated = [r for r in report.ledger if r["decision"] == "escalated"]  # type: ignore[attr-defined]
    assert len(escalated) == 1 and "nobody approved the action in time" in escalated[0]["reason"]
    assert report.simulated_seconds >= 30 * 60  # type: ignore[attr-defined] # the policy's approval timeout
    assert closing(report)["details"]["outcome"] == "approval-expired"  # type: ignore[arg-type]


def test_non_disruptive_runbook_needs_no_approval_in_prod(rt: LocalAWS) -> None:
    report, execution = run(
        rt, {"environment": "prod", "runbook": "notify_only", "parameters": {"message": "prod heads-up"}}
    )
    assert "Approval" not in execution["path"]
    assert approvals(report) == []
