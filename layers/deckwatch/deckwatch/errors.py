"""One exception root for Deckwatch. Step Functions `Retry`/`Catch` match these class names
(a Lambda task that raises `LockHeldError` fails with error name "LockHeldError")."""

from __future__ import annotations


class DeckwatchError(Exception):
    """Root of every error Deckwatch raises on purpose."""


class ConfigError(DeckwatchError):
    """A function's environment (table names, topic, policy location) is missing or wrong."""


class PolicyError(DeckwatchError):
    """The policy is invalid. Carries every problem with its field path and line."""

    def __init__(self, source: str, problems: list[PolicyProblem]) -> None:
        self.source = source
        self.problems = problems
        lines = "; ".join(p.render() for p in problems[:5])
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"invalid policy {source}: {lines}{more}")


class PolicyProblem:
    """One policy problem: where (dotted field path, line) and what."""

    __slots__ = ("line", "message", "path")

    def __init__(self, path: str, message: str, line: int | None) -> None:
        self.path = path
        self.message = message
        self.line = line

    def render(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.path or '<root>'}: {self.message}"


class InvalidEventError(DeckwatchError):
    """An event Deckwatch cannot act on (malformed, wrong shape). Never retried: it goes to the DLQ."""


class LockHeldError(DeckwatchError):
    """Another capability holds the lease on the resource."""

    def __init__(self, resource: str, holder: str, capability: str, expires_at: int) -> None:
        self.resource = resource
        self.holder = holder
        self.capability = capability
        self.expires_at = expires_at
        super().__init__(f"{resource} is locked by {capability} ({holder}) until {expires_at}")


class LockLostError(DeckwatchError):
    """A lease this owner thought it held is held by someone else (expired and taken over)."""


class LedgerConflictError(DeckwatchError):
    """A ledger record with the same key exists already (ledger records are never overwritten)."""


class ApprovalRejectedError(DeckwatchError):
    """A person rejected an approval request."""


class ApprovalNotFoundError(DeckwatchError):
    """No pending approval has this id."""


class ActionError(DeckwatchError):
    """A mutating AWS call failed (deckwatch.actions classifies it into one of the subclasses)."""

    def __init__(self, service: str, operation: str, what: str, code: str = "") -> None:
        self.service = service
        self.operation = operation
        self.code = code  # the AWS error code, when the service answered with one
        super().__init__(f"{service}:{operation} {what}")


class ActionThrottledError(ActionError):
    """Throttled or a 5xx after botocore's retries: transient, worth retrying later."""


class ActionDeniedError(ActionError):
    """AccessDenied: permanent until IAM changes."""


class ActionFailedError(ActionError):
    """The service refused the call; nothing changed."""


class ActionOutcomeUnknownError(ActionError):
    """No answer after the request was sent: it may have been applied; re-read the world before deciding."""
