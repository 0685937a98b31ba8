"""The hourly janitor: delete this environment's drill databases older than drills.max_age_hours, in the stack's
region and in every DR region of the policy, so a drill never leaves a database running, even when its execution
was stopped before its clean-up. Instances go first; a cluster goes once it has no instance left."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deckwatch import clock
from deckwatch.actions import Executor
from deckwatch.drills.common import instance_prefix
from deckwatch.errors import ActionError
from deckwatch.ledger import Action, Record

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.policy.loader import LoadedPolicy


# listing, its key, identifier, status, creation time, delete operation, its extra parameters
_KINDS: tuple[tuple[str, str, str, str, str, str, dict[str, Any]], ...] = (
    ("describe_db_instances", "DBInstances", "DBInstanceIdentifier", "DBInstanceStatus", "InstanceCreateTime",
     "DeleteDBInstance", {"DeleteAutomatedBackups": True}),
    ("describe_db_clusters", "DBClusters", "DBClusterIdentifier", "Status", "ClusterCreateTime", "DeleteDBCluster", {}),
)  # fmt: skip


def janitor(deps: Services) -> dict[str, Any]:
    loaded = deps.policy()
    deleted: list[str] = []
    for region in [None, *loaded.policy.drills.dr_networks]:
        deleted += _sweep(deps, loaded, deps.clients("rds", region=region), region)
    return {"deleted": deleted}


def _sweep(deps: Services, loaded: LoadedPolicy, rds: Any, region: str | None) -> list[str]:
    max_age = loaded.policy.drills.max_age_hours * 3600
    prefix = instance_prefix(deps.settings.environment)
    now = clock.now_epoch()
    deleted = []
    executor = Executor(deps.clients, dry_run=False)

    def old(ident: str, status: str | None, created: Any) -> float | None:
        if not ident.startswith(prefix) or status == "deleting" or created is None:
            return None
        age = now - created.timestamp()
        return age if age >= max_age else None

    for listing, key, id_key, status_key, created_key, operation, extra in _KINDS:  # instances first
        for page in rds.get_paginator(listing).paginate():
            for item in page[key]:
                ident = item[id_key]
                age = old(ident, item.get(status_key), item.get(created_key))
                if age is None:
                    continue
                params = {id_key: ident, "SkipFinalSnapshot": True, **extra}
                try:
                    executor.call("rds", operation, region=region, **params)
                except ActionError as exc:
                    if exc.code != "InvalidDBClusterStateFault":
                        raise
                    continue  # the cluster's instance is not gone yet: the cluster goes next hour
                deleted.append(ident)
                action = Action(service="rds", operation=operation, parameters=params)
                _record(deps, loaded, ident, age, max_age, region, action)
    return deleted


def _record(
    deps: Services, loaded: LoadedPolicy, ident: str, age: float, max_age: int, region: str | None, action: Action
) -> None:
    deps.ledger.append(
        Record(
            record_id=f"janitor:{region}:{ident}" if region else f"janitor:{ident}",
            environment=deps.settings.environment,
            capability="drills",
            subject=f"rds:{ident}",
            kind="action",
            decision="janitor-deleted",
            reason=f"drill database {int(age // 3600)} h old (limit {max_age // 3600} h)"
            + (f" in {region}" if region else ""),
            action=action,
            outcome="deleted",
            policy_version=loaded.version,
            actor="schedule",
        )
    )
