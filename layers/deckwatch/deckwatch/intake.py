"""The path every event-driven handler shares: parse, reject what is malformed, dedupe, then decide.

- A malformed event is recorded in the ledger with the reason and rejected with InvalidEventError; the function's
  on-failure destination (the DLQ, template.yaml) keeps the event and the error. Nothing is lost.
- An invalid policy raises PolicyError before anything acts.
- Each event is handled once per id (Powertools idempotency on `id`): EventBridge delivers at least once. A copy
  that arrives while the first is still being handled is a duplicate too, not a failure: the first copy answers
  for the event (its own failure, if any, goes to the DLQ), so this one must not land there and alarm.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from deckwatch.context import Services
from deckwatch.errors import InvalidEventError
from deckwatch.ledger import Capability, Record

MAX_EVENT_BYTES = 256 * 1024  # EventBridge's own limit on an entry


def receive[T: BaseModel](
    event: Any,
    context: Any,
    deps: Services,
    *,
    model: type[T],
    capability: Capability,
    handle: Callable[[T, Services], dict[str, Any]],
) -> dict[str, Any]:
    parsed = parse(event, model, capability, deps)
    deps.policy()  # fail loudly on an invalid policy before acting on anything

    def _run(event: dict[str, Any]) -> dict[str, Any]:
        return handle(parsed, deps)

    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    try:
        return _idempotent(deps, context)(_run)(event=event)
    except IdempotencyAlreadyInProgressError:
        return {"duplicate": True, "in_progress": True, "event_id": str(event.get("id", ""))}


def parse[T: BaseModel](event: Any, model: type[T], capability: Capability, deps: Services) -> T:
    try:
        if not isinstance(event, dict):
            raise InvalidEventError(f"an event is a JSON object, got {type(event).__name__}")
        return model.model_validate(event)
    except (ValidationError, InvalidEventError) as exc:
        reason = describe(exc)
        body = event if isinstance(event, dict) else {}
        event_id = str(body.get("id") or "no-id")
        resources = body.get("resources")
        subject = (
            resources[0]
            if isinstance(resources, list) and resources and isinstance(resources[0], str)
            else (str(body.get("source") or "unknown-source"))
        )
        deps.ledger.append(
            Record(
                record_id=f"{event_id}:rejected:{capability}",
                environment=deps.settings.environment,
                capability=capability,
                subject=subject,
                kind="rejection",
                decision="rejected",
                reason=reason,
                event_id=event_id,
                details={"source": body.get("source"), "detail_type": body.get("detail-type")},
            )
        )
        raise InvalidEventError(reason) from None


def describe(exc: Exception) -> str:
    """One line naming every bad field: what a person needs to fix the event."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors()[:6]:
            where = ".".join(str(p) for p in err["loc"]) or "event"
            parts.append(f"{where}: {err['msg']}")
        more = f" (+{exc.error_count() - 6} more)" if exc.error_count() > 6 else ""
        return "malformed event: " + "; ".join(parts) + more
    return str(exc)


def _idempotent(deps: Services, context: Any) -> Callable[..., Callable[..., dict[str, Any]]]:
    # Imported on first use: the idempotency utility pulls in jmespath and its DynamoDB layer.
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    config = IdempotencyConfig(
        event_key_jmespath="id", expires_after_seconds=24 * 3600, raise_on_no_idempotency_key=True
    )
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        config.register_lambda_context(context)

    def wrap(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        return idempotent_function(  # type: ignore[no-any-return]
            data_keyword_argument="event", persistence_store=deps.idempotency_store(), config=config
        )(fn)

    return wrap
