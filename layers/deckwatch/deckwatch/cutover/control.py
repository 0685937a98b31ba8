"""The control channel of a running cutover: one item per service in the state table (`state.CutoverControls`).

It names the execution, the pipeline execution that started it, and, while a bake or rollback window waits, the
waiting task's token. A rollback request (manual, or the pipeline execution ending) marks the item and answers
the waiting task at once; a step that is running instead sees the mark before it acts (RollbackRequestedError).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from deckwatch import clock

if TYPE_CHECKING:
    from deckwatch.context import Services


def open_(
    deps: Services,
    service: str,
    *,
    execution: str,
    cutover_id: str,
    pipeline_execution_id: str | None,
    revision: str,
    ttl_seconds: int,
) -> None:
    control = {"execution": execution, "cutover_id": cutover_id, "revision": revision}
    if pipeline_execution_id:
        control["pipeline_execution_id"] = pipeline_execution_id
    deps.state.cutovers.open(service, control, ttl_seconds)


def read(deps: Services, service: str) -> dict[str, str] | None:
    item = deps.state.cutovers.read(service)
    return None if item is None else {k: str(v) for k, v in item.items()}


def close(deps: Services, service: str, execution: str) -> None:
    """Remove the item if it is this execution's (idempotent)."""
    deps.state.cutovers.close(service, execution)


def wait_with(deps: Services, service: str, execution: str, token: str | None) -> dict[str, str] | None:
    """Store (or clear) the waiting task's token; returns the item (with any rollback already requested)."""
    item = deps.state.cutovers.wait_with(service, execution, token)
    return None if item is None else {k: str(v) for k, v in item.items()}


def request_rollback(
    deps: Services,
    service: str,
    *,
    reason: str,
    source: str,
    requested_by: str,
    pipeline_execution_id: str | None = None,
    sfn: Any = None,
) -> str | None:
    """Mark the running cutover of `service` for rollback and wake its waiting task. Returns its execution ARN,
    or None when no cutover (of that pipeline execution) is running."""
    item = read(deps, service)
    if item is None:
        return None
    if pipeline_execution_id is not None and item.get("pipeline_execution_id") != pipeline_execution_id:
        return None
    if not deps.state.cutovers.mark_rollback(service, item["execution"], reason, source):
        return None
    token = item.get("token")
    if token:
        answer(
            sfn or deps.clients("stepfunctions"),
            token,
            {"rollback": reason, "source": source, "requested_by": requested_by, "at": clock.iso()},
        )
    return item["execution"]


def answer(client: Any, token: str, output: dict[str, Any]) -> bool:
    try:
        client.send_task_success(taskToken=token, output=json.dumps(output))
    except (client.exceptions.TaskTimedOut, client.exceptions.InvalidToken, client.exceptions.TaskDoesNotExist):
        return False
    return True
