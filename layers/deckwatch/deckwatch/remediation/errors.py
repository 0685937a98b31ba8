"""Errors of the remediation capability. Step Functions Retry/Catch match these class names
(statemachines/remediation.asl.json): RunbookThrottledError is retried, the others escalate."""

from __future__ import annotations

from deckwatch.errors import DeckwatchError


class RunbookError(DeckwatchError):
    """A runbook could not do what it planned."""


class RunbookThrottledError(RunbookError):
    """The acted-on service throttled the call (transient: retried by the state machine's Retry)."""


class RunbookAccessDeniedError(RunbookError):
    """The function's role may not make the call (not transient: escalated, never retried)."""


class RunbookFailedError(RunbookError):
    """The acted-on service refused the call for another reason (escalated)."""


class UnknownRunbookError(RunbookError):
    """The policy or a console input names a runbook that is not in the registry."""
