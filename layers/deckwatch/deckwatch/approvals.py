"""Approval gates shared by the capabilities: a Step Functions task waits (`.waitForTaskToken`) while a person
approves or rejects with `deckwatch approve|reject ID`, from the console (SendTaskSuccess/Failure), or with the
signed links each approver of the policy receives when the stack has them (deckwatch.approval_links).

The pending approval lives in the state table (`state.PendingApprovals`) with its task token; tokens never travel
in notifications or events, only the short id does.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from deckwatch import clock
from deckwatch.config import Environment
from deckwatch.context import Services
from deckwatch.errors import ApprovalNotFoundError, InvalidEventError
from deckwatch.ledger import Capability, Record


class ApprovalRequest(BaseModel):
    """The console/input document of the approval state machine (events/statemachines/approval/)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    environment: Environment
    capability: Capability
    subject: str = Field(min_length=1)
    summary: str = Field(min_length=1, max_length=2000)
    timeout_seconds: int = Field(default=3600, ge=60, le=7 * 86400, alias="timeoutSeconds")
    requested_by: str = Field(default="deckwatch", alias="requestedBy")


class RequestTask(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    op: Literal["request"]
    task_token: str = Field(min_length=1, alias="taskToken")
    execution: str
    request: ApprovalRequest
    # a second approval in one execution (a cutover's emergency override before its production approval) has
    # its own id, so that each keeps its own requested/approved records
    purpose: str | None = Field(default=None, pattern=r"^[a-z][a-z-]{0,39}$")


class ExpireTask(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    op: Literal["expire"]
    execution: str
    request: ApprovalRequest
    purpose: str | None = Field(default=None, pattern=r"^[a-z][a-z-]{0,39}$")


class ApprovalTask(BaseModel):
    task: Annotated[RequestTask | ExpireTask, Field(discriminator="op")]


def handle_task(task: RequestTask | ExpireTask, deps: Services) -> dict[str, Any]:
    from deckwatch.logging import task as log_task

    log_task(task.op, execution=task.execution, resource=task.request.subject)  # never the task token
    if isinstance(task, RequestTask):
        return request(task, deps)
    return expire(task, deps)


def approval_id(execution_arn: str, purpose: str | None = None) -> str:
    """Short, stable per execution (and purpose): a redelivered task for the same execution reuses the same id."""
    name = execution_arn if purpose is None else f"{execution_arn}#{purpose}"
    return uuid.uuid5(uuid.NAMESPACE_URL, name).hex[:12]


def request(task: RequestTask, deps: Services) -> dict[str, Any]:
    req = task.request
    if req.environment != deps.settings.environment:
        # a prod approval must never be granted through the staging stack's gate
        raise InvalidEventError(f"approval for {req.environment} sent to the {deps.settings.environment} stack")
    aid = approval_id(task.execution, task.purpose)
    expires = int(clock.now_epoch()) + req.timeout_seconds
    deps.state.approvals.put(
        aid,
        token=task.task_token,
        execution=task.execution,
        request={
            "environment": req.environment,
            "capability": req.capability,
            "subject": req.subject,
            "summary": req.summary,
        },
        expires_at=expires,
    )
    _record(deps, req, aid, task.execution, "requested", f"approval {aid} requested by {req.requested_by}")
    links = _links(deps, req, aid, expires)
    sent_to = f"Signed approve/reject links sent to: {', '.join(links)}.\n" if links else ""
    deps.notifier.publish(
        subject=f"approval needed: {req.capability} {req.subject}",
        text=(
            f"{req.summary}\n\nApprove: deckwatch approve {aid} --env {req.environment}\n"
            f"Reject:  deckwatch reject {aid} --env {req.environment} --reason '...'\n"
            f"Or in the Step Functions console: execution {task.execution}.\n{sent_to}"
            f"Expires in {req.timeout_seconds // 60} minutes (then it counts as rejected)."
        ),
        capability=req.capability,
        environment=req.environment,
        severity="warning",
        data={"approval_id": aid, "execution": task.execution},
    )
    for approver, urls in links.items():  # one message each, for a subscription filtered on `approver`
        deps.notifier.publish(
            subject=f"approval needed: {req.capability} {req.subject}",
            text=(
                f"{req.summary}\n\nFor {approver}: approval {aid} in {req.environment}, until it expires in "
                f"{req.timeout_seconds // 60} minutes. Each link opens a page that asks once more; the first answer "
                f"counts, and the ledger records it as yours.\n\nApprove: {urls['approve']}\n\n"
                f"Reject:  {urls['reject']}\n"
            ),
            capability=req.capability,
            environment=req.environment,
            severity="warning",
            data={"approval_id": aid, "execution": task.execution, "approver": approver},
            attributes={"approver": approver},
        )
    return {"approval_id": aid, "expires_at": expires}


def _links(deps: Services, req: ApprovalRequest, aid: str, expires: int) -> dict[str, dict[str, str]]:
    """approver -> their approve and reject links, when the stack answers links (APPROVAL_LINKS_URL)."""
    base = deps.settings.approval_links_url
    if not base:
        return {}
    from deckwatch import approval_links

    key = approval_links.key(deps)
    return {
        who: approval_links.links_for(base, key, req.environment, aid, who, expires)
        for who in approval_links.approvers(deps)
    }


def expire(task: ExpireTask, deps: Services) -> dict[str, Any]:
    aid = approval_id(task.execution, task.purpose)
    deps.state.approvals.drop(aid)
    _record(deps, task.request, aid, task.execution, "expired", "nobody answered in time: counts as rejected")
    return {"approval_id": aid, "decision": "expired"}


def pending(deps: Services) -> list[dict[str, Any]]:
    """Open approval requests, each with its `id` (used by the local runtime's simulated operator)."""
    return deps.state.approvals.pending()


def decide(deps: Services, aid: str, *, approve: bool, actor: str, reason: str = "", sfn: Any = None) -> str:
    """Answer approval `aid`. Exactly one answer wins: the item is deleted conditionally first."""
    old = deps.state.approvals.claim(aid)
    if old is None:
        raise ApprovalNotFoundError(f"no pending approval {aid} (already answered or expired)")
    from botocore.exceptions import ClientError

    client = sfn or deps.clients("stepfunctions")
    token = old["token"]
    verdict = "approved" if approve else "rejected"
    req = ApprovalRequest(
        environment=old["environment"],
        capability=old["capability"],
        subject=old["subject"],
        summary=old["summary"],
    )
    try:
        if approve:
            client.send_task_success(taskToken=token, output=json.dumps({"approved": True, "actor": actor}))
        else:
            client.send_task_failure(
                taskToken=token, error="ApprovalRejectedError", cause=reason or f"rejected by {actor}"
            )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code not in STALE_TOKEN_CODES:
            raise
        # the request's task ended without this answer (it failed after storing the request, or timed out): the
        # answer changes nothing, and the person is told so rather than shown a crash
        why = f"{verdict} by {actor}, but the run no longer waits for it ({code})"
        _record(deps, req, aid, old["execution"], "stale", why, actor=actor)
        raise ApprovalNotFoundError(f"approval {aid}: the run no longer waits for it ({code})") from exc
    _record(deps, req, aid, old["execution"], verdict, reason or f"{verdict} by {actor}", actor=actor)
    return verdict


# What Step Functions answers SendTaskSuccess/Failure for a token whose task is over
STALE_TOKEN_CODES = frozenset({"InvalidToken", "TaskTimedOut", "TaskDoesNotExist"})


def _record(
    deps: Services, req: ApprovalRequest, aid: str, execution: str, decision: str, reason: str, actor: str = "event"
) -> None:
    deps.ledger.append(
        Record(
            record_id=f"approval:{aid}:{decision}",
            environment=req.environment,
            capability=req.capability,
            subject=req.subject,
            kind="approval",
            decision=decision,
            reason=reason,
            execution_arn=execution,
            actor=actor,
            details={"approval_id": aid},
        )
    )
