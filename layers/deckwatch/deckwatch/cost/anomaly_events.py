"""Cost Anomaly Detection events from EventBridge, evaluated like the IMMEDIATE SNS alerts (cost.anomalies)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deckwatch.cost.anomalies import evaluate
from deckwatch.cost.attribution import severity

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.events.cost import AnomalyEvent

__all__ = ["severity", "triage"]


def triage(event: AnomalyEvent, deps: Services) -> dict[str, Any]:
    return evaluate(event.detail, deps, event_id=event.id, channel="eventbridge")
