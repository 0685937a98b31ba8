"""Event-driven waits on alarms, shared by the capabilities.

A Step Functions task that must react to an alarm's next state change (a cutover's bake watching for ALARM, a
remediation's verification waiting for OK) registers a watch with its task token and waits
(`.waitForTaskToken` with a TimeoutSeconds). The alarm's own EventBridge event answers it at once through
`notify`, called by the alarm-events function before anything else; no polling. A timeout is the task's
TimeoutSeconds (a bake that saw no alarm, a verification that saw no recovery).

Storage: one item per alarm in the locks table, pk "watch#<alarm name>", a map of watch id -> watcher.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from deckwatch import aws, clock

if TYPE_CHECKING:
    from deckwatch.context import Services

STATES = frozenset({"OK", "ALARM", "INSUFFICIENT_DATA"})


def register(
    deps: Services,
    *,
    alarm_name: str,
    states: list[str],
    task_token: str,
    watch_id: str,
    owner: str,
    capability: str,
    ttl_seconds: int,
    cloudwatch: Any = None,
    sfn: Any = None,
) -> dict[str, Any]:
    """Watch `alarm_name` for any of `states`. If the alarm is already in one of them, answer at once."""
    wanted = sorted(set(states) & STATES)
    if not wanted:
        raise ValueError(f"states must be among {sorted(STATES)}")
    cw = cloudwatch or aws.client("cloudwatch")
    current = _current_state(cw, alarm_name)
    if current in wanted:
        _answer(sfn, task_token, alarm_name, current, "already in this state when the watch began", clock.iso())
        return {"watch_id": watch_id, "answered": True, "state": current}
    deps.locks.client.update_item(
        TableName=deps.locks.table_name,
        Key={"pk": {"S": f"watch#{alarm_name}"}},
        UpdateExpression="SET watchers = if_not_exists(watchers, :empty), expires_at = :exp",
        ExpressionAttributeValues={":empty": {"M": {}}, ":exp": {"N": str(int(clock.now_epoch()) + ttl_seconds)}},
    )
    deps.locks.client.update_item(
        TableName=deps.locks.table_name,
        Key={"pk": {"S": f"watch#{alarm_name}"}},
        UpdateExpression="SET watchers.#w = :watcher",
        ExpressionAttributeNames={"#w": watch_id},
        ExpressionAttributeValues={
            ":watcher": {
                "M": {
                    "token": {"S": task_token},
                    "states": {"SS": wanted},
                    "owner": {"S": owner},
                    "capability": {"S": capability},
                    "expires_at": {"N": str(int(clock.now_epoch()) + ttl_seconds)},
                }
            }
        },
    )
    return {"watch_id": watch_id, "answered": False, "state": current}


def cancel(deps: Services, alarm_name: str, watch_id: str) -> None:
    """Stop watching (idempotent): a task that ended another way must not be answered later."""
    if not _exists(deps, alarm_name):
        return
    deps.locks.client.update_item(
        TableName=deps.locks.table_name,
        Key={"pk": {"S": f"watch#{alarm_name}"}},
        UpdateExpression="REMOVE watchers.#w",
        ExpressionAttributeNames={"#w": watch_id},
    )


def notify(deps: Services, alarm_name: str, state: str, reason: str, at: str, sfn: Any = None) -> list[str]:
    """Answer every live watcher of `alarm_name` waiting for `state`; returns the answered watch ids."""
    item = deps.locks.client.get_item(
        TableName=deps.locks.table_name, Key={"pk": {"S": f"watch#{alarm_name}"}}, ConsistentRead=True
    ).get("Item")
    if not item:
        return []
    answered = []
    now = int(clock.now_epoch())
    for watch_id, raw in item.get("watchers", {}).get("M", {}).items():
        w = raw["M"]
        if state not in w["states"]["SS"] or int(w["expires_at"]["N"]) < now:
            continue
        try:
            # claim it first, so that a redelivered event answers a watcher once
            deps.locks.client.update_item(
                TableName=deps.locks.table_name,
                Key={"pk": {"S": f"watch#{alarm_name}"}},
                UpdateExpression="REMOVE watchers.#w",
                ConditionExpression="attribute_exists(watchers.#w)",
                ExpressionAttributeNames={"#w": watch_id},
            )
        except deps.locks.client.exceptions.ConditionalCheckFailedException:
            continue
        if _answer(sfn, w["token"]["S"], alarm_name, state, reason, at):
            answered.append(watch_id)
    return answered


def _answer(sfn: Any, token: str, alarm_name: str, state: str, reason: str, at: str) -> bool:
    client = sfn or aws.client("stepfunctions")
    try:
        client.send_task_success(
            taskToken=token, output=json.dumps({"alarm": alarm_name, "state": state, "reason": reason, "at": at})
        )
    except (client.exceptions.TaskTimedOut, client.exceptions.InvalidToken, client.exceptions.TaskDoesNotExist):
        return False  # the waiting task ended meanwhile (timed out, aborted): nothing to answer
    return True


def _current_state(cw: Any, alarm_name: str) -> str | None:
    found = cw.describe_alarms(AlarmNames=[alarm_name], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    alarms = found.get("MetricAlarms", []) + found.get("CompositeAlarms", [])
    return str(alarms[0]["StateValue"]) if alarms else None


def _exists(deps: Services, alarm_name: str) -> bool:
    return "Item" in deps.locks.client.get_item(
        TableName=deps.locks.table_name, Key={"pk": {"S": f"watch#{alarm_name}"}}
    )
