"""The path every event-driven handler shares: parse, reject what is malformed, dedupe, then decide.

- A malformed event is recorded in the ledger with the reason and rejected with InvalidEventError; the function's
  on-failure destination (the DLQ, template.yaml) keeps the event and the error. Nothing is lost.
- An invalid policy raises PolicyError before anything acts.
- Each event is handled once per id (Powertools idempotency on `id`): EventBridge delivers at least once. A copy
  that arrives while the first is still being handled is a duplicate too, not a failure: the first copy answers
  for the event (its own failure, if any, goes to the DLQ), so this one must not land there and alarm.
- A handler may name events that are their own deduplication (`once`): one write, a ledger record keyed by the
  event id together with the state it changes, in one transaction. Those skip the idempotency record (two more
  writes): an alarm storm's duplicate ALARMs, which only join the open incident (deckwatch.alarms.on_duplicate).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeGuard

from pydantic import BaseModel, ValidationError

from deckwatch.context import Services
from deckwatch.errors import InvalidEventError
from deckwatch.ledger import Capability, Record

MAX_EVENT_BYTES = 256 * 1024  # EventBridge's own limit on an entry
# Deeper events are refused before any model sees them: DynamoDB nests at most 32 levels (any part of an event can
# be recorded), the AWS events Deckwatch reads are under 10 deep, and nothing downstream recurses without a bound.
MAX_DEPTH = 32
MAX_REASON = 1000  # characters of a rejection's reason (one line)
# DynamoDB's key limits (partition key 2048 bytes, sort key 1024 bytes): a rejection's subject and record id are
# trimmed well inside them, with a digest of what was cut so that two long values never share a key.
MAX_SUBJECT_BYTES = 1024
MAX_EVENT_ID_BYTES = 256
MAX_LABEL_BYTES = 256  # source and detail-type as the rejection's details record them
# The idempotency record of an event outlives the DLQ's 14-day retention (template.yaml): an event redriven from
# the DLQ after it was processed does nothing twice.
IDEMPOTENCY_SECONDS = 15 * 24 * 3600


def receive[T: BaseModel](
    event: Any,
    context: Any,
    deps: Services,
    *,
    model: type[T],
    capability: Capability,
    handle: Callable[[T, Services], dict[str, Any]],
    once: Callable[[T, Services], dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """`once`, tried first (before the idempotency record): handles the events whose one write is their own
    deduplication (a ledger record keyed by the event id, written with the state it changes in one transaction),
    or answers None; an event from elsewhere never reaches it."""
    parsed = parse(event, model, capability, deps)
    deps.policy()  # fail loudly on an invalid policy before acting on anything
    if once is not None and _foreign(parsed, deps) is None:
        done = once(parsed, deps)
        if done is not None:
            return done

    def _run(event: dict[str, Any]) -> dict[str, Any]:
        elsewhere = _from_elsewhere(parsed, capability, deps)
        return elsewhere if elsewhere is not None else handle(parsed, deps)

    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    try:
        return _idempotent(deps, context)(_run)(event=event)
    except IdempotencyAlreadyInProgressError:
        return {"duplicate": True, "in_progress": True, "event_id": str(event.get("id", ""))}


def _from_elsewhere(parsed: BaseModel, capability: Capability, deps: Services) -> dict[str, Any] | None:
    """An event from another account or region (deckwatch.scope): recorded as ignored, with the reason."""
    from deckwatch.decisions import record_decision

    why = _foreign(parsed, deps)
    if why is None:
        return None
    inner: Any = getattr(parsed, "root", parsed)
    source, account, region = inner.origin
    subject = str(inner.origin_subject)
    record_decision(
        deps,
        event_id=str(inner.id),
        capability=capability,
        subject=subject,
        decision="ignored",
        reason=why,
        details={"account": account, "region": region, "source": source},
    )
    return {"capability": capability, "subject": subject, "decision": "ignored", "reason": why}


def _foreign(parsed: BaseModel, deps: Services) -> str | None:
    """Why the event is from another account or region than this stack's (deckwatch.scope), or None."""
    from deckwatch import scope

    inner: Any = getattr(parsed, "root", parsed)  # a union of event models is a RootModel
    origin = getattr(inner, "origin", None)
    if origin is None:
        return None
    source, account, region = origin
    return scope.foreign(deps, source, account, region)


def parse[T: BaseModel](event: Any, model: type[T], capability: Capability, deps: Services) -> T:
    """`event` as `model`, or InvalidEventError with a one-line reason, recorded first in the ledger (a rejection
    record that always fits DynamoDB). Any JSON value gets one answer or the other."""
    checked = screen(event)
    _bind(event)
    try:
        if not isinstance(event, dict):
            raise InvalidEventError(f"an event is a JSON object, got {_json_type(event)}")
        if checked.problem:
            raise InvalidEventError(f"malformed event: {checked.problem}")
        return model.model_validate(event)
    except (ValidationError, InvalidEventError) as exc:
        reason = describe(exc)
        deps.ledger.append(rejection(event, capability, reason, deps.settings.environment, checked.digest))
        from deckwatch import metrics

        metrics.emit(deps.settings, {"EventsRejected": 1}, Capability=capability)
        raise InvalidEventError(reason) from None


def _bind(event: Any) -> None:
    """The event's id and first resource as keys of every later log line of this invocation."""
    from deckwatch.logging import bind, logger

    body = event if isinstance(event, dict) else {}
    resources = body.get("resources")
    first = resources[0] if isinstance(resources, list) and resources else None
    bind(
        event_id=fit(body["id"], MAX_EVENT_ID_BYTES) if _usable(body.get("id")) else None,
        resource=fit(first, MAX_SUBJECT_BYTES) if _usable(first) else None,
    )
    source, detail_type = body.get("source"), body.get("detail-type")
    logger().info(
        "event received",
        extra={
            "source": fit(source, MAX_LABEL_BYTES) if _usable(source) else None,
            "detail_type": fit(detail_type, MAX_LABEL_BYTES) if _usable(detail_type) else None,
        },
    )


def describe(exc: Exception) -> str:
    """One line naming every bad field: what a person needs to fix the event (at most MAX_REASON characters)."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors()[:6]:
            where = ".".join(_clip(str(p), 64) for p in err["loc"]) or "event"
            parts.append(f"{where}: {str(err['msg']).removeprefix('Value error, ')}")
        more = f" (+{exc.error_count() - 6} more)" if exc.error_count() > 6 else ""
        text = "malformed event: " + "; ".join(parts) + more
    else:
        text = str(exc)
    return _clip(_one_line(text), MAX_REASON)


@dataclass(frozen=True)
class Screened:
    problem: str | None  # what makes the value no event at all, or None
    digest: str  # sha256 of the value's content (its key in the ledger when it has no usable id)


def screen(value: Any) -> Screened:
    """Walk a JSON value without recursion (a 100k-deep event walks like a flat one): the first of nesting deeper
    than MAX_DEPTH, a NaN or infinite number (not JSON), a string that is not Unicode text (a lone surrogate), or
    a value that is not JSON at all; and a digest of the whole value."""
    digest = hashlib.sha256()
    problem: str | None = None
    stack: list[tuple[Any, int, _Path | None]] = [(value, 1, None)]
    while stack:
        item, depth, path = stack.pop()
        if problem is None and depth > MAX_DEPTH:
            problem = f"nested deeper than {MAX_DEPTH} levels (at {_render(path)})"
        if isinstance(item, dict):
            digest.update(b"{%d" % len(item))
            for key, child in reversed(item.items()):
                if problem is None and not (isinstance(key, str) and _text(key)):
                    problem = f"a key that is not Unicode text (in {_render(path)})"
                stack.append((child, depth + 1, (path, key)))
                digest.update(_encode(str(key)))
        elif isinstance(item, list):
            digest.update(b"[%d" % len(item))
            stack.extend((child, depth + 1, (path, i)) for i, child in reversed(list(enumerate(item))))
        elif isinstance(item, str):
            digest.update(b"s" + _encode(item))
            if problem is None and not _text(item):
                problem = f"{_render(path)}: not Unicode text (a lone surrogate)"
        elif isinstance(item, bool) or item is None:
            digest.update(b"b" + str(item).encode())
        elif isinstance(item, int | float):
            digest.update(b"n" + repr(item).encode())
            if problem is None and isinstance(item, float) and not math.isfinite(item):
                problem = f"{_render(path)}: {item} is not a JSON number"
        elif problem is None:
            problem = f"{_render(path)}: a {type(item).__name__} is not a JSON value"
    return Screened(problem, digest.hexdigest())


def rejection(event: Any, capability: Capability, reason: str, environment: str, digest: str) -> Record:
    """The ledger record of a rejected event: keyed by the event's id (or its digest when it has no usable id),
    about its first resource (or its source), every field trimmed to fit DynamoDB's key and item limits."""
    body = event if isinstance(event, dict) else {}
    raw_id = body.get("id")
    event_id = fit(raw_id, MAX_EVENT_ID_BYTES) if _usable(raw_id) else f"no-id-{digest[:16]}"
    resources = body.get("resources")
    first = resources[0] if isinstance(resources, list) and resources else None
    source, detail_type = body.get("source"), body.get("detail-type")
    subject = first if _usable(first) else (source if _usable(source) else "unknown-source")
    return Record(
        record_id=f"{event_id}:rejected:{capability}",
        environment=environment,
        capability=capability,
        subject=fit(subject, MAX_SUBJECT_BYTES),
        kind="rejection",
        decision="rejected",
        reason=_clip(_one_line(reason), MAX_REASON),
        event_id=event_id,
        details={
            "source": fit(source, MAX_LABEL_BYTES) if _usable(source) else None,
            "detail_type": fit(detail_type, MAX_LABEL_BYTES) if _usable(detail_type) else None,
            "event_digest": digest,
        },
    )


def fit(text: str, max_bytes: int) -> str:
    """`text` in at most `max_bytes` UTF-8 bytes: cut, with a digest of the whole so that cut values stay distinct."""
    raw = _encode(text)
    if len(raw) <= max_bytes:
        return raw.decode()
    mark = "~" + hashlib.sha256(raw).hexdigest()[:16]
    return raw[: max_bytes - len(mark)].decode("utf-8", errors="ignore") + mark


type _Path = tuple[_Path | None, str | int]


def _render(path: _Path | None) -> str:
    parts: list[str | int] = []
    while path is not None:
        path, part = path
        parts.append(part)
    parts.reverse()
    text = [_clip(str(p), 64) for p in parts]
    if len(text) > 8:
        return ".".join(text[:4]) + "..." + ".".join(text[-3:])
    return ".".join(text) or "the event"


def _usable(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value) and _text(value)


def _text(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _encode(text: str) -> bytes:
    return text.encode("utf-8", errors="replace")


def _one_line(text: str) -> str:
    return " ".join(_encode(text).decode().split())


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_type(value: Any) -> str:
    return {list: "a JSON array", str: "a JSON string", bool: "a JSON boolean", type(None): "null"}.get(
        type(value), "a JSON number" if isinstance(value, int | float) else type(value).__name__
    )


def _idempotent(deps: Services, context: Any) -> Callable[..., Callable[..., dict[str, Any]]]:
    # Imported on first use: the idempotency utility pulls in jmespath and its DynamoDB layer.
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    config = IdempotencyConfig(
        event_key_jmespath="id", expires_after_seconds=IDEMPOTENCY_SECONDS, raise_on_no_idempotency_key=True
    )
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        config.register_lambda_context(context)

    def wrap(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        return idempotent_function(  # type: ignore[no-any-return]
            data_keyword_argument="event", persistence_store=deps.idempotency_store(), config=config
        )(fn)

    return wrap
