"""One way to make a mutating AWS call, for every capability: `Executor.call(service, operation, **parameters)`.

It keeps the intent (the `Action`, named as AWS names it), honours dry-run (the call is only planned), classifies
a failure into the DeckwatchError tree, and keeps the observed outcome of every call, so that the capability writes
to the ledger exactly what was planned, done, refused or left unknown:

- throttled   throttling and 5xx errors after botocore's retries: a state machine may retry later
- denied      AccessDenied and its spellings: permanent until IAM changes
- failed      any other error the service returned: the call was refused, nothing changed
- unknown     no answer (a read timeout, a dropped connection) after the request was sent: it may have been
              applied; the caller re-reads the world before deciding

Each capability maps these to its own error classes (the names its state machine's Retry/Catch match).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from deckwatch.errors import (
    ActionDeniedError,
    ActionFailedError,
    ActionOutcomeUnknownError,
    ActionThrottledError,
    DeckwatchError,
)
from deckwatch.ledger import Action

if TYPE_CHECKING:
    from deckwatch.aws import Clients

Outcome = Literal["planned", "done", "throttled", "denied", "failed", "unknown"]
Failure = Literal["throttled", "denied", "failed", "unknown"]

THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServerException",
        "InternalFailure",
        "InternalError",
        "InternalServerError",
    }
)
DENIED = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError", "AccessDeniedFault"}
)
ErrorFactory = Callable[[str, str, str], DeckwatchError]  # (service, operation, what happened) -> the error
DEFAULT_ERRORS: Mapping[Failure, ErrorFactory] = {
    "throttled": ActionThrottledError,
    "denied": ActionDeniedError,
    "failed": ActionFailedError,
    "unknown": ActionOutcomeUnknownError,
}


def errors_as(**classes: type[DeckwatchError]) -> dict[Failure, ErrorFactory]:
    """A capability's own error classes (one message argument) for some kinds: errors_as(throttled=X, ...)."""

    def factory(cls: type[DeckwatchError]) -> ErrorFactory:
        return lambda service, operation, text: cls(f"{service}:{operation} {text}")

    return {kind: factory(cls) for kind, cls in classes.items()}  # type: ignore[misc]


@dataclass(frozen=True)
class Performed:
    """A call and what became of it."""

    action: Action
    outcome: Outcome
    error: str = ""


class Executor:
    """Makes (or, in a dry run, plans) a capability's mutating calls; `performed` lists each with its outcome."""

    def __init__(
        self,
        clients: Clients,
        *,
        dry_run: bool,
        errors: Mapping[Failure, ErrorFactory] | None = None,
        attempts: int | None = None,
    ) -> None:
        self.clients = clients
        self.dry_run = dry_run
        self.errors = {**DEFAULT_ERRORS, **(errors or {})}
        self.attempts = attempts  # 1: botocore does not retry; the state machine's Retry does, visibly
        self.performed: list[Performed] = []

    def call(self, service: str, operation: str, /, region: str | None = None, **parameters: Any) -> dict[str, Any]:
        """Make one call (an operation named as in AWS's API reference, e.g. "UpdateService")."""
        from botocore import xform_name

        action = Action(service=service, operation=operation, parameters=_printable(parameters))
        if self.dry_run:
            self.performed.append(Performed(action, "planned"))
            return {}
        client = self.clients(service, region=region, attempts=self.attempts)
        try:
            result = getattr(client, xform_name(operation))(**parameters)
        except Exception as exc:
            kind, text = classify(exc)
            if kind is None:
                raise
            self.performed.append(Performed(action, kind, text))
            error = self.errors[kind](service, operation, text)
            error.code = error_code(exc)  # type: ignore[attr-defined]
            raise error from exc
        if isinstance(result, dict) and result.get("FailedEntryCount"):
            text = f"{result.get('FailedEntryCount')} entries failed: {result.get('Entries')}"
            self.performed.append(Performed(action, "failed", text))
            raise self.errors["failed"](service, operation, text)
        self.performed.append(Performed(action, "done"))
        return dict(result) if isinstance(result, dict) else {}

    def resolve(self, applied: bool, how: str) -> None:
        """The last call's outcome was unknown (no answer); a re-read of the world (`how`) settled it."""
        last = self.performed[-1]
        if last.outcome != "unknown":
            return
        note = f"{last.error}; {how}: {'applied' if applied else 'not applied'}"
        self.performed[-1] = Performed(last.action, "done" if applied else "failed", note)

    def take(self) -> list[Performed]:
        """The calls made (or planned) since the last take, oldest first."""
        out, self.performed = self.performed, []
        return out


def classify(exc: BaseException) -> tuple[Failure | None, str]:
    """(kind, one-line description) of a botocore failure; (None, "") for anything else."""
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        text = f"failed with {code}: {error.get('Message', '')}"
        if code in THROTTLED or status >= 500:
            return "throttled", text
        if code in DENIED:
            return "denied", text
        return "failed", text
    if isinstance(exc, ConnectTimeoutError | EndpointConnectionError):
        return "throttled", f"not reached: {exc}"  # nothing was sent
    if isinstance(exc, ReadTimeoutError | ConnectionClosedError):
        return "unknown", f"no answer: {exc}"
    return None, ""


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def _printable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    if isinstance(value, float):
        return str(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value
