"""The contract between the two stacks (issue 12, "found by a review of the two templates"), on the world built
from the workload stack: what each stack is given is exactly the other's output, the workload's key policies and
the control plane's IAM agree on the drill secret and the build artifacts, budget and anomaly alerts reach the
topic Deckwatch reads them from, and Deckwatch really reads the workload's artifact (a pipeline whose trigger is
Deckwatch's, not its own Cutover action)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from deckwatch import clock
from deckwatch.local.pipelines import Pipelines, Release
from deckwatch.local.runtime import LocalAWS
from support.cutover import Factory


@pytest.fixture(scope="module")
def workload(local_aws_factory: Factory) -> Iterator[LocalAWS]:
    with local_aws_factory("staging", approvals="approve", world="workload") as rt:
        yield rt


def _stack(rt: LocalAWS, name: str) -> dict[str, Any]:
    return dict(rt.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0])


def _parameters(rt: LocalAWS, name: str) -> dict[str, str]:
    return {p["ParameterKey"]: p.get("ParameterValue", "") for p in _stack(rt, name).get("Parameters", [])}


def _outputs(rt: LocalAWS, name: str) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in _stack(rt, name).get("Outputs", [])}


def _role_statements(rt: LocalAWS, logical_id: str) -> list[dict[str, Any]]:
    """The inline statements of a control-plane function's role, as IAM holds them."""
    import ast

    iam = rt.client("iam")
    role = rt.physical[logical_id]
    out = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        doc = ast.literal_eval(doc) if isinstance(doc, str) else doc  # moto: the repr of what CloudFormation gave
        out += doc["Statement"]
    return out


def _key_policy_principals(rt: LocalAWS, key_arn: str) -> dict[str, Any]:
    policy = json.loads(rt.client("kms").get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
    return {s["Sid"]: s for s in policy["Statement"]}


def test_each_stack_is_given_the_others_outputs(workload: LocalAWS) -> None:
    control = _outputs(workload, workload.stack_name)
    given = _parameters(workload, "shop-staging")
    assert given["DeckwatchTopicArn"] == control["NotificationsTopicArn"]
    assert given["DeckwatchCostAlertsTopicArn"] == control["CostAlertsTopicArn"]
    assert given["DeckwatchCutoverStateMachineArn"] == control["CutoverStateMachineArn"]
    assert given["DeckwatchDrillValidatorRoleArn"] == control["DrillValidatorRoleArn"]
    assert given["DeckwatchPipelineEventsRoleArn"] == control["PipelineEventsRoleArn"]
    back = _parameters(workload, workload.stack_name)
    assert back["PipelineArtifactBucket"] == _outputs(workload, "shop-staging")["ArtifactBucketName"]


def test_drill_secret_key_and_validator_iam_agree(workload: LocalAWS) -> None:
    out = _outputs(workload, "shop-staging")
    statements = _key_policy_principals(workload, out["DrillSecretKeyArn"])
    grant = statements["DeckwatchDrillValidatorDecrypts"]
    assert grant["Principal"]["AWS"] == _outputs(workload, workload.stack_name)["DrillValidatorRoleArn"]
    assert grant["Condition"]["StringEquals"]["kms:ViaService"] == "secretsmanager.us-east-1.amazonaws.com"
    secret = workload.client("secretsmanager").describe_secret(SecretId=out["DrillSecretArn"])
    assert secret["KmsKeyId"] == out["DrillSecretKeyArn"]
    assert {"Key": "deckwatch:drill-credentials", "Value": "true"} in secret["Tags"]
    sids = {s.get("Sid"): s for s in _role_statements(workload, "DrillValidatorFunctionRole")}
    read = sids["DrillCredentials"]
    assert read["Condition"] == {"StringEquals": {"secretsmanager:ResourceTag/deckwatch:drill-credentials": "true"}}
    decrypt = sids["DrillCredentialKeys"]
    assert decrypt["Action"] == "kms:Decrypt" and decrypt["Resource"] == "arn:aws:kms:us-east-1:123456789012:key/*"
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}


def test_artifact_bucket_key_and_pipeline_events_iam_agree(workload: LocalAWS) -> None:
    out = _outputs(workload, "shop-staging")
    statements = _key_policy_principals(workload, out["ArtifactKeyArn"])
    grant = statements["DeckwatchReadsBuildArtifacts"]
    assert grant["Principal"]["AWS"] == _outputs(workload, workload.stack_name)["PipelineEventsRoleArn"]
    sids = {s.get("Sid"): s for s in _role_statements(workload, "PipelineEventsFunctionRole")}
    assert f"arn:aws:s3:::{out['ArtifactBucketName']}/*" in sids["ReadBuildArtifacts"]["Resource"]
    assert sids["DecryptBuildArtifacts"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
    }


def test_budget_alerts_go_to_the_topic_deckwatch_reads_them_from(workload: LocalAWS) -> None:
    from moto.budgets.models import budgets_backends  # DescribeSubscribersForNotification: not in moto's API

    budget: Any = budgets_backends["123456789012"]["aws"].budgets["123456789012"]["shop-staging-monthly"]
    addresses = {s["Address"] for n in budget.notifications for s in n.subscribers}
    # the stack's own topic CostAlertsFunction is subscribed to (not one named by ARN, CostAlertTopicArns)
    (topic,) = {s.topic for s in workload.sns if s.function == "CostAlertsFunction" and not s.topic.startswith("arn:")}
    assert addresses == {workload.physical[topic]}


def test_deckwatch_reads_the_build_artifact_from_the_workload_bucket(workload: LocalAWS) -> None:
    """A pipeline of this stack without its Cutover action (as a v1 pipeline is): Deckwatch's trigger (the
    policy's BuildImage SUCCEEDED) starts the cutover with the image it reads from the workload's artifact bucket,
    encrypted with the workload's ArtifactKey."""
    cp = workload.client("codepipeline")
    declared = cp.get_pipeline(name="shop-web")["pipeline"]
    v1 = {**declared, "stages": [s for s in declared["stages"] if s["name"] != "Cutover"]}
    cp.update_pipeline(pipeline=v1)
    try:
        since = clock.iso()
        execution = Pipelines(workload).start("shop-web", Release(commit=uuid.uuid4().hex[:20]))
        workload.settle()
    finally:
        cp.update_pipeline(pipeline=declared)
    records = workload.ledger_since(since)
    (started,) = [r for r in records if r["decision"] == "cutover-started"]
    assert started["reason"].startswith(f"{execution.release.image} -> ")
    (requested,) = [r for r in records if r["decision"] == "cutover-requested"]
    (artifact,) = requested["details"]["artifacts"]
    assert artifact["s3location"]["bucket"] == _outputs(workload, "shop-staging")["ArtifactBucketName"]
    assert any(r["decision"] == "completed" for r in records)


@pytest.mark.parametrize("kind", ["examples", "simulation"])
@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_canary_limits_in_the_shipped_policies_are_the_workload_slo(kind: str, environment: str) -> None:
    """The policies shipped with Deckwatch (examples, the month's) hold every service's canary to the workload's
    SLO, the figures its alarms are built from (workload/template.yaml Mappings Slo)."""
    from deckwatch.local import simulation
    from deckwatch.policy import load_file
    from deckwatch.policy.loader import EXAMPLES
    from support.samples import REPO_ROOT
    from support.workload_cfn import load_template

    slo = load_template(REPO_ROOT / "workload/template.yaml")["Mappings"]["Slo"]["Targets"]
    path = EXAMPLES / f"{environment}.yaml" if kind == "examples" else simulation.policy(environment)
    services = load_file(path).policy.services
    assert {s.kind for s in services} >= {"ecs", "ecs_worker"}
    for svc in services:
        limits = {m.name: m.max for m in svc.rollout.analysis.metrics}
        assert limits["error_rate"] == slo["ErrorRatePercent"] / 100, svc.name
        if svc.kind == "ecs_worker":  # the queue's age, not a response time
            assert limits["queue_age"] == slo["QueueAgeSeconds"], svc.name
        else:
            assert limits["latency_p99"] == slo["LatencySeconds"] == 0.2, svc.name
