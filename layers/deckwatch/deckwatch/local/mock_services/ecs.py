"""ECS deployments as the cutover needs them locally (moto's services never progress by themselves):

- `UpdateService` with a new task definition starts a deployment: the PRIMARY deployment is IN_PROGRESS with no
  running tasks, and completes (runningCount = desiredCount, rolloutState COMPLETED) `WARMUP_SECONDS` of simulated
  time later, seen through `DescribeServices` (a family or family:revision is resolved to the revision's ARN, as
  ECS does; moto keeps the string given). The same revision again changes nothing; a new desired count alone
  keeps the tasks that run (scaling in stops the extra ones at once, scaling out starts the others, running
  `WARMUP_SECONDS` later), without a new deployment.
- `stick(service_name)`: that service's deployments never complete (a release whose tasks crash-loop).
- `hold_count(service_name)`: UpdateService answers, but that service's desired count stays what it was (what a
  scalable target whose MaxCapacity is below the new count, or a scheduled action, does right after the call).
- `seed(runtime)`: the demo world's services start settled (blue runs its 2 tasks).
The state (deployments in progress, stuck services) belongs to the running embedded AWS (`EcsState`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

WARMUP_SECONDS = 45
_installed = False
_lock = threading.Lock()


@dataclass
class EcsState:
    started: dict[str, float] = field(default_factory=dict)  # service ARN -> simulated time its deployment started
    stuck: set[str] = field(default_factory=set)
    scaling: set[str] = field(default_factory=set)  # service ARNs starting tasks for a new count (no deployment)
    held: set[str] = field(default_factory=set)  # service names whose desired count does not change


def _state() -> EcsState:
    from deckwatch.local.mock_services import current

    return current().ecs


def stick(service_name: str) -> None:
    _state().stuck.add(service_name)


def unstick_all() -> None:
    _state().stuck.clear()
    _state().held.clear()


def hold_count(service_name: str) -> None:
    _state().held.add(service_name)


def install() -> None:
    global _installed  # noqa: PLW0603 - moto's classes are process-wide, so is this flag
    with _lock:
        if _installed:
            return
        from moto.ecs.models import EC2ContainerServiceBackend

        original_update = EC2ContainerServiceBackend.update_service
        original_describe = EC2ContainerServiceBackend.describe_services

        def update_service(self: Any, service_properties: dict[str, Any]) -> Any:
            wants_td = service_properties.get("task_definition")
            wants_count = service_properties.get("desired_count")
            before, running, count = _current(self, service_properties)
            service = original_update(self, service_properties)
            if wants_count is not None and service.name in _state().held:
                service.desired_count, wants_count = count, None  # put back at once: no scaling happens
            if wants_td is not None:  # ECS resolves a family (its latest ACTIVE revision) or family:revision to the ARN
                service.task_definition = self.describe_task_definition(wants_td).arn
            # ECS starts a deployment for a new task definition; the same revision again is no change, and a new
            # count alone keeps the tasks that run (scaling in stops some at once, scaling out starts the rest)
            if wants_td is not None and service.task_definition != before:
                _begin(service)
            elif wants_count is not None:
                _scale(service, running)
            return service

        def describe_services(self: Any, cluster_str: str, names: list[str]) -> Any:
            result, failures = original_describe(self, cluster_str, names)
            for service in result:
                _progress(service)
            return result, failures

        EC2ContainerServiceBackend.update_service = update_service  # type: ignore[method-assign]
        EC2ContainerServiceBackend.describe_services = describe_services  # type: ignore[method-assign,assignment]
        _installed = True


def _current(backend: Any, props: dict[str, Any]) -> tuple[str | None, int, int]:
    """(task definition, running count, desired count) of the service an UpdateService names, before the update."""
    try:
        service = backend._get_service(props.get("cluster", "default"), str(props["service"]).split("/")[-1])
    except Exception:  # noqa: BLE001 - moto raises its own not-found error in update_service itself
        return None, 0, 0
    return str(service.task_definition), int(service.running_count), int(service.desired_count)


def _scale(service: Any, running: int) -> None:
    """A new desired count on the same revision: no new deployment; the tasks beyond what runs start (warm-up)."""
    keep = min(running, int(service.desired_count))
    service.running_count, service.pending_count = keep, int(service.desired_count) - keep
    primary = _primary(service)
    if primary is not None:
        primary.update(desiredCount=service.desired_count, runningCount=keep, pendingCount=service.pending_count)
    if service.pending_count == 0:
        return
    state = _state()
    if service.arn not in state.started:  # a deployment in progress keeps its own start
        state.started[service.arn] = _now()
        state.scaling.add(service.arn)


def _now() -> float:
    from deckwatch import clock

    return clock.now_epoch()


def _primary(service: Any) -> dict[str, Any] | None:
    return next((d for d in service.deployments if d.get("status") == "PRIMARY"), None)


def _begin(service: Any) -> None:
    _state().scaling.discard(service.arn)
    _state().started[service.arn] = _now()
    service.running_count = 0
    service.pending_count = service.desired_count
    primary = _primary(service)
    if primary is not None:
        primary.update(
            taskDefinition=service.task_definition,
            desiredCount=service.desired_count,
            runningCount=0,
            pendingCount=service.desired_count,
            rolloutState="IN_PROGRESS",
            rolloutStateReason="ECS deployment in progress.",
        )
    _progress(service)


def _settle(service: Any) -> None:
    service.running_count = service.desired_count
    service.pending_count = 0
    primary = _primary(service)
    if service.arn in _state().scaling:  # the added tasks run; the deployment was not touched
        _state().scaling.discard(service.arn)
        _state().started.pop(service.arn, None)
        if primary is not None:
            primary.update(desiredCount=service.desired_count, runningCount=service.desired_count, pendingCount=0)
        return
    if primary is not None:
        primary.update(
            taskDefinition=service.task_definition,
            desiredCount=service.desired_count,
            runningCount=service.desired_count,
            pendingCount=0,
            rolloutState="COMPLETED",
            rolloutStateReason=f"ECS deployment {primary['id']} completed.",
        )
    _state().started.pop(service.arn, None)


def _progress(service: Any) -> None:
    state = _state()
    started = state.started.get(service.arn)
    if started is None:
        return
    if service.desired_count == 0 or (service.name not in state.stuck and _now() - started >= WARMUP_SECONDS):
        _settle(service)


def progress(service: Any) -> None:
    """Bring a service's deployment up to the simulated time (moto's services change only when described; the
    traffic model and the simulation read them directly)."""
    _progress(service)


def settled(service: Any) -> bool:
    primary = _primary(service)
    return primary is not None and primary.get("rolloutState") == "COMPLETED"


def seed(runtime: Any) -> None:
    from moto.ecs.models import ecs_backends

    from deckwatch.local.runtime import ACCOUNT, REGION

    for service in ecs_backends[ACCOUNT][REGION].services.values():
        _settle(service)
