"""The RDS side of the AWS Backup mock (mock_services/backup.py): what a snapshot remembers of its database, the
instance or Aurora cluster a restore creates in moto's RDS, and the real PostgreSQL serving restored databases.

Restores write to moto's RDS backend directly: they finish on their own thread, where boto3 clients would race
the handlers' environment. An RDS refusal fails the restore job, as in AWS.
"""

from __future__ import annotations

from typing import Any

from deckwatch import clock
from deckwatch.local.mock_services import client


def restored_served(ident: str | None, controls: Any) -> bool:
    return controls.endpoint is not None and ident in controls.restored


def create_instance(job: dict[str, Any], **kwargs: Any) -> None:
    _create(job, "create_db_instance", kwargs)


def create_cluster(job: dict[str, Any], **kwargs: Any) -> None:
    _create(job, "create_db_cluster", kwargs)


def _create(job: dict[str, Any], operation: str, kwargs: dict[str, Any]) -> None:
    from moto.core.exceptions import JsonRESTError, ServiceException
    from moto.core.parse import XFormedDict
    from moto.rds.models import rds_backends

    account, region = job["AccountId"], job["BackupVaultArn"].split(":")[3]
    try:
        getattr(rds_backends[account][region], operation)(XFormedDict(kwargs))
    except (JsonRESTError, ServiceException) as exc:
        job.update(Status="FAILED", StatusMessage=str(exc), CompletionDate=clock.now())


def source(resource_arn: str) -> dict[str, Any]:
    """What a snapshot remembers of its instance or cluster (from moto's RDS when it exists)."""
    ident = resource_arn.rsplit(":", 1)[-1]
    cluster = ":cluster:" in resource_arn
    src = {
        "id": ident,
        "cluster": cluster,
        "engine": "aurora-postgresql" if cluster else "postgres",
        "class": "db.t4g.medium",
        "db_name": "postgres",
        "port": 5432,
        "subnet_group": "",
        "security_groups": [],
        "master_user": "postgres",
        "storage": 20,
    }
    rds = client("rds", region=resource_arn.split(":")[3] if resource_arn.startswith("arn:") else None)
    if cluster:
        found = rds.describe_db_clusters(Filters=[{"Name": "db-cluster-id", "Values": [resource_arn, ident]}])
        for c in found["DBClusters"][:1]:
            src.update(
                engine=c["Engine"],
                db_name=c.get("DatabaseName") or "postgres",
                port=c.get("Port", 5432),
                subnet_group=c.get("DBSubnetGroup", ""),
                security_groups=[g["VpcSecurityGroupId"] for g in c.get("VpcSecurityGroups", [])],
                master_user=c.get("MasterUsername", "postgres"),
            )
        return src
    found = rds.describe_db_instances(Filters=[{"Name": "db-instance-id", "Values": [resource_arn, ident]}])
    for db in found["DBInstances"][:1]:
        src.update(
            engine=db["Engine"],
            **{"class": db["DBInstanceClass"], "db_name": db.get("DBName") or "postgres"},
            port=db.get("Endpoint", {}).get("Port", 5432),
            subnet_group=db.get("DBSubnetGroup", {}).get("DBSubnetGroupName", ""),
            security_groups=[g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", [])],
            master_user=db.get("MasterUsername", "postgres"),
            storage=db.get("AllocatedStorage", 20),
        )
    return src


def _controls() -> Any:
    from deckwatch.local.mock_services import current

    return current().backup


def serve_endpoints() -> None:
    """Patch moto's RDS models once: restored instances and clusters report `controls().endpoint` as address and
    port (an Aurora cluster's port is set when the restore creates it), and an instance added to a restored
    cluster is 'creating' for `controls().instance_boot_seconds` of simulated time (moto's are available at once)."""
    from moto.rds.models import DBCluster, DBInstance, DBInstanceClustered

    def get_status(self: Any) -> str:
        status = str(self.__dict__.get("_deckwatch_status", "available"))
        ready_at = self.__dict__.get("_deckwatch_created", 0.0) + _controls().instance_boot_seconds
        restored = getattr(self, "db_cluster_identifier", None) in _controls().restored
        return "creating" if status == "available" and restored and clock.now_epoch() < ready_at else status

    def set_status(self: Any, value: str) -> None:
        self.__dict__.setdefault("_deckwatch_created", clock.now_epoch())
        self.__dict__["_deckwatch_status"] = value

    DBInstanceClustered.status = property(get_status, set_status)  # type: ignore[assignment]

    original_address = DBInstance.address

    def address(self: Any) -> str:
        if restored_served(self.db_instance_identifier, _controls()):
            return str(_controls().endpoint[0])
        return str(original_address.fget(self))  # type: ignore[attr-defined]

    DBInstance.address = property(address)  # type: ignore[assignment,method-assign]
    original_endpoint = DBInstance.endpoint

    def endpoint(self: Any) -> dict[str, Any]:
        out = dict(original_endpoint.fget(self))  # type: ignore[attr-defined]
        if restored_served(self.db_instance_identifier, _controls()):
            out["Port"] = _controls().endpoint[1]
        return out

    DBInstance.endpoint = property(endpoint)  # type: ignore[assignment,method-assign]
    original_cluster_endpoint = DBCluster.endpoint

    def cluster_endpoint(self: Any) -> str:
        if restored_served(self.db_cluster_identifier, _controls()):
            return str(_controls().endpoint[0])
        return str(original_cluster_endpoint.fget(self))  # type: ignore[attr-defined]

    DBCluster.endpoint = property(cluster_endpoint)  # type: ignore[assignment,method-assign]
