"""Faults and reactions of the world, for every service the embedded AWS serves:

- `inject(service, operation, code, times)`: the next `times` calls of that operation fail with the AWS error
  `code` (throttling, access denied...), shaped for the service's protocol (JSON or query/XML), so that botocore
  raises the same ClientError it raises in AWS.
- `recover_on(service, operation, alarm, state)`: after a successful call of that operation (a remediation's
  fix), the alarm goes to `state` and emits its event, as the real metric would once the fix takes effect.

The state (`FaultState`) belongs to the running embedded AWS; the patch on moto's request dispatcher is installed
once per process.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

_installed = False
_lock = threading.Lock()
_JSON_CODES = {"Throttling": "ThrottlingException", "AccessDenied": "AccessDeniedException"}


@dataclass
class Fault:
    service: str
    operation: str
    code: str
    remaining: int
    message: str


@dataclass
class FaultState:
    faults: list[Fault] = field(default_factory=list)
    reactions: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)


def _state() -> FaultState:
    from deckwatch.local.mock_services import current

    return current().faults


def inject(service: str, operation: str, code: str, times: int = 1, message: str = "") -> None:
    """The next `times` calls of service:operation fail with `code` ("Throttling" or "AccessDenied"; JSON
    services get their ...Exception spelling)."""
    with _lock:
        _state().faults.append(
            Fault(_norm(service), operation, code, times, message or f"{code} injected by deckwatch.local")
        )


def pending_faults() -> int:
    """Injected failures not yet served (0: every injected failure was hit)."""
    with _lock:
        return sum(f.remaining for f in _state().faults)


def clear_faults() -> None:
    with _lock:
        _state().faults.clear()


def recover_on(service: str, operation: str, alarm_name: str, state: str = "OK") -> None:
    """World reaction: after a successful service:operation, `alarm_name` goes to `state` (and emits its event)."""
    with _lock:
        _state().reactions.setdefault((_norm(service), operation), []).append((alarm_name, state))


def clear_reactions() -> None:
    with _lock:
        _state().reactions.clear()


def _norm(service: str) -> str:
    return service.replace("-", "").replace("_", "").lower()


def _take_fault(service: str, operation: str) -> Fault | None:
    with _lock:
        for fault in _state().faults:
            if fault.service == _norm(service) and fault.operation == operation and fault.remaining > 0:
                fault.remaining -= 1
                return fault
    return None


def _error_response(request: Any, fault: Fault) -> Any:
    from botocore.awsrequest import AWSResponse
    from moto.core.botocore_stubber import MockRawResponse

    headers = {k.lower(): v for k, v in dict(request.headers).items()}
    if "x-amz-target" in headers:  # JSON protocol (ECS, Application Auto Scaling, EventBridge)
        code = _JSON_CODES.get(fault.code, fault.code)
        body = json.dumps({"__type": code, "message": fault.message}).encode()
        out_headers = {"x-amzn-errortype": code, "content-type": "application/x-amz-json-1.1"}
    else:  # query protocol (RDS, SNS): XML error document
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{fault.code}</Code><Message>{fault.message}</Message></Error>"
            "<RequestId>deckwatch-local-fault</RequestId></ErrorResponse>"
        ).encode()
        out_headers = {"content-type": "text/xml"}
    status = 403 if "AccessDenied" in fault.code else 400
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
        from moto.core.botocore_stubber import BotocoreStubber

        original = BotocoreStubber.__call__

        def __call__(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:  # noqa: N807
            parts = event_name.split(".")
            state = _state()
            if state.faults and len(parts) >= 3:
                fault = _take_fault(parts[1], parts[2])
                if fault is not None:
                    return _error_response(request, fault)
            response = original(self, event_name, request, **kwargs)
            if state.reactions and len(parts) >= 3 and response is not None and response.status_code < 300:
                with _lock:
                    todo = state.reactions.pop((_norm(parts[1]), parts[2]), [])
                for alarm_name, alarm_state in todo:
                    _set_alarm_state(alarm_name, alarm_state)
            return response

        BotocoreStubber.__call__ = __call__  # type: ignore[method-assign]
        _installed = True
