"""What the simulation reads of the embedded AWS to check its promises, straight from moto's backends (it checks
after every event: the API's serialisation would cost more than the month), always at a quiet moment (no
execution running, no handler running)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from deckwatch import clock
from deckwatch.local.runtime import ACCOUNT, REGION


def _plain(typed: dict[str, Any]) -> Any:
    """A DynamoDB typed value as plain Python."""
    ((kind, value),) = typed.items()
    if kind == "S":
        return value
    if kind == "N":
        return Decimal(value)
    if kind == "BOOL":
        return bool(value)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: _plain(v) for k, v in value.items()}
    if kind == "L":
        return [_plain(v) for v in value]
    if kind in ("SS", "NS", "BS"):
        return set(value)
    return value


def state_items(runtime: Any, prefix: str) -> list[dict[str, Any]]:
    """Unexpired items of the state table whose key starts with `prefix` (DynamoDB's TTL, as Deckwatch reads it)."""
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[ACCOUNT][REGION].get_table(runtime.physical["StateTable"])
    now = clock.now_epoch()
    out = []
    items: Any = table.items
    for key, item in items.items():
        pk = str(getattr(key, "value", key))
        if not pk.startswith(prefix):
            continue
        doc = {k: _plain(v) for k, v in item.to_json()["Attributes"].items()}
        expires = doc.get("expires_at")
        if expires is not None and float(expires) < now:
            continue
        out.append(doc)
    return out


def listener_weights(listener_arn: str) -> dict[str, int]:
    """Target group ARN -> weight of a listener's forward action."""
    from moto.elbv2.models import elbv2_backends

    backend = elbv2_backends[ACCOUNT][REGION]
    for lb in backend.load_balancers.values():
        listener = lb.listeners.get(listener_arn)
        if listener is None:
            continue
        for action in listener.default_actions:
            data = getattr(action, "data", {}) or {}
            groups = (data.get("ForwardConfig") or {}).get("TargetGroups") or []
            if groups:
                return {str(g["TargetGroupArn"]): int(g.get("Weight", 1)) for g in groups}
            if data.get("TargetGroupArn"):
                return {str(data["TargetGroupArn"]): 100}
    return {}


def ecs_service(name: str) -> Any:
    """The ECS service named `name`, its deployment brought up to the simulated time."""
    from moto.ecs.models import ecs_backends

    from deckwatch.local.mock_services import ecs

    found = next((s for s in ecs_backends[ACCOUNT][REGION].services.values() if s.name == name), None)
    if found is not None:
        ecs.progress(found)
    return found


def image_of(service: Any) -> str:
    from moto.ecs.models import ecs_backends

    if service is None or not service.task_definition:
        return ""
    try:
        td = ecs_backends[ACCOUNT][REGION].describe_task_definition(service.task_definition)
    except Exception:  # noqa: BLE001 - a deregistered revision: no image to speak of
        return ""
    containers = td.container_definitions or []
    return str(containers[0].get("image", "")) if containers else ""


def settled(service: Any) -> bool:
    from deckwatch.local.mock_services import ecs

    return service is not None and ecs.settled(service) and int(service.running_count) > 0


def drill_instances() -> list[str]:
    from moto.rds.models import rds_backends

    out = []
    for region in (REGION, "us-west-2"):
        for db in rds_backends[ACCOUNT][region].databases.values():
            if db.db_instance_identifier.startswith("deckwatch-drill-") and db.status != "deleting":
                out.append(db.db_instance_identifier)
    return out


def dead_letters(runtime: Any) -> list[dict[str, Any]]:
    """Every message in the control plane's DLQ, read without receiving it."""
    import json

    from moto.sqs.models import sqs_backends

    name = runtime.physical["DeadLetterQueue"].rsplit("/", 1)[-1]
    queue = sqs_backends[ACCOUNT][REGION].queues.get(name)
    return [json.loads(m.body) for m in (queue.messages if queue is not None else [])]
