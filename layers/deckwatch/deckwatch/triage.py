"""Shared shape of a triage result: every event-driven decision is one ledger record and one small dict."""

from __future__ import annotations

from typing import Any

from deckwatch.context import Services
from deckwatch.events import Envelope
from deckwatch.ledger import Capability, Record


def decide(
    deps: Services,
    event: Envelope,
    *,
    capability: Capability,
    subject: str,
    decision: str,
    reason: str,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    loaded = deps.policy()
    deps.ledger.append(
        Record(
            record_id=f"{event.id}:{capability}:triage:{subject}",
            environment=deps.settings.environment,
            capability=capability,
            subject=subject,
            kind="decision",
            decision=decision,
            reason=reason,
            event_id=event.id,
            dry_run=loaded.policy.dry_run,
            policy_version=loaded.version,
            details=details or {},
        )
    )
    return {"capability": capability, "subject": subject, "decision": decision, "reason": reason}
