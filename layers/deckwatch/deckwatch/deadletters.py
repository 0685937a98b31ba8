"""The dead-letter queue: what Deckwatch could not process, read without consuming it, and handed back.

The stack's DLQ (template.yaml DeadLetterQueue, deckwatch-<env>-dlq) receives three kinds of messages:

- "destination": the on-failure destination record of an asynchronous invocation that failed (the functions'
  EventInvokeConfig): `requestContext` (functionArn, condition, approximateInvokeCount), `requestPayload` (the
  event as delivered), `responseContext` and `responsePayload` (errorType, errorMessage).
- "rule": an event an EventBridge rule could not deliver to its target (the rules' DeadLetterConfig): the event is
  the body; the attributes RULE_ARN, TARGET_ARN, ERROR_CODE and ERROR_MESSAGE say where it was going and why not.
- "copy": Lambda's dead-letter copy of an event (the functions' DeadLetterQueue): the event is the body; the
  attributes RequestID, ErrorCode and ErrorMessage do not name the function. The destination record of the same
  failure names it: a copy is redriven with that record (and deleted with it), never on its own.

`redrive` hands the event back to the function that failed (Lambda asynchronous Invoke of requestContext.
functionArn, or of the rule's target) and deletes the message only once Lambda accepted the event (202). It is safe
to redrive anything: the handlers are idempotent on the event id (Powertools idempotency, records kept
intake.IDEMPOTENCY_SECONDS, longer than the DLQ's 14 days). An event whose first attempt failed is processed now
(a handler that raises has its in-progress idempotency record deleted by Powertools), one that was processed
returns the saved result and does nothing twice, and one that fails again is back in the DLQ with its new error.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from deckwatch.errors import DeckwatchError

if TYPE_CHECKING:
    from deckwatch.context import Services

Kind = Literal["destination", "rule", "copy", "unknown"]
HOLD_SECONDS = 60  # messages read are hidden this long, then visible again (released at once when done)
EMPTY_POLLS = 3  # short polls that return nothing before the queue counts as read (SQS samples its servers)


class DeadLetterNotFoundError(DeckwatchError):
    """No message in the DLQ has this id."""


@dataclass
class DeadLetter:
    message_id: str
    receipt: str
    kind: Kind
    function: str | None  # the function to hand the event back to (ARN or name), when known
    event: Any  # the event as it was delivered
    error: str
    condition: str | None = None
    sent_at: str | None = None
    receive_count: int = 0
    body: Any = None
    attributes: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        event = self.event if isinstance(self.event, dict) else {}
        records = event.get("Records")
        sns = records[0].get("Sns") if isinstance(records, list) and records and isinstance(records[0], dict) else None
        return {
            "message_id": self.message_id,
            "kind": self.kind,
            "function": self.function.rsplit(":", 1)[-1] if self.function else None,
            "condition": self.condition,
            "error": self.error,
            "sent_at": self.sent_at,
            "receive_count": self.receive_count,
            "event_id": event.get("id") or (sns.get("MessageId") if isinstance(sns, dict) else None),
            "source": event.get("source") or ("sns" if isinstance(sns, dict) else None),
            "detail_type": event.get("detail-type") or (sns.get("Subject") if isinstance(sns, dict) else None),
        }

    def document(self) -> dict[str, Any]:
        """The message as the DLQ holds it: its body (the record, or the event) and its attributes."""
        return {
            "message_id": self.message_id,
            "kind": self.kind,
            "sent_at": self.sent_at,
            "receive_count": self.receive_count,
            "attributes": self.attributes,
            "body": self.body,
        }


def queue_url(deps: Services) -> str:
    name = f"deckwatch-{deps.settings.environment}-dlq"
    return str(deps.clients("sqs").get_queue_url(QueueName=name)["QueueUrl"])


def parse(message: dict[str, Any]) -> DeadLetter:
    """One SQS message of the DLQ, recognised."""
    attributes = {k: str(v.get("StringValue", "")) for k, v in (message.get("MessageAttributes") or {}).items()}
    system = message.get("Attributes") or {}
    sent = str(system.get("SentTimestamp") or "")
    common: dict[str, Any] = {
        "message_id": str(message["MessageId"]),
        "receipt": str(message["ReceiptHandle"]),
        "sent_at": datetime.fromtimestamp(int(sent) / 1000, UTC).isoformat() if sent.isdigit() else None,
        "receive_count": int(system.get("ApproximateReceiveCount", 0) or 0),
        "attributes": attributes,
    }
    try:
        body = json.loads(message.get("Body") or "")
    except json.JSONDecodeError:
        body = message.get("Body")
    common["body"] = body
    context = body.get("requestContext") if isinstance(body, dict) else None
    if isinstance(context, dict) and "requestPayload" in body:
        response = body.get("responsePayload") if isinstance(body.get("responsePayload"), dict) else {}
        error = f"{response.get('errorType', 'error')}: {response.get('errorMessage', '')}".strip(": ")
        return DeadLetter(
            kind="destination",
            function=str(context.get("functionArn") or "") or None,
            event=body["requestPayload"],
            error=error,
            condition=str(context.get("condition") or "") or None,
            **common,
        )
    if "TARGET_ARN" in attributes or "RULE_ARN" in attributes:
        target = attributes.get("TARGET_ARN", "")
        error = f"{attributes.get('ERROR_CODE', 'error')}: {attributes.get('ERROR_MESSAGE', '')}".strip(": ")
        is_function = ":lambda:" in target and ":function:" in target
        return DeadLetter(kind="rule", function=target if is_function else None, event=body, error=error, **common)
    if "ErrorCode" in attributes or "RequestID" in attributes:
        error = f"{attributes.get('ErrorCode', 'error')}: {attributes.get('ErrorMessage', '')}".strip(": ")
        return DeadLetter(kind="copy", function=None, event=body, error=error, **common)
    return DeadLetter(kind="unknown", function=None, event=body, error="", **common)


@contextlib.contextmanager
def held(deps: Services, hold_seconds: int = HOLD_SECONDS) -> Iterator[list[DeadLetter]]:
    """Every message of the DLQ, hidden from other readers meanwhile and visible again afterwards (except those
    deleted): reading the queue consumes nothing."""
    sqs = deps.clients("sqs")
    url = queue_url(deps)
    found: dict[str, DeadLetter] = {}
    empty = 0
    try:
        while empty < EMPTY_POLLS:
            got = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=hold_seconds,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            fresh = [m for m in got if m["MessageId"] not in found]
            empty = 0 if fresh else empty + 1
            for message in fresh:
                found[message["MessageId"]] = parse(message)
        yield sorted(found.values(), key=lambda d: (d.sent_at or "", d.message_id))
    finally:
        _release(sqs, url, [d for d in found.values() if d.receipt])


def _release(sqs: Any, url: str, letters: list[DeadLetter]) -> None:
    for i in range(0, len(letters), 10):
        entries = [
            {"Id": str(n), "ReceiptHandle": d.receipt, "VisibilityTimeout": 0}
            for n, d in enumerate(letters[i : i + 10])
        ]
        with contextlib.suppress(Exception):  # a message deleted or expired meanwhile: nothing to release
            sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)


def listing(deps: Services) -> list[DeadLetter]:
    with held(deps) as letters:
        return letters


def find(deps: Services, message_id: str) -> DeadLetter:
    with held(deps) as letters:
        for letter in letters:
            if letter.message_id == message_id:
                return letter
    raise DeadLetterNotFoundError(f"no message {message_id} in the {deps.settings.environment} DLQ")


@dataclass
class Outcome:
    message_id: str
    redriven: bool
    function: str | None
    note: str
    deleted: list[str] = field(default_factory=list)  # message ids deleted (the message, and copies of its event)


def redrive(deps: Services, message_ids: list[str] | None) -> list[Outcome]:
    """Hand the events of `message_ids` (None: every message) back to their functions; see the module's notes."""
    sqs, lam = deps.clients("sqs"), deps.clients("lambda")
    url = queue_url(deps)
    prefix = f"deckwatch-{deps.settings.environment}-"
    outcomes: list[Outcome] = []
    with held(deps) as letters:
        by_id = {d.message_id: d for d in letters}
        missing = [m for m in message_ids or [] if m not in by_id]
        if missing:
            raise DeadLetterNotFoundError(f"no message {', '.join(missing)} in the {deps.settings.environment} DLQ")
        chosen = [by_id[m] for m in message_ids] if message_ids is not None else letters
        copies = [d for d in letters if d.kind == "copy"]
        for letter in chosen:
            if letter.kind == "copy":
                if any(_same(letter.event, d.event) for d in letters if d.kind == "destination"):
                    outcomes.append(
                        Outcome(letter.message_id, False, None, "a copy: redriven with its on-failure record")
                    )
                else:
                    outcomes.append(Outcome(letter.message_id, False, None, "Lambda's copy names no function: kept"))
                continue
            if letter.function is None:
                outcomes.append(
                    Outcome(letter.message_id, False, None, f"{letter.kind} message names no function: kept")
                )
                continue
            name = letter.function.rsplit(":", 1)[-1]
            if not name.startswith(prefix):
                outcomes.append(
                    Outcome(letter.message_id, False, name, f"{name} is not a function of this stack: kept")
                )
                continue
            try:
                answer = lam.invoke(
                    FunctionName=letter.function,
                    InvocationType="Event",
                    Payload=json.dumps(letter.event).encode(),
                )
            except Exception as exc:  # noqa: BLE001 - any refusal keeps the message, said in one line
                outcomes.append(
                    Outcome(letter.message_id, False, name, f"not handed off ({type(exc).__name__}: {exc}): kept")
                )
                continue
            if int(answer.get("StatusCode", 0)) != 202:
                outcomes.append(
                    Outcome(letter.message_id, False, name, f"Lambda answered {answer.get('StatusCode')}: kept")
                )
                continue
            deleted = [letter.message_id]
            sqs.delete_message(QueueUrl=url, ReceiptHandle=letter.receipt)
            letter.receipt = ""
            for copy in copies:
                if copy.receipt and _same(copy.event, letter.event):
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=copy.receipt)
                    copy.receipt = ""
                    deleted.append(copy.message_id)
            outcomes.append(
                Outcome(letter.message_id, True, name, "handed back (asynchronous invoke accepted)", deleted)
            )
    return outcomes


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)
