"""Workload Lambda functions the cutover uses locally (moto cannot run code that is not the stack's own):

- Services of kind `lambda` in the policy get their function, versions 1 and 2, and the alias on version 1.
- Hooks the policy names (`on_rollback_hook`, `pre_traffic_check`) are scripted functions: each invocation is
  kept in `invocations()`; `fail_check(name)` makes a pre-traffic check answer {"ok": false}.
Invocations of any other function go to the local runtime as before. The state (`LambdaState`) belongs to the
running embedded AWS.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LambdaState:
    invocations: list[dict[str, Any]] = field(default_factory=list)
    scripted: set[str] = field(default_factory=set)
    failing: set[str] = field(default_factory=set)


def _state() -> LambdaState:
    from deckwatch.local.mock_services import current

    return current().awslambda


def install() -> None:
    return  # the runtime routes invocations of scripted functions here (`invoke`)


def fail_check(name: str) -> None:
    _state().failing.add(name)


def pass_checks() -> None:
    _state().failing.clear()


def invocations() -> list[dict[str, Any]]:
    return _state().invocations


def _code() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return {'ok': True}\n")
    return buf.getvalue()


def seed(runtime: Any) -> None:
    state = _state()
    policy = runtime.policy.policy
    lam = runtime.client("lambda")
    hooks = {h for s in policy.services for h in (s.rollout.on_rollback_hook, s.rollout.pre_traffic_check) if h}
    wanted = [s.function for s in policy.services if s.kind == "lambda" and s.function is not None]
    if not hooks and not wanted:
        return
    role = runtime.client("iam").create_role(
        RoleName="deckwatch-local-workload", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
    )["Role"]["Arn"]
    for name in sorted(hooks):
        lam.create_function(
            FunctionName=name, Runtime="python3.13", Role=role, Handler="app.handler", Code={"ZipFile": _code()}
        )
        state.scripted.add(name)
    for target in wanted:
        lam.create_function(
            FunctionName=target.function,
            Runtime="python3.13",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": _code()},
        )
        first = lam.publish_version(FunctionName=target.function)["Version"]
        lam.update_function_code(FunctionName=target.function, ZipFile=_code())
        lam.publish_version(FunctionName=target.function)
        lam.create_alias(FunctionName=target.function, Name=target.alias, FunctionVersion=first)
        state.scripted.add(target.function)


def scripted(name: str) -> bool:
    return name in _state().scripted


def invoke(name: str, event: Any) -> tuple[str, bool, str]:
    """A scripted workload function answers: {"ok": true}, or false after `fail_check(name)`."""
    state = _state()
    payload = json.loads(event) if isinstance(event, str | bytes) and event else event
    state.invocations.append({"function": name, "payload": payload})
    return json.dumps({"ok": name not in state.failing}), False, ""
