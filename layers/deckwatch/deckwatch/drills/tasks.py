"""The drill state machine's Lambda tasks, and the hourly janitor and schedule ticks: one function per op."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.drills.model import PrepareTask, ScheduledTask, StepTask, StoppedTask, WaitTask


def stopped_event(event: Any, deps: Services) -> StoppedTask | None:
    """The status change event of a stopped drill (EventBridge: it has a source, not an op), through the intake: a
    malformed one is rejected into the ledger and the DLQ with its reason. None for a task or a schedule tick."""
    from deckwatch.drills.model import ExecutionStatusChange
    from deckwatch.intake import parse

    if isinstance(event, dict) and "op" not in event and ("source" in event or "detail-type" in event):
        return parse(event, ExecutionStatusChange, "drills", deps).task()
    return None


def handle(task: PrepareTask | StepTask | WaitTask | ScheduledTask | StoppedTask, deps: Services) -> dict[str, Any]:
    from deckwatch.drills import aurora, janitor, plan, report, restore, stopped, trigger
    from deckwatch.logging import task as log_task

    drill = (getattr(task, "state", None) or {}).get("drill") or {}
    log_task(task.op, execution=getattr(task, "execution", None), resource=drill.get("source_arn"))

    ops: dict[str, Callable[..., dict[str, Any]]] = {
        "prepare": plan.prepare,
        "lock": plan.lock,
        "metadata": plan.metadata,
        "plan": plan.plan,
        "start_restore": restore.start_restore,
        "wait": restore.wait,
        "poll": restore.poll,
        "restored": restore.restored,
        "cluster_instance": aurora.add_instance,
        "cleanup": restore.cleanup,
        "release": restore.release,
        "report": report.report,
    }
    if task.op == "stopped":
        return stopped.stopped(task, deps)
    if task.op == "janitor":
        return janitor.janitor(deps)
    if task.op == "schedule":
        return trigger.schedule(deps)
    return ops[task.op](task, deps)
