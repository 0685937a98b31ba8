"""Faults and reactions of the world, for every service the embedded AWS serves:

- `inject(service, operation, code, times, caller=..., skip=...)`: the next `times` calls of that operation fail.
  `code` is an AWS error code ("Throttling", "AccessDenied", "InternalFailure"...; see KINDS for the four kinds
  the fault matrix uses) shaped for the service's protocol (JSON, query/XML, REST-XML, CBOR), so that botocore
  raises the ClientError it raises in AWS and retries what it retries there; or "timeout-after-apply": the call
  is applied, then its answer is lost (botocore's ReadTimeoutError, which it retries like AWS's SDK does).
  `caller` aims at the calls one function's handler makes (`functions.current_function`), `skip` lets that many
  matching calls through first.
- `recover_on(service, operation, alarm, state)`: after a successful call of that operation (a remediation's
  fix), the alarm goes to `state` and emits its event, as the real metric would once the fix takes effect.
- `trace()`: record every call the control plane's handlers make (service, operation, function), reads too:
  what the fault matrix walks through.

Services are named as botocore's event names name them (its service id: "ecs", "dynamodb", "sfn",
"elastic-load-balancing-v2"...) or by their client name ("elbv2"); both match. The state (`FaultState`) belongs
to the running embedded AWS; the patch on moto's request dispatcher is installed once per process.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

_installed = False
_lock = threading.Lock()
TIMEOUT_AFTER_APPLY = "timeout-after-apply"
# the fault matrix's four kinds: code per protocol family (JSON-like, XML-like) and HTTP status
KINDS: dict[str, tuple[str, str, int]] = {
    "throttle": ("ThrottlingException", "Throttling", 400),
    "5xx": ("InternalFailure", "InternalFailure", 500),
    "denied": ("AccessDeniedException", "AccessDenied", 403),
    TIMEOUT_AFTER_APPLY: ("", "", 0),
}
_JSON_CODES = {"Throttling": "ThrottlingException", "AccessDenied": "AccessDeniedException"}
_ALIASES = {"elbv2": "elasticloadbalancingv2", "stepfunctions": "sfn", "events": "eventbridge", "ce": "costexplorer"}


@dataclass
class Fault:
    service: str
    operation: str
    code: str
    remaining: int
    message: str
    caller: str | None = None
    skip: int = 0


@dataclass(frozen=True)
class Traced:
    """One call a handler made: who, what, and whether AWS applied it (an answer lost after applying counts)."""

    function: str
    service: str
    operation: str
    applied: bool


@dataclass
class FaultState:
    faults: list[Fault] = field(default_factory=list)
    reactions: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    traced: list[Traced] | None = None  # while tracing


def _state() -> FaultState:
    from deckwatch.local.mock_services import current

    return current().faults


def inject(
    service: str,
    operation: str,
    code: str,
    times: int = 1,
    message: str = "",
    *,
    caller: str | None = None,
    skip: int = 0,
) -> None:
    """The next `times` calls of service:operation (by `caller`, after `skip` of them) fail with `code`: an AWS
    error code, a kind of KINDS ("throttle", "5xx", "denied"), or "timeout-after-apply"."""
    with _lock:
        _state().faults.append(
            Fault(
                _norm(service),
                operation,
                code,
                times,
                message or f"{code} injected by deckwatch.local",
                caller=caller,
                skip=skip,
            )
        )


def pending_faults() -> int:
    """Injected failures not yet served (0: every injected failure was hit)."""
    with _lock:
        return sum(f.remaining for f in _state().faults)


def clear_faults() -> None:
    with _lock:
        _state().faults.clear()


def trace(on: bool = True) -> list[Traced]:
    """Start (or stop) recording the handlers' calls; returns what was recorded so far."""
    with _lock:
        state = _state()
        seen = list(state.traced or [])
        state.traced = [] if on else None
        return seen


def recover_on(service: str, operation: str, alarm_name: str, state: str = "OK") -> None:
    """World reaction: after a successful service:operation, `alarm_name` goes to `state` (and emits its event)."""
    with _lock:
        _state().reactions.setdefault((_norm(service), operation), []).append((alarm_name, state))


def clear_reactions() -> None:
    with _lock:
        _state().reactions.clear()


def _norm(service: str) -> str:
    name = service.replace("-", "").replace("_", "").lower()
    return _ALIASES.get(name, name)


def _take_fault(service: str, operation: str, caller: str | None) -> Fault | None:
    with _lock:
        for fault in _state().faults:
            if fault.service != _norm(service) or fault.operation != operation or fault.remaining <= 0:
                continue
            if fault.caller is not None and fault.caller != caller:
                continue
            if fault.skip > 0:
                fault.skip -= 1
                return None
            fault.remaining -= 1
            return fault
    return None


def _cbor_text(text: str) -> bytes:
    data = text.encode()
    n = len(data)
    head = bytes([0x60 + n]) if n < 24 else bytes([0x78, n]) if n < 256 else bytes([0x79]) + n.to_bytes(2, "big")
    return head + data


def _error_response(request: Any, service: str, fault: Fault) -> Any:
    """The error as the service's protocol sends it (botocore parses the code from it and decides on retries)."""
    from botocore.awsrequest import AWSResponse
    from moto.core.botocore_stubber import MockRawResponse

    json_code, xml_code, status = KINDS.get(fault.code, (_JSON_CODES.get(fault.code, fault.code), fault.code, 0))
    if not status:
        status = 403 if "AccessDenied" in fault.code else 500 if fault.code.startswith("Internal") else 400
    headers = {k.lower(): v for k, v in dict(request.headers).items()}
    if headers.get("smithy-protocol") == "rpc-v2-cbor":  # CloudWatch, CodePipeline
        pairs = (("__type", json_code), ("message", fault.message))
        body = b"\xa2" + b"".join(_cbor_text(k) + _cbor_text(v) for k, v in pairs)  # a CBOR map of two strings
        out_headers = {"smithy-protocol": "rpc-v2-cbor", "content-type": "application/cbor"}
    elif "x-amz-target" in headers or service in ("lambda", "backup"):  # JSON, REST-JSON
        body = json.dumps({"__type": json_code, "message": fault.message}).encode()
        out_headers = {"x-amzn-errortype": json_code, "content-type": "application/x-amz-json-1.1"}
    elif service == "s3":  # REST-XML
        body = f"<Error><Code>{xml_code}</Code><Message>{fault.message}</Message></Error>".encode()
        out_headers = {"content-type": "application/xml"}
    else:  # query protocol (ELBv2, RDS, SNS, STS): XML error document
        kind = "Receiver" if status >= 500 else "Sender"
        body = (
            f"<ErrorResponse><Error><Type>{kind}</Type>"
            f"<Code>{xml_code}</Code><Message>{fault.message}</Message></Error>"
            "<RequestId>deckwatch-local-fault</RequestId></ErrorResponse>"
        ).encode()
        out_headers = {"content-type": "text/xml"}
    return AWSResponse(request.url, status, out_headers, MockRawResponse(body))  # type: ignore[arg-type]


def _set_alarm_state(alarm_name: str, state: str) -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    from deckwatch.local.runtime import ACCOUNT, REGION

    backend = cloudwatch_backends[ACCOUNT][REGION]
    if alarm_name in backend.alarms:
        backend.set_alarm_state(alarm_name, f"Threshold Crossed: recovered ({state})", None, state)  # type: ignore[arg-type]


def install() -> None:
    global _installed  # noqa: PLW0603 - moto's classes are process-wide, so is this flag
    with _lock:
        if _installed:
            return
        from botocore.exceptions import ReadTimeoutError
        from moto.core.botocore_stubber import BotocoreStubber

        from deckwatch.local.functions import current_function

        original = BotocoreStubber.__call__

        def __call__(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:  # noqa: N807
            parts = event_name.split(".")
            state = _state()
            fault = None
            caller = current_function() if len(parts) >= 3 else None

            def traced(applied: bool) -> None:
                if state.traced is not None and caller is not None:
                    with _lock:
                        if state.traced is not None:
                            state.traced.append(Traced(caller, parts[1], parts[2], applied))

            if state.faults and len(parts) >= 3:
                fault = _take_fault(parts[1], parts[2], caller)
                if fault is not None and fault.code != TIMEOUT_AFTER_APPLY:
                    traced(False)
                    return _error_response(request, parts[1], fault)
            response = original(self, event_name, request, **kwargs)
            traced(response is not None and response.status_code < 300)
            if state.reactions and len(parts) >= 3 and response is not None and response.status_code < 300:
                with _lock:
                    todo = state.reactions.pop((_norm(parts[1]), parts[2]), [])
                for alarm_name, alarm_state in todo:
                    _set_alarm_state(alarm_name, alarm_state)
            if fault is not None:  # applied; the answer is lost on its way back
                raise ReadTimeoutError(endpoint_url=request.url)
            return response

        BotocoreStubber.__call__ = __call__  # type: ignore[method-assign]
        _installed = True
