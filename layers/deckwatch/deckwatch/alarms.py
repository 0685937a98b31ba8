"""What an alarm state change does, in order: answer the tasks watching this alarm (a cutover's bake, a
remediation's verification) at once, then let remediation triage it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deckwatch import clock, watches
from deckwatch.remediation.selection import triage

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.events.alarm import AlarmEvent


def on_state_change(event: AlarmEvent, deps: Services) -> dict[str, Any]:
    d = event.detail
    # answered with the time Deckwatch learned it: waiters measure on Deckwatch's clock, not on the event's
    answered = watches.notify(deps, d.alarmName, d.state.value, d.state.reason, clock.iso())
    result = triage(event, deps)
    return result | {"watches_answered": answered}
