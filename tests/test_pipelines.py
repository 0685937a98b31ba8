"""The workload's pipelines, run (deckwatch.local.pipelines) on the world built from the workload stack: their
real state-change events reach Deckwatch, the Cutover action starts Deckwatch's cutover with the input the
workload declares and waits for it, and failures, rejections, supersedes and stops end executions as CodePipeline
ends them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from deckwatch import clock
from deckwatch.local import simulation
from deckwatch.local.mock_services import traffic
from deckwatch.local.pipelines import Execution, Pipelines, Release
from deckwatch.local.runtime import LocalAWS
from support.cutover import Factory, weights


@pytest.fixture(scope="module")
def workload(local_aws_factory: Factory) -> Iterator[LocalAWS]:
    # the month's staging policy: the example's, plus the workload's api service
    with local_aws_factory(
        "staging", approvals="approve", world="workload", policy_file=simulation.policy("staging")
    ) as rt:
        yield rt


@pytest.fixture
def seen(workload: LocalAWS) -> Iterator[tuple[Pipelines, list[dict[str, Any]]]]:
    events: list[dict[str, Any]] = []

    def emit(event: dict[str, Any]) -> None:
        events.append(event)
        Pipelines._put_event(event)

    traffic.reset()
    yield Pipelines(workload, emit=emit), events
    traffic.reset()


def commit() -> str:
    return uuid.uuid4().hex[:20]


def states(events: list[dict[str, Any]], execution: Execution, kind: str = "Pipeline") -> list[str]:
    return [
        e["detail"]["state"] if kind == "Pipeline" else f"{e['detail'].get('action')}:{e['detail']['state']}"
        for e in events
        if e["detail"]["execution-id"] == execution.id
        and e["detail-type"] == f"CodePipeline {kind} Execution State Change"
    ]


def live(rt: LocalAWS) -> str:
    w = weights(rt)
    return max(w, key=lambda c: w[c])


def test_a_release_goes_through_every_stage_and_deckwatch_cuts_over(workload: LocalAWS, seen: Any) -> None:
    pipelines, events = seen
    before, since = live(workload), clock.iso()
    execution = pipelines.start("shop-web", Release(commit=commit()))
    workload.settle()
    assert execution.status == "Succeeded"
    assert states(events, execution) == ["STARTED", "SUCCEEDED"]
    assert states(events, execution, "Action") == [
        "Source:STARTED", "Source:SUCCEEDED", "BuildImage:STARTED", "BuildImage:SUCCEEDED", "Cutover:STARTED",
        "Cutover:SUCCEEDED", "ApproveProd:STARTED", "ApproveProd:SUCCEEDED", "ReleaseImage:STARTED",
        "ReleaseImage:SUCCEEDED",
    ]  # fmt: skip
    stages = [e["detail"]["stage"] for e in events if e["detail-type"].startswith("CodePipeline Stage")]
    assert stages[::2] == ["Source", "Build", "Cutover", "Approval", "Release"]
    # the Cutover action started Deckwatch's state machine with the declared input, and waited for it
    (started,) = [h for h in execution.history if h["kind"] == "state-machine-started"]
    assert started["input"] == {
        "environment": "staging", "service": "web", "image": execution.release.image, "pipeline": "shop-web",
        "pipelineExecutionId": execution.id, "commit": execution.release.commit, "approvedByPipeline": False,
        "requestedBy": "pipeline:shop-web/Cutover",
    }  # fmt: skip
    assert started["execution_arn"].split(":")[-1].startswith("shop-staging-web-")
    assert live(workload) != before
    records = workload.ledger_since(since)
    assert [r["decision"] for r in records].count("planned") == 1  # one cutover, not two
    assert "left-to-pipeline" in [r["decision"] for r in records]
    assert any(r["decision"] == "completed" for r in records)


def test_the_build_artifact_is_in_the_workload_bucket_under_its_key(workload: LocalAWS, seen: Any) -> None:
    pipelines, events = seen
    execution = pipelines.start("shop-web", Release(commit=commit(), approval="reject", approval_after=60))
    workload.settle()
    (built,) = [e for e in events if e["detail"].get("action") == "BuildImage" and e["detail"]["state"] == "SUCCEEDED"]
    (artifact,) = built["detail"]["output-artifacts"]
    location = artifact["s3location"]
    assert location["bucket"] == workload.world["outputs"]["ArtifactBucketName"]
    assert location["key"].startswith("shop-web/Image/")
    head = workload.client("s3").head_object(Bucket=location["bucket"], Key=location["key"])
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == workload.world["outputs"]["ArtifactKeyArn"]
    # staging: ApproveProd after the cutover; a rejection fails the execution there
    assert execution.status == "Failed" and states(events, execution)[-1] == "FAILED"
    assert states(events, execution, "Action")[-1] == "ApproveProd:FAILED"


def test_a_failed_build_fails_the_execution_and_starts_nothing(workload: LocalAWS, seen: Any) -> None:
    pipelines, events = seen
    since = clock.iso()
    execution = pipelines.start("shop-web", Release(commit=commit(), build_fails=True))
    workload.settle()
    assert execution.status == "Failed"
    assert states(events, execution, "Action")[-1] == "BuildImage:FAILED"
    assert not [h for h in execution.history if h["kind"] == "state-machine-started"]
    assert "planned" not in [r["decision"] for r in workload.ledger_since(since)]


def test_a_bad_release_rolls_back_and_fails_the_stage(workload: LocalAWS, seen: Any) -> None:
    pipelines, events = seen
    before = live(workload)
    release = Release(commit=commit())
    release.image = f"{workload.world['services']['web']['repository']}:{release.commit[:12]}-bad"
    traffic.release(release.image, error_rate=0.3)
    execution = pipelines.start("shop-web", release)
    workload.settle()
    assert execution.status == "Failed"
    assert states(events, execution, "Action")[-2:] == ["Cutover:STARTED", "Cutover:FAILED"]
    assert live(workload) == before and weights(workload)[before] == 100


def _mode(rt: LocalAWS, name: str, mode: str) -> None:
    cp = rt.client("codepipeline")
    declared = cp.get_pipeline(name=name)["pipeline"]
    cp.update_pipeline(pipeline={**declared, "executionMode": mode})


def test_queued_executions_wait_and_superseded_ones_end(workload: LocalAWS, seen: Any) -> None:
    pipelines, events = seen
    first = pipelines.start("shop-api", Release(commit=commit(), approval_after=60))
    workload.scheduler.call_later(400, lambda: None, "second push")
    workload.scheduler.call_later(
        600, lambda: queued.append(pipelines.start("shop-api", Release(commit=commit(), approval_after=60))), "push"
    )
    queued: list[Execution] = []
    workload.settle()
    assert first.status == "Succeeded" and queued[0].status == "Succeeded"
    (waited,) = [h for h in queued[0].history if h["kind"] == "waiting"]
    assert waited["stage"] == "Cutover" and waited["holder"] == first.id  # QUEUED: in order, one at a time

    _mode(workload, "shop-api", "SUPERSEDED")
    try:
        lead = pipelines.start("shop-api", Release(commit=commit(), approval_after=60))
        later: list[Execution] = []
        for at in (400, 700):
            workload.scheduler.call_later(
                at,
                lambda: later.append(pipelines.start("shop-api", Release(commit=commit(), approval_after=60))),
                "push",
            )
        workload.settle()
    finally:
        _mode(workload, "shop-api", "QUEUED")
    assert lead.status == "Succeeded"
    assert [e.status for e in later] == ["Superseded", "Succeeded"]
    assert states(events, later[0]) == ["STARTED", "SUPERSEDED"]


def test_stopping_with_abandon_mid_cutover_rolls_it_back(workload: LocalAWS, seen: Any) -> None:
    pipelines, events = seen
    before, since = live(workload), clock.iso()
    execution = pipelines.start("shop-web", Release(commit=commit()))
    # 5 min 22 s in: the build is done, the cutover has shifted its first step and bakes
    workload.scheduler.call_later(
        900, lambda: pipelines.stop(execution.id, abandon=True, reason="wrong branch"), "stop"
    )
    workload.settle()
    assert execution.status == "Stopped"
    assert states(events, execution) == ["STARTED", "STOPPING", "STOPPED"]
    assert "Cutover:ABANDONED" in states(events, execution, "Action")
    decisions = [r["decision"] for r in workload.ledger_since(since)]
    assert "abort-requested" in decisions and "rolled-back" in decisions
    assert live(workload) == before and weights(workload)[before] == 100
    assert json.dumps(execution.history)  # the timeline serialises
