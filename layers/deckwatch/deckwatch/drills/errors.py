"""Errors of restore drills. Step Functions Retry/Catch in statemachines/drill.asl.json match these names."""

from __future__ import annotations

from deckwatch.errors import DeckwatchError


class DrillInputError(DeckwatchError):
    """The drill request names nothing drillable (unknown resource or recovery point, wrong environment)."""


class RecoveryPointNotFoundError(DrillInputError):
    """No completed recovery point matches the request."""


class RestoreFailedError(DeckwatchError):
    """AWS Backup reported the restore job FAILED or ABORTED."""


class RestoreTimeoutError(DeckwatchError):
    """The restore job did not finish within the drill's bounded wait and polling."""


class ValidatorConfigError(DeckwatchError):
    """The validator cannot run as configured (e.g. TLS verification asked for without a CA bundle)."""


class DrillFailedError(DeckwatchError):
    """The drill ran and failed: a restore, a check or an objective."""


class DrillInstanceNotReadyError(DeckwatchError):
    """The instance a drill added to a restored Aurora cluster is not available yet (Step Functions retries)."""


class DrillCleanupPendingError(DeckwatchError):
    """A restored Aurora cluster cannot be deleted yet: its instance is not deleting yet (Step Functions retries)."""


class DrillStoppedError(DeckwatchError):
    """The drill's execution was stopped (console, StopExecution) or timed out before its clean-up ran."""
