"""`deckwatch dlq list|show|redrive --env E` against the embedded AWS, through the caller's AWS configuration like
every account command: reading the DLQ consumes nothing; redrive hands the event back to the function that failed
(asynchronous invoke) and deletes the message only once Lambda accepted it. Redrive is safe and effective: an event
whose first attempt failed is processed (Powertools deleted its in-progress idempotency record when the handler
raised), one already processed does nothing twice, one that fails again is back in the DLQ with its new error."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from deckwatch.local.cli import main
from deckwatch.local.mock_services import faults
from deckwatch.local.runtime import LocalAWS, Report
from support.samples import EVENTS, INVALID, load_event


@pytest.fixture(scope="module")
def rt(local_aws_factory: Callable[..., AbstractContextManager[LocalAWS]]) -> Iterator[LocalAWS]:
    with local_aws_factory("staging") as runtime:
        yield runtime


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def listed(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    code, out, err = cli(capsys, "dlq", "list", "--env", "staging", "--json")
    assert (code, err) == (0, "")
    return [json.loads(line) for line in out.splitlines()]


def message_of(capsys: pytest.CaptureFixture[str], event_id: str) -> dict[str, Any]:
    found = [m for m in listed(capsys) if m["event_id"] == event_id]
    assert len(found) == 1, found
    return found[0]


def redrive(rt: LocalAWS, capsys: pytest.CaptureFixture[str], *ids: str) -> tuple[int, str, Report]:
    """`deckwatch dlq redrive`, and everything the redriven events trigger, run to completion."""
    codes: list[int] = []
    report = rt.act("dlq redrive", lambda: codes.append(main(["dlq", "redrive", *ids, "--env", "staging"])))
    out, err = capsys.readouterr()
    assert err == ""
    return codes[0], out, report


def ops(report: Report) -> list[tuple[str, str]]:
    return [(c["service"], c["operation"]) for c in report.aws_calls]


def idempotency_items(rt: LocalAWS) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = rt.client("dynamodb").scan(TableName=rt.physical["IdempotencyTable"])["Items"]
    return items


def send(rt: LocalAWS, body: Any, **attributes: str) -> str:
    sqs = rt.client("sqs")
    url = sqs.get_queue_url(QueueName="deckwatch-staging-dlq")["QueueUrl"]
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody=json.dumps(body),
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
    )
    return str(sent["MessageId"])


def alarm_function(rt: LocalAWS) -> str:
    return str(rt.functions[rt.physical["AlarmEventsFunction"]]["arn"])


# ---------------------------------------------------------------------------------------------- list, show ------
def test_list_and_show_consume_nothing(rt: LocalAWS, capsys: pytest.CaptureFixture[str]) -> None:
    event = load_event(INVALID / "alarm-missing-fields.json")
    rt.replay(json.dumps(event))
    message = message_of(capsys, event["id"])
    assert (message["kind"], message["function"], message["condition"]) == (
        "destination",
        "deckwatch-staging-alarm-events",
        "RetriesExhausted",
    )
    assert message["error"].startswith("InvalidEventError: malformed event: ")
    assert (message["source"], message["detail_type"]) == (event["source"], event["detail-type"])

    code, out, _ = cli(capsys, "dlq", "show", message["message_id"], "--env", "staging")
    assert code == 0
    shown = json.loads(out)
    assert shown["body"]["requestPayload"] == event  # nothing lost: the event as delivered
    assert shown["body"]["responsePayload"]["errorType"] == "InvalidEventError"

    code, out, _ = cli(capsys, "dlq", "list", "--env", "staging")
    assert code == 0 and message["message_id"] in out and "deckwatch-staging-alarm-events" in out
    # listing released what it read: the message is visible at once, to the next reader
    assert [m for m in rt.dead_letter_messages() if m["requestPayload"].get("id") == event["id"]]


# ------------------------------------------------------------------------------------------------- redrive ------
def test_an_event_whose_first_attempt_failed_is_processed_by_its_redrive(
    rt: LocalAWS, capsys: pytest.CaptureFixture[str]
) -> None:
    event = load_event(EVENTS / "alarm_events" / "alarm-ok.json")
    before = len(idempotency_items(rt))
    faults.inject("dynamodb", "TransactWriteItems", "AccessDenied")  # the ledger write fails: the handler raises
    first = rt.replay(json.dumps(event))
    assert faults.pending_faults() == 0
    assert first.invocations[0]["status"] == "error" and first.ledger == []
    # Powertools deleted the in-progress record when the handler raised: nothing claims the event any more
    assert len(idempotency_items(rt)) == before

    message = message_of(capsys, event["id"])
    assert message["error"].startswith("ClientError: ") and "AccessDenied" in message["error"]
    code, out, report = redrive(rt, capsys, message["message_id"])
    assert code == 0
    assert out.startswith(f"redriven {message['message_id']} -> deckwatch-staging-alarm-events: handed back")
    assert report.invocations == [{"function": "AlarmEventsFunction", "status": "ok", "error": None}]
    assert [(r["decision"], r["event_id"]) for r in report.ledger] == [("resolved", event["id"])]
    assert [m for m in listed(capsys) if m["event_id"] == event["id"]] == []  # deleted after the hand-off
    assert len(idempotency_items(rt)) == before + 1  # processed, once

    # A second copy of the same failure (e.g. redelivered to the DLQ): the event was processed, nothing twice.
    shown = [m for m in rt.dead_letter_messages() if m["requestPayload"].get("id") == event["id"]]
    assert shown == []
    copy_id = send(rt, first_record(rt, event, message))
    code, out, again = redrive(rt, capsys, copy_id)
    assert code == 0 and out.startswith(f"redriven {copy_id}")
    assert again.invocations == [{"function": "AlarmEventsFunction", "status": "ok", "error": None}]
    assert again.ledger == []
    assert ("dynamodb", "TransactWriteItems") not in ops(again) and ("sns", "Publish") not in ops(again)
    assert [m for m in listed(capsys) if m["message_id"] == copy_id] == []


def first_record(rt: LocalAWS, event: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    """The on-failure record of `event`, as Lambda wrote it the first time."""
    return {
        "version": "1.0",
        "timestamp": message["sent_at"],
        "requestContext": {
            "requestId": "copy",
            "functionArn": alarm_function(rt),
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 1,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "ClientError", "errorMessage": message["error"]},
    }


def test_an_event_that_fails_again_is_back_in_the_dlq_with_its_error(
    rt: LocalAWS, capsys: pytest.CaptureFixture[str]
) -> None:
    event = load_event(INVALID / "backup-missing-fields.json")
    first = rt.replay(json.dumps(event))
    assert [r["decision"] for r in first.ledger] == ["rejected"]
    old = message_of(capsys, event["id"])
    code, _, report = redrive(rt, capsys, old["message_id"])
    assert code == 0  # handed off: what happens next is the function's
    assert report.invocations[0]["status"] == "error"
    assert [d["function"] for d in report.dead_letters] == ["BackupEventsFunction"]
    assert report.ledger == []  # its rejection is recorded once (same event, same record)
    new = message_of(capsys, event["id"])
    assert new["message_id"] != old["message_id"]
    assert new["error"] == old["error"]


def test_a_rule_delivery_failure_is_redriven_to_its_target(rt: LocalAWS, capsys: pytest.CaptureFixture[str]) -> None:
    event = load_event(EVENTS / "alarm_events" / "alarm-ok.json")
    message_id = send(
        rt,
        event,
        RULE_ARN="arn:aws:events:us-east-1:123456789012:rule/deckwatch-staging-alarm-events",
        TARGET_ARN=alarm_function(rt),
        ERROR_CODE="Lambda.TooManyRequestsException",
        ERROR_MESSAGE="Rate exceeded",
    )
    message = message_of(capsys, event["id"])
    assert (message["message_id"], message["kind"], message["function"]) == (
        message_id,
        "rule",
        "deckwatch-staging-alarm-events",
    )
    assert message["error"] == "Lambda.TooManyRequestsException: Rate exceeded"
    code, _, report = redrive(rt, capsys, message_id)
    assert code == 0
    assert [(r["decision"], r["event_id"]) for r in report.ledger] == [("resolved", event["id"])]


def test_lambdas_copy_goes_with_its_record_and_is_never_redriven_alone(
    rt: LocalAWS, capsys: pytest.CaptureFixture[str]
) -> None:
    lone = load_event(EVENTS / "alarm_events" / "alarm-ok.json")
    lone_id = send(rt, lone, RequestID="r1", ErrorCode="200", ErrorMessage="Unhandled")
    code, out, report = redrive(rt, capsys, lone_id)
    assert code == 1
    assert out == f"kept     {lone_id} -> -: Lambda's copy names no function: kept\n"
    assert report.invocations == []

    event = load_event(EVENTS / "alarm_events" / "alarm-ok.json")
    faults.inject("dynamodb", "TransactWriteItems", "AccessDenied")
    rt.replay(json.dumps(event))
    copy_id = send(rt, event, RequestID="r2", ErrorCode="200", ErrorMessage="Unhandled")
    record = next(m for m in listed(capsys) if m["event_id"] == event["id"] and m["kind"] == "destination")
    code, out, report = redrive(rt, capsys, record["message_id"])
    assert code == 0 and f"(deleted {record['message_id']}, {copy_id})" in out
    assert len(report.invocations) == 1
    assert [m for m in listed(capsys) if m["event_id"] == event["id"]] == []


def test_a_function_of_another_stack_is_never_invoked(rt: LocalAWS, capsys: pytest.CaptureFixture[str]) -> None:
    event = load_event(EVENTS / "alarm_events" / "alarm-ok.json")
    record = {
        "requestContext": {"functionArn": "arn:aws:lambda:us-east-1:123456789012:function:deckwatch-prod-alarm-events"},
        "requestPayload": event,
        "responsePayload": {"errorType": "X", "errorMessage": "y"},
    }
    message_id = send(rt, record)
    code, out, report = redrive(rt, capsys, message_id)
    assert code == 1
    assert "deckwatch-prod-alarm-events is not a function of this stack: kept" in out
    assert report.invocations == []
    assert message_of(capsys, event["id"])["message_id"] == message_id


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["dlq", "show", "no-such-message", "--env", "staging"], "no message no-such-message in the staging DLQ"),
        (["dlq", "redrive", "no-such-message", "--env", "staging"], "no message no-such-message in the staging DLQ"),
        (["dlq", "redrive", "--env", "staging"], "name the messages (MESSAGE_ID ...) or give --all, not both"),
        (["dlq", "redrive", "m1", "--all", "--env", "staging"], "name the messages (MESSAGE_ID ...) or give --all"),
        (["dlq", "list", "--env", "prod"], "cannot read the prod DLQ: "),
    ],
)
def test_bad_input_exits_2_with_one_line(
    rt: LocalAWS, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""
    (line,) = err.splitlines()
    assert line.startswith("deckwatch: ") and expected in line
