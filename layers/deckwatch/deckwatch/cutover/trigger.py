"""What the cutover capability's event function does after triage: start cutovers from pipeline events, announce
manual approvals with context, abort the cutovers of a pipeline execution that ended, and honour rollback
requests ("Deckwatch Rollback Requested" events from the CLI or remediation's rollback_cutover runbook)."""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from deckwatch.config import Environment
from deckwatch.decisions import record_decision
from deckwatch.events import Envelope, Lenient
from deckwatch.events.pipeline import PipelineEvent

if TYPE_CHECKING:
    from collections.abc import Iterator

    from deckwatch.context import Services
    from deckwatch.policy.model import Service

ROLLBACK_REQUESTED = "Deckwatch Rollback Requested"


class RollbackDetail(Lenient):
    environment: Environment
    service: str = Field(min_length=1, max_length=63)
    reason: str = Field(min_length=1, max_length=1000)
    requested_by: str = Field(min_length=1, max_length=256)


class RollbackRequestEvent(Envelope):
    source: Literal["deckwatch"]
    detail_type: Literal["Deckwatch Rollback Requested"] = Field(alias="detail-type")
    detail: RollbackDetail  # type: ignore[assignment]


class ReleaseEvent(RootModel[Annotated[PipelineEvent | RollbackRequestEvent, Field(discriminator="source")]]):
    """Everything the cutover capability's event function receives."""

    model_config = ConfigDict(frozen=True)


def handle(event: ReleaseEvent, deps: Services) -> dict[str, Any]:
    inner = event.root
    if isinstance(inner, RollbackRequestEvent):
        return rollback_requested(inner, deps)
    from deckwatch.cutover.pipeline import triage

    _remember_artifact(inner, deps)
    result = triage(inner, deps)
    decision = result["decision"]
    if decision == "cutover-requested":
        result["started"] = _start_cutovers(inner, deps)
    elif decision == "approval-pending":
        result["notified"] = _announce_approval(inner, deps)
    elif decision == "abort-requested":
        result["aborted"] = _abort(inner, deps)
    return result


def _record(
    deps: Services, event: BaseModel, key: str, subject: str, decision: str, reason: str, **details: Any
) -> None:
    record_decision(
        deps,
        event_id=str(getattr(event, "id", "event")),
        capability="cutover",
        subject=subject,
        decision=decision,
        reason=reason,
        key=key,
        details=details,
    )


def _mapped(deps: Services, pipeline: str, action: str | None = None) -> list[Service]:
    return [
        s
        for s in deps.policy().policy.services
        if any(t.pipeline == pipeline and (action is None or t.action == action) for t in s.triggers)
    ]


# ---------------------------------------------------------------------------------------------- start ---------
def _start_cutovers(event: PipelineEvent, deps: Services) -> list[str]:
    from deckwatch.cutover.artifacts import image_from_s3
    from deckwatch.cutover.errors import ArtifactError

    d = event.detail
    approved = d.type is not None and d.type.category == "Approval"
    started = []
    declared = _declared(deps, d.pipeline)
    invoker = _invokes_cutover(deps, declared)
    for svc in _mapped(deps, d.pipeline, d.action):
        subject = f"service/{svc.name}"
        deployer = _deploys_a_colour(declared, svc)
        if deployer is not None:
            _refuse(deps, event, svc, deployer)
            continue
        if invoker is not None:
            _record(
                deps, event, f"start:{svc.name}", subject, "left-to-pipeline",
                f"{d.pipeline}'s own {invoker} action starts the cutover (it invokes this stack's cutover state "
                "machine): starting another would race it for the locks",
            )  # fmt: skip
            continue
        try:
            image = _image(event, svc, image_from_s3, deps)
        except ArtifactError as exc:
            _record(deps, event, f"artifact-failed:{svc.name}", subject, "failed", f"no cutover: {exc}")
            deps.notifier.publish(
                subject=f"cutover {svc.name}: not started (bad artifact)",
                text=f"{d.pipeline}/{d.action} succeeded but its artifact names no deployable image: {exc}",
                capability="cutover",
                environment=deps.settings.environment,
                severity="warning",
                data={"pipeline": d.pipeline, "execution_id": d.execution_id},
            )
            continue
        payload = {
            "environment": deps.settings.environment,
            "service": svc.name,
            "image": image,
            "pipelineExecutionId": d.execution_id,
            "approvedByPipeline": approved,
            "requestedBy": f"pipeline:{d.pipeline}/{d.action}",
        }
        arn = start(deps, svc.name, event.id, payload)
        _record(deps, event, f"start:{svc.name}", subject, "cutover-started", f"{image} -> {arn}", execution=arn)
        started.append(arn)
    return started


def _declared(deps: Services, pipeline: str) -> dict[str, Any] | None:
    """The pipeline's declaration (GetPipeline), or None when Deckwatch cannot read it (not in this account and
    region, or no permission): the trigger then stands as the policy writes it."""
    from botocore.exceptions import ClientError

    try:
        return dict(deps.clients("codepipeline").get_pipeline(name=pipeline)["pipeline"])
    except ClientError as exc:
        logging.getLogger("deckwatch").warning("pipeline not readable", extra={"pipeline": pipeline, "error": str(exc)})
        return None


def _actions(declared: dict[str, Any] | None) -> Iterator[tuple[str, dict[str, Any]]]:
    for stage in (declared or {}).get("stages", []):
        for action in stage.get("actions", []):
            yield f"{stage['name']}/{action['name']}", action


def _invokes_cutover(deps: Services, declared: dict[str, Any] | None) -> str | None:
    """The action of the pipeline that starts this stack's cutover state machine itself (a Step Functions invoke
    action, as the reference workload's pipelines have), or None (the pipeline leaves it to Deckwatch's trigger)."""
    machine = deps.settings.require("cutover_state_machine_arn")
    for name, action in _actions(declared):
        kind, config = action.get("actionTypeId", {}), action.get("configuration", {})
        if kind.get("provider") == "StepFunctions" and config.get("StateMachineArn") == machine:
            return name
    return None


def _deploys_a_colour(declared: dict[str, Any] | None, svc: Service) -> str | None:
    """The action of the pipeline that deploys to one of `svc`'s colours itself (an ECS deploy action naming the
    blue or the green service): from the second release on it puts the new image on the live colour, with all of
    its traffic, before any canary. None when it names neither."""
    if svc.ecs is None:
        return None
    colours = {svc.ecs.services.blue, svc.ecs.services.green}
    for name, action in _actions(declared):
        kind, config = action.get("actionTypeId", {}), action.get("configuration", {})
        if kind.get("provider") == "ECS" and config.get("ServiceName") in colours:
            return f"{name} (ECS deploy to {config['ServiceName']})"
    return None


def _refuse(deps: Services, event: PipelineEvent, svc: Service, deployer: str) -> None:
    d = event.detail
    why = (
        f"{d.pipeline}'s {deployer} deploys to a colour itself: it would put the image on the live colour before "
        "any canary. Change the pipeline to hand the image to Deckwatch (a Step Functions invoke action that starts "
        "the cutover state machine, as workload/template.yaml does)"
    )
    _record(deps, event, f"refused:{svc.name}", f"service/{svc.name}", "refused", why, pipeline=d.pipeline)
    deps.notifier.publish(
        subject=f"cutover {svc.name}: refused (the pipeline deploys to a colour)",
        text=why,
        capability="cutover",
        environment=deps.settings.environment,
        severity="critical",
        data={"pipeline": d.pipeline, "execution_id": d.execution_id, "action": deployer},
    )


def _image(event: PipelineEvent, svc: Service, reader: Any, deps: Services) -> str:
    """From the triggering action's output artifact or, for an approval (which has none), from the artifact of
    the build this pipeline execution produced earlier (remembered when its event went by)."""
    from deckwatch.cutover.errors import ArtifactError

    d = event.detail
    located = [(a.s3location.bucket, a.s3location.key) for a in d.output_artifacts if a.s3location is not None]
    if not located:
        item = deps.state.artifacts.get(d.pipeline, d.execution_id)
        if item:
            located = [(item["bucket"], item["key"])]
    if not located:
        raise ArtifactError(f"{d.pipeline}/{d.action}: no build artifact known for execution {d.execution_id}")
    bucket, key = located[0]
    return str(reader(deps.clients("s3"), bucket, key, svc.name))


def _remember_artifact(event: PipelineEvent, deps: Services) -> None:
    d = event.detail
    located = [a.s3location for a in d.output_artifacts if a.s3location is not None]
    if d.state != "SUCCEEDED" or not located or not _mapped(deps, d.pipeline):
        return
    deps.state.artifacts.remember(d.pipeline, d.execution_id, located[0].bucket, located[0].key, d.action or "")


def start(deps: Services, service: str, key: str, payload: dict[str, Any]) -> str:
    """Start the cutover state machine; the name derives from `key`, so a redelivery starts nothing new."""
    sfn = deps.clients("stepfunctions")
    machine = deps.settings.require("cutover_state_machine_arn")
    name = re.sub(r"[^A-Za-z0-9_-]", "-", f"{service}-{key}")[:80]
    try:
        return str(sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(payload))["executionArn"])
    except sfn.exceptions.ExecutionAlreadyExists:
        return f"{machine.replace(':stateMachine:', ':execution:')}:{name}"


# ---------------------------------------------------------------------------------------------- approval ------
def _announce_approval(event: PipelineEvent, deps: Services) -> list[str]:
    d = event.detail
    env = deps.settings.environment
    out = []
    for svc in _mapped(deps, d.pipeline):
        subject = f"service/{svc.name}"
        last = _last_cutover(deps, subject, d.execution_id)
        states = _alarm_states(deps, svc.alarms)
        text = (
            f"Pipeline {d.pipeline} waits for manual approval {d.stage}/{d.action} (execution {d.execution_id}).\n"
            f"In {env}, {svc.name}: {last}\n"
            f"Alarms now: {', '.join(f'{k}={v}' for k, v in states.items()) or 'none watched'}.\n"
            f"Approve or reject in the CodePipeline console (aws codepipeline put-approval-result)."
        )
        deps.notifier.publish(
            subject=f"approval pending: {d.pipeline}/{d.action}",
            text=text,
            capability="cutover",
            environment=env,
            severity="warning",
            data={"pipeline": d.pipeline, "execution_id": d.execution_id, "alarms": states},
        )
        _record(deps, event, f"approval-notified:{svc.name}", subject, "approvers-notified", text.splitlines()[1])
        out.append(svc.name)
    return out


def _last_cutover(deps: Services, subject: str, execution_id: str) -> str:
    records = deps.ledger.by_subject(subject)
    ends = [r for r in records if r.get("decision") in ("completed", "rolled-back", "planned")]
    # the plan names the pipeline execution; its cutover's later records (completed, rolled back) do not
    plans = {r.get("execution_arn") for r in ends if execution_id in json.dumps(r.get("details", {}))}
    ours = [r for r in ends if r.get("execution_arn") in plans - {None}] or ends
    if not ours:
        return "no cutover recorded here yet"
    last = ours[-1]
    return f"last cutover {last['decision']} at {last['time']}: {last.get('reason', '')}"


def _alarm_states(deps: Services, alarms: list[str]) -> dict[str, str]:
    if not alarms:
        return {}
    found = deps.clients("cloudwatch").describe_alarms(AlarmNames=alarms)
    return {a["AlarmName"]: a["StateValue"] for a in found.get("MetricAlarms", []) + found.get("CompositeAlarms", [])}


# ---------------------------------------------------------------------------------------------- aborts --------
def _abort(event: PipelineEvent, deps: Services) -> list[str]:
    from deckwatch.cutover import control

    d = event.detail
    out = []
    for svc in _mapped(deps, d.pipeline):
        arn = control.request_rollback(
            deps,
            svc.name,
            reason=f"pipeline execution {d.execution_id} {d.state}",
            source="pipeline",
            requested_by=f"pipeline:{d.pipeline}",
            pipeline_execution_id=d.execution_id,
        )
        if arn:
            _record(deps, event, f"abort:{svc.name}", f"service/{svc.name}", "rollback-signalled", arn, execution=arn)
            out.append(arn)
    return out


def rollback_requested(event: RollbackRequestEvent, deps: Services) -> dict[str, Any]:
    from deckwatch.cutover import control

    d = event.detail
    subject = f"service/{d.service}"
    if d.environment != deps.settings.environment:
        decision, reason, arn = (
            "ignored",
            f"request for {d.environment}, this stack is {deps.settings.environment}",
            None,
        )
    else:
        arn = control.request_rollback(deps, d.service, reason=d.reason, source="manual", requested_by=d.requested_by)
        decision = "rollback-signalled" if arn else "ignored"
        reason = f"{d.requested_by}: {d.reason}" if arn else f"no cutover of {d.service} is running"
    _record(deps, event, f"triage:{subject}", subject, decision, reason, execution=arn)
    return {"capability": "cutover", "subject": subject, "decision": decision, "reason": reason}
