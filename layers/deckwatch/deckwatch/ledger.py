"""The audit ledger shared by all four capabilities: one append-only record per decision and per action.

Table layout (template.yaml, LedgerTable):
  pk = subject resource, sk = "<iso time>#<record id>"          -> query by subject, ordered by time
  GSI by_capability: capability, sk                               -> query by capability and time
  GSI by_day: day (YYYY-MM-DD), sk                                -> query by time across everything
  pk = "id#<record id>", sk = "id"                                 -> one record by id; claims the id
  pk = "chain#<subject>", sk = "<seq, 12 digits>"                  -> the subject's hash chain
Records are never overwritten: each write is one transaction of three conditional Puts (IAM grants writers
PutItem and ConditionCheckItem only, and denies UpdateItem and DeleteItem): it claims "id#<record id>", so a
retried delivery of the same event writes its record once (EventBridge delivers at least once), and the next
link of the subject's chain, so that two writers cannot both extend the chain from the same record.
`append_with` adds the state change a record describes (an item of another table) to the same transaction: both
are written or neither, and a redelivered event's change is refused with its record (an alarm storm's joins).

Each record carries `seq`, `prev_hash` and `hash` = sha256(prev_hash, the record's canonical JSON); the chain item
repeats the hash. `verify` walks every chain: a changed record no longer matches its hash, a deleted one leaves a
chain link (or a successor's prev_hash) without it, an inserted one has no link. TTL ends chains from the oldest
end; a chain whose first surviving link names a predecessor that should have expired by now is complete.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from deckwatch import clock
from deckwatch.errors import LedgerConflictError

GENESIS = "0" * 64
CHAIN_ATTEMPTS = 5  # writers racing for the same subject's next link; each loser re-reads the head once

if TYPE_CHECKING:
    from deckwatch.aws import Clients

Capability = Literal["core", "cutover", "remediation", "drills", "cost"]
Written = Literal["written", "duplicate", "refused"]
Kind = Literal["decision", "intent", "action", "refusal", "rejection", "approval", "notification", "incident", "report"]


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
        """Write `record` once, as the next link of its subject's chain. A second write of the same record_id is a
        no-op returning the record (a redelivered event, or a retry after a write whose response was lost).

        Losing the race for a link to another writer is not a failure: the head is read again and the record
        chained after the winner's (optimistic concurrency, bounded; not a retry of a failed call)."""
        self._append(record, None)
        return record

    def append_with(self, record: Record, change: dict[str, Any]) -> Written:
        """Write `record` (as `append`) and, in the same transaction, `change`: one more TransactWriteItems entry
        ({"Update": ...}, {"Put": ...} or {"ConditionCheck": ...} on another table), so that the record and the
        state it describes are written together or not at all. "written"; "duplicate" when the record was written
        before (nothing written now: a redelivered event changes the state once); "refused" when `change`'s
        condition failed (nothing written)."""
        return self._append(record, change)

    def _append(self, record: Record, change: dict[str, Any] | None) -> Written:
        body = record.model_dump(mode="json", exclude_none=True)
        expires = int(_parse(record.time).timestamp()) + self.retention_days * 86400
        base = {
            "pk": record.subject,
            "sk": f"{record.time}#{record.record_id}",
            "day": record.time[:10],
            "expires_at": expires,
            **body,
        }
        for _ in range(CHAIN_ATTEMPTS):
            head = self._head(record.subject)
            seq = 0 if head is None else int(head["sk"]) + 1
            prev_hash = GENESIS if head is None else str(head["hash"])
            item = {**base, "seq": seq, "prev_hash": prev_hash}
            item["hash"] = chain_hash(prev_hash, item)
            link = {
                "pk": f"chain#{record.subject}",
                "sk": f"{seq:012d}",
                "ref_sk": item["sk"],
                "record_id": record.record_id,
                "hash": item["hash"],
                "prev_hash": prev_hash,
                "prev_time": "" if head is None else str(head.get("time", "")),
                "time": record.time,
                "expires_at": expires,
            }
            reasons = self._write(record.record_id, record.subject, item, link, expires, change)
            if not reasons:
                return "written"
            if reasons[0] == "ConditionalCheckFailed":
                return "duplicate"  # already written by an earlier delivery: idempotent
            if change is not None and reasons[3] == "ConditionalCheckFailed":
                return "refused"
            if reasons[1] != "ConditionalCheckFailed":
                raise LedgerConflictError(f"ledger write refused for {record.record_id}: {reasons}")
        raise LedgerConflictError(f"ledger chain of {record.subject} kept moving: {record.record_id} not written")

    def _head(self, subject: str) -> dict[str, Any] | None:
        """The subject's last chain link (consistent read: a link written a moment ago by another writer counts)."""
        from boto3.dynamodb.types import TypeDeserializer

        found = self.client.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"chain#{subject}"}},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        ).get("Items", [])
        de = TypeDeserializer()
        return {k: _plain(de.deserialize(v)) for k, v in found[0].items()} if found else None

    def _write(
        self,
        record_id: str,
        subject: str,
        item: dict[str, Any],
        link: dict[str, Any],
        expires: int,
        change: dict[str, Any] | None = None,
    ) -> list[str | None]:
        """The three conditional Puts in one transaction (and `change`, fourth); [] when written, else the
        cancellation reasons."""
        from boto3.dynamodb.types import TypeSerializer

        ser = TypeSerializer()

        def typed(doc: dict[str, Any]) -> dict[str, Any]:
            return {k: ser.serialize(_ddb_safe(v)) for k, v in doc.items()}

        claim = {"pk": f"id#{record_id}", "sk": "id", "ref_pk": subject, "ref_sk": item["sk"], "expires_at": expires}
        new_only = "attribute_not_exists(pk)"
        puts = [typed(claim), typed(link), typed(item)]
        items: list[dict[str, Any]] = [
            {"Put": {"TableName": self.table_name, "Item": put, "ConditionExpression": new_only}} for put in puts
        ]
        if change is not None:
            items.append(change)
        try:
            self.client.transact_write_items(TransactItems=items)
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            return reasons + [None] * (len(items) - len(reasons))
        return []

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

    def lookup(self, record_id: str) -> dict[str, Any] | None:
        """`get` for a writer: the same record read by Query, which LedgerWriteAccess grants (to read the chain
        head), so that a function that appends needs no GetItem on the ledger."""
        claim = self._one(f"id#{record_id}", "id")
        return None if claim is None else self._one(str(claim["ref_pk"]), str(claim["ref_sk"]))

    def _one(self, pk: str, sk: str) -> dict[str, Any] | None:
        from boto3.dynamodb.types import TypeDeserializer

        found = self.client.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND sk = :sk",
            ExpressionAttributeValues={":pk": {"S": pk}, ":sk": {"S": sk}},
            ConsistentRead=True,
        ).get("Items", [])
        de = TypeDeserializer()
        return {k: _plain(de.deserialize(v)) for k, v in found[0].items()} if found else None

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

    def items(self) -> list[dict[str, Any]]:
        """Every item of the table as stored (records, chain links, id claims): one scan, for a check that reads
        everything (that nothing secret was ever written) rather than the records of a period."""
        return list(self._items(None))

    def _items(self, subject: str | None) -> Iterator[dict[str, Any]]:
        """Every item (records, links, id claims) of one subject, or of the whole table."""
        from boto3.dynamodb.types import TypeDeserializer

        de = TypeDeserializer()
        paginator = self.client.get_paginator("query" if subject else "scan")
        if subject:
            pages = [
                paginator.paginate(
                    TableName=self.table_name,
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": pk}},
                    ConsistentRead=True,
                )
                for pk in (subject, f"chain#{subject}")
            ]
        else:
            pages = [paginator.paginate(TableName=self.table_name, ConsistentRead=True)]
        for pager in pages:
            for page in pager:
                for raw in page.get("Items", []):
                    yield {k: _plain(de.deserialize(v)) for k, v in raw.items()}

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
                if item.get("sk") != "id" and "ref_sk" not in item:
                    yield item


class Finding(BaseModel):
    """One thing `verify` found wrong with the ledger."""

    model_config = ConfigDict(frozen=True)
    subject: str
    problem: Literal["changed", "missing", "unchained", "broken-link"]
    detail: str


def verify(ledger: Ledger, subject: str | None = None) -> tuple[int, list[Finding]]:
    """Check every chain (or one subject's): returns (records checked, findings). Reads the whole table with a
    Scan for all subjects (an operator's audit, not a hot path)."""
    items = list(ledger._items(subject))
    records: dict[tuple[str, str], dict[str, Any]] = {}
    links: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        pk = str(item["pk"])
        if item.get("sk") == "id":
            continue
        if pk.startswith("chain#") and "ref_sk" in item:
            links.setdefault(pk.removeprefix("chain#"), []).append(item)
        else:
            records[(pk, str(item["sk"]))] = item
    findings: list[Finding] = []
    now = clock.now_epoch()
    chained: set[tuple[str, str]] = set()
    for name, chain in sorted(links.items()):
        chain.sort(key=lambda link: str(link["sk"]))
        previous: dict[str, Any] | None = None
        for link in chain:
            key = (name, str(link["ref_sk"]))
            chained.add(key)
            seq = int(link["sk"])
            if previous is None and seq > 0:
                # the first surviving link: its predecessor must have expired (TTL), else it was removed
                prev_time = str(link.get("prev_time") or "")
                if not prev_time or _parse(prev_time).timestamp() + ledger.retention_days * 86400 > now:
                    findings.append(Finding(subject=name, problem="missing", detail=f"link {seq - 1} is gone"))
            elif previous is not None and seq != int(previous["sk"]) + 1:
                findings.append(
                    Finding(subject=name, problem="missing", detail=f"links {int(previous['sk']) + 1}..{seq - 1}")
                )
            elif previous is not None and link["prev_hash"] != previous["hash"]:
                findings.append(Finding(subject=name, problem="broken-link", detail=f"link {seq}"))
            record = records.get(key)
            if record is None:
                findings.append(Finding(subject=name, problem="missing", detail=f"record {link['record_id']}"))
            elif record.get("hash") != link["hash"] or chain_hash(str(record.get("prev_hash")), record) != link["hash"]:
                findings.append(Finding(subject=name, problem="changed", detail=f"record {link['record_id']}"))
            previous = link
    for key, record in sorted(records.items()):
        if key not in chained:
            findings.append(
                Finding(subject=key[0], problem="unchained", detail=f"record {record.get('record_id', key[1])}")
            )
    return len(records), findings


def chain_hash(prev_hash: str, item: dict[str, Any]) -> str:
    """sha256 over the previous link's hash and the record as DynamoDB gives it back (floats as it stores them),
    without its own hash: the same bytes at write and at verification."""
    plain = _plain(_ddb_safe({k: v for k, v in item.items() if k != "hash"}))
    canonical = json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


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
