"""A drill stopped from the console (ABORTED) or past its state machine's timeout (TIMED_OUT) runs no Catch path.
Its "Step Functions Execution Status Change" event brings it here: delete what it restored, release its lock
and report it failed, from the drill as its start record in the ledger describes it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deckwatch.drills.model import Drill, StepTask
from deckwatch.drills.plan import drill_id

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.drills.model import StoppedTask


def stopped(task: StoppedTask, deps: Services) -> dict[str, Any]:
    from deckwatch.drills import report, restore

    did = drill_id(task.execution)
    start = deps.ledger.get(f"drill:{did}:start")
    if start is None or "drill" not in (start.get("details") or {}):
        return {"drill_id": did, "cleaned_up": False, "note": f"{task.status} before the drill started: nothing to do"}
    if deps.ledger.get(f"drill:{did}:report") is not None:
        return {"drill_id": did, "cleaned_up": False, "note": "already reported (a redelivered event)"}
    drill = Drill.model_validate(start["details"]["drill"])
    state: dict[str, Any] = {
        "drill": drill.model_dump(),
        "error": {
            "Error": "DrillStoppedError",
            "Cause": f"the execution ended {task.status}; its clean-up ran on the status change event",
        },
    }

    def step(op: str) -> StepTask:
        return StepTask.model_validate({"op": op, "execution": drill.execution, "state": state})

    state["cleanup"] = restore.cleanup(step("cleanup"), deps)
    restore.release(step("release"), deps)
    reported = report.report(step("report"), deps)
    return {"drill_id": did, "cleaned_up": state["cleanup"]["confirmed_gone"], "report": reported["location"]}
