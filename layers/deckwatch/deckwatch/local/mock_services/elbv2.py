"""Application Load Balancers as the cutover needs them locally, on top of moto's ELBv2:

- Target health of a target group served by an ECS service (moto registers no ECS tasks): one target per
  running task, `healthy` once the service's deployment completed, `initial` before; `make_unhealthy(tg)`
  turns a group's targets `unhealthy` (Target.ResponseCodeMismatch), `make_healthy(tg)` undoes it.
- Fault injection on `ModifyListener`: `throttle_listener(n)` fails the next n calls with Throttling (botocore
  retries those), `reject_listener(when)` fails every call whose weights satisfy `when({tg name: weight})`
  with InvalidConfigurationRequest (not retried by botocore: a permanent failure).
- Bad releases: `bad_image(image)`: once a listener sends traffic to a target group whose ECS service runs that
  image, the service's first alarm goes to ALARM (through CloudWatch's SetAlarmState, which emits the alarm's
  real state-change event) as soon as a cutover watches it, i.e. in the middle of the bake; its requests fail
  in the traffic model too (`BAD_RELEASE_ERROR_RATE`), so the alarm stays in ALARM when CloudWatch evaluates it
  again and a canary analysis sees the errors: a world where the alarm fires while the figures look fine would
  let a bake that lost the alarm's event pass.
- `when_watched(alarm, action, phase)`: run `action` once a cutover task watches `alarm` (tests use it to
  deliver an event mid-bake or inside the rollback window): checked by the runtime's driver at every quiet
  moment, so the action runs while the task waits, never by polling.
The state (`ElbState`) belongs to the running embedded AWS.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from deckwatch import clock

_installed = False
_lock = threading.Lock()


@dataclass
class ElbState:
    throttles: int = 0
    reject: Callable[[dict[str, int]], bool] | None = None
    unhealthy: set[str] = field(default_factory=set)
    bad_images: set[str] = field(default_factory=set)
    alarms_by_tg: dict[str, list[str]] = field(default_factory=dict)
    fired: set[str] = field(default_factory=set)
    calls: list[dict[str, int]] = field(default_factory=list)  # weights of every ModifyListener (tg name -> weight)
    timeline: list[tuple[float, dict[str, int]]] = field(default_factory=list)  # the same, at their simulated time
    fired_at: dict[str, tuple[float, int]] = field(default_factory=dict)  # bad release's tg -> (time, its weight)


def _state() -> ElbState:
    from deckwatch.local.mock_services import current

    return current().elbv2


def throttle_listener(times: int) -> None:
    _state().throttles = times


def reject_listener(when: Callable[[dict[str, int]], bool] | None) -> None:
    _state().reject = when


def make_unhealthy(target_group_name: str) -> None:
    _state().unhealthy.add(target_group_name)


def make_healthy(target_group_name: str) -> None:
    _state().unhealthy.discard(target_group_name)


BAD_RELEASE_ERROR_RATE = 0.25


def bad_image(image: str) -> None:
    from deckwatch.local.mock_services import traffic

    _state().bad_images.add(image)
    traffic.release(image, error_rate=BAD_RELEASE_ERROR_RATE)


def calls() -> list[dict[str, int]]:
    return _state().calls


def reset() -> None:
    state = _state()
    state.throttles, state.reject = 0, None
    state.unhealthy.clear()
    state.bad_images.clear()
    state.fired.clear()
    state.calls.clear()
    state.timeline.clear()
    state.fired_at.clear()


def timeline() -> list[tuple[float, dict[str, int]]]:
    """Every applied ModifyListener with its simulated time (the fault matrix's traffic history)."""
    return list(_state().timeline)


def fired_at() -> dict[str, tuple[float, int]]:
    """Target groups of bad releases whose alarm fired: (simulated time, the group's weight then)."""
    return dict(_state().fired_at)


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
            state = _state()
            if state.throttles > 0:
                state.throttles -= 1
                raise ELBClientError("Throttling", "Rate exceeded")
            if state.reject is not None and state.reject(weights):
                raise ELBClientError("InvalidConfigurationRequest", f"injected: listener update {weights} refused")
            listener = original_modify(self, arn, *args, **kwargs)
            state.calls.append(weights)
            state.timeline.append((clock.now_epoch(), weights))
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
            if tg is not None and tg.name in _state().unhealthy:
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

    state = _state()
    if not state.bad_images:
        return
    by_name = {tg.name: arn for arn, tg in backend.target_groups.items()}
    ecs_backend = ecs_backends[ACCOUNT][REGION]
    for tg_name, weight in weights.items():
        if weight <= 0 or tg_name not in by_name:
            continue
        for service in _ecs_services_of(by_name[tg_name]):
            td = ecs_backend.describe_task_definition(service.task_definition)
            images = {c.get("image") for c in td.container_definitions}
            for alarm in state.alarms_by_tg.get(tg_name, [])[:1]:
                if images & state.bad_images and alarm not in state.fired:
                    state.fired.add(alarm)
                    when_watched(alarm, functools.partial(_fire_bad, alarm, tg_name))


def _fire_bad(alarm: str, tg_name: str) -> None:
    """The bad release's alarm fires now, at the weight its target group has now."""
    state = _state()
    weight = state.calls[-1].get(tg_name, 0) if state.calls else 0
    state.fired_at.setdefault(tg_name, (clock.now_epoch(), weight))
    fire(alarm, f"5XX errors from the new release at {weight}%")


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


def when_watched(alarm: str, action: Callable[[], None], phase: str | None = None) -> None:
    """Run `action` as soon as a cutover watches `alarm` (in `phase`, if given): the runtime's driver checks at
    every quiet moment, i.e. while the watching task waits for its answer."""
    from deckwatch.local import moto_patches

    runtime = moto_patches.HOOKS.runtime
    if runtime is None:
        raise RuntimeError("when_watched needs a running embedded AWS")

    def watched() -> bool:
        # reads moto's table directly: the driver runs this between deliveries, outside any handler
        from moto.dynamodb.models import dynamodb_backends
        from moto.dynamodb.models.dynamo_type import DynamoType

        from deckwatch.local.runtime import ACCOUNT, REGION

        table = dynamodb_backends[ACCOUNT][REGION].get_table(runtime.physical["StateTable"])
        item = table.get_item(DynamoType({"S": f"watch#{alarm}"}))
        watchers = item.to_json()["Attributes"].get("watchers", {}).get("M", {}) if item is not None else {}
        return any(phase is None or f":{phase}:" in w for w in watchers)

    runtime.when(watched, action, f"when {alarm} is watched" + (f" in {phase}" if phase else ""))


def seed(runtime: Any) -> None:
    state = _state()
    for svc in runtime.policy.policy.services:
        if svc.alb is not None:
            for colour in ("blue", "green"):
                state.alarms_by_tg[str(getattr(svc.alb.target_groups, colour))] = list(svc.alarms)
