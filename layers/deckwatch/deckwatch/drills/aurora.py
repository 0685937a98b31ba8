"""Aurora PostgreSQL drills. AWS Backup restores an Aurora recovery point as a cluster without instances: the drill
adds one (drill.instance_class), waits for it (Step Functions retries DrillInstanceNotReadyError), validates
through the cluster's writer endpoint, and deletes the instance, then the cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deckwatch.actions import Executor
from deckwatch.drills.common import record
from deckwatch.drills.errors import DrillCleanupPendingError, DrillInstanceNotReadyError
from deckwatch.drills.plan import cluster_instance_call
from deckwatch.errors import ActionError
from deckwatch.ledger import Action

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.drills.model import Drill, StepTask


def add_instance(task: StepTask, deps: Services) -> dict[str, Any]:
    """Create the drill's instance in the restored cluster once (a retry finds it), and answer when it is up."""
    drill = task.drill()
    rds = deps.clients("rds", region=drill.region)
    if not _instances(rds, drill.instance_id):
        call = cluster_instance_call(drill)
        try:
            Executor(deps.clients, dry_run=False).call(
                "rds", "CreateDBInstance", region=drill.region, **call.parameters
            )
        except ActionError as exc:
            if exc.code != "DBInstanceAlreadyExists":  # an earlier attempt whose answer was lost
                raise
        record(deps, drill, "cluster-instance", decision="instance-added", action=call, outcome="creating")
    db = _instances(rds, drill.instance_id)[0]
    status = db.get("DBInstanceStatus")
    if status != "available":
        raise DrillInstanceNotReadyError(f"{drill.instance_id} in {drill.cluster_id} is {status}")
    cluster = rds.describe_db_clusters(DBClusterIdentifier=drill.cluster_id)["DBClusters"][0]
    return {
        "cluster_arn": cluster["DBClusterArn"],
        "instance_arn": db["DBInstanceArn"],
        "endpoint": {"address": cluster["Endpoint"], "port": int(cluster["Port"])},
    }


def delete_cluster(rds: Any, deps: Services, drill: Drill) -> tuple[bool, bool]:
    """Delete the restored cluster (its instance is already being deleted). Returns (existed, gone)."""
    found = _clusters(rds, drill.cluster_id)
    if not found or found[0].get("Status") == "deleting":
        return bool(found), True
    params = {"DBClusterIdentifier": drill.cluster_id, "SkipFinalSnapshot": True}
    try:
        Executor(deps.clients, dry_run=False).call("rds", "DeleteDBCluster", region=drill.region, **params)
    except ActionError as exc:
        if exc.code != "InvalidDBClusterStateFault":
            raise
        # an instance not yet in 'deleting': Step Functions retries the clean-up
        raise DrillCleanupPendingError(f"{drill.cluster_id}: {exc}") from None
    record(
        deps,
        drill,
        "cleanup-cluster",
        decision="cluster-deleted",
        action=Action(service="rds", operation="DeleteDBCluster", parameters=params),
        outcome="deleted",
    )
    left = _clusters(rds, drill.cluster_id)
    return True, not left or left[0].get("Status") == "deleting"


def _instances(rds: Any, ident: str) -> list[dict[str, Any]]:
    try:
        return list(rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"])
    except rds.exceptions.DBInstanceNotFoundFault:
        return []


def _clusters(rds: Any, ident: str) -> list[dict[str, Any]]:
    try:
        return list(rds.describe_db_clusters(DBClusterIdentifier=ident)["DBClusters"])
    except rds.exceptions.DBClusterNotFoundFault:
        return []
