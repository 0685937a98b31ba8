"""Release windows and change freezes for cutovers: whether a release may start now, wait for its window, be
refused, or needs an approved emergency override; and whether the next traffic shift's bake fits before the
window closes.

The rules of a service are the environment's `release` section with the service's own on top (a field the service
sets replaces the environment's; freezes add up). Rollbacks never ask: nothing here is consulted on the way back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from deckwatch import approvals

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.policy.model import Policy, Service
    from deckwatch.policy.windows import Freeze, Window

OVERRIDE = "freeze-override"  # the purpose of the emergency override's approval (its own approval id)


@dataclass(frozen=True)
class Rules:
    windows: list[Window]
    freezes: list[Freeze]
    outside_window: Literal["wait", "refuse"]
    bake_crossing_end: Literal["pause", "complete"]


def rules(policy: Policy, svc: Service) -> Rules:
    env, own = policy.release, svc.release
    windows = own.windows if own is not None and own.windows is not None else env.windows
    return Rules(
        windows=list(windows or []),
        freezes=list(env.freezes) + list(own.freezes if own is not None else []),
        outside_window=(own.outside_window if own else None) or env.outside_window or "wait",
        bake_crossing_end=(own.bake_crossing_end if own else None) or env.bake_crossing_end or "pause",
    )


def override_answer(deps: Services, execution: str) -> str | None:
    """The answer to this execution's emergency-override approval, read from the ledger (never from the
    execution's input, which whoever starts it writes): approved, rejected, expired, unanswered (requested, and
    the state machine came back without an answer: it timed out), or None (not requested yet)."""
    aid = approvals.approval_id(execution, OVERRIDE)
    for verdict in ("approved", "rejected", "expired"):
        if deps.ledger.get(f"approval:{aid}:{verdict}") is not None:
            return verdict
    return "unanswered" if deps.ledger.get(f"approval:{aid}:requested") is not None else None


def expire_override(deps: Services, execution: str, environment: str, subject: str, summary: str) -> None:
    """Record the unanswered override approval as expired (and drop it), as the approval gate does on a timeout."""
    request = approvals.ApprovalRequest(
        environment=environment,  # type: ignore[arg-type]
        capability="cutover",
        subject=subject,
        summary=summary[:2000],
    )
    approvals.expire(approvals.ExpireTask(op="expire", execution=execution, request=request, purpose=OVERRIDE), deps)
