"""Lease locks per resource, so that no capability acts on a resource another one is working on.

A lease is one item in the locks table (pk = "lock#<resource>"), written with a condition: free, expired, or
already ours. Expired leases are taken over (a crashed holder cannot block a resource forever) and cleaned up
by the table's TTL. A refused acquisition is recorded in the ledger with the holder's id.
"""

from __future__ import annotations

from typing import Any

from deckwatch import aws, clock
from deckwatch.errors import LockHeldError, LockLostError
from deckwatch.ledger import Capability, Ledger, Record


class Locks:
    def __init__(self, table_name: str, client: Any = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("dynamodb")
        return self._client

    def acquire(self, resource: str, owner: str, capability: str, lease_seconds: int, purpose: str = "") -> int:
        """Take or renew the lease; returns its expiry (epoch seconds). Raises LockHeldError with the holder."""
        now = int(clock.now_epoch())
        expires = now + lease_seconds
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={
                    "pk": {"S": f"lock#{resource}"},
                    "resource": {"S": resource},
                    "owner": {"S": owner},
                    "capability": {"S": capability},
                    "purpose": {"S": purpose or capability},
                    "acquired_at": {"N": str(now)},
                    "expires_at": {"N": str(expires)},
                },
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now OR #o = :owner",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":now": {"N": str(now)}, ":owner": {"S": owner}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            holder = self.holder(resource)
            if holder is None:  # released between our write and our read: one more try is enough
                return self.acquire(resource, owner, capability, lease_seconds, purpose)
            raise LockHeldError(resource, holder["owner"], holder["capability"], holder["expires_at"]) from None
        return expires

    def release(self, resource: str, owner: str) -> bool:
        """Release if ours. Idempotent: releasing a free lease is fine; someone else's raises LockLostError."""
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key={"pk": {"S": f"lock#{resource}"}},
                ConditionExpression="attribute_not_exists(pk) OR #o = :owner",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            holder = self.holder(resource)
            raise LockLostError(
                f"{resource} is held by {holder['owner'] if holder else 'nobody'}, not {owner}"
            ) from None
        return True

    def claim(self, pk: str) -> dict[str, Any] | None:
        """Delete item `pk` if it is there and return its attributes (DynamoDB-typed); None if it was not. One
        caller wins a race: how a pending approval or a waiting drill is answered exactly once."""
        try:
            old = self.client.delete_item(
                TableName=self.table_name,
                Key={"pk": {"S": pk}},
                ConditionExpression="attribute_exists(pk)",
                ReturnValues="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return dict(old["Attributes"])

    def holder(self, resource: str) -> dict[str, Any] | None:
        """The live lease on `resource`, or None (an expired lease counts as free)."""
        item = self.client.get_item(
            TableName=self.table_name, Key={"pk": {"S": f"lock#{resource}"}}, ConsistentRead=True
        ).get("Item")
        if not item or int(item["expires_at"]["N"]) < int(clock.now_epoch()):
            return None
        return {
            "resource": item["resource"]["S"],
            "owner": item["owner"]["S"],
            "capability": item["capability"]["S"],
            "expires_at": int(item["expires_at"]["N"]),
        }


def acquire_or_record(
    locks: Locks,
    ledger: Ledger,
    *,
    resource: str,
    owner: str,
    capability: Capability,
    environment: str,
    lease_seconds: int,
    event_id: str | None = None,
    policy_version: str | None = None,
) -> int:
    """Acquire the lease; when refused, record the refusal (with the holder) before re-raising."""
    try:
        return locks.acquire(resource, owner, capability, lease_seconds)
    except LockHeldError as held:
        ledger.append(
            Record(
                record_id=f"{event_id or owner}:lock-refused:{resource}",
                environment=environment,
                capability=capability,
                subject=resource,
                kind="refusal",
                decision="refused",
                reason=f"locked by {held.capability} ({held.holder})",
                event_id=event_id,
                policy_version=policy_version,
                details={"holder": held.holder, "holder_capability": held.capability, "expires_at": held.expires_at},
            )
        )
        raise


def resource_key(kind: str, *parts: str) -> str:
    """The one name every capability uses for a resource it locks, so that their locks meet:
    ecs:<cluster>/<service>, rds:<db instance or cluster id>, lambda:<function>:<alias>, listener:<arn>."""
    if kind not in ("ecs", "rds", "lambda", "listener", "service"):
        raise ValueError(f"unknown resource kind {kind}")
    if kind == "ecs":
        return f"ecs:{parts[0]}/{parts[1]}"
    if kind == "lambda":
        return f"lambda:{parts[0]}:{parts[1]}"
    return f"{kind}:{parts[0]}"
