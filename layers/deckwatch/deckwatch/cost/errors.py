"""Errors of the cost capability (Step Functions Catch/Retry match these class names)."""

from __future__ import annotations

from deckwatch.errors import DeckwatchError


class CostError(DeckwatchError):
    """Root of the cost capability's errors."""


class SavingsRefusedError(CostError):
    """Savings may not be taken here (production without approval, another environment's stack)."""


class NothingToResumeError(CostError):
    """A resume named resources that Deckwatch did not stop."""
