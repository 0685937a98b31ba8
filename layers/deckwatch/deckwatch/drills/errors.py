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
