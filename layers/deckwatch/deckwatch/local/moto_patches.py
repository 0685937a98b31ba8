"""Every patch Deckwatch applies to moto, in one place (moto is pinned exactly in pyproject.toml).

1. Lambda functions run in-process from their real handler code instead of in Docker
   (`LambdaFunction._invoke_lambda`, the single place moto invokes code).
2. Step Functions Wait states and retry intervals advance the simulated clock instead of sleeping.
3. State machines created by moto's CloudFormation land in the backend that executes them (moto's
   CloudFormation writes to the non-executing backend even when `execute_state_machine` is on), with the
   context-object paths (`$$.`) intact (moto's Fn::Sub uses string.Template, which reads `$$` as an escape:
   `deckwatch.local.template` hides them behind CONTEXT_SENTINEL, restored here).
4. `.waitForTaskToken` waits end in simulated time when the runtime is idle and nobody will answer.
5. Every AWS call that changes state is reported to the runtime (the `aws_calls` of the timeline), and calls are
   served one at a time: moto's backends are not thread-safe, and Step Functions executions run in threads beside
   the handlers (AWS serialises per item; moto would corrupt a table iterated while another thread writes it).
   Lambda Invoke is left outside that lock: it runs a handler, which makes calls of its own.
6. Events put on the default bus (`PutEvents`, e.g. by a handler) are handed to the runtime, which routes them
   through the template's rules to Lambda and Step Functions targets, as EventBridge does (moto delivers only to
   SQS and log targets).
7. A Step Functions execution that ends puts its "Step Functions Execution Status Change" event on the default
   bus, as Step Functions does (moto emits none): e.g. a drill stopped from the console is cleaned up by the rule
   that reacts to ABORTED. The status and the event appear together (under the call lock), so the runtime never
   sees an execution ended without its event queued.
Each patch delegates to `HOOKS`, which the runtime fills in; with no runtime they behave like moto's own.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MOTO_VERSION = "5.2.5"

READ_PREFIXES = (
    "Get",
    "List",
    "Describe",
    "Query",
    "Scan",
    "BatchGet",
    "Head",
    "Search",
    "Test",
    "Lookup",
    "Select",
    "Receive",
    "Filter",
    "Validate",
    "Estimate",
    "Check",
    "Preview",
    "Simulate",
)


@dataclass
class Hooks:
    invoke: Callable[[Any, Any], tuple[str, bool, str]] | None = None
    advance: Callable[[float], None] | None = None
    is_idle: Callable[[], bool] | None = None
    on_call: Callable[[str, str], None] | None = None
    put_event: Callable[[dict[str, Any]], None] | None = None


HOOKS = Hooks()
CONTEXT_SENTINEL = "__deckwatch_context_object__"
_applied = False
_lock = threading.Lock()
_moto_lock = threading.RLock()


def is_mutating(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


def apply() -> None:
    """Install the patches once per process (idempotent)."""
    global _applied  # noqa: PLW0603 - moto's classes are process-wide, so is this flag
    with _lock:
        if _applied:
            return
        import moto

        if moto.__version__ != MOTO_VERSION:
            raise RuntimeError(f"deckwatch.local needs moto=={MOTO_VERSION}, found {moto.__version__}")
        _patch_lambda()
        _patch_waits()
        _patch_callbacks()
        _patch_cfn_state_machines()
        _patch_put_events()
        _patch_call_recording()
        _patch_execution_events()
        _applied = True


def _patch_lambda() -> None:
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction._invoke_lambda

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        if HOOKS.invoke is None:
            return original(self, event)
        return HOOKS.invoke(self, event)

    LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]


def _sleep(seconds: float) -> None:
    if HOOKS.advance is None:
        time.sleep(seconds)
    else:
        HOOKS.advance(seconds)


class _SimulatedTime:
    """Stands in for the `time` module inside moto's retrier: `sleep` advances the simulated clock."""

    sleep = staticmethod(_sleep)
    monotonic = staticmethod(time.monotonic)


def _patch_waits() -> None:
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    retrier_decl.time = _SimulatedTime  # type: ignore[attr-defined,assignment]
    original = WaitFunction._wait_interval

    def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        if HOOKS.advance is None:
            original(self, env=env, wait_seconds=wait_seconds)
        elif wait_seconds > 0:
            HOOKS.advance(wait_seconds)

    WaitFunction._wait_interval = _wait_interval  # type: ignore[method-assign]


def _patch_callbacks() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )

    original = StateTaskServiceCallback._wait_for_task_token_timeout

    def _wait(self: Any, timeout_seconds: int, callback_endpoint: Any) -> Any:
        if HOOKS.is_idle is None or HOOKS.advance is None:
            return original(self, timeout_seconds, callback_endpoint)
        while True:
            outcome = callback_endpoint.wait(timeout=0.02)
            if outcome is not None:
                return outcome
            if HOOKS.is_idle():
                HOOKS.advance(timeout_seconds)  # nobody will answer: the task times out, in simulated time
                return None

    StateTaskServiceCallback._wait_for_task_token_timeout = _wait  # type: ignore[method-assign]


def _patch_call_recording() -> None:
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.__call__

    def __call__(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:  # noqa: N807
        # event_name is "before-send.<service>.<Operation>"
        parts = event_name.split(".")
        if HOOKS.on_call is not None and len(parts) >= 3 and is_mutating(parts[2]):
            HOOKS.on_call(parts[1], parts[2])
        if parts[1:3] == ["lambda", "Invoke"]:
            return original(self, event_name, request, **kwargs)
        with _moto_lock:
            return original(self, event_name, request, **kwargs)

    BotocoreStubber.__call__ = __call__  # type: ignore[method-assign]


def _patch_cfn_state_machines() -> None:
    from moto.stepfunctions import models
    from moto.stepfunctions.responses import get_backend
    from moto.stepfunctions.utils import cfn_to_api_tags

    def create_from_cloudformation_json(
        cls: Any, /, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        props = cloudformation_json["Properties"]
        return get_backend(account_id, region_name).create_state_machine(
            props.get("StateMachineName", resource_name),
            props.get("DefinitionString", "").replace(CONTEXT_SENTINEL, "$$"),
            props.get("RoleArn", ""),
            tags=cfn_to_api_tags(props.get("Tags", [])),
        )

    models.StateMachine.create_from_cloudformation_json = classmethod(  # type: ignore[method-assign,assignment]
        create_from_cloudformation_json
    )


def _patch_put_events() -> None:
    from moto.events.models import EventsBackend

    original = EventsBackend.put_events

    def put_events(self: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = original(self, events)
        if HOOKS.put_event is None:
            return entries
        from deckwatch import clock

        for entry, event in zip(entries, events, strict=False):
            if "EventId" not in entry:
                continue
            HOOKS.put_event(
                {
                    "version": "0",
                    "id": entry["EventId"],
                    "detail-type": event["DetailType"],
                    "source": event["Source"],
                    "account": self.account_id,
                    "time": clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "region": self.region_name,
                    "resources": event.get("Resources", []),
                    "detail": json.loads(event["Detail"]),
                }
            )
        return entries

    EventsBackend.put_events = put_events  # type: ignore[method-assign]

    # moto raises NotImplementedError for rules targeting Lambda or Step Functions; with a runtime those events
    # are the runtime's to route (above), so moto delivers only to the targets it supports.
    from moto.events.models import Rule

    original_send = Rule.send_to_targets

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        if HOOKS.put_event is None:
            return original_send(self, original_event, transform_input)
        saved = self.targets
        self.targets = [t for t in saved if str(t.get("Arn", "")).split(":")[2:3] not in (["lambda"], ["states"])]
        try:
            return original_send(self, original_event, transform_input)
        finally:
            self.targets = saved

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]


def executions(account: str, region: str) -> list[tuple[str, str, str, str]]:
    """(state machine ARN, execution ARN, name, status) of every execution, read from moto's backend directly: the
    runtime asks many times a second while it waits, and moto's API would serialise all of them each time."""
    from moto.stepfunctions.responses import get_backend

    with _moto_lock:
        backend = get_backend(account, region)
        return [
            (sm.arn, e.execution_arn, e.name, str(e.status))
            for sm in backend.state_machines
            # newest first, as ListExecutions orders them
            for e in sorted(sm.executions, key=lambda x: x.start_date, reverse=True)
        ]


def count_keys(account: str, region: str, table: str, prefix: str) -> int:
    """How many items of a hash-key-only table have a key starting with `prefix`, read from moto's backend: a Scan
    would copy every item of the table, many times a second."""
    from moto.dynamodb.models import dynamodb_backends

    with _moto_lock:
        items = dynamodb_backends[account][region].get_table(table).items
        return sum(1 for key in items if str(getattr(key, "value", key)).startswith(prefix))


def _patch_execution_events() -> None:
    from moto.events.models import events_backends
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    original = BaseExecutionWorkerCommunication.terminated

    def terminated(self: Any) -> None:
        if HOOKS.put_event is None:
            return original(self)
        with _moto_lock:
            original(self)
            execution = self.execution
            detail = {
                "executionArn": execution.exec_arn,
                "stateMachineArn": execution.state_machine.arn,
                "name": execution.name,
                "status": str(getattr(execution.exec_status, "value", execution.exec_status)),
                "startDate": _epoch_ms(execution.start_date),
                "stopDate": _epoch_ms(execution.stop_date),
                "input": execution.input_data
                if isinstance(execution.input_data, str)
                else json.dumps(execution.input_data),
                "output": None if execution.output is None else json.dumps(execution.output),
                "error": getattr(execution, "error", None),
                "cause": getattr(execution, "cause", None),
            }
            events_backends[execution.account_id][execution.region_name].put_events(
                [
                    {
                        "Source": "aws.states",
                        "DetailType": "Step Functions Execution Status Change",
                        "Resources": [execution.exec_arn],
                        "Detail": json.dumps(detail),
                    }
                ]
            )
        return None

    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]


def _epoch_ms(value: Any) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)
