"""Lease locks per resource, so that no capability acts on a resource another one is working on.

A lease is one item of the state table (`state.Leases`, pk "lock#<resource>"), written with a condition: free,
expired, or already ours. Expired leases are taken over (a crashed holder cannot block a resource forever) and
cleaned up by the table's TTL. A refused acquisition is recorded in the ledger with the holder's id.
"""

from __future__ import annotations

from deckwatch.errors import LockHeldError
from deckwatch.ledger import Capability, Ledger, Record
from deckwatch.state import Leases


def acquire_or_record(
    locks: Leases,
    ledger: Ledger,
    *,
    resource: str,
    owner: str,
    capability: Capability,
    environment: str,
    lease_seconds: int,
    event_id: str | None = None,
    policy_version: str | None = None,
) -> int:
    """Acquire the lease; when refused, record the refusal (with the holder) before re-raising."""
    try:
        return locks.acquire(resource, owner, capability, lease_seconds)
    except LockHeldError as held:
        ledger.append(
            Record(
                record_id=f"{event_id or owner}:lock-refused:{resource}",
                environment=environment,
                capability=capability,
                subject=resource,
                kind="refusal",
                decision="refused",
                reason=f"locked by {held.capability} ({held.holder})",
                event_id=event_id,
                policy_version=policy_version,
                details={"holder": held.holder, "holder_capability": held.capability, "expires_at": held.expires_at},
            )
        )
        raise


def resource_key(kind: str, *parts: str) -> str:
    """The one name every capability uses for a resource it locks, so that their locks meet:
    ecs:<cluster>/<service>, rds:<db instance or cluster id>, lambda:<function>:<alias>, listener:<arn>."""
    if kind not in ("ecs", "rds", "lambda", "listener", "service"):
        raise ValueError(f"unknown resource kind {kind}")
    if kind == "ecs":
        return f"ecs:{parts[0]}/{parts[1]}"
    if kind == "lambda":
        return f"lambda:{parts[0]}:{parts[1]}"
    return f"{kind}:{parts[0]}"
