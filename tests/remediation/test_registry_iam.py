"""The runbook registry: parameters, and the template grants the remediation function exactly the IAM actions its
runbooks declare (plus the control plane's own, listed here)."""

from __future__ import annotations

from typing import Any

import pytest
from deckwatch.local.template import load
from deckwatch.remediation import runbooks
from pydantic import ValidationError
from support.samples import REPO_ROOT

# what the remediation function needs besides its runbooks: ledger, locks/incidents/guardrails/watches, policy,
# KMS, DLQ, notifications (escalations), alarm state (verification), answering its own watch
CONTROL_PLANE = {
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:GetItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "ssm:GetParameter",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "sqs:SendMessage",
    "sns:Publish",
    "cloudwatch:DescribeAlarms",
    "states:SendTaskSuccess",
}


@pytest.fixture(scope="module")
def statements() -> list[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        cfn = load(REPO_ROOT, {"Environment": "staging"}).cfn
    resources = cfn["Resources"]
    role = resources["RemediationFunctionRole"]["Properties"]
    out: list[dict[str, Any]] = []
    for policy in role.get("Policies", []):
        out.extend(policy["PolicyDocument"]["Statement"])
    # the stack's shared managed policies (KeyAccess, LedgerWriteAccess...) count as the role's own statements;
    # AWS managed policies only for logs and traces
    for arn in role.get("ManagedPolicyArns", []):
        if isinstance(arn, dict) and resources.get(arn.get("Ref", ""), {}).get("Type") == "AWS::IAM::ManagedPolicy":
            out.extend(resources[arn["Ref"]]["Properties"]["PolicyDocument"]["Statement"])
        else:
            assert "AWSLambdaBasicExecutionRole" in str(arn) or "AWSXray" in str(arn), arn
    return out


def actions(stmts: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for s in stmts:
        acts = s["Action"]
        found |= {acts} if isinstance(acts, str) else set(acts)
    return found


def test_runbook_statements_grant_exactly_the_registry(statements: list[dict[str, Any]]) -> None:
    runbook_statements = [s for s in statements if str(s.get("Sid", "")).startswith("Runbook")]
    assert actions(runbook_statements) == runbooks.iam_actions()


def test_function_grants_nothing_beyond_runbooks_and_control_plane(statements: list[dict[str, Any]]) -> None:
    allowed = [s for s in statements if s["Effect"] == "Allow"]
    assert actions(allowed) - runbooks.iam_actions() - CONTROL_PLANE == set()
    denied = [s for s in statements if s["Effect"] != "Allow"]
    assert [s["Sid"] for s in denied] == ["LedgerIsAppendOnly"]  # the ledger stays append-only


def test_every_runbook_declares_actions_and_a_parameter_schema() -> None:
    assert set(runbooks.REGISTRY) == {
        "ecs_scale_out",
        "ecs_replace_tasks",
        "ecs_force_new_deployment",
        "rollback_cutover",
        "rds_failover",
        "rds_grow_storage",
        "notify_only",
    }
    for rb in runbooks.REGISTRY.values():
        assert rb.iam_actions, rb.name
        assert all(":" in a for a in rb.iam_actions)
        assert rb.params.model_json_schema()["type"] == "object"
    assert [rb.name for rb in runbooks.REGISTRY.values() if rb.disruptive] == ["rds_failover"]


def test_parameters_are_validated_from_target_and_parameters() -> None:
    scale = runbooks.get("ecs_scale_out")
    params = scale.validate("ecs:c/s", {"step": 3})
    assert scale.resource_of(params) == "ecs:c/s"
    with pytest.raises(ValidationError):
        scale.validate("ecs:c/s", {"step": 0})
    with pytest.raises(ValidationError):
        scale.validate("ecs:c/s", {"unknown": 1})
    with pytest.raises(ValueError, match="ecs:<cluster>/<service>"):
        scale.validate("rds:db", {})
    with pytest.raises(ValidationError):
        runbooks.get("rds_failover").validate(None, {"db_instance": "a", "db_cluster": "b"})
    with pytest.raises(ValidationError):
        runbooks.get("rds_grow_storage").validate("rds:db", {"percent": 5})
    assert runbooks.get("rollback_cutover").resource_of(
        runbooks.get("rollback_cutover").validate("service:web", {})
    ) == ("service:web")
    from deckwatch.remediation.errors import UnknownRunbookError

    with pytest.raises(UnknownRunbookError):
        runbooks.get("reboot_everything")


def test_example_policies_rules_name_valid_runbook_parameters() -> None:
    from deckwatch.policy import example, load_file

    for env in ("dev", "staging", "prod"):
        policy = load_file(example(env)).policy
        for rule in policy.remediation.rules:
            params = dict(rule.parameters)
            if rule.service is not None:  # filled in with the live colour's names at run time
                svc = policy.service(rule.service)
                assert svc is not None and svc.ecs is not None
                params |= {"cluster": svc.ecs.cluster, "service": svc.ecs.services.blue}
            runbooks.get(rule.runbook).validate(None, params)
