"""Events seen to fail, delivered to their handler in the embedded AWS as Lambda delivers an asynchronous
invocation: each is rejected with a one-line reason, the ledger records the rejection (its keys trimmed to what
DynamoDB accepts) and the DLQ keeps the event as delivered, with its error. `deckwatch replay` answers each with
exit 2 and one line (tests/test_replay_bad_input.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest
from deckwatch import clock
from deckwatch.local.runtime import LocalAWS
from support.bad_events import SEEN_TO_FAIL

FUNCTION = {  # where AWS delivers each of them
    "sns-without-Sns": "CostAlertsFunction",
    "nan-amount": "CostEventsFunction",
    "drill-stop-without-execution": "DrillFunction",
}
EXPECTED_REASON = {
    "100k-deep": "nested deeper than 32 levels",
    "500-deep": "nested deeper than 32 levels (at detail.configuration.a.a...a.a.a)",
    "sns-without-Sns": "the SNS record has no Sns object",
    "200KB-alarm-name": "detail.alarmName: String should have at most 255 characters",
    "3000-char-arn": "resources.0: String should have at most 2048 characters",
    "nan-amount": "detail.impact.totalImpact: nan is not a JSON number",
    "drill-stop-without-execution": "detail.executionArn: Field required",
    "200KB-id": "id: String should have at most 256 characters",
    "id-not-a-string": "id: Input should be a valid string",
    "lone-surrogate": "detail.alarmName: not Unicode text (a lone surrogate)",
}


@pytest.fixture(scope="module")
def rt(local_aws_factory: Callable[..., AbstractContextManager[LocalAWS]]) -> Iterator[LocalAWS]:
    with local_aws_factory("staging") as runtime:
        yield runtime


def test_every_case_has_its_reason() -> None:
    assert set(EXPECTED_REASON) == set(SEEN_TO_FAIL)


@pytest.mark.parametrize("case", sorted(c for c in SEEN_TO_FAIL if c != "100k-deep"))
def test_rejected_recorded_and_dead_lettered(rt: LocalAWS, case: str) -> None:
    event = SEEN_TO_FAIL[case]
    function = FUNCTION.get(case, "AlarmEventsFunction")
    payload = json.dumps(event)  # as Lambda receives it (NaN included: Python's JSON reads it back)

    def deliver() -> None:
        rt.client("lambda").invoke(FunctionName=rt.physical[function], InvocationType="Event", Payload=payload)

    report = rt.act(f"asynchronous invoke of {function}", deliver)

    (invocation,) = report.invocations
    assert (invocation["function"], invocation["status"]) == (function, "error")
    error = str(invocation["error"])
    assert error.startswith("InvalidEventError: malformed event: ")
    assert EXPECTED_REASON[case] in error
    assert "\n" not in error

    (rejection,) = report.ledger
    assert (rejection["kind"], rejection["decision"]) == ("rejection", "rejected")
    assert rejection["reason"] == error.removeprefix("InvalidEventError: ")
    assert len(rejection["subject"].encode()) <= 1024
    assert len(rejection["record_id"].encode()) <= 300
    assert rejection["details"]["event_digest"]

    (dead,) = report.dead_letters
    assert (dead["function"], dead["queue"]) == (function, "DeadLetterQueue")
    kept = [m for m in rt.dead_letter_messages() if json.dumps(m["requestPayload"]) == payload]
    assert len(kept) == 1  # nothing lost: the event as delivered, with its error
    assert kept[0]["responsePayload"]["errorType"] == "InvalidEventError"
    assert kept[0]["requestContext"]["functionArn"].endswith(":" + rt.physical[function])


def test_a_100k_deep_event_is_rejected_into_the_ledger(rt: LocalAWS) -> None:
    """No JSON library of the Lambda runtime reads it back, so it reaches no handler in AWS; handed to the handler
    as an object, it is rejected like the others, without recursing."""
    since = clock.iso()  # simulated time, before the invocation writes its record
    outcome = rt.invoke(rt.physical["AlarmEventsFunction"], SEEN_TO_FAIL["100k-deep"])
    assert not outcome.ok
    assert outcome.error == "InvalidEventError: malformed event: nested deeper than 32 levels (at detail.x.0.0...0.0.0)"
    records = [r for r in rt.ledger_since(since) if r["event_id"] == "seen-to-fail-100k-deep"]
    assert [(r["decision"], r["subject"]) for r in records] == [("rejected", "aws.cloudwatch")]
