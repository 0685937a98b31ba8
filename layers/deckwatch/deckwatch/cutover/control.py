"""The control channel of a running cutover: one item per service in the locks table ("cutover#<service>").

It names the execution, the pipeline execution that started it, and, while a bake or rollback window waits, the
waiting task's token. A rollback request (manual, or the pipeline execution ending) marks the item and answers
the waiting task at once; a step that is running instead sees the mark before it acts (RollbackRequestedError).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from deckwatch import aws, clock

if TYPE_CHECKING:
    from deckwatch.context import Services


def _key(service: str) -> dict[str, Any]:
    return {"pk": {"S": f"cutover#{service}"}}


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
    item = {
        **_key(service),
        "execution": {"S": execution},
        "cutover_id": {"S": cutover_id},
        "revision": {"S": revision},
        "expires_at": {"N": str(int(clock.now_epoch()) + ttl_seconds)},
    }
    if pipeline_execution_id:
        item["pipeline_execution_id"] = {"S": pipeline_execution_id}
    deps.locks.client.put_item(TableName=deps.locks.table_name, Item=item)


def read(deps: Services, service: str) -> dict[str, str] | None:
    item = deps.locks.client.get_item(TableName=deps.locks.table_name, Key=_key(service), ConsistentRead=True).get(
        "Item"
    )
    if not item:
        return None
    return {k: str(next(iter(v.values()))) for k, v in item.items()}


def close(deps: Services, service: str, execution: str) -> None:
    """Remove the item if it is this execution's (idempotent)."""
    client = deps.locks.client
    try:
        client.delete_item(
            TableName=deps.locks.table_name,
            Key=_key(service),
            ConditionExpression="attribute_not_exists(pk) OR execution = :e",
            ExpressionAttributeValues={":e": {"S": execution}},
        )
    except client.exceptions.ConditionalCheckFailedException:
        return


def wait_with(deps: Services, service: str, execution: str, token: str | None) -> dict[str, str] | None:
    """Store (or clear) the waiting task's token; returns the item (with any rollback already requested)."""
    client = deps.locks.client
    expr = "SET #t = :t" if token else "REMOVE #t"
    values: dict[str, Any] = {":e": {"S": execution}}
    if token:
        values[":t"] = {"S": token}
    try:
        out = client.update_item(
            TableName=deps.locks.table_name,
            Key=_key(service),
            UpdateExpression=expr,
            ConditionExpression="execution = :e",
            ExpressionAttributeNames={"#t": "token"},
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
    except client.exceptions.ConditionalCheckFailedException:
        return None
    return {k: str(next(iter(v.values()))) for k, v in out.get("Attributes", {}).items()}


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
    client = deps.locks.client
    try:
        client.update_item(
            TableName=deps.locks.table_name,
            Key=_key(service),
            UpdateExpression="SET abort_reason = :r, abort_source = :s",
            ConditionExpression="execution = :e",
            ExpressionAttributeValues={":r": {"S": reason}, ":s": {"S": source}, ":e": {"S": item["execution"]}},
        )
    except client.exceptions.ConditionalCheckFailedException:
        return None
    token = item.get("token")
    if token:
        answer(token, {"rollback": reason, "source": source, "requested_by": requested_by, "at": clock.iso()}, sfn)
    return item["execution"]


def answer(token: str, output: dict[str, Any], sfn: Any = None) -> bool:
    client = sfn or aws.client("stepfunctions")
    try:
        client.send_task_success(taskToken=token, output=json.dumps(output))
    except (client.exceptions.TaskTimedOut, client.exceptions.InvalidToken, client.exceptions.TaskDoesNotExist):
        return False
    return True
