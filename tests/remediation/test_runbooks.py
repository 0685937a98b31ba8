"""Each runbook acting, in dry-run, and refused by each guardrail; AWS errors retried (throttling) or escalated
(AccessDenied). Console runs of the remediation state machine on the embedded AWS (staging)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest
from deckwatch.local.mock_services import faults as mock_cw
from deckwatch.local.runtime import LocalAWS
from deckwatch.state import StateStore
from support.remediation import BLUE, CLUSTER, by_kind, closing, console, desired, new_service, ops, run

Factory = Callable[..., AbstractContextManager[LocalAWS]]


@pytest.fixture(autouse=True)
def _no_faults() -> Iterator[None]:
    yield
    mock_cw.clear_faults()


def scale(target: str, **kw: object) -> dict[str, object]:
    return console("staging-scale-out.json", target=target, **kw)


def refusal_reason(report: object) -> str:
    refusals = by_kind(report, "refusal")  # type: ignore[arg-type]
    assert refusals, (report.executions, [(r["decision"], r["reason"]) for r in report.ledger])  # type: ignore[attr-defined]
    return str(refusals[-1]["reason"])


# ------------------------------------------------------------------------------------------- ecs_scale_out ----
def test_scale_out_acts_and_raises_the_autoscaling_minimum(rt: LocalAWS) -> None:
    target = new_service(rt, "scale-acts", desired=2)
    rt.client("application-autoscaling").register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=f"service/{CLUSTER}/scale-acts",
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=2,
        MaxCapacity=3,
    )
    report, execution = run(rt, scale(target))
    assert execution["status"] == "SUCCEEDED"
    assert execution["path"] == ["Start", "Begin", "Allowed?", "Act", "Verify?", "Done", "Close", "Closed"]
    assert desired(rt, "scale-acts") == 4
    target_after = rt.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="ecs", ResourceIds=[f"service/{CLUSTER}/scale-acts"]
    )["ScalableTargets"][0]
    assert (target_after["MinCapacity"], target_after["MaxCapacity"]) == (4, 4)
    acted = by_kind(report, "action")
    assert [(a["action"]["service"], a["action"]["operation"]) for a in acted] == [
        ("application-autoscaling", "RegisterScalableTarget"),
        ("ecs", "UpdateService"),
    ]
    assert acted[1]["action"]["parameters"]["desiredCount"] == 4
    assert all(a["dry_run"] is False and a["outcome"] == "done" for a in acted)
    assert ops(report).count(("ecs", "UpdateService")) == 1
    close = closing(report)
    assert (close["details"]["outcome"], close["details"]["incident_state"]) == ("done", "closed")
    assert len({r["details"]["incident_id"] for r in report.ledger if "incident_id" in r["details"]}) == 1


def test_scale_out_dry_run_records_the_plan_and_changes_nothing(rt: LocalAWS) -> None:
    target = new_service(rt, "scale-dry", desired=3)
    report, execution = run(rt, scale(target, dryRun=True))
    assert execution["path"][-3:] == ["Planned", "Close", "Closed"]
    assert desired(rt, "scale-dry") == 3
    assert ("ecs", "UpdateService") not in ops(report)
    (planned,) = by_kind(report, "action")
    assert (planned["decision"], planned["dry_run"], planned["outcome"]) == ("planned", True, "planned")
    assert planned["action"]["parameters"] == {"cluster": CLUSTER, "service": "scale-dry", "desiredCount": 5}


def test_scale_out_refused_by_bounds(rt: LocalAWS) -> None:
    rt.client("ecs").update_service(cluster=CLUSTER, service=BLUE, desiredCount=12)  # the rule's max_tasks
    report, execution = run(rt, scale(f"ecs:{CLUSTER}/{BLUE}"))
    assert execution["path"][-3:] == ["Refused", "Close", "Closed"]
    assert refusal_reason(report).startswith("bounds: shop-staging-web-blue already runs 12 tasks, max_tasks is 12")
    assert desired(rt, BLUE) == 12
    assert ("ecs", "UpdateService") not in ops(report)


def test_scale_out_refused_by_cooldown(rt: LocalAWS) -> None:
    target = new_service(rt, "scale-cool", desired=1)
    run(rt, scale(target))
    assert desired(rt, "scale-cool") == 3
    second, execution = run(rt, scale(target))
    assert execution["path"][-3:] == ["Refused", "Close", "Closed"]
    assert refusal_reason(second).startswith("cooldown: ecs_scale_out acted on ecs:shop-staging/scale-cool")
    assert desired(rt, "scale-cool") == 3
    assert closing(second)["details"]["outcome"] == "refused"


@pytest.mark.parametrize(("holder", "capability"), [("cutover-exec-7", "cutover"), ("drill-exec-3", "drills")])
def test_refused_while_a_cutover_or_drill_holds_the_lock(rt: LocalAWS, holder: str, capability: str) -> None:
    name = f"locked-{capability}"
    target = new_service(rt, name, desired=2)
    locks = StateStore(rt.physical["StateTable"], client=rt.client("dynamodb")).leases
    locks.acquire(target, holder, capability, 3600)
    try:
        report, execution = run(rt, scale(target))
    finally:
        locks.release(target, holder)
    assert execution["path"][-3:] == ["Refused", "Close", "Closed"]
    assert f"locked by {capability} ({holder})" in refusal_reason(report)
    assert desired(rt, name) == 2
    assert locks.holder(target) is None  # our refusal took nothing


def test_drill_lock_refuses_rds_runbooks(rt: LocalAWS) -> None:
    locks = StateStore(rt.physical["StateTable"], client=rt.client("dynamodb")).leases
    locks.acquire("rds:shop-staging-db", "drill-exec-9", "drills", 3600)
    try:
        report, _ = run(rt, console("staging-grow-storage-dry-run.json", dryRun=False))
    finally:
        locks.release("rds:shop-staging-db", "drill-exec-9")
    assert "locked by drills (drill-exec-9)" in refusal_reason(report)
    assert ("rds", "ModifyDBInstance") not in ops(report)


def test_refused_by_max_actions_per_hour(rt: LocalAWS) -> None:
    ssm, name = rt.client("ssm"), "/deckwatch/staging/policy"
    good = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    target = new_service(rt, "scale-budget", desired=1)
    try:
        spent = good.replace("max_actions_per_hour: 1000", "max_actions_per_hour: 0")
        assert spent != good
        ssm.put_parameter(Name=name, Value=spent, Type="SecureString", Overwrite=True)
        rt.clock.advance(61)  # functions read the policy again once their copy is a minute old
        report, execution = run(rt, scale(target))
    finally:
        ssm.put_parameter(Name=name, Value=good, Type="SecureString", Overwrite=True)
        rt.clock.advance(61)
    assert execution["path"][-3:] == ["Refused", "Close", "Closed"]
    assert refusal_reason(report).startswith("max actions per hour: 0 remediation action(s) already taken in staging")
    assert desired(rt, "scale-budget") == 1


# ------------------------------------------------------------------------------------------- other runbooks ---
def test_replace_tasks_stops_oldest_in_a_batch_never_below_healthy_minimum(rt: LocalAWS) -> None:
    ecs = rt.client("ecs")
    new_service(rt, "replace-svc", desired=4, cluster="replace")
    td = ecs.register_task_definition(
        family="replace", containerDefinitions=[{"name": "app", "image": "app:1", "memory": 256}]
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.run_task(cluster="replace", taskDefinition=td, count=4, launchType="FARGATE")
    payload = {
        "environment": "staging",
        "runbook": "ecs_replace_tasks",
        "target": "ecs:replace/replace-svc",
        "parameters": {"batch_size": 3},
    }
    report, execution = run(rt, payload)
    assert execution["path"][-3:] == ["Done", "Close", "Closed"]
    stops = [a for a in by_kind(report, "action") if a["action"]["operation"] == "StopTask"]
    assert len(stops) == 2  # 4 healthy, minimum ceil(4/2) = 2: a batch of 3 is cut to 2
    assert ops(report).count(("ecs", "StopTask")) == 2

    payload["target"] = "ecs:replace/replace-svc"
    ecs.update_service(cluster="replace", service="replace-svc", desiredCount=4)
    again, _ = run(rt, payload | {"parameters": {"batch_size": 1}})
    assert "cooldown" in refusal_reason(again) or "healthy minimum" in refusal_reason(again)


def test_force_new_deployment(rt: LocalAWS) -> None:
    target = new_service(rt, "force-svc", desired=2)
    report, execution = run(rt, {"environment": "staging", "runbook": "ecs_force_new_deployment", "target": target})
    assert execution["status"] == "SUCCEEDED"
    (acted,) = by_kind(report, "action")
    assert acted["action"]["parameters"] == {"cluster": CLUSTER, "service": "force-svc", "forceNewDeployment": True}
    assert ("ecs", "UpdateService") in ops(report)


def test_rollback_cutover_needs_a_cutover_in_its_rollback_window(rt: LocalAWS) -> None:
    payload = {"environment": "staging", "runbook": "rollback_cutover", "target": "service:web"}
    refused, _ = run(rt, payload)
    assert refusal_reason(refused).startswith("no cutover of web is in its rollback window")
    assert not [f for f in refused.follow_ups if f["detail-type"] == "Deckwatch Rollback Requested"]

    locks = StateStore(rt.physical["StateTable"], client=rt.client("dynamodb")).leases
    blue = f"ecs:{CLUSTER}/{BLUE}"
    locks.acquire(blue, "cutover-exec-42", "cutover", 3600)
    try:
        report, execution = run(rt, payload | {"dryRun": False})
    finally:
        locks.release(blue, "cutover-exec-42")
    assert execution["path"][-3:] == ["Done", "Close", "Closed"]
    (acted,) = by_kind(report, "action")
    assert (acted["action"]["service"], acted["action"]["operation"]) == ("events", "PutEvents")
    import json

    entry = acted["action"]["parameters"]["Entries"][0]
    assert (entry["Source"], entry["DetailType"]) == ("deckwatch", "Deckwatch Rollback Requested")
    assert set(json.loads(entry["Detail"])) == {"environment", "service", "reason", "requested_by"}
    assert json.loads(entry["Detail"])["service"] == "web"
    emitted = [f for f in report.follow_ups if f["detail-type"] == "Deckwatch Rollback Requested"]
    assert len(emitted) == 1 and emitted[0]["source"] == "deckwatch"


def test_rds_failover_multi_az_and_aurora(rt: LocalAWS) -> None:
    rds = rt.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="failover-db",
        DBInstanceClass="db.t4g.medium",
        Engine="postgres",
        MasterUsername="admin_user",
        MasterUserPassword="not-a-real-password-1",
        AllocatedStorage=20,
        MultiAZ=True,
    )
    report, execution = run(rt, {"environment": "staging", "runbook": "rds_failover", "target": "rds:failover-db"})
    assert execution["status"] == "SUCCEEDED", execution
    (acted,) = by_kind(report, "action")
    assert acted["action"]["parameters"] == {"DBInstanceIdentifier": "failover-db", "ForceFailover": True}
    assert ("rds", "RebootDBInstance") in ops(report)

    single, _ = run(rt, {"environment": "staging", "runbook": "rds_failover", "target": "rds:shop-staging-db"})
    assert "is not Multi-AZ" in refusal_reason(single)

    rds.create_db_cluster(
        DBClusterIdentifier="aurora-c",
        Engine="aurora-postgresql",
        MasterUsername="admin_user",
        MasterUserPassword="not-a-real-password-1",
    )
    for i in (1, 2):  # a failover needs a replica to promote
        rds.create_db_instance(
            DBInstanceIdentifier=f"aurora-c-{i}",
            DBInstanceClass="db.r6g.large",
            Engine="aurora-postgresql",
            DBClusterIdentifier="aurora-c",
        )
    aurora, _ = run(rt, {"environment": "staging", "runbook": "rds_failover", "parameters": {"db_cluster": "aurora-c"}})
    assert by_kind(aurora, "action"), (aurora.executions, [(r["decision"], r["reason"]) for r in aurora.ledger])
    (acted,) = by_kind(aurora, "action")
    assert (acted["action"]["operation"], acted["action"]["parameters"]) == (
        "FailoverDBCluster",
        {"DBClusterIdentifier": "aurora-c"},
    )


def test_grow_storage_dry_run_then_acting_then_bounds(rt: LocalAWS) -> None:
    rds = rt.client("rds")

    def storage() -> int:
        return int(
            rds.describe_db_instances(DBInstanceIdentifier="shop-staging-db")["DBInstances"][0]["AllocatedStorage"]
        )

    before = storage()
    dry, _ = run(rt, console("staging-grow-storage-dry-run.json"))
    (planned,) = by_kind(dry, "action")
    assert planned["dry_run"] is True
    assert planned["action"]["parameters"]["AllocatedStorage"] == -(-before * 120 // 100)
    assert storage() == before

    acted_report, _ = run(rt, console("staging-grow-storage-dry-run.json", dryRun=False))
    assert ("rds", "ModifyDBInstance") in ops(acted_report)
    assert storage() == -(-before * 120 // 100)

    rds.create_db_instance(
        DBInstanceIdentifier="full-db",
        DBInstanceClass="db.t4g.medium",
        Engine="postgres",
        MasterUsername="admin_user",
        MasterUserPassword="not-a-real-password-1",
        AllocatedStorage=500,
    )
    # the staging rule's bound (max_storage_gib 500) applies to the rule's own db; the console run of another db
    # is bounded by RDS's limit, so make the bound bite on the rule's db instead
    rds.modify_db_instance(DBInstanceIdentifier="shop-staging-db", AllocatedStorage=480, ApplyImmediately=True)
    bounded, _ = run(rt, console("staging-grow-storage-dry-run.json", target="rds:shop-staging-db"))
    assert refusal_reason(bounded).startswith("cooldown") or "max_storage_gib 500" in refusal_reason(bounded)


def test_notify_only(rt: LocalAWS) -> None:
    report, execution = run(
        rt, {"environment": "staging", "runbook": "notify_only", "parameters": {"message": "disk is filling up"}}
    )
    assert execution["path"][-3:] == ["Done", "Close", "Closed"]
    (acted,) = by_kind(report, "action")
    assert (acted["action"]["service"], acted["action"]["operation"]) == ("sns", "Publish")
    assert acted["action"]["parameters"]["Message"] == "disk is filling up"
    assert ("sns", "Publish") in ops(report)


# ------------------------------------------------------------------------------------------- AWS errors -------
def test_throttling_is_retried_by_the_state_machine(rt: LocalAWS) -> None:
    target = new_service(rt, "throttled", desired=2)
    mock_cw.inject("ecs", "UpdateService", "Throttling", times=2)
    report, execution = run(rt, scale(target))
    assert execution["status"] == "SUCCEEDED"
    assert execution["path"][-3:] == ["Done", "Close", "Closed"]
    assert desired(rt, "throttled") == 4
    # both failures were served, one per Act attempt (botocore does not retry acting calls): ASL Retry retried
    assert mock_cw.pending_faults() == 0
    assert report.simulated_seconds > 0  # the Retry backoff, in simulated time
    # the observed outcomes: the throttled call (recorded once for its call), then the call that worked
    assert [(r["decision"], r["outcome"]) for r in by_kind(report, "action")] == [
        ("action-failed", "throttled"),
        ("acted", "done"),
    ]
    intents = [r for r in report.ledger if r["decision"] == "intent"]
    assert len(intents) == 1 and intents[0]["time"] < by_kind(report, "action")[0]["time"]
    assert not [r for r in report.ledger if r["decision"] == "escalated"]


def test_access_denied_escalates_without_retrying(rt: LocalAWS) -> None:
    target = new_service(rt, "denied", desired=2)
    mock_cw.inject("ecs", "UpdateService", "AccessDenied", times=5)
    report, execution = run(rt, scale(target))
    assert execution["path"][-4:] == ["Failed", "Escalate", "Close", "Closed"]
    assert desired(rt, "denied") == 2
    (escalated,) = [r for r in report.ledger if r["decision"] == "escalated"]
    assert "RunbookAccessDeniedError" in escalated["reason"]
    assert "AccessDeniedException" in escalated["reason"]
    assert closing(report)["details"]["outcome"] == "failed"
    assert ("sns", "Publish") in ops(report)
    assert mock_cw.pending_faults() == 4  # one attempt: AccessDenied is not retried
    assert (
        StateStore(rt.physical["StateTable"], client=rt.client("dynamodb")).leases.holder(target) is None
    )  # released on the failure path


def test_throttling_that_persists_escalates(rt: LocalAWS) -> None:
    target = new_service(rt, "throttled-long", desired=2)
    mock_cw.inject("ecs", "UpdateService", "Throttling", times=20)
    report, execution = run(rt, scale(target))
    assert execution["path"][-4:] == ["Failed", "Escalate", "Close", "Closed"]
    assert "RunbookThrottledError" in next(r for r in report.ledger if r["decision"] == "escalated")["reason"]
    assert desired(rt, "throttled-long") == 2


# ------------------------------------------------------------------------------------------- bad input --------
@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"environment": "staging", "runbook": "ecs_reboot_everything", "target": "ecs:a/b"}, "UnknownRunbookError"),
        ({"environment": "staging", "runbook": "ecs_scale_out", "target": "rds:x"}, "InvalidEventError"),
        (
            {"environment": "staging", "runbook": "ecs_scale_out", "target": "ecs:a/b", "parameters": {"step": 500}},
            "InvalidEventError",
        ),
        ({"environment": "prod", "runbook": "notify_only"}, "InvalidEventError"),
    ],
)
def test_bad_console_input_fails_clearly_and_acts_on_nothing(
    rt: LocalAWS, payload: dict[str, object], error: str
) -> None:
    report, execution = run(rt, payload)
    assert execution["status"] == "FAILED"
    assert execution["error"] == error
    assert by_kind(report, "action") == []
