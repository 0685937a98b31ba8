"""The rollback's first move, made by the alarm-events function itself: all traffic back on the stable slot.

Without it, an alarm during a bake reaches the listener through the bake's callback, the state machine's
transitions and the cutover function (often cold: it runs a few times an hour): seconds during which the bad
release keeps serving its share. Argo Rollouts and Flagger abort from the controller that sees the metric, for
the same reason. Here the bake registers its watch with a reflex (`for_watch`); the alarm's event runs it
(`restore_now`) before answering the bake, and the answer carries what it observed, so the state machine's
rollback (which still runs, and restores again: a no-op that verifies) records the weight the release had when
the alarm came, not the 0% it finds.

Only the restore moves here: scaling the new slot down, the hook, the notification and the lease stay with the
rollback step, which retries. A reflex that fails is reported in the answer and costs only the time it meant to
save.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from deckwatch import clock
from deckwatch.cutover.model import Cutover

if TYPE_CHECKING:
    from deckwatch.context import Services

KIND = "cutover-restore"


def for_watch(c: Cutover, resolved: dict[str, Any]) -> dict[str, Any] | None:
    """The reflex a bake's watch carries: the cutover as it is now (JSON: the state table stores no floats) and
    the router's resolved identifiers, so the restore's first call is the read before the change. None in a
    dry-run (the plan's rollback is the state machine's) or before the new slot takes traffic."""
    if c.dry_run or not c.new or c.new == c.stable:
        return None
    return {"kind": KIND, "cutover": c.model_dump_json(), "resolved": json.dumps(resolved)}


def restore_now(deps: Services, reflex: dict[str, Any], *, alarm: str, at: str) -> dict[str, Any]:
    """Restore, record (intent first, each call after, then the decision) and return what was observed."""
    from deckwatch.cutover import steps

    c = Cutover.model_validate_json(str(reflex["cutover"]))
    router = steps._router(deps, c)
    router.pin(json.loads(str(reflex.get("resolved") or "{}")))
    key = f"fast-restore:{c.step_index}"
    steps._record(deps, c, f"{key}:intent", "intent", f"all traffic to {c.stable}: {alarm} in ALARM", kind="intent")
    try:
        before = router.restore(c.stable, c.new, capacity=c.capacity)
    finally:
        steps._record_actions(deps, c, key, router)
    restored_at = clock.iso()
    steps._record(
        deps,
        c,
        key,
        "fast-restored",
        f"{alarm} went to ALARM: {c.stable} 100%, {c.new} had {before}%",
        details={"alarm": alarm, "alarm_at": at, "weight_before": before, "restored_at": restored_at},
    )
    return {"restored": True, "weight_before": before, "restored_at": restored_at}
