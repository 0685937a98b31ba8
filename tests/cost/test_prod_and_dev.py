"""Production: notify only (example policy), or act after an approval (policy mode 'approve'); dev: dry-run."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from deckwatch.local.runtime import LocalAWS
from deckwatch.policy import example
from support.cost import anomaly_event, capacity, console, ops, published

Factory = Callable[..., AbstractContextManager[LocalAWS]]


class TestProdNotifyOnly:
    @pytest.fixture(scope="class")
    @classmethod
    def rt(cls, local_aws_factory: Factory) -> Iterator[LocalAWS]:
        with local_aws_factory("prod") as runtime:
            yield runtime

    def test_anomaly_in_prod_notifies_only(self, rt: LocalAWS) -> None:
        before = capacity(rt)
        sent = len(published(rt))
        report = rt.replay(json.dumps(anomaly_event("prod")))
        rec = report.ledger[0]
        assert (rec["decision"], rec["details"]["action"]) == ("alerted", "notify-only")
        assert report.executions == []
        assert ("ecs", "UpdateService") not in ops(report)
        assert capacity(rt) == before
        assert "Notified only" in published(rt)[sent]["message"]

    def test_console_save_in_prod_goes_through_approval(self, rt: LocalAWS) -> None:
        report = rt.start_execution("CostSavingsStateMachine", console("save-prod.json"))
        assert report.executions[0]["path"] == ["Validate", "Route", "RequestApproval", "Save", "Done"]
        assert capacity(rt)["shop-prod-web-blue"] == 0
        rt.start_execution("CostSavingsStateMachine", {"action": "resume", "environment": "prod"})
        assert capacity(rt)["shop-prod-web-blue"] == 2


def _approve_policy(tmp: Path) -> Path:
    text = example("prod").read_text(encoding="utf-8").replace("    mode: notify", "    mode: approve")
    path = tmp / "prod-approve.yaml"
    path.write_text(text, encoding="utf-8")
    return path


class TestProdApprovalRejected:
    @pytest.fixture(scope="class")
    @classmethod
    def rt(cls, local_aws_factory: Factory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAWS]:
        policy = _approve_policy(tmp_path_factory.mktemp("policy"))
        with local_aws_factory("prod", approvals="reject", policy_file=policy) as runtime:
            yield runtime

    def test_rejected_approval_changes_nothing(self, rt: LocalAWS) -> None:
        before = capacity(rt)
        report = rt.replay(json.dumps(anomaly_event("prod")))
        alert = next(r for r in report.ledger if r["kind"] == "decision" and r["subject"].startswith("anomaly/"))
        assert alert["details"]["action"] == "approval-requested"
        assert report.executions[0]["path"] == ["Validate", "Route", "RequestApproval", "Declined", "NotTaken"]
        assert "declined" in [r["decision"] for r in report.ledger]
        assert [r for r in report.ledger if r["kind"] == "action"] == []
        assert capacity(rt) == before


class TestProdApprovalApproved:
    @pytest.fixture(scope="class")
    @classmethod
    def rt(cls, local_aws_factory: Factory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAWS]:
        policy = _approve_policy(tmp_path_factory.mktemp("policy"))
        with local_aws_factory("prod", approvals="approve", policy_file=policy) as runtime:
            yield runtime

    def test_approved_savings_act(self, rt: LocalAWS) -> None:
        report = rt.replay(json.dumps(anomaly_event("prod")))
        assert report.executions[0]["path"] == ["Validate", "Route", "RequestApproval", "Save", "Done"]
        actor = next(r for r in report.ledger if r["kind"] == "action")["actor"]
        assert "approved by local-operator" in actor
        assert capacity(rt) == {"shop-prod-web-blue": 0, "shop-prod-web-green": 0, "shop-prod-db": "stopped"}


class TestDevDryRun:
    @pytest.fixture(scope="class")
    @classmethod
    def rt(cls, local_aws_factory: Factory) -> Iterator[LocalAWS]:
        with local_aws_factory("dev") as runtime:  # the dev example policy has dry_run: true
            yield runtime

    def test_dry_run_policy_plans_and_changes_nothing(self, rt: LocalAWS) -> None:
        before = capacity(rt)
        sent = len(published(rt))
        report = rt.replay(json.dumps(anomaly_event("dev")))
        alert = next(r for r in report.ledger if r["kind"] == "decision" and r["subject"].startswith("anomaly/"))
        assert (alert["details"]["action"], alert["dry_run"]) == ("savings-dry-run", True)
        planned = [r for r in report.ledger if r["kind"] == "action"]
        assert planned and all(r["dry_run"] and r["outcome"] == "planned" for r in planned)
        assert not {("ecs", "UpdateService"), ("rds", "StopDBInstance")} & set(ops(report))
        assert capacity(rt) == before
        assert "Dry-run" in published(rt)[sent]["message"]
