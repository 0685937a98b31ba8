"""After a call that got no answer (a read timeout after the request was sent), read the world to learn whether it
was applied, so that the ledger records what happened rather than what was hoped.

One reader per mutating call a runbook or a cost action makes, where AWS lets the effect be seen; None where it
cannot be told (a forced deployment, a reboot, an event sent): the ledger then says "unknown" and a person is told
(an escalated incident, a failed savings run).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deckwatch.aws import Clients
    from deckwatch.ledger import Action

Reader = Callable[["Clients", dict[str, Any]], bool | None]


def _ecs_update_service(clients: Clients, p: dict[str, Any]) -> bool | None:
    if "desiredCount" not in p or p.get("forceNewDeployment"):
        return None
    found = clients("ecs").describe_services(cluster=p["cluster"], services=[p["service"]])["services"]
    return bool(found) and int(found[0]["desiredCount"]) == int(p["desiredCount"])


def _ecs_stop_task(clients: Clients, p: dict[str, Any]) -> bool | None:
    found = clients("ecs").describe_tasks(cluster=p["cluster"], tasks=[p["task"]])["tasks"]
    return not found or found[0].get("desiredStatus") == "STOPPED"


def _rds_modify_instance(clients: Clients, p: dict[str, Any]) -> bool | None:
    if "AllocatedStorage" not in p:
        return None
    db = clients("rds").describe_db_instances(DBInstanceIdentifier=p["DBInstanceIdentifier"])["DBInstances"][0]
    wanted = int(p["AllocatedStorage"])
    pending = db.get("PendingModifiedValues", {}).get("AllocatedStorage")
    return int(db["AllocatedStorage"]) >= wanted or (pending is not None and int(pending) >= wanted)


def _rds_status(clients: Clients, p: dict[str, Any], applied: set[str]) -> bool:
    db = clients("rds").describe_db_instances(DBInstanceIdentifier=p["DBInstanceIdentifier"])["DBInstances"][0]
    return str(db.get("DBInstanceStatus")) in applied


def _rds_start_instance(clients: Clients, p: dict[str, Any]) -> bool | None:
    return _rds_status(clients, p, {"starting", "available", "configuring-enhanced-monitoring", "backing-up"})


def _rds_stop_instance(clients: Clients, p: dict[str, Any]) -> bool | None:
    return _rds_status(clients, p, {"stopping", "stopped"})


def _register_scalable_target(clients: Clients, p: dict[str, Any]) -> bool | None:
    found = clients("application-autoscaling").describe_scalable_targets(
        ServiceNamespace=p["ServiceNamespace"], ResourceIds=[p["ResourceId"]], ScalableDimension=p["ScalableDimension"]
    )["ScalableTargets"]
    return bool(found) and int(found[0]["MinCapacity"]) == int(p["MinCapacity"])


READERS: dict[tuple[str, str], Reader] = {
    ("ecs", "UpdateService"): _ecs_update_service,
    ("ecs", "StopTask"): _ecs_stop_task,
    ("rds", "ModifyDBInstance"): _rds_modify_instance,
    ("rds", "StartDBInstance"): _rds_start_instance,
    ("rds", "StopDBInstance"): _rds_stop_instance,
    ("application-autoscaling", "RegisterScalableTarget"): _register_scalable_target,
}


def applied(clients: Clients, action: Action) -> bool | None:
    """True/False when the world shows whether `action` took effect; None when it cannot be told."""
    reader = READERS.get((action.service, action.operation))
    return None if reader is None else reader(clients, dict(action.parameters))
