"""The cutover state machine's Lambda task payloads (one function, one `op` per step)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from deckwatch.context import Services

Op = Literal[
    "begin",
    "deploy",
    "check_stable",
    "pre_traffic",
    "shift",
    "watch",
    "analyze",
    "after_bake",
    "check_window",
    "finish",
    "rollback",
    "release",
    "abandon",
    "cleanup_pending",
]


class CutoverTask(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    op: Op
    input: dict[str, Any] | None = None
    execution: str | None = None
    cutover: dict[str, Any] | None = None
    cause: dict[str, Any] | None = None
    task_token: str | None = Field(default=None, alias="taskToken")
    phase: Literal["bake", "window"] = "bake"


def handle(task: CutoverTask, deps: Services) -> dict[str, Any]:
    from deckwatch.cutover import steps
    from deckwatch.cutover.model import Cutover
    from deckwatch.errors import InvalidEventError
    from deckwatch.logging import task as log_task

    doc = task.cutover or task.input or {}
    service = doc.get("service")
    log_task(
        task.op,
        execution=task.execution or str(doc.get("execution") or "") or None,
        resource=f"service/{service}" if isinstance(service, str) else None,
    )
    if task.op == "begin":
        if task.input is None or task.execution is None:
            raise InvalidEventError("begin needs input and execution")
        return steps.begin(task.input, task.execution, deps)
    if task.op == "abandon":
        if task.input is None or task.execution is None:
            raise InvalidEventError("abandon needs input and execution")
        return steps.abandon(task.input, task.execution, task.cause, deps)
    if task.cutover is None:
        raise InvalidEventError(f"{task.op} needs the cutover document")
    c = Cutover.model_validate(task.cutover)
    if task.op == "watch":
        if not task.task_token:
            raise InvalidEventError("watch needs a task token")
        return steps.watch(c, task.task_token, task.phase, deps)
    if task.op == "rollback":
        return steps.rollback(c, task.cause or {}, deps).doc()
    if task.op == "release":
        return steps.release(c, task.cause, deps).doc()
    if task.op == "cleanup_pending":
        return steps.cleanup_pending(c, task.cause or {}, deps).doc()
    step = {
        "deploy": steps.deploy,
        "check_stable": steps.check_stable,
        "pre_traffic": steps.pre_traffic,
        "shift": steps.shift,
        "analyze": steps.analyze,
        "after_bake": steps.after_bake,
        "check_window": steps.check_window,
        "finish": steps.finish,
    }[task.op]
    return step(c, deps).doc()
