"""Workload Lambda functions the cutover uses locally (moto cannot run code that is not the stack's own):

- Services of kind `lambda` in the policy get their function, versions 1 and 2, and the alias on version 1.
- Hooks the policy names (`on_rollback_hook`, `pre_traffic_check`) are scripted functions: each invocation is
  kept in `invocations`; `fail_check(name)` makes a pre-traffic check answer {"ok": false}.
Invocations of any other function go to the local runtime as before.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

invocations: list[dict[str, Any]] = []
_scripted: set[str] = set()
_failing: set[str] = set()


def install() -> None:
    return  # seed() routes invocations per runtime


def fail_check(name: str) -> None:
    _failing.add(name)


def reset() -> None:
    invocations.clear()
    _scripted.clear()
    _failing.clear()


def _code() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return {'ok': True}\n")
    return buf.getvalue()


def seed(runtime: Any) -> None:
    from deckwatch import aws
    from deckwatch.local import moto_patches

    reset()
    policy = runtime.policy.policy
    lam = aws.client("lambda")
    hooks = {h for s in policy.services for h in (s.rollout.on_rollback_hook, s.rollout.pre_traffic_check) if h}
    wanted = [s.function for s in policy.services if s.kind == "lambda" and s.function is not None]
    if not hooks and not wanted:
        return
    role = aws.client("iam").create_role(
        RoleName="deckwatch-local-workload", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
    )["Role"]["Arn"]
    for name in sorted(hooks):
        lam.create_function(
            FunctionName=name, Runtime="python3.13", Role=role, Handler="app.handler", Code={"ZipFile": _code()}
        )
        _scripted.add(name)
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
        _scripted.add(target.function)

    delegate = moto_patches.HOOKS.invoke

    def invoke(fn_model: Any, event: Any) -> tuple[str, bool, str]:
        name = fn_model.function_name
        if name not in _scripted:
            if delegate is None:
                raise RuntimeError(f"no local code for {name}")
            return delegate(fn_model, event)
        payload = json.loads(event) if isinstance(event, str | bytes) and event else event
        invocations.append({"function": name, "payload": payload})
        return json.dumps({"ok": name not in _failing}), False, ""

    moto_patches.HOOKS.invoke = invoke
