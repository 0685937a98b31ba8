"""Events seen to fail before the intake was hardened, as the handlers would receive them (Python objects): used by
the property tests (tests/test_event_properties.py) and the embedded-AWS tests (tests/test_bad_events.py)."""

from __future__ import annotations

import json
from typing import Any

from support.samples import EVENTS


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def alarm(**changes: Any) -> dict[str, Any]:
    doc = json.loads((EVENTS / "alarm_events/alarm-metric.json").read_text(encoding="utf-8"))
    for key, value in changes.items():
        target = doc["detail"] if key in ("alarmName", "configuration") else doc
        target[key] = value
    return doc


def seen_to_fail() -> dict[str, Any]:
    anomaly = json.loads((EVENTS / "cost_events/anomaly-detected.json").read_text(encoding="utf-8"))
    anomaly["detail"]["impact"]["totalImpact"] = float("nan")
    stop = json.loads((EVENTS / "drill/execution-aborted.json").read_text(encoding="utf-8"))
    del stop["detail"]["executionArn"]
    deep_config: dict[str, Any] = {}
    cursor = deep_config
    for _ in range(500):
        cursor["a"] = {}
        cursor = cursor["a"]
    cases: dict[str, Any] = {
        "100k-deep": {"id": "deep", "source": "aws.cloudwatch", "detail-type": "x", "detail": {"x": nested(100_000)}},
        "sns-without-Sns": {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0"}]},
        "200KB-alarm-name": alarm(alarmName="a" * 200 * 1024),
        "3000-char-arn": alarm(resources=["arn:aws:cloudwatch:us-east-1:123456789012:alarm:" + "x" * 3000]),
        "nan-amount": anomaly,
        "500-deep": alarm(configuration=deep_config),
        "drill-stop-without-execution": stop,
        "200KB-id": alarm(id="i" * 200 * 1024),
        "id-not-a-string": alarm(id={"not": "a string"}),
        "lone-surrogate": alarm(alarmName="cpu-\ud800"),
    }
    for name, event in cases.items():  # one id per case: the ledger records one rejection per event id
        if isinstance(event.get("id"), str) and len(event["id"]) < 100:
            event["id"] = f"seen-to-fail-{name}"
    return cases


SEEN_TO_FAIL = seen_to_fail()
