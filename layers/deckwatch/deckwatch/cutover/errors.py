"""Errors of the cutover capability. Step Functions Retry/Catch in statemachines/cutover.asl.json match these names."""

from __future__ import annotations

from deckwatch.errors import DeckwatchError


class CutoverError(DeckwatchError):
    """Root of the cutover capability's errors."""


class ArtifactError(CutoverError):
    """The build's output artifact does not name an image Deckwatch can deploy (nothing is shifted)."""


class TargetNotFoundError(CutoverError):
    """The policy names a service, listener, target group, function or alias that does not exist."""


class NotStableYetError(CutoverError):
    """The idle colour is still deploying (retried by the state machine at a fixed interval, bounded)."""


class DeploymentFailedError(CutoverError):
    """The idle colour did not become stable and healthy within the policy's bound."""


class TrafficShiftError(CutoverError):
    """Changing the traffic weights failed (retried by the state machine, then rolled back)."""


class UnhealthyTargetsError(CutoverError):
    """The new colour has unhealthy targets after a bake."""


class PreTrafficCheckFailedError(CutoverError):
    """The policy's pre-traffic check rejected the idle colour."""


class RollbackRequestedError(CutoverError):
    """A rollback was requested (manually, or by the pipeline execution ending) while a step was running."""


class CanaryAnalysisFailedError(CutoverError):
    """The canary's figures broke the policy's limits in as many consecutive intervals as it allows."""


class CanaryNoDataError(CutoverError):
    """The canary received too little traffic to judge in as many consecutive intervals as the policy allows."""


class AlarmFiringError(CutoverError):
    """A watched alarm is in ALARM when read (its state-change event may have been lost): never proceed on it."""


class ReleaseRefusedError(CutoverError):
    """The policy's release windows or a change freeze refuse this release now (recorded, notified; nothing changed)."""
