"""Event-driven waits on alarms, shared by the capabilities.

A Step Functions task that must react to an alarm's next state change (a cutover's bake watching for ALARM, a
remediation's verification waiting for OK) registers a watch with its task token and waits
(`.waitForTaskToken` with a TimeoutSeconds). The alarm's own EventBridge event answers it at once through
`notify`, called by the alarm-events function before anything else; no polling. A timeout is the task's
TimeoutSeconds (a bake that saw no alarm, a verification that saw no recovery).

Storage: one item per alarm in the state table (`state.AlarmWatches`), a map of watch id -> watcher.

Answer first, then forget: Step Functions accepts one answer per task token and refuses the next (TaskTimedOut),
so answering is what makes a watcher answered once. Removing the watcher first would lose the answer when the
removal's response is lost and the retried removal finds nothing to remove (a bake would then end on silence).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from deckwatch import clock

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
    reflex: dict[str, Any] | None = None,
    cloudwatch: Any = None,
    sfn: Any = None,
) -> dict[str, Any]:
    """Watch `alarm_name` for any of `states`. If the alarm is already in one of them, answer at once.

    `reflex`: what the alarm-events function does itself before answering (see `_run_reflex`), for a watcher
    whose answer would otherwise start the remedy seconds later (a bake's rollback: the callback, the state
    machine's transitions and another function's cold start are all on the path to the listener)."""
    wanted = sorted(set(states) & STATES)
    if not wanted:
        raise ValueError(f"states must be among {sorted(STATES)}")
    cw = cloudwatch or deps.clients("cloudwatch")
    client = sfn or deps.clients("stepfunctions")
    current = _current_state(cw, alarm_name)
    if current in wanted:
        _answer(client, task_token, alarm_name, current, "already in this state when the watch began", clock.iso())
        return {"watch_id": watch_id, "answered": True, "state": current}
    deps.state.watches.add(
        alarm_name,
        watch_id,
        token=task_token,
        states=wanted,
        owner=owner,
        capability=capability,
        ttl=ttl_seconds,
        reflex=reflex,
    )
    return {"watch_id": watch_id, "answered": False, "state": current}


def cancel(deps: Services, alarm_name: str, watch_id: str) -> None:
    """Stop watching (idempotent): a task that ended another way must not be answered later."""
    deps.state.watches.remove(alarm_name, watch_id)


def notify(deps: Services, alarm_name: str, state: str, reason: str, at: str, sfn: Any = None) -> list[str]:
    """Answer every live watcher of `alarm_name` waiting for `state`; returns the answered watch ids."""
    answered = []
    now = int(clock.now_epoch())
    client = sfn or deps.clients("stepfunctions")
    for watch_id, watcher in deps.state.watches.watchers(alarm_name).items():
        if int(watcher["expires_at"]) < now:
            deps.state.watches.remove(alarm_name, watch_id, watcher["token"])  # its task timed out long ago
            continue
        if state not in watcher["states"]:
            continue
        extra = {"reflex": _run_reflex(deps, watcher["reflex"], alarm_name, at)} if watcher.get("reflex") else {}
        if _answer(client, watcher["token"], alarm_name, state, reason, at, extra):
            answered.append(watch_id)
        deps.state.watches.remove(alarm_name, watch_id, watcher["token"])  # answered now, or by an earlier delivery
    return answered


def _run_reflex(deps: Services, reflex: dict[str, Any], alarm_name: str, at: str) -> dict[str, Any]:
    """The watcher's own first move, made here before the answer; its outcome travels in the answer. It never
    stops the answer: a reflex that fails leaves the remedy to the waiting task (which would have done it
    anyway), so the worst case is the time the reflex was meant to save."""
    kind = reflex.get("kind")
    try:
        if kind == "cutover-restore":
            from deckwatch.cutover.reflex import restore_now

            return restore_now(deps, reflex, alarm=alarm_name, at=at)
        return {"error": f"unknown reflex {kind!r}"}
    except Exception as exc:  # noqa: BLE001 - the answer must still go out; the task's own remedy retries
        return {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}


def _answer(
    client: Any, token: str, alarm_name: str, state: str, reason: str, at: str, extra: dict[str, Any] | None = None
) -> bool:
    answer = {"alarm": alarm_name, "state": state, "reason": reason, "at": at, **(extra or {})}
    try:
        client.send_task_success(taskToken=token, output=json.dumps(answer, default=str))
    except (client.exceptions.TaskTimedOut, client.exceptions.InvalidToken, client.exceptions.TaskDoesNotExist):
        return False  # the waiting task ended meanwhile (timed out, aborted): nothing to answer
    return True


def _current_state(cw: Any, alarm_name: str) -> str | None:
    found = cw.describe_alarms(AlarmNames=[alarm_name], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    alarms = found.get("MetricAlarms", []) + found.get("CompositeAlarms", [])
    return str(alarms[0]["StateValue"]) if alarms else None
