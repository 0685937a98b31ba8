"""The audit ledger shared by all four capabilities: one append-only record per decision and per action.

Table layout (template.yaml, LedgerTable):
  pk = subject resource, sk = "<iso time>#<record id>"          -> query by subject, ordered by time
  GSI by_capability: capability, sk                               -> query by capability and time
  GSI by_day: day (YYYY-MM-DD), sk                                -> query by time across everything
Records are never overwritten: each write is a transaction that also claims "id#<record id>", so a retried
delivery of the same event writes its record once (EventBridge delivers at least once).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from deckwatch import clock
from deckwatch.errors import LedgerConflictError

if TYPE_CHECKING:
    from deckwatch.aws import Clients

Capability = Literal["core", "cutover", "remediation", "drills", "cost"]
Kind = Literal["decision", "action", "refusal", "rejection", "approval", "notification", "incident", "report"]


class Action(BaseModel):
    model_config = ConfigDict(frozen=True)
    service: str
    operation: str
    parameters: dict[str, Any] = Field(default_factory=dict)


class Record(BaseModel):
    """One ledger entry. `record_id` is deterministic when the caller derives it from an event id."""

    model_config = ConfigDict(frozen=True)

    record_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    time: str = Field(default_factory=clock.iso)
    environment: str
    capability: Capability
    subject: str
    kind: Kind
    decision: str
    reason: str = ""
    event_id: str | None = None
    execution_arn: str | None = None
    action: Action | None = None
    dry_run: bool = False
    outcome: str | None = None
    policy_version: str | None = None
    actor: str = "event"
    details: dict[str, Any] = Field(default_factory=dict)


class Ledger:
    def __init__(
        self, table_name: str, retention_days: int = 400, client: Any = None, clients: Clients | None = None
    ) -> None:
        self.table_name = table_name
        self.retention_days = retention_days
        self._client = client
        self._clients = clients

    @property
    def client(self) -> Any:
        if self._client is None:
            if self._clients is None:
                from deckwatch.aws import Clients

                self._clients = Clients()
            self._client = self._clients("dynamodb")
        return self._client

    def append(self, record: Record) -> Record:
        """Write `record` once. A second write of the same record_id is a no-op returning the record."""
        from boto3.dynamodb.types import TypeSerializer

        body = record.model_dump(mode="json", exclude_none=True)
        expires = int(_parse(record.time).timestamp()) + self.retention_days * 86400
        item = {
            "pk": record.subject,
            "sk": f"{record.time}#{record.record_id}",
            "day": record.time[:10],
            "expires_at": expires,
            **body,
        }
        ser = TypeSerializer()
        typed = {k: ser.serialize(_ddb_safe(v)) for k, v in item.items()}
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": {
                                "pk": {"S": f"id#{record.record_id}"},
                                "sk": {"S": "id"},
                                "ref_pk": {"S": record.subject},
                                "ref_sk": typed["sk"],
                                "expires_at": {"N": str(expires)},
                            },
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": typed,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return record  # already written by an earlier delivery: idempotent
            raise LedgerConflictError(f"ledger write refused for {record.record_id}: {reasons}") from exc
        return record

    def get(self, record_id: str) -> dict[str, Any] | None:
        """One record by its id (through the id item that append writes beside it), or None."""
        from boto3.dynamodb.types import TypeDeserializer

        ref = self.client.get_item(TableName=self.table_name, Key={"pk": {"S": f"id#{record_id}"}, "sk": {"S": "id"}})
        if "Item" not in ref:
            return None
        key = {"pk": ref["Item"]["ref_pk"], "sk": ref["Item"]["ref_sk"]}
        item = self.client.get_item(TableName=self.table_name, Key=key).get("Item")
        de = TypeDeserializer()
        return None if item is None else {k: _plain(de.deserialize(v)) for k, v in item.items()}

    def by_subject(self, subject: str, since: str = "", until: str = "~") -> list[dict[str, Any]]:
        return list(self._query(None, "pk", subject, since, until))

    def by_capability(self, capability: str, since: str = "", until: str = "~") -> list[dict[str, Any]]:
        return list(self._query("by_capability", "capability", capability, since, until))

    def by_time(self, since: str, until: str | None = None) -> list[dict[str, Any]]:
        """Every record between two ISO times (inclusive of days), oldest first."""
        end = until or clock.iso()
        out: list[dict[str, Any]] = []
        day = _parse(since).date()
        while day.isoformat() <= end[:10]:
            out.extend(self._query("by_day", "day", day.isoformat(), since, end))
            day += timedelta(days=1)
        return out

    def _query(self, index: str | None, key: str, value: str, since: str, until: str) -> Iterator[dict[str, Any]]:
        from boto3.dynamodb.types import TypeDeserializer

        de = TypeDeserializer()
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#k = :v AND sk BETWEEN :a AND :b",
            "ExpressionAttributeNames": {"#k": key},
            # DynamoDB refuses an empty key value: "0" sorts before every ISO time
            "ExpressionAttributeValues": {":v": {"S": value}, ":a": {"S": since or "0"}, ":b": {"S": until + "~"}},
        }
        if index:
            kwargs["IndexName"] = index
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(**kwargs):
            for raw in page.get("Items", []):
                item = {k: _plain(de.deserialize(v)) for k, v in raw.items()}
                if item.get("sk") != "id":
                    yield item


def _parse(iso: str) -> datetime:
    if not iso:
        return datetime(1970, 1, 1, tzinfo=UTC)
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _ddb_safe(value: Any) -> Any:
    """DynamoDB has no floats: store them as Decimal; drop empty strings inside nothing else."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _ddb_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ddb_safe(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value
