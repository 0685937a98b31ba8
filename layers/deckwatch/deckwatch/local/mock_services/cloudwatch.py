"""CloudWatch as remediation needs it locally, on top of moto's alarms:

- `PutCompositeAlarm` (moto has composite alarms in its model but no API): stored in moto's backend, listed by
  `DescribeAlarms` as CompositeAlarms, and evaluated: the rule (ALARM/OK/INSUFFICIENT_DATA(name), TRUE, FALSE,
  AND, OR, NOT, parentheses) is re-evaluated whenever a child alarm changes state.
- `SetAlarmState` emits the real "CloudWatch Alarm State Change" event (shape: AWS docs, see
  /work/shared/reference/aws-event-fields.md) through the events backend's PutEvents, so that the local runtime
  routes it through the template's rules like EventBridge does; a composite whose state changes emits its own.
  Like CloudWatch, setting the state an alarm already has emits nothing.
- `put_in_state(...)`: the world of a replayed alarm event (the runtime, before it delivers the event): the alarm
  exists and is in the event's state, set quietly (no second event), so that what Deckwatch then reads and waits
  for is what AWS would show.
(Fault injection for every service is in `faults.py`.)
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

_installed = False
_lock = threading.Lock()


# ---------------------------------------------------------------------------------------- composite rules ------
_TOKEN = re.compile(
    r"\s*(\(|\)|AND\b|OR\b|NOT\b|TRUE\b|FALSE\b|(ALARM|OK|INSUFFICIENT_DATA)\s*\(\s*(\"[^\"]*\"|[^)\s]+)\s*\))"
)


class RuleError(ValueError):
    """An alarm rule this evaluator cannot read."""


def _tokens(rule: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = rule.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise RuleError(f"cannot read alarm rule at {text[pos : pos + 30]!r}")
        if m.group(2):
            out.append((m.group(2), m.group(3).strip('"').rsplit(":alarm:", 1)[-1]))
        else:
            out.append((m.group(1), ""))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def children(rule: str) -> set[str]:
    """Names of the alarms a composite rule refers to."""
    return {name for kind, name in _tokens(rule) if name}


def evaluate(rule: str, states: dict[str, str]) -> bool:
    """True when the rule holds for the alarms' current states (an unknown alarm is INSUFFICIENT_DATA)."""
    tokens = _tokens(rule)
    pos = 0

    def expr() -> bool:
        nonlocal pos
        value = term()
        while pos < len(tokens) and tokens[pos][0] == "OR":
            pos += 1
            rhs = term()
            value = value or rhs
        return value

    def term() -> bool:
        nonlocal pos
        value = factor()
        while pos < len(tokens) and tokens[pos][0] == "AND":
            pos += 1
            rhs = factor()
            value = value and rhs
        return value

    def factor() -> bool:
        nonlocal pos
        if pos >= len(tokens):
            raise RuleError(f"alarm rule ends early: {rule!r}")
        kind, name = tokens[pos]
        pos += 1
        if kind == "NOT":
            return not factor()
        if kind == "(":
            value = expr()
            if pos >= len(tokens) or tokens[pos][0] != ")":
                raise RuleError(f"unbalanced parentheses in {rule!r}")
            pos += 1
            return value
        if kind in ("TRUE", "FALSE"):
            return kind == "TRUE"
        if name:
            return states.get(name, "INSUFFICIENT_DATA") == kind
        raise RuleError(f"unexpected {kind!r} in {rule!r}")

    value = expr()
    if pos != len(tokens):
        raise RuleError(f"unexpected {tokens[pos][0]!r} in {rule!r}")
    return value


# ---------------------------------------------------------------------------------------- install --------------
def install() -> None:
    global _installed  # noqa: PLW0603 - moto's classes are process-wide, so is this flag
    with _lock:
        if _installed:
            return
        _patch_composite_api()
        _patch_set_alarm_state()
        _installed = True


def _patch_composite_api() -> None:
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.responses import ActionResult, EmptyResult

    def put_composite_alarm(self: Any) -> ActionResult:
        backend = self.cloudwatch_backend
        name = self._get_param("AlarmName")
        rule = self._get_param("AlarmRule")
        children(rule)  # unreadable -> error now, not at the first evaluation
        alarm = backend.put_metric_alarm(
            name=name,
            namespace=None,
            metric_name=None,
            comparison_operator=None,
            evaluation_periods=None,
            period=None,
            threshold=None,
            statistic=None,
            description=self._get_param("AlarmDescription"),
            dimensions=[],
            alarm_actions=self._get_param("AlarmActions", []),
            ok_actions=self._get_param("OKActions", []),
            insufficient_data_actions=self._get_param("InsufficientDataActions", []),
            actions_enabled=self._get_param("ActionsEnabled", True),
            rule=rule,
            tags=self._get_param("Tags", []),
        )
        states = {a.name: a.state_value for a in backend.alarms.values()}
        alarm.update_state("Unchecked: Initial alarm creation", "{}", "ALARM" if evaluate(rule, states) else "OK")
        return EmptyResult()

    CloudWatchResponse.put_composite_alarm = put_composite_alarm  # type: ignore[attr-defined]


def _patch_set_alarm_state() -> None:
    from moto.cloudwatch.models import CloudWatchBackend

    original = CloudWatchBackend.set_alarm_state

    def set_alarm_state(self: Any, alarm_name: str, reason: str, reason_data: str, state_value: str) -> None:
        alarm = self.alarms.get(alarm_name)
        before = alarm.state_value if alarm is not None else None
        previous = _state_doc(alarm) if alarm is not None else None
        original(self, alarm_name, reason, reason_data, state_value)
        if alarm is None or before == state_value:
            return
        _emit(self, alarm, previous)
        _evaluate_composites(self, alarm)

    CloudWatchBackend.set_alarm_state = set_alarm_state  # type: ignore[method-assign]


def _evaluate_composites(backend: Any, changed: Any) -> None:
    states = {a.name: a.state_value for a in backend.alarms.values()}
    for comp in list(backend.alarms.values()):
        if comp.rule is None or changed.name not in children(comp.rule):
            continue
        new = "ALARM" if evaluate(comp.rule, states) else "OK"
        if new == comp.state_value:
            continue
        previous = _state_doc(comp)
        reason = f"{changed.alarm_arn} transitioned to {changed.state_value} at {_human(changed)}"
        triggering = [
            {"arn": a.alarm_arn, "state": {"value": a.state_value, "timestamp": _ts(a.state_updated_timestamp)}}
            for a in backend.alarms.values()
            if a.name in children(comp.rule) and a.state_value == new
        ]
        comp.update_state(reason, json.dumps({"triggeringAlarms": triggering}), new)
        _emit(backend, comp, previous)
        states[comp.name] = new
        _evaluate_composites(backend, comp)  # composites of composites


def _state_doc(alarm: Any) -> dict[str, Any]:
    doc = {"value": alarm.state_value, "reason": alarm.state_reason, "timestamp": _ts(alarm.state_updated_timestamp)}
    if alarm.state_reason_data and alarm.state_reason_data != "{}":
        doc["reasonData"] = alarm.state_reason_data
    return doc


def _ts(value: Any) -> str:
    """CloudWatch's event timestamps: 2019-10-02T17:04:40.989+0000."""
    from deckwatch import clock

    del value  # moto stamps with the wall clock; the local runtime's simulated clock is the one that counts
    now = clock.now()
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


def _human(alarm: Any) -> str:
    from deckwatch import clock

    del alarm
    return clock.now().strftime("%A %d %B, %Y %H:%M:%S UTC")


def _configuration(alarm: Any) -> dict[str, Any]:
    if alarm.rule is not None:
        return {"alarmRule": alarm.rule, "description": alarm.description or ""}
    metric: dict[str, Any] = {
        "id": "m1",
        "metricStat": {
            "metric": {
                "namespace": alarm.namespace,
                "name": alarm.metric_name,
                "dimensions": {d.name: d.value for d in alarm.dimensions},
            },
            "period": alarm.period,
            "stat": alarm.statistic,
        },
        "returnData": True,
    }
    return {"description": alarm.description or "", "metrics": [metric]}


def _emit(backend: Any, alarm: Any, previous: dict[str, Any] | None) -> None:
    from moto.events.models import events_backends

    state = {"value": alarm.state_value, "reason": alarm.state_reason, "timestamp": _ts(None)}
    if alarm.rule is not None and alarm.state_reason_data and alarm.state_reason_data != "{}":
        state["reasonData"] = alarm.state_reason_data  # composites carry their triggering alarms
    detail: dict[str, Any] = {"alarmName": alarm.name, "state": state, "configuration": _configuration(alarm)}
    if previous is not None:
        detail["previousState"] = previous
    events_backends[backend.account_id][backend.region_name].put_events(
        [
            {
                "Source": "aws.cloudwatch",
                "DetailType": "CloudWatch Alarm State Change",
                "Resources": [alarm.alarm_arn],
                "Detail": json.dumps(detail),
            }
        ]
    )


# ---------------------------------------------------------------------------------------- replayed events ------
def put_in_state(account: str, region: str, detail: dict[str, Any]) -> bool:
    """Make the alarm of a replayed "CloudWatch Alarm State Change" event exist in its event's state, without an
    event of its own (CloudWatch emitted that one already: it is the one being replayed). A missing alarm is created
    from the event's configuration (a composite from its alarmRule). False when the event names no alarm."""
    from moto.cloudwatch.models import cloudwatch_backends

    name, state = detail.get("alarmName"), detail.get("state")
    if not isinstance(name, str) or not name or not isinstance(state, dict):
        return False  # a malformed event: its handler rejects it, the world has nothing to show
    if state.get("value") not in ("OK", "ALARM", "INSUFFICIENT_DATA"):
        return False
    backend: Any = cloudwatch_backends[account][region]
    alarm = backend.alarms.get(name)
    if alarm is None:
        config = detail.get("configuration") or {}
        rule = config.get("alarmRule")
        metric: dict[str, Any] = next(
            (m.get("metricStat", {}) for m in config.get("metrics", []) if m.get("metricStat")), {}
        )
        alarm = backend.put_metric_alarm(
            name=name,
            namespace=None if rule else metric.get("metric", {}).get("namespace", "Deckwatch/Replay"),
            metric_name=None if rule else metric.get("metric", {}).get("name", name),
            comparison_operator=None if rule else "GreaterThanThreshold",
            evaluation_periods=None if rule else 1,
            period=None if rule else int(metric.get("period", 60)),
            threshold=None if rule else 0.0,
            statistic=None if rule else metric.get("stat", "Average"),
            description=config.get("description", ""),
            dimensions=[],
            alarm_actions=[],
            rule=rule,
        )
    if alarm.state_value != state["value"]:
        alarm.update_state(state.get("reason", "replayed"), state.get("reasonData") or "{}", state["value"])
    return True
