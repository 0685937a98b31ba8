"""A pipeline that deploys to a colour itself (an ECS deploy action naming shop-staging-web-green) puts the image
on the live colour, with all its traffic, from the second release on: its event-driven trigger is refused (ledger
and a critical notification), nothing is deployed and no cutover starts. A pipeline that only builds is served."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, suppress
from typing import Any

import pytest
from deckwatch.local.runtime import LocalAWS
from support.cost import published
from support.cutover import POLICY, build_event

Factory = Callable[..., AbstractContextManager[LocalAWS]]
ROLE = "arn:aws:iam::123456789012:role/shop-staging-pipeline"


@pytest.fixture(scope="module")
def rt(local_aws_factory: Factory) -> Iterator[LocalAWS]:
    with local_aws_factory("staging", policy_file=POLICY) as runtime:
        yield runtime


def _pipeline(deploy_to: str | None) -> dict[str, Any]:
    """shop-web as a team would declare it: source, build (the trigger's BuildImage), and maybe an ECS deploy."""
    stages: list[dict[str, Any]] = [
        {
            "name": "Source",
            "actions": [
                {
                    "name": "Source",
                    "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                    "configuration": {"S3Bucket": "shop-staging-source", "S3ObjectKey": "web.zip"},
                    "outputArtifacts": [{"name": "Src"}],
                }
            ],
        },
        {
            "name": "Build",
            "actions": [
                {
                    "name": "BuildImage",
                    "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                    "configuration": {"ProjectName": "shop-staging-web"},
                    "inputArtifacts": [{"name": "Src"}],
                    "outputArtifacts": [{"name": "ImageDefin"}],
                }
            ],
        },
    ]
    if deploy_to:
        stages.append(
            {
                "name": "DeployStaging",
                "actions": [
                    {
                        "name": "Deploy",
                        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "ECS", "version": "1"},
                        "configuration": {"ClusterName": "shop-staging", "ServiceName": deploy_to},
                        "inputArtifacts": [{"name": "ImageDefin"}],
                    }
                ],
            }
        )
    return {
        "name": "shop-web",
        "roleArn": ROLE,
        "artifactStore": {"type": "S3", "location": "shop-staging-artifacts"},
        "stages": stages,
    }


def _declare(rt: LocalAWS, deploy_to: str | None) -> None:
    iam = rt.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    with suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=ROLE.rsplit("/", 1)[-1], AssumeRolePolicyDocument=json.dumps(trust))
    cp = rt.client("codepipeline")
    doc = _pipeline(deploy_to)
    try:
        cp.get_pipeline(name="shop-web")
    except cp.exceptions.PipelineNotFoundException:
        cp.create_pipeline(pipeline=doc)
    else:
        cp.update_pipeline(pipeline=doc)


def test_a_pipeline_that_deploys_to_a_colour_is_refused(rt: LocalAWS) -> None:
    _declare(rt, "shop-staging-web-green")
    report = rt.replay(build_event(rt, "colour-deploy"))
    refused = [r for r in report.ledger if r["decision"] == "refused"]
    assert [r["subject"] for r in refused] == ["service/web"]
    assert "DeployStaging/Deploy (ECS deploy to shop-staging-web-green)" in refused[0]["reason"]
    assert report.executions == []
    assert not [r for r in report.ledger if r["decision"] in ("cutover-started", "RegisterTaskDefinition")]
    [note] = [n for n in published(rt) if "refused" in n["subject"]]
    assert note["subject"] == "[deckwatch staging] cutover web: refused (the pipeline deploys to a colour)"
    assert "shop-staging-web-green" in note["message"]


def test_a_pipeline_that_only_builds_starts_the_cutover(rt: LocalAWS) -> None:
    _declare(rt, None)
    report = rt.replay(build_event(rt, "builds-only"))
    assert [r["decision"] for r in report.ledger if r["decision"] in ("refused", "cutover-started")] == [
        "cutover-started"
    ]
    assert [e["status"] for e in report.executions] == ["SUCCEEDED"]
