"""Application Load Balancers as the cutover needs them locally, on top of moto's ELBv2:

- Target health of a target group served by an ECS service (moto registers no ECS tasks): one target per
  running task, `healthy` once the service's deployment completed, `initial` before; `make_unhealthy(tg)`
  turns a group's targets `unhealthy` (Target.ResponseCodeMismatch), `make_healthy(tg)` undoes it.
- Fault injection on `ModifyListener`: `throttle_listener(n)` fails the next n calls with Throttling (botocore
  retries those), `reject_listener(when)` fails every call whose weights satisfy `when({tg name: weight})`
  with InvalidConfigurationRequest (not retried by botocore: a permanent failure).
- Bad releases: `bad_image(image)`: once a listener sends traffic to a target group whose ECS service runs that
  image, the service's first alarm goes to ALARM (through CloudWatch's SetAlarmState, which emits the alarm's
  real state-change event) as soon as a cutover watches it, i.e. in the middle of the bake.
- `when_watched(alarm, action, phase)`: run `action` once a cutover task watches `alarm` (tests use it to
  deliver an event mid-bake or inside the rollback window).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

_installed = False
_lock = threading.Lock()
_throttles = 0
_reject: Callable[[dict[str, int]], bool] | None = None
_unhealthy: set[str] = set()
_bad_images: set[str] = set()
_alarms_by_tg: dict[str, list[str]] = {}
_fired: set[str] = set()
_runtime: Any = None
calls: list[dict[str, int]] = []  # weights of every successful ModifyListener (tg name -> weight)


def throttle_listener(times: int) -> None:
    global _throttles  # noqa: PLW0603
    _throttles = times


def reject_listener(when: Callable[[dict[str, int]], bool] | None) -> None:
    global _reject  # noqa: PLW0603
    _reject = when


def make_unhealthy(target_group_name: str) -> None:
    _unhealthy.add(target_group_name)


def make_healthy(target_group_name: str) -> None:
    _unhealthy.discard(target_group_name)


def bad_image(image: str) -> None:
    _bad_images.add(image)


def reset() -> None:
    throttle_listener(0)
    reject_listener(None)
    _unhealthy.clear()
    _bad_images.clear()
    _fired.clear()
    calls.clear()


def install() -> None:
    global _installed  # noqa: PLW0603 - moto's classes are process-wide, so is this flag
    with _lock:
        if _installed:
            return
        from moto.elbv2.models import ELBv2Backend

        original_health = ELBv2Backend.describe_target_health
        original_modify = ELBv2Backend.modify_listener

        def describe_target_health(self: Any, target_group_arn: str, targets: list[dict[str, Any]]) -> Any:
            result = original_health(self, target_group_arn, targets)
            if result or targets:
                return result
            return _synthetic_health(self, target_group_arn)

        def modify_listener(self: Any, arn: str, *args: Any, **kwargs: Any) -> Any:
            from moto.elbv2.exceptions import ELBClientError

            weights = _weights(self, kwargs.get("actions") or (args[4] if len(args) > 4 else None))
            global _throttles  # noqa: PLW0603
            if _throttles > 0:
                _throttles -= 1
                raise ELBClientError("Throttling", "Rate exceeded")
            if _reject is not None and _reject(weights):
                raise ELBClientError("InvalidConfigurationRequest", f"injected: listener update {weights} refused")
            listener = original_modify(self, arn, *args, **kwargs)
            calls.append(weights)
            _after_shift(self, weights)
            return listener

        ELBv2Backend.describe_target_health = describe_target_health  # type: ignore[method-assign]
        ELBv2Backend.modify_listener = modify_listener  # type: ignore[method-assign]
        _installed = True


def _weights(backend: Any, actions: list[dict[str, Any]] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    by_arn = {arn: tg.name for arn, tg in backend.target_groups.items()}
    for action in actions or []:
        fc = action.get("ForwardConfig") or action.get("forward_config") or {}
        for g in fc.get("TargetGroups", []) or []:
            out[by_arn.get(g.get("TargetGroupArn"), g.get("TargetGroupArn"))] = int(g.get("Weight", 1))
    return out


def _ecs_services_of(tg_arn: str) -> list[Any]:
    from moto.ecs.models import ecs_backends

    from deckwatch.local.runtime import ACCOUNT, REGION

    return [
        s
        for s in ecs_backends[ACCOUNT][REGION].services.values()
        if any(lb.get("targetGroupArn") == tg_arn for lb in s.load_balancers)
    ]


def _synthetic_health(backend: Any, tg_arn: str) -> list[Any]:
    from moto.elbv2.models import FakeHealthStatus

    from deckwatch.local.mock_services import ecs

    tg = backend.target_groups.get(tg_arn)
    out = []
    for service in _ecs_services_of(tg_arn):
        for i in range(service.running_count):
            target = f"10.42.{abs(hash(service.name)) % 200}.{10 + i}"
            if tg is not None and tg.name in _unhealthy:
                out.append(
                    FakeHealthStatus(
                        target,
                        "8080",
                        "8080",
                        "unhealthy",
                        "Target.ResponseCodeMismatch",
                        "Health checks failed with these codes: [502]",
                    )
                )
            elif ecs.settled(service):
                out.append(FakeHealthStatus(target, "8080", "8080", "healthy"))
            else:
                out.append(
                    FakeHealthStatus(
                        target,
                        "8080",
                        "8080",
                        "initial",
                        "Elb.RegistrationInProgress",
                        "Target registration is in progress",
                    )
                )
    return out


def _after_shift(backend: Any, weights: dict[str, int]) -> None:
    """A bad release taking traffic makes its service's alarm fire (once per alarm)."""
    from moto.ecs.models import ecs_backends

    from deckwatch.local.runtime import ACCOUNT, REGION

    if not _bad_images:
        return
    by_name = {tg.name: arn for arn, tg in backend.target_groups.items()}
    ecs_backend = ecs_backends[ACCOUNT][REGION]
    for tg_name, weight in weights.items():
        if weight <= 0 or tg_name not in by_name:
            continue
        for service in _ecs_services_of(by_name[tg_name]):
            td = ecs_backend.describe_task_definition(service.task_definition)
            images = {c.get("image") for c in td.container_definitions}
            for alarm in _alarms_by_tg.get(tg_name, [])[:1]:
                if images & _bad_images and alarm not in _fired:
                    _fired.add(alarm)
                    when_watched(alarm, functools.partial(fire, alarm, f"5XX errors from the new release at {weight}%"))


def fire(alarm: str, reason: str) -> None:
    """The alarm goes to ALARM; CloudWatch (mock_services.cloudwatch) emits its state-change event."""
    from moto.cloudwatch.models import cloudwatch_backends

    from deckwatch.local.runtime import ACCOUNT, REGION

    cloudwatch_backends[ACCOUNT][REGION].set_alarm_state(
        alarm, f"Threshold Crossed: {reason}", '{"version": "1.0"}', "ALARM"
    )


def recover_alarms() -> None:
    """Every alarm back to OK, silently (between tests: no state-change events)."""
    from moto.cloudwatch.models import cloudwatch_backends

    from deckwatch.local.runtime import ACCOUNT, REGION

    for alarm in cloudwatch_backends[ACCOUNT][REGION].alarms.values():
        if alarm.state_value != "OK":
            alarm.update_state("recovered", "{}", "OK")


def when_watched(alarm: str, action: Callable[[], None], phase: str | None = None, timeout: float = 10.0) -> None:
    """Run `action` (in a thread) as soon as a cutover watches `alarm` (in `phase`, if given)."""
    runtime = _runtime

    def wait() -> None:
        # reads moto's table directly: a boto3 client here would race the handlers' environment swaps
        from moto.dynamodb.models import dynamodb_backends
        from moto.dynamodb.models.dynamo_type import DynamoType

        from deckwatch.local.runtime import ACCOUNT, REGION

        if runtime is None:
            return
        table = dynamodb_backends[ACCOUNT][REGION].get_table(runtime.physical["LocksTable"])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            item = table.get_item(DynamoType({"S": f"watch#{alarm}"}))
            watchers = item.to_json()["Attributes"].get("watchers", {}).get("M", {}) if item is not None else {}
            if any(phase is None or f":{phase}:" in w for w in watchers):
                runtime._touch()
                action()
                return
            time.sleep(0.002)

    threading.Thread(target=wait, daemon=True, name=f"when-watched-{alarm}").start()


def seed(runtime: Any) -> None:
    global _runtime  # noqa: PLW0603
    reset()
    _runtime = runtime
    _alarms_by_tg.clear()
    for svc in runtime.policy.policy.services:
        if svc.alb is not None:
            for colour in ("blue", "green"):
                _alarms_by_tg[str(getattr(svc.alb.target_groups, colour))] = list(svc.alarms)
