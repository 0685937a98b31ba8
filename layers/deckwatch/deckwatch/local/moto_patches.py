"""Every patch Deckwatch applies to moto, in one place (moto is pinned exactly in pyproject.toml).

1. Lambda functions run in-process from their real handler code instead of in Docker
   (`LambdaFunction._invoke_lambda`, the single place moto invokes code); `LambdaFunction.invoke` tells the runtime
   the invocation type, so that an asynchronous Invoke that fails reaches the function's on-failure destination.
2. Step Functions executions run as actors of the runtime's scheduler (`local/scheduler.py`): each in one thread
   (a Task state's body runs inline, not in a thread of its own), Wait states (Seconds or Timestamp, counted from
   the simulated clock) and retry intervals block in simulated time instead of sleeping, and StopExecution wakes
   a blocked execution. botocore's own retry sleeps move the simulated clock on.
3. State machines created by moto's CloudFormation land in the backend that executes them (moto's
   CloudFormation writes to the non-executing backend even when `execute_state_machine` is on), with the
   context-object paths (`$$.`) intact (moto's Fn::Sub uses string.Template, which reads `$$` as an escape:
   `deckwatch.local.template` hides them behind CONTEXT_SENTINEL, restored here).
4. `.waitForTaskToken` waits block in the scheduler until the task token is answered (the answer wakes the
   execution before SendTaskSuccess returns) or until their timeout in simulated time.
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
8. IAM is enforced (`local/iam.py`): every client call is remembered with its parameters while it is made
   (`BaseClient._make_api_call`, `CURRENT_CALL`), and the request hook asks the runtime (`HOOKS.authorize`) whether
   the caller's credentials allow it before moto serves it; a denied call gets AWS's error response. A Step
   Functions execution's own calls (its Lambda tasks) carry moto's fixed engine credentials: the execution's thread
   names its role (`EXECUTION.role_arn`).
9. An output whose Condition does not hold is not exported either (moto exports every output's Export).
10. Speed, with moto's behaviour unchanged: every botocore session shares one data loader (moto builds sessions to
   list regions, at import and per account; each would read the endpoint and service models again), and an
   ASL definition is parsed once per process (moto parses it at creation and again at every execution start; the
   parsed program holds no per-execution state).
11. Speed, same results: a Query on a table's own key reads only its partition. moto's `Table.query` walks
   `all_items()`, which sorts every item of the table, then keeps the queried hash key: each ledger write's chain-head
   Query cost time in proportion to the whole ledger (an alarm storm slowed as it went). The query still filters
   and sorts the partition itself. An index query still reads every item but skips that first sort: it sorts
   what it keeps by the index's keys and then the table's, a total order, so the answer is the same.
12. Speed, same clients: a botocore client class is built once per service and set of class hooks, not once per
   client (botocore builds a class with a method per operation for every client; the runtime makes a few hundred
   clients, one set per function container and credentials), and moto lists a response class's methods once,
   not on every request (`method_names_from_class`, an `inspect.getmembers` walk per call).
13. Speed, same answers: a DynamoDB item's size is checked once when moto builds the item, not again for every
   attribute inserted (moto's `LimitedSizeDict` sums the whole item at each insert: quadratic in its attributes, a
   ledger record has about twenty). The limit, the sizes and the error (ItemSizeTooLarge) are moto's own.
14. Speed, same events: botocore's event names are aliased (`EventAliaser`) through a cache that starts empty for
   every client, so each new client splits every event name against the whole alias table again (2.7 million
   `list.index` calls in 41 fault-matrix cases); the cache is shared by the aliasers that use botocore's own table.
   Whether a handler accepts `**kwargs` (checked at each registration, an `inspect` signature per handler and client)
   is remembered per function.
Each patch delegates to `HOOKS`, the one binding between moto's process-wide classes and the runtime that is
active in this process (one at a time; tests run in parallel as processes). With no runtime they behave like
moto's own.
"""

from __future__ import annotations

import contextvars
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deckwatch.local.mock_services import Mocks
    from deckwatch.local.runtime import LocalAWS
    from deckwatch.local.scheduler import Scheduler

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
    """The runtime bound to moto's process-wide classes (all None when none is running)."""

    runtime: LocalAWS | None = None
    invoke: Callable[[Any, Any], tuple[str, bool, str]] | None = None
    scheduler: Scheduler | None = None
    mocks: Mocks | None = None
    on_call: Callable[[str, str], None] | None = None
    put_event: Callable[[dict[str, Any]], None] | None = None
    authorize: Callable[[ApiCall, Any], Any] | None = None  # (call, request) -> AWS's error response, or None

    def clear(self) -> None:
        self.runtime = self.invoke = self.scheduler = self.mocks = self.on_call = self.put_event = None
        self.authorize = None


@dataclass(frozen=True)
class ApiCall:
    """A client call being made: botocore's service model, the operation and the caller's parameters."""

    service_model: Any
    operation: str
    params: Mapping[str, Any]
    region: str


# The call the current thread is making (set for the duration of BaseClient._make_api_call).
CURRENT_CALL: contextvars.ContextVar[ApiCall | None] = contextvars.ContextVar("deckwatch_api_call", default=None)
# The role of the Step Functions execution an actor thread runs (`role_arn`), for the engine's own calls.
EXECUTION = threading.local()


HOOKS = Hooks()
# Parsed ASL programs by definition text (the runtime's snapshot carries those of its stack: no parsing at replay).
PROGRAMS: dict[str, Any] = {}
CONTEXT_SENTINEL = "__deckwatch_context_object__"
_applied = False
_lock = threading.Lock()
_moto_lock = threading.RLock()


def lock() -> threading.RLock:
    """The lock moto's backends are served under (patch 5), for the runtime's direct changes to them."""
    return _moto_lock


def is_mutating(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


def apply() -> None:
    """Install the patches once per process (idempotent)."""
    global _applied  # noqa: PLW0603 - moto's classes are process-wide, so is this flag
    with _lock:
        if _applied:
            return
        shared_loader()
        import moto

        if moto.__version__ != MOTO_VERSION:
            raise RuntimeError(f"deckwatch.local needs moto=={MOTO_VERSION}, found {moto.__version__}")
        _patch_lambda()
        _patch_executions()
        _patch_waits()
        _patch_callbacks()
        _patch_cfn_state_machines()
        _patch_put_events()
        _patch_call_recording()
        _patch_api_calls()
        _patch_output_conditions()
        _patch_execution_events()
        _patch_table_queries()
        _patch_class_building()
        _patch_item_size()
        _patch_event_hooks()
        _applied = True


def _patch_lambda() -> None:
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction._invoke_lambda
    original_invoke = LambdaFunction.invoke

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        if HOOKS.invoke is None:
            return original(self, event)
        return HOOKS.invoke(self, event)

    def invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
        # which kind of Invoke runs the handler: an asynchronous one ("Event") that fails goes to the function's
        # on-failure destination, as Lambda does (the runtime reads it in HOOKS.invoke)
        _INVOCATION.type = (request_headers or {}).get("X-Amz-Invocation-Type", "RequestResponse")
        try:
            return original_invoke(self, body, request_headers, response_headers)
        finally:
            _INVOCATION.type = None

    LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]
    LambdaFunction.invoke = invoke  # type: ignore[method-assign]


_INVOCATION = threading.local()


def invocation_type() -> str | None:
    """The InvocationType of the Lambda Invoke running on this thread ("Event", "RequestResponse"), or None when
    the runtime itself runs the handler (its deliveries) or moto invokes it otherwise (a Step Functions task)."""
    return getattr(_INVOCATION, "type", None)


def shared_loader() -> None:
    """One botocore data loader for every session in the process (patch 8); safe before anything is imported."""
    import functools

    import botocore.loaders
    import botocore.session

    if not getattr(botocore.session.create_loader, "_deckwatch_shared", False):
        original = botocore.loaders.create_loader

        def create_loader(search_path_string: Any = None) -> Any:
            loader = original(search_path_string)
            # every boto3 Session appends its data folder to its loader's paths: once is enough for a shared one
            loader._search_paths = _UniquePaths(loader.search_paths)  # type: ignore[attr-defined]
            return loader

        shared = functools.lru_cache(maxsize=None)(create_loader)
        shared._deckwatch_shared = True  # type: ignore[attr-defined]
        botocore.session.create_loader = shared


class _UniquePaths(list[str]):
    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


def _sleep(seconds: float) -> None:
    scheduler = HOOKS.scheduler
    if scheduler is None:
        time.sleep(seconds)
    else:
        scheduler.sleep(seconds, f"retry interval of {seconds:g}s")


class _SimulatedTime:
    """Stands in for the `time` module inside moto's retrier: `sleep` waits in simulated time."""

    sleep = staticmethod(_sleep)
    monotonic = staticmethod(time.monotonic)
    time = staticmethod(time.time)


def _clock_sleep(seconds: float) -> None:
    """botocore's retry backoff inside a handler: the simulated clock moves on, nothing blocks (a handler may hold
    the function runner, which the driver needs)."""
    scheduler = HOOKS.scheduler
    if scheduler is None:
        time.sleep(seconds)
    else:
        scheduler.clock.advance(seconds)


class _BotocoreTime:
    sleep = staticmethod(_clock_sleep)
    monotonic = staticmethod(time.monotonic)
    perf_counter = staticmethod(time.perf_counter)
    time = staticmethod(time.time)


def _patch_executions() -> None:
    """Executions are scheduler actors (one thread each); a Task state's body runs inline; parsing is cached."""
    import copy

    import botocore.endpoint
    from moto.stepfunctions.parser.asl.component.program.program import Program
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker, SyncExecutionWorker

    botocore.endpoint.time = _BotocoreTime  # type: ignore[attr-defined]

    original_start = ExecutionWorker.start
    original_stop = ExecutionWorker.stop

    def start(self: Any) -> None:
        scheduler = HOOKS.scheduler
        if scheduler is None or isinstance(self, SyncExecutionWorker):
            original_start(self)  # type: ignore[no-untyped-call]
            return

        def logic() -> None:
            self._deckwatch_thread = threading.get_ident()
            EXECUTION.role_arn = self._evaluation_details.execution_details.role_arn
            self._execution_logic()

        name = self._evaluation_details.execution_details.name
        scheduler.spawn(logic, name=f"execution-{name}")
        return None

    def stop(self: Any, stop_date: Any, error: str | None, cause: str | None) -> None:
        original_stop(self, stop_date=stop_date, error=error, cause=cause)
        if HOOKS.scheduler is not None:
            HOOKS.scheduler.wake_thread(getattr(self, "_deckwatch_thread", None))

    ExecutionWorker.start = start  # type: ignore[method-assign]
    ExecutionWorker.stop = stop  # type: ignore[method-assign]

    original_evaluate = ExecutionState._evaluate_with_timeout

    def _evaluate_with_timeout(self: Any, env: Any) -> None:
        """moto's body, minus the thread: the state's timeout is enforced where it waits (callbacks), and a Lambda
        task's real duration is the handler's, which has no timeout in simulated time."""
        if HOOKS.scheduler is None:
            return original_evaluate(self, env)
        self.timeout.eval(env=env)
        env.stack.pop()
        frame = env.open_frame()
        frame.states.reset(input_value=env.states.get_input())
        frame.stack = copy.deepcopy(env.stack)
        try:
            self._eval_execution(frame)
            outputs = list(frame.stack)
        finally:
            frame.set_ended()
            env.close_frame(frame)
        execution_output = outputs.pop()
        env.stack.append(execution_output)
        if not self._is_language_query_jsonpath():
            env.states.set_result(execution_output)
        if self.assign_decl:
            self.assign_decl.eval(env=env)
        if self.result_selector:
            self.result_selector.eval(env=env)
        if self.result_path:
            self.result_path.eval(env)
        else:
            res = env.stack.pop()
            env.states.reset(input_value=res)
        return None

    ExecutionState._evaluate_with_timeout = _evaluate_with_timeout  # type: ignore[method-assign]

    original_program_eval = Program.eval

    def program_eval(self: Any, env: Any) -> None:
        """moto's, minus the worker thread: the execution's own thread runs it; its TimeoutSeconds is a timer."""
        scheduler = HOOKS.scheduler
        if scheduler is None:
            return original_program_eval(self, env)
        env.next_state_name = self.start_at.start_at_name
        timer = None
        if self.timeout_seconds:
            ident = threading.get_ident()

            def time_out() -> None:
                env.set_timed_out()
                scheduler.wake_thread(ident)

            timer = scheduler.call_later(self.timeout_seconds.timeout_seconds, time_out, "execution TimeoutSeconds")
        try:
            super(Program, self).eval(env)
        finally:
            if timer is not None:
                scheduler.cancel(timer)
        return None

    Program.eval = program_eval  # type: ignore[method-assign]

    parse = AmazonStateLanguageParser.parse
    parsed: dict[str, Any] = {}

    def cached_parse(definition: str) -> Any:
        found = parsed.get(definition)
        if found is None:
            found = parsed[definition] = parse(definition)
            PROGRAMS.setdefault(definition, found[0])
        return found

    AmazonStateLanguageParser.parse = staticmethod(cached_parse)  # type: ignore[method-assign]

    def entrypoint(self: Any) -> Any:
        definition = self._evaluation_details.state_machine_details.definition
        program = PROGRAMS.get(definition)
        return program if program is not None else cached_parse(definition)[0]

    ExecutionWorker._get_evaluation_entrypoint = entrypoint  # type: ignore[method-assign]


def _patch_waits() -> None:
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    retrier_decl.time = _SimulatedTime  # type: ignore[attr-defined,assignment]
    original = WaitFunction._wait_interval

    def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        scheduler = HOOKS.scheduler
        if scheduler is None:
            original(self, env=env, wait_seconds=wait_seconds)
        elif wait_seconds > 0 and env.is_running():
            from deckwatch.local.scheduler import Waiter

            scheduler.block(Waiter(f"Wait state of {wait_seconds}s"), wait_seconds)  # StopExecution wakes it

    WaitFunction._wait_interval = _wait_interval  # type: ignore[method-assign]

    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp import Timestamp

    original_seconds = Timestamp._get_wait_seconds

    def _get_wait_seconds(self: Any, env: Any) -> int:
        """A Wait until a timestamp counts from the simulated clock (moto subtracts its naive local now from the
        UTC timestamp, which is also wrong wherever local time is not UTC)."""
        scheduler = HOOKS.scheduler
        if scheduler is None:
            return int(original_seconds(self, env))
        self.string.eval(env=env)
        text: str = env.stack.pop()
        moment = self._from_timestamp_string(timestamp=text)
        if moment is None:
            from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
                FailureEventException,
            )

            raise FailureEventException(self._create_failure_event(env, text))
        import calendar
        import math

        # rounded up: Step Functions moves on at the timestamp or after it, never a fraction of a second before
        return math.ceil(calendar.timegm(moment.timetuple()) - scheduler.clock.time())

    Timestamp._get_wait_seconds = _get_wait_seconds  # type: ignore[method-assign]


def _patch_callbacks() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )
    from moto.stepfunctions.parser.asl.eval.callback.callback import (
        CallbackConsumerTimeout,
        CallbackEndpoint,
        CallbackNotifyConsumerError,
    )

    original = StateTaskServiceCallback._wait_for_task_token_timeout

    def _wait(self: Any, timeout_seconds: int, callback_endpoint: Any) -> Any:
        scheduler = HOOKS.scheduler
        if scheduler is None:
            return original(self, timeout_seconds, callback_endpoint)
        from deckwatch.local.scheduler import Waiter

        waiter = Waiter(f"task token {callback_endpoint.callback_id[:12]} (timeout {timeout_seconds}s)")
        callback_endpoint._deckwatch_waiter = waiter  # set before the check below: an answer after it wakes us
        if callback_endpoint.get_outcome() is None:
            scheduler.block(waiter, timeout_seconds)
        return callback_endpoint.get_outcome()  # None: timed out in simulated time

    StateTaskServiceCallback._wait_for_task_token_timeout = _wait  # type: ignore[method-assign]

    original_notify = CallbackEndpoint.notify
    original_interrupt = CallbackEndpoint.interrupt_all

    def notify(self: Any, outcome: Any) -> None:
        if self.get_outcome() is not None:
            # AWS answers a second SendTaskSuccess/Failure for a token with TaskTimedOut ("Provided task does not
            # exist anymore"); moto would overwrite the first answer
            raise CallbackNotifyConsumerError(callback_consumer_error=CallbackConsumerTimeout())
        original_notify(self, outcome)
        waiter = getattr(self, "_deckwatch_waiter", None)
        if waiter is not None and HOOKS.scheduler is not None:
            HOOKS.scheduler.wake(waiter)

    def interrupt_all(self: Any) -> None:
        original_interrupt(self)
        waiter = getattr(self, "_deckwatch_waiter", None)
        if waiter is not None and HOOKS.scheduler is not None:
            HOOKS.scheduler.wake(waiter)

    CallbackEndpoint.notify = notify  # type: ignore[method-assign]
    CallbackEndpoint.interrupt_all = interrupt_all  # type: ignore[method-assign]


def _patch_call_recording() -> None:
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.__call__

    def __call__(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:  # noqa: N807
        # event_name is "before-send.<service>.<Operation>"
        parts = event_name.split(".")
        authorize = HOOKS.authorize
        call = CURRENT_CALL.get()
        if authorize is not None and call is not None and parts[2:3] == [call.operation]:
            with _moto_lock:
                denied = authorize(call, request)
            if denied is not None:
                return denied
        if HOOKS.on_call is not None and len(parts) >= 3 and is_mutating(parts[2]):
            HOOKS.on_call(parts[1], parts[2])
        if parts[1:3] == ["lambda", "Invoke"]:
            return original(self, event_name, request, **kwargs)
        with _moto_lock:
            return original(self, event_name, request, **kwargs)

    BotocoreStubber.__call__ = __call__  # type: ignore[method-assign]


def _patch_api_calls() -> None:
    """Remember the call a client is making (its parameters, which the request hook cannot read back)."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def _make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        meta = self.meta
        token = CURRENT_CALL.set(ApiCall(meta.service_model, operation_name, api_params, meta.region_name))
        try:
            return original(self, operation_name, api_params)
        finally:
            CURRENT_CALL.reset(token)

    BaseClient._make_api_call = _make_api_call  # type: ignore[attr-defined]


def _patch_output_conditions() -> None:
    from moto.cloudformation.parsing import OutputMap

    original = OutputMap.exports

    def exports(self: Any) -> list[Any]:
        conditions = self._resource_map.lazy_condition_map
        kept = {
            name: value
            for name, value in (self._output_json_map or {}).items()
            if "Condition" not in value or conditions[value["Condition"]]
        }
        saved, self._output_json_map = self._output_json_map, kept
        try:
            return list(original.fget(self))  # type: ignore[attr-defined]
        finally:
            self._output_json_map = saved

    OutputMap.exports = property(exports)  # type: ignore[assignment,method-assign]


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


_partition = threading.local()  # (table, hash key) of the main-table Query being served (patch 11)


def _patch_table_queries() -> None:
    from moto.dynamodb.models.table import Table

    original_all_items, original_query = Table.all_items, Table.query

    def all_items(self: Any) -> list[Any]:
        wanted = getattr(_partition, "key", None)
        if wanted is None or wanted[0] is not self:
            return original_all_items(self)
        if wanted[1] is None:  # an index query: it sorts what it keeps by the index's and the table's keys
            values = self.items.values()
            return [i for part in values for i in part.values()] if self.range_key_attr else list(values)
        part = self.items.get(wanted[1])  # .get: the table's defaultdict must not grow a partition on a read
        if part is None:
            return []
        return list(part.values()) if self.range_key_attr else [part]

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        _partition.key = (self, None if index_name or hash_key is None else hash_key)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _partition.key = None

    all_items.__wrapped__ = original_all_items  # type: ignore[attr-defined]  # the test compares with moto's own
    query.__wrapped__ = original_query  # type: ignore[attr-defined]
    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]


def _patch_class_building() -> None:
    import functools

    import moto.core.responses
    from botocore.client import ClientCreator

    creator: Any = ClientCreator  # private names, typed loosely on purpose
    responses: Any = moto.core.responses
    original = creator._create_client_class
    classes: dict[tuple[Any, ...], type] = {}

    def _create_client_class(self: Any, service_name: str, service_model: Any) -> type:
        # the class depends on the service's model and on the handlers of `creating-client-class` (boto3 adds
        # S3's transfer methods through a closure of its own per session: those clients are simply not shared)
        emitter = getattr(self._event_emitter, "_emitter", self._event_emitter)
        event = f"creating-client-class.{service_model.service_id.hyphenize()}"
        key = (service_name, service_model.api_version, tuple(emitter._handlers.prefix_search(event)))
        found = classes.get(key)
        if found is None:
            found = classes.setdefault(key, original(self, service_name, service_model))
        return found

    _create_client_class.__wrapped__ = original  # type: ignore[attr-defined]
    creator._create_client_class = _create_client_class
    responses.method_names_from_class = functools.lru_cache(maxsize=None)(responses.method_names_from_class)


def _patch_item_size() -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    original = Item.__init__

    def init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key, self.range_key = hash_key, range_key
        built = LimitedSizeDict.__new__(LimitedSizeDict)
        dict.__init__(built)
        size = 0
        for key, value in attrs.items():
            typed = DynamoType(value)
            size += bytesize(key) + typed.size()
            dict.__setitem__(built, key, typed)
        if size > ITEM_SIZE_LIMIT:  # what LimitedSizeDict.__setitem__ checks, for the whole item at once
            raise ItemSizeTooLarge
        self.attrs = built

    init.__wrapped__ = original  # type: ignore[attr-defined]  # the test compares with moto's own
    Item.__init__ = init  # type: ignore[method-assign]


def _patch_event_hooks() -> None:
    import types
    import weakref

    import botocore.hooks

    hooks: Any = botocore.hooks  # private names, typed loosely on purpose
    original_init = hooks.EventAliaser.__init__
    original_accepts = hooks.accepts_kwargs
    shared: dict[str, str] = {}  # event name -> aliased name, for botocore's own alias table
    accepts: weakref.WeakKeyDictionary[Any, str | None] = weakref.WeakKeyDictionary()  # its **kwargs name

    def init(self: Any, event_emitter: Any, event_aliases: Any = None) -> None:
        original_init(self, event_emitter, event_aliases)
        if self._event_aliases == hooks.EVENT_ALIASES:  # a client's aliaser holds a copy of the table
            self._alias_name_cache = shared

    def accepts_kwargs(func: Any) -> Any:
        function = func.__func__ if isinstance(func, types.MethodType) else func
        if not isinstance(function, types.FunctionType):
            return original_accepts(func)
        if function not in accepts:
            accepts[function] = original_accepts(func)
        return accepts[function]

    init.__wrapped__ = original_init  # type: ignore[attr-defined]
    accepts_kwargs.__wrapped__ = original_accepts  # type: ignore[attr-defined]
    hooks.EventAliaser.__init__ = init
    hooks.accepts_kwargs = accepts_kwargs


ITEM_SIZE_LIMIT = 405000  # moto's LimitedSizeDict: between DynamoDB's measured 409 and 410 KB
