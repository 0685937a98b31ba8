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
    record_decision(
        deps,
        event_id=event.id,
        capability=capability,
        subject=subject,
        decision=decision,
        reason=reason,
        details=details,
    )
    return {"capability": capability, "subject": subject, "decision": decision, "reason": reason}


def record_decision(
    deps: Services,
    *,
    event_id: str,
    capability: Capability,
    subject: str,
    decision: str,
    reason: str,
    key: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """The decision taken on event `event_id`, once: a redelivered event maps to the same record id
    ("<event id>:<capability>:<key>", the key defaulting to "triage:<subject>")."""
    deps.ledger.append(
        decision_record(
            deps,
            event_id=event_id,
            capability=capability,
            subject=subject,
            decision=decision,
            reason=reason,
            key=key,
            details=details,
        )
    )


def decision_record(
    deps: Services,
    *,
    event_id: str,
    capability: Capability,
    subject: str,
    decision: str,
    reason: str,
    key: str | None = None,
    details: dict[str, Any] | None = None,
) -> Record:
    """The ledger record `record_decision` writes (for a caller that writes it with a state change: append_with)."""
    loaded = deps.policy()
    return Record(
        record_id=decision_id(event_id, capability, subject, key),
        environment=deps.settings.environment,
        capability=capability,
        subject=subject,
        kind="decision",
        decision=decision,
        reason=reason,
        event_id=event_id,
        dry_run=loaded.policy.dry_run,
        policy_version=loaded.version,
        details=details or {},
    )


def decision_id(event_id: str, capability: Capability, subject: str, key: str | None = None) -> str:
    """The record id of the decision on event `event_id` (one per event, capability and key)."""
    return f"{event_id}:{capability}:{key or f'triage:{subject}'}"
