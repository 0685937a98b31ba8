"""The cost capability's own state, kept in the locks table next to leases and approvals:

- "cost#anomaly#<anomaly id>": the highest severity alerted for an anomaly (Cost Anomaly Detection re-sends the
  same anomaly id as its impact grows: Deckwatch alerts again only when the severity rises) and whether savings
  were started for it. Expires 90 days after the last sighting (as Cost Explorer's own anomaly history).
- "cost#saved#<resource key>": exactly what a savings action changed (the previous ECS desired count, the RDS
  instance that was available), so that a resume restores it. Lives until resumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from deckwatch import clock
from deckwatch.cost.attribution import RANK

if TYPE_CHECKING:
    from deckwatch.context import Services

ANOMALY = "cost#anomaly#"
SAVED = "cost#saved#"
ANOMALY_TTL = 90 * 86400


@dataclass(frozen=True)
class Sighting:
    kind: str  # "new" | "rose" | "updated"
    previous: str | None  # the severity alerted before this sighting
    acted: bool  # savings were started for this anomaly already


def record_sighting(deps: Services, anomaly_id: str, level: str, impact: float, environment: str | None) -> Sighting:
    ddb, table = deps.locks.client, deps.locks.table_name
    key = {"pk": {"S": ANOMALY + anomaly_id}}
    now, iso = int(clock.now_epoch()), clock.iso()
    values = {
        ":s": {"S": level},
        ":r": {"N": str(RANK[level])},
        ":i": {"N": str(impact)},
        ":t": {"S": iso},
        ":e": {"N": str(now + ANOMALY_TTL)},
    }
    try:
        ddb.put_item(
            TableName=table,
            Item={
                **key,
                "severity": {"S": level},
                "severity_rank": {"N": str(RANK[level])},
                "impact": {"N": str(impact)},
                "first_seen": {"S": iso},
                "last_seen": {"S": iso},
                "environment": {"S": environment or "unknown"},
                "acted": {"BOOL": False},
                "expires_at": {"N": str(now + ANOMALY_TTL)},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
        return Sighting("new", None, False)
    except ddb.exceptions.ConditionalCheckFailedException:
        pass
    names = {"#s": "severity", "#r": "severity_rank", "#i": "impact", "#l": "last_seen", "#x": "expires_at"}
    try:
        old = ddb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET #s = :s, #r = :r, #i = :i, #l = :t, #x = :e",
            ConditionExpression="#r < :r",  # only a rise: two concurrent deliveries cannot both alert
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_OLD",
        )["Attributes"]
        return Sighting("rose", old["severity"]["S"], old.get("acted", {}).get("BOOL", False))
    except ddb.exceptions.ConditionalCheckFailedException:
        pass
    old = ddb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET #i = :i, #l = :t, #x = :e",
        ExpressionAttributeNames={k: v for k, v in names.items() if k in ("#i", "#l", "#x")},
        ExpressionAttributeValues={k: v for k, v in values.items() if k in (":i", ":t", ":e")},
        ReturnValues="ALL_NEW",
    )["Attributes"]
    return Sighting("updated", old["severity"]["S"], old.get("acted", {}).get("BOOL", False))


def mark_acted(deps: Services, anomaly_id: str, execution: str) -> None:
    deps.locks.client.update_item(
        TableName=deps.locks.table_name,
        Key={"pk": {"S": ANOMALY + anomaly_id}},
        UpdateExpression="SET acted = :t, execution = :x",
        ExpressionAttributeValues={":t": {"BOOL": True}, ":x": {"S": execution}},
    )


def anomalies(deps: Services) -> list[dict[str, Any]]:
    return [_plain(i) for i in _scan(deps, ANOMALY)]


# ------------------------------------------------------------------------------------------ savings ------------
def save_change(deps: Services, resource: str, change: dict[str, Any]) -> bool:
    """Remember what is about to change. False if a change of this resource is already recorded by someone else
    (stopped by an earlier execution and not resumed yet: the recorded previous state is the one to restore)."""
    import json

    ddb = deps.locks.client
    try:
        ddb.put_item(
            TableName=deps.locks.table_name,
            Item={
                "pk": {"S": SAVED + resource},
                "resource": {"S": resource},
                "execution": {"S": str(change["execution"])},
                "change": {"S": json.dumps(change, sort_keys=True)},
            },
            ConditionExpression="attribute_not_exists(pk) OR execution = :x",
            ExpressionAttributeValues={":x": {"S": str(change["execution"])}},
        )
    except ddb.exceptions.ConditionalCheckFailedException:
        return False
    return True


def saved_changes(deps: Services) -> dict[str, dict[str, Any]]:
    import json

    return {i["resource"]["S"]: json.loads(i["change"]["S"]) for i in _scan(deps, SAVED)}


def forget_change(deps: Services, resource: str) -> None:
    deps.locks.client.delete_item(TableName=deps.locks.table_name, Key={"pk": {"S": SAVED + resource}})


def _scan(deps: Services, prefix: str) -> list[dict[str, Any]]:
    ddb, items = deps.locks.client, []
    kwargs: dict[str, Any] = {
        "TableName": deps.locks.table_name,
        "FilterExpression": "begins_with(pk, :p)",
        "ExpressionAttributeValues": {":p": {"S": prefix}},
        "ConsistentRead": True,
    }
    while True:
        page = ddb.scan(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in item.items():
        ((kind, value),) = v.items()
        out[k] = float(value) if kind == "N" else value
    return out
