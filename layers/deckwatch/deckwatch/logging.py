"""What Deckwatch says about itself: structured logs, and which of its handlers' failures are failures.

- `logger()`: the package's Powertools Logger (service "deckwatch", the same logger as the handlers' `Logger()`):
  JSON lines in the function's log group, each with the keys bound for the invocation.
- `bind(event_id=..., execution=..., resource=...)`: keys of the current invocation, set by the intake and the task
  handlers' entry points (None values are left out); the handlers' `inject_lambda_context(clear_state=True)`
  clears them at the start of each invocation.
- `observe(services)`: the handlers' decorator. A pydantic ValidationError leaves the handler as InvalidEventError
  with the fields and messages only: its text would carry the input's values (a task token, a message) into the
  error Lambda logs and Step Functions records. An error in EXPECTED_ERRORS (a signal or an outcome the state
  machines handle: "not stable yet", a lock held elsewhere, a rollback cause...) is counted as the metric
  ExpectedErrors of the function, which the function's errors alarm subtracts from Lambda's Errors (template.yaml):
  the alarm is about Deckwatch failing, not about a deployment being rolled back or a drill polling.

Nothing secret is logged: no event or task bodies, no task tokens, no credentials (tests/test_self_monitoring.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

    from deckwatch.context import Services

SERVICE = "deckwatch"

# Errors the state machines expect from their tasks: retried by name (statemachines/*.asl.json Retry), caught by
# name, or caught by States.ALL as an outcome the execution records (a rollback's cause, a refused lock, a failed
# drill). Every error the state machines name is here (tests/test_self_monitoring.py).
EXPECTED_ERRORS = frozenset(
    {
        # retried until done ("not yet")
        "NotStableYetError",
        "TrafficShiftError",
        "DrillInstanceNotReadyError",
        "DrillCleanupPendingError",
        "RunbookThrottledError",
        # outcomes
        "LockHeldError",
        "ApprovalRejectedError",
        "AlarmFiringError",
        "CanaryAnalysisFailedError",
        "CanaryNoDataError",
        "UnhealthyTargetsError",
        "PreTrafficCheckFailedError",
        "RollbackRequestedError",
        "ReleaseRefusedError",
        "DeploymentFailedError",
        "DrillInputError",
        "RecoveryPointNotFoundError",
        "RestoreFailedError",
        "RestoreTimeoutError",
        "DrillFailedError",
        "DrillStoppedError",
        "SavingsRefusedError",
        "NothingToResumeError",
    }
)


@functools.cache
def logger() -> Logger:
    from aws_lambda_powertools import Logger

    return Logger(service=SERVICE)


def bind(**keys: str | None) -> None:
    """Keys every later line of this invocation carries (event_id, execution, resource...)."""
    present = {k: v for k, v in keys.items() if v}
    if present:
        logger().append_keys(**present)


def task(op: str, *, execution: str | None, resource: str | None) -> None:
    """A task handler's entry point: bind its execution and resource, and say which task runs."""
    bind(execution=execution, resource=resource)
    logger().info("task", extra={"op": op})


def observe(services: Callable[[], Services]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def handler(event: Any, context: Any) -> Any:
            from pydantic import ValidationError

            from deckwatch.errors import InvalidEventError

            try:
                return fn(event, context)
            except ValidationError as exc:
                from deckwatch.intake import describe

                reason = describe(exc)
                logger().error("input rejected", extra={"error": "InvalidEventError", "reason": reason})
                raise InvalidEventError(reason) from None
            except Exception as exc:
                name = type(exc).__name__
                if name not in EXPECTED_ERRORS:
                    logger().error("failed", extra={"error": name})
                    raise
                logger().info("ended with an expected error", extra={"error": name})
                _count(services, context)
                raise

        return handler

    return wrap


def _count(services: Callable[[], Services], context: Any) -> None:
    from deckwatch import metrics

    function = str(getattr(context, "function_name", "") or "unknown")
    metrics.emit(services().settings, {"ExpectedErrors": 1}, Function=function)
