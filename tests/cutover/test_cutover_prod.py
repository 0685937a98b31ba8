"""Production cutovers (prod example policy: require_approval): the approval gate approved, rejected and timed
out, and a pipeline whose own Manual approval already gave it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from deckwatch.local.runtime import LocalAWS
from support.cutover import Factory, console_input, decisions, only_execution, record, weights
from support.samples import EVENTS, load_event


def prod_weights(rt: LocalAWS) -> dict[str, int]:
    return weights(rt)


class TestApproved:
    @pytest.fixture(scope="class")
    @classmethod
    def rt(cls, local_aws_factory: Factory) -> Iterator[LocalAWS]:
        with local_aws_factory("prod", approvals="approve") as runtime:
            yield runtime

    def test_console_cutover_waits_for_approval_then_completes(self, rt: LocalAWS) -> None:
        report = rt.start_execution("CutoverStateMachine", console_input("prod-image.json"), name="prod-approved")
        execution = only_execution(report)
        assert execution["status"] == "SUCCEEDED"
        path = execution["path"]
        assert path.index("WaitStable") < path.index("Approval") < path.index("Shift")
        approvals = [r["decision"] for r in report.ledger if r["kind"] == "approval"]
        assert approvals == ["requested", "approved"]
        assert prod_weights(rt) == {"green": 100, "blue": 0}
        assert decisions(report)[-1] == "completed"

    def test_pipeline_approval_is_the_gate(self, rt: LocalAWS) -> None:
        """Build SUCCEEDED (remembered), then the pipeline's own ApproveProd SUCCEEDED starts the cutover."""
        build = load_event(EVENTS / "pipeline_events/action-build-succeeded.json")
        from deckwatch.local.mock_services import codepipeline

        codepipeline.put_artifact(
            "shop-web/ImageDefin/prod2",
            codepipeline.image_definitions("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:2026-12-01.1"),
        )
        build["detail"]["output-artifacts"][0]["s3location"]["key"] = "shop-web/ImageDefin/prod2"
        assert rt.replay(build).executions == []  # prod maps ApproveProd, not BuildImage
        approved = load_event(EVENTS / "pipeline_events/approval-started.json")
        approved["detail"]["state"] = "SUCCEEDED"
        report = rt.replay(approved)
        execution = only_execution(report)
        assert execution["status"] == "SUCCEEDED"
        assert "Approval" not in execution["path"]  # CodePipeline's Manual approval gave it
        assert prod_weights(rt) == {"blue": 100, "green": 0}


class TestRejected:
    @pytest.fixture(scope="class")
    @classmethod
    def rt(cls, local_aws_factory: Factory) -> Iterator[LocalAWS]:
        with local_aws_factory("prod", approvals="reject") as runtime:
            yield runtime

    def test_rejection_shifts_nothing_and_scales_the_idle_colour_down(self, rt: LocalAWS) -> None:
        report = rt.start_execution("CutoverStateMachine", console_input("prod-image.json"), name="prod-rejected")
        execution = only_execution(report)
        assert execution["path"][-3:] == ["Approval", "Rollback", "RolledBack"]
        assert record(report, "rolled-back")["details"]["reason"] == "approval-rejected"
        assert prod_weights(rt) == {"blue": 100, "green": 0}
        svc = rt.client("ecs").describe_services(cluster="shop-prod", services=["shop-prod-web-green"])["services"]
        assert svc[0]["desiredCount"] == 0


class TestTimedOut:
    @pytest.fixture(scope="class")
    @classmethod
    def rt(cls, local_aws_factory: Factory) -> Iterator[LocalAWS]:
        with local_aws_factory("prod", approvals="timeout") as runtime:
            yield runtime

    def test_unanswered_approval_counts_as_rejected(self, rt: LocalAWS) -> None:
        report = rt.start_execution("CutoverStateMachine", console_input("prod-image.json"), name="prod-timeout")
        execution = only_execution(report)
        assert execution["path"][-4:] == ["Approval", "ApprovalExpired", "Rollback", "RolledBack"]
        assert record(report, "rolled-back")["details"]["reason"] == "approval-timeout"
        assert [r["decision"] for r in report.ledger if r["kind"] == "approval"] == ["requested", "expired"]
        assert report.simulated_seconds >= 3600
        assert prod_weights(rt) == {"blue": 100, "green": 0}
