"""The approval state machine (statemachines/approval.asl.json) end to end: task token, answer or timeout.

One embedded AWS per answer mode (class-scoped: only one may run at a time in a process)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from deckwatch.approvals import approval_id
from deckwatch.local.runtime import LocalAWS, Report
from support.samples import APPROVAL_INPUTS

Factory = Callable[..., AbstractContextManager[LocalAWS]]


def request(name: str) -> dict[str, Any]:
    return json.loads((APPROVAL_INPUTS / name).read_text(encoding="utf-8"))


def run(rt: LocalAWS, name: str) -> tuple[Report, dict[str, Any]]:
    report = rt.start_execution("ApprovalStateMachine", request(name))
    assert len(report.executions) == 1, report.executions
    return report, report.executions[0]


def approval_records(report: Report) -> list[dict[str, Any]]:
    return [r for r in report.ledger if r["kind"] == "approval"]


def pending(rt: LocalAWS) -> list[dict[str, Any]]:
    table = rt.physical["StateTable"]
    items = rt.client("dynamodb").scan(TableName=table)["Items"]
    return [i for i in items if i["pk"]["S"].startswith("approval#")]


def test_inputs_are_valid_approval_requests() -> None:
    from deckwatch.approvals import ApprovalRequest

    prod = ApprovalRequest.model_validate(request("prod-cutover.json"))
    assert (prod.environment, prod.capability, prod.timeout_seconds) == ("prod", "cutover", 3600)
    staging = ApprovalRequest.model_validate(request("staging-remediation.json"))
    assert (staging.environment, staging.capability, staging.timeout_seconds) == ("staging", "remediation", 120)


class TestApproved:
    @pytest.fixture(scope="class")
    @classmethod
    def rt(cls, local_aws_factory: Factory) -> Iterator[LocalAWS]:
        with local_aws_factory("prod", approvals="approve") as runtime:
            yield runtime

    def test_approved_execution_succeeds(self, rt: LocalAWS) -> None:
        report, execution = run(rt, "prod-cutover.json")
        assert execution["state_machine"] == "ApprovalStateMachine"
        assert execution["status"] == "SUCCEEDED"
        assert execution["path"] == ["RequestApproval", "Approved"]
        assert execution["error"] is None
        records = approval_records(report)
        assert [r["decision"] for r in records] == ["requested", "approved"]
        aid = records[0]["details"]["approval_id"]
        assert all(r["details"]["approval_id"] == aid for r in records)
        assert all(r["subject"] == "service/web" and r["capability"] == "cutover" for r in records)
        assert records[1]["actor"] == "local-operator"
        assert records[0]["execution_arn"].startswith("arn:aws:states:us-east-1:123456789012:execution:")
        assert approval_id(records[0]["execution_arn"]) == aid
        assert ("sns", "Publish") in [(c["service"], c["operation"]) for c in report.aws_calls]
        assert ("sfn", "SendTaskSuccess") in [(c["service"], c["operation"]) for c in report.aws_calls]
        assert pending(rt) == []  # the answer removed the pending approval
        assert report.simulated_seconds < 3600

    def test_each_execution_gets_its_own_approval(self, rt: LocalAWS) -> None:
        first, _ = run(rt, "prod-cutover.json")
        second, execution = run(rt, "prod-cutover.json")
        assert execution["status"] == "SUCCEEDED"
        ids = {r["details"]["approval_id"] for r in approval_records(first) + approval_records(second)}
        assert len(ids) == 2


class TestRejected:
    @pytest.fixture(scope="class")
    @classmethod
    def rt(cls, local_aws_factory: Factory) -> Iterator[LocalAWS]:
        with local_aws_factory("prod", approvals="reject") as runtime:
            yield runtime

    def test_rejected_execution_fails(self, rt: LocalAWS) -> None:
        report, execution = run(rt, "prod-cutover.json")
        assert execution["status"] == "FAILED"
        assert execution["path"] == ["RequestApproval", "Rejected"]
        assert execution["error"] == "ApprovalRejectedError"
        assert [r["decision"] for r in approval_records(report)] == ["requested", "rejected"]
        assert "RecordExpiry" not in execution["path"]
        assert ("sfn", "SendTaskFailure") in [(c["service"], c["operation"]) for c in report.aws_calls]
        assert pending(rt) == []


class TestTimedOut:
    @pytest.fixture(scope="class")
    @classmethod
    def rt(cls, local_aws_factory: Factory) -> Iterator[LocalAWS]:
        with local_aws_factory("prod", approvals="timeout") as runtime:
            yield runtime

    def test_unanswered_approval_expires_in_simulated_time(self, rt: LocalAWS) -> None:
        report, execution = run(rt, "prod-cutover.json")
        assert execution["status"] == "FAILED"
        assert execution["error"] == "ApprovalTimeoutError"
        assert execution["path"] == ["RequestApproval", "RecordExpiry", "Expired"]
        assert [r["decision"] for r in approval_records(report)] == ["requested", "expired"]
        assert report.simulated_seconds >= 3600
        assert report.real_seconds < 30
        assert pending(rt) == []  # RecordExpiry deleted the pending approval


class TestShortTimeout:
    @pytest.fixture(scope="class")
    @classmethod
    def rt(cls, local_aws_factory: Factory) -> Iterator[LocalAWS]:
        with local_aws_factory("staging", approvals="timeout") as runtime:
            yield runtime

    def test_timeout_comes_from_the_request(self, rt: LocalAWS) -> None:
        report, execution = run(rt, "staging-remediation.json")
        assert execution["error"] == "ApprovalTimeoutError"
        assert [r["decision"] for r in approval_records(report)] == ["requested", "expired"]
        assert all(r["capability"] == "remediation" for r in approval_records(report))
        # TimeoutSecondsPath is $.timeoutSeconds: 120 s, not the prod request's hour
        assert 120 <= report.simulated_seconds < 3600
        assert report.real_seconds < 30
