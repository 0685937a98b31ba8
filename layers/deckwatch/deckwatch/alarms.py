"""What an alarm state change does, in order: answer the tasks watching this alarm (a cutover's bake, a
remediation's verification) at once, then let remediation triage it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deckwatch import clock, watches
from deckwatch.remediation.selection import join, triage

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.events.alarm import AlarmEvent


def on_state_change(event: AlarmEvent, deps: Services) -> dict[str, Any]:
    d = event.detail
    # answered with the time Deckwatch learned it: waiters measure on Deckwatch's clock, not on the event's
    answered = watches.notify(deps, d.alarmName, d.state.value, d.state.reason, clock.iso())
    result = triage(event, deps)
    return result | {"watches_answered": answered}


def on_duplicate(event: AlarmEvent, deps: Services) -> dict[str, Any] | None:
    """Before the idempotency layer (deckwatch.intake `once`): an ALARM that joins its resource's open incident, the
    storm's duplicate, handled in one write that is its own deduplication (`selection.join`); None for any other
    event (on_state_change, behind the idempotency layer)."""
    d = event.detail
    if d.state.value != "ALARM":
        return None
    # as on_state_change does first (answering and removing a watcher is idempotent: nothing twice if it goes on)
    answered = watches.notify(deps, d.alarmName, d.state.value, d.state.reason, clock.iso())
    joined = join(event, deps)
    return None if joined is None else joined | {"watches_answered": answered}
