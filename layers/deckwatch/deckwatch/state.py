"""The state table: Deckwatch's short-lived operational state, one DynamoDB table per environment
(template.yaml `StateTable`, `deckwatch-<env>-state`), next to the append-only ledger that records why.

One partition key `pk`, no sort key; every item carries `expires_at` (epoch seconds) for DynamoDB's TTL, so that
nothing forgotten (a crashed holder, an unanswered approval) stays for ever. Every conditional write of the table
is in this module: each item kind is one class, the only code that reads or writes its items.

pk (item kind: class) -- attributes -- expires -- written by:

- lock#<resource key> (Leases) -- resource, owner, capability, purpose, acquired_at -- at the end of the lease --
  every capability, through deckwatch.locks
- watch#<alarm name> (AlarmWatches) -- watchers: {watch id: token, states, owner, capability, expires_at} --
  with its longest watch -- cutover bakes and rollback windows, remediation verification (deckwatch.watches)
- approval#<approval id> (PendingApprovals) -- token, execution, environment, capability, subject, summary --
  at the approval's timeout -- deckwatch.approvals (read by deckwatch.approval_links' confirmation page)
- incident#<resource>#<runbook> (OpenIncidents) -- incident_id, status, opener, opened_at, alarm, alarm_at,
  alarm_arns, execution, joined -- after 7 days -- remediation (incidents)
- cooldown#<runbook>#<resource> (Cooldowns) -- acted_at, until -- a day after the cooldown -- remediation guardrails
- budget#<environment>#<hour> (HourlyBudgets) -- used -- after 2 hours -- remediation guardrails
- artifact#<pipeline>#<execution id> (PipelineArtifacts) -- bucket, key, action -- after 30 days -- cutover trigger
- cutover#<service> (CutoverControls) -- execution, cutover_id, revision, pipeline_execution_id, token,
  abort_reason, abort_source -- with the cutover -- cutover steps and trigger (cutover.control)
- restore-wait#<restore job id> (RestoreWaits) -- token, execution -- an hour after the drill's wait -- drills
- drill-sampling#[copy#<region>#]<db> (DrillSampling) -- job_count, last_drill_at -- never (a counter) -- drills
- drill-schedule#last (DrillSchedule) -- at -- never (one item) -- drills schedule
- cost#anomaly#<anomaly id> (CostAnomalies) -- severity, severity_rank, impact, first_seen, last_seen, environment,
  acted, execution -- 90 days after the last sighting -- cost
- cost#saved#<resource key> (SavedChanges) -- resource, execution, change (JSON) -- when resumed -- cost savings
- maintenance#all (MaintenanceEntries) -- entries: {resource key or pattern: reason, until, started_by,
  started_at} -- never (one item; an entry ends at its `until`, pruned at the next write) -- `deckwatch
  maintenance` (read by every capability through deckwatch.maintenance)

Values go in and come out as plain Python (str, int, float, bool, set, list, dict): DynamoDB's typed attribute
maps never leave this module.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from deckwatch import clock
from deckwatch.errors import LockHeldError, LockLostError

if TYPE_CHECKING:
    from deckwatch.aws import Clients

Item = dict[str, Any]


# ------------------------------------------------------------------ the table ------------------------------------
class StateTable:
    """Typed access to the table: every write that can be refused says so by its return value."""

    def __init__(self, table_name: str, client: Any = None, clients: Clients | None = None) -> None:
        self.table_name = table_name
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

    def get(self, pk: str) -> Item | None:
        found = self.client.get_item(TableName=self.table_name, Key=_key(pk), ConsistentRead=True).get("Item")
        return _load(found) if found else None

    def put(self, pk: str, attributes: Item, *, condition: str | None = None, values: Item | None = None) -> bool:
        """Write the item (False when `condition` refuses it)."""
        kwargs: dict[str, Any] = {"TableName": self.table_name, "Item": _dump({"pk": pk, **attributes})}
        _conditional(kwargs, condition, values)
        try:
            self.client.put_item(**kwargs)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def update(
        self,
        pk: str,
        expression: str,
        *,
        condition: str | None = None,
        values: Item | None = None,
        returns: str = "NONE",
        names: dict[str, str] | None = None,
    ) -> Item | None:
        """Apply `expression`; the attributes `returns` asks for ({} for NONE), None when `condition` refuses it.
        Attribute names written `#name` stand for `name` unless `names` maps them (map keys that are data)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": _key(pk),
            "UpdateExpression": expression,
            "ReturnValues": returns,
        }
        _conditional(kwargs, condition, values, expression, names=names)
        try:
            out = self.client.update_item(**kwargs)
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return _load(out.get("Attributes", {}))

    def delete(self, pk: str, *, condition: str | None = None, values: Item | None = None) -> Item | None:
        """Delete; the old attributes ({} if there was none), None when `condition` refuses it."""
        kwargs: dict[str, Any] = {"TableName": self.table_name, "Key": _key(pk), "ReturnValues": "ALL_OLD"}
        _conditional(kwargs, condition, values)
        try:
            out = self.client.delete_item(**kwargs)
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return _load(out.get("Attributes", {}))

    def claim(self, pk: str) -> Item | None:
        """Delete the item if it is there and return it; None if it was not. One caller wins a race: how a pending
        answer (an approval, a waiting drill) is given exactly once."""
        old = self.delete(pk, condition="attribute_exists(pk)")
        return old or None

    def scan(self, prefix: str) -> list[Item]:
        items: list[Item] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "FilterExpression": "begins_with(pk, :p)",
            "ExpressionAttributeValues": {":p": {"S": prefix}},
            "ConsistentRead": True,
        }
        while True:
            page = self.client.scan(**kwargs)
            items.extend(_load(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}}


_NAME = re.compile(r"#[A-Za-z_][A-Za-z0-9_]*")


def _conditional(
    kwargs: dict[str, Any],
    condition: str | None,
    values: Item | None,
    *expressions: str,
    names: dict[str, str] | None = None,
) -> None:
    found = {n for text in (*expressions, condition or "") for n in _NAME.findall(text)}
    if condition:
        kwargs["ConditionExpression"] = condition
    if found:
        kwargs["ExpressionAttributeNames"] = {n: (names or {}).get(n, n[1:]) for n in sorted(found)}
    if values:
        kwargs["ExpressionAttributeValues"] = {k: _typed(v) for k, v in values.items()}


def _typed(value: Any) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    typed: dict[str, Any] = dict(TypeSerializer().serialize(_decimals(value)))
    return typed


def _dump(item: Item) -> dict[str, Any]:
    return {k: _typed(v) for k, v in item.items() if v is not None}


def _load(typed: dict[str, Any]) -> Item:
    from boto3.dynamodb.types import TypeDeserializer

    de = TypeDeserializer()
    return {k: _plain(de.deserialize(v)) for k, v in typed.items()}


def _decimals(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return {_plain(v) for v in value}
    return value


def _now() -> int:
    return int(clock.now_epoch())


# ------------------------------------------------------------------ item kinds -----------------------------------
class Leases:
    """Lease locks per resource (see deckwatch.locks): free, expired (taken over) or already ours."""

    def __init__(self, table: StateTable) -> None:
        self.table = table

    def acquire(self, resource: str, owner: str, capability: str, lease_seconds: int, purpose: str = "") -> int:
        """Take or renew the lease; returns its expiry (epoch seconds). Raises LockHeldError with the holder."""
        now = _now()
        expires = now + lease_seconds
        taken = self.table.put(
            f"lock#{resource}",
            {
                "resource": resource,
                "owner": owner,
                "capability": capability,
                "purpose": purpose or capability,
                "acquired_at": now,
                "expires_at": expires,
            },
            condition="attribute_not_exists(pk) OR expires_at < :now OR #owner = :owner",
            values={":now": now, ":owner": owner},
        )
        if not taken:
            holder = self.holder(resource)
            if holder is None:  # released between our write and our read: one more try is enough
                return self.acquire(resource, owner, capability, lease_seconds, purpose)
            raise LockHeldError(resource, holder["owner"], holder["capability"], holder["expires_at"])
        return expires

    def release(self, resource: str, owner: str) -> bool:
        """Release if ours: True if our lease was removed, False if it was free already (idempotent); someone
        else's raises LockLostError. One conditional delete: no read first (a release must work when reads fail)."""
        done = self.table.delete(
            f"lock#{resource}", condition="attribute_not_exists(pk) OR #owner = :owner", values={":owner": owner}
        )
        if done is None:
            holder = self.holder(resource)
            raise LockLostError(f"{resource} is held by {holder['owner'] if holder else 'nobody'}, not {owner}")
        return bool(done)

    def holder(self, resource: str) -> Item | None:
        """The live lease on `resource`, or None (an expired lease counts as free)."""
        item = self.table.get(f"lock#{resource}")
        if not item or int(item["expires_at"]) < _now():
            return None
        return {k: item[k] for k in ("resource", "owner", "capability", "expires_at")}


class AlarmWatches:
    """Tasks waiting for an alarm's next state (deckwatch.watches): one item per alarm, a map of watchers."""

    def __init__(self, table: StateTable) -> None:
        self.table = table

    def add(
        self,
        alarm: str,
        watch_id: str,
        *,
        token: str,
        states: list[str],
        owner: str,
        capability: str,
        ttl: int,
        reflex: dict[str, Any] | None = None,
    ) -> None:
        expires = _now() + ttl
        watcher: dict[str, Any] = {
            "token": token,
            "states": set(states),
            "owner": owner,
            "capability": capability,
            "expires_at": expires,
        }
        if reflex:
            watcher["reflex"] = reflex
        self.table.update(
            f"watch#{alarm}",
            "SET #watchers = if_not_exists(#watchers, :empty), #expires_at = :exp",
            values={":empty": {}, ":exp": expires},
        )
        self.table.update(
            f"watch#{alarm}",
            "SET #watchers.#w = :watcher",
            values={":watcher": watcher},
            names={"#w": watch_id},
        )

    def watchers(self, alarm: str) -> dict[str, Item]:
        item = self.table.get(f"watch#{alarm}")
        return dict(item.get("watchers", {})) if item else {}

    def remove(self, alarm: str, watch_id: str, token: str | None = None) -> None:
        """Stop watching (idempotent). With `token`, only if the watcher still waits with that token: a watcher
        registered again under the same id (the next bake interval) is not the one that was answered."""
        if self.table.get(f"watch#{alarm}") is None:
            return
        if token is None:
            self.table.update(f"watch#{alarm}", "REMOVE #watchers.#w", names={"#w": watch_id})
        else:
            self.table.update(
                f"watch#{alarm}",
                "REMOVE #watchers.#w",
                condition="#watchers.#w.#token = :token",
                values={":token": token},
                names={"#w": watch_id},
            )


class PendingApprovals:
    """Approval requests waiting for a person (deckwatch.approvals); the task token never leaves this table."""

    def __init__(self, table: StateTable) -> None:
        self.table = table

    def put(self, approval_id: str, *, token: str, execution: str, request: Item, expires_at: int) -> None:
        self.table.put(
            f"approval#{approval_id}",
            {"token": token, "execution": execution, **request, "expires_at": expires_at},
        )

    def drop(self, approval_id: str) -> None:
        self.table.delete(f"approval#{approval_id}")

    def claim(self, approval_id: str) -> Item | None:
        return self.table.claim(f"approval#{approval_id}")

    def get(self, approval_id: str) -> Item | None:
        """A pending request without its token (the approval links' confirmation page), None if not pending."""
        item = self.table.get(f"approval#{approval_id}")
        return None if item is None else {k: v for k, v in item.items() if k not in ("pk", "token")}

    def pending(self) -> list[Item]:
        """Open requests, each with its `id` (and without its token)."""
        return [
            {"id": i["pk"].split("#", 1)[1], **{k: v for k, v in i.items() if k not in ("pk", "token")}}
            for i in self.table.scan("approval#")
        ]


class OpenIncidents:
    """One open incident per (resource, runbook): the first ALARM opens it, the others join (a counter, written
    with the join's ledger record: `join_change`)."""

    def __init__(self, table: StateTable) -> None:
        self.table = table

    @staticmethod
    def _pk(resource: str, runbook: str) -> str:
        return f"incident#{resource}#{runbook}"

    def open_or_join(self, resource: str, runbook: str, incident: Item, alarm_arn: str | None) -> tuple[Item, bool]:
        """(the open incident, whether `incident` opened it)."""
        arns = {alarm_arn} if alarm_arn else None
        if self.table.put(
            self._pk(resource, runbook),
            {**incident, "resource": resource, "runbook": runbook, "joined": 0, "alarm_arns": arns},
            condition="attribute_not_exists(pk)",
        ):
            return {**incident, "resource": resource, "runbook": runbook, "joined": 0}, True
        expression = "ADD #joined :one" + (", #alarm_arns :arns" if arns else "")
        values: Item = {":one": 1, **({":arns": arns} if arns else {})}
        found = self.table.update(
            self._pk(resource, runbook),
            expression,
            condition="attribute_exists(pk)",
            values=values,
            returns="ALL_NEW",
        )
        if found is None:  # closed between the two writes: open it now
            return self.open_or_join(resource, runbook, incident, alarm_arn)
        return found, found["opener"] == incident["opener"]

    def join_change(self, resource: str, runbook: str, incident_id: str, alarm_arn: str | None) -> Item:
        """The join of open incident `incident_id` (its counter, the alarm that fired) as a TransactWriteItems entry:
        written in one transaction with the ledger record of the join (Ledger.append_with), so that a redelivered
        event, whose record exists, counts once. Refused when `incident_id` is no longer the open incident."""
        arns = {alarm_arn} if alarm_arn else None
        expression = "ADD #joined :one" + (", #alarm_arns :arns" if arns else "")
        values: Item = {":one": 1, ":id": incident_id, **({":arns": arns} if arns else {})}
        update: dict[str, Any] = {
            "TableName": self.table.table_name,
            "Key": _key(self._pk(resource, runbook)),
            "UpdateExpression": expression,
        }
        _conditional(update, "incident_id = :id", values, expression)
        return {"Update": update}

    def get(self, resource: str, runbook: str) -> Item | None:
        return self.table.get(self._pk(resource, runbook))

    def set_status(self, resource: str, runbook: str, incident_id: str, status: str) -> bool:
        """False if the incident is closed or another one is open meanwhile."""
        return (
            self.table.update(
                self._pk(resource, runbook),
                "SET #status = :s",
                condition="incident_id = :id",
                values={":s": status, ":id": incident_id},
            )
            is not None
        )

    def close(self, resource: str, runbook: str, incident_id: str) -> Item | None:
        """Close incident `incident_id`; returns it, or None when it was closed already (exactly one closer)."""
        old = self.table.delete(self._pk(resource, runbook), condition="incident_id = :id", values={":id": incident_id})
        return old or None


class Cooldowns:
    def __init__(self, table: StateTable) -> None:
        self.table = table

    def get(self, runbook: str, resource: str) -> Item | None:
        return self.table.get(f"cooldown#{runbook}#{resource}")

    def start(self, runbook: str, resource: str, seconds: int) -> None:
        now = _now()
        self.table.put(
            f"cooldown#{runbook}#{resource}",
            {"acted_at": clock.iso(), "until": now + seconds, "expires_at": now + seconds + 86400},
        )


class HourlyBudgets:
    """Remediation actions per environment and hour: a conditional counter, so that two executions cannot both
    take the last one."""

    def __init__(self, table: StateTable) -> None:
        self.table = table

    def used(self, environment: str, hour: str) -> int:
        item = self.table.get(f"budget#{environment}#{hour}")
        return int(item["used"]) if item else 0

    def take(self, environment: str, hour: str, limit: int) -> bool:
        return (
            self.table.update(
                f"budget#{environment}#{hour}",
                "ADD #used :one SET #expires_at = :exp",
                condition="attribute_not_exists(#used) OR #used < :limit",
                values={":one": 1, ":limit": limit, ":exp": _now() + 7200},
            )
            is not None
        )

    def give_back(self, environment: str, hour: str) -> None:
        self.table.update(
            f"budget#{environment}#{hour}",
            "ADD #used :minus",
            condition="#used > :zero",
            values={":minus": -1, ":zero": 0},
        )


class PipelineArtifacts:
    """The build artifact of a pipeline execution, remembered for a later trigger (a manual approval has none)."""

    def __init__(self, table: StateTable) -> None:
        self.table = table

    def remember(self, pipeline: str, execution_id: str, bucket: str, key: str, action: str) -> None:
        self.table.put(
            f"artifact#{pipeline}#{execution_id}",
            {"bucket": bucket, "key": key, "action": action, "expires_at": _now() + 30 * 86400},
        )

    def get(self, pipeline: str, execution_id: str) -> Item | None:
        return self.table.get(f"artifact#{pipeline}#{execution_id}")


class CutoverControls:
    """The control channel of a running cutover (deckwatch.cutover.control): one item per service."""

    def __init__(self, table: StateTable) -> None:
        self.table = table

    def open(self, service: str, control: Item, ttl: int) -> None:
        self.table.put(f"cutover#{service}", {**control, "expires_at": _now() + ttl})

    def read(self, service: str) -> Item | None:
        return self.table.get(f"cutover#{service}")

    def close(self, service: str, execution: str) -> None:
        """Remove the item if it is this execution's (idempotent)."""
        self.table.delete(
            f"cutover#{service}", condition="attribute_not_exists(pk) OR execution = :e", values={":e": execution}
        )

    def wait_with(self, service: str, execution: str, token: str | None) -> Item | None:
        """Store (or clear) the waiting task's token; the item after it, None if it is not this execution's."""
        return self.table.update(
            f"cutover#{service}",
            "SET #token = :t" if token else "REMOVE #token",
            condition="execution = :e",
            values={":e": execution, **({":t": token} if token else {})},
            returns="ALL_NEW",
        )

    def extend(self, service: str, execution: str, ttl: int) -> None:
        """Keep this execution's item for `ttl` more seconds (a cutover paused until its next window)."""
        self.table.update(
            f"cutover#{service}",
            "SET #expires_at = :exp",
            condition="execution = :e",
            values={":exp": _now() + ttl, ":e": execution},
        )

    def mark_rollback(self, service: str, execution: str, reason: str, source: str) -> bool:
        return (
            self.table.update(
                f"cutover#{service}",
                "SET abort_reason = :r, abort_source = :s",
                condition="execution = :e",
                values={":r": reason, ":s": source, ":e": execution},
            )
            is not None
        )


class RestoreWaits:
    """A drill waiting for its restore job's event (deckwatch.drills.restore)."""

    def __init__(self, table: StateTable) -> None:
        self.table = table

    def register(self, job: str, token: str, execution: str, ttl: int) -> None:
        self.table.put(f"restore-wait#{job}", {"token": token, "execution": execution, "expires_at": _now() + ttl})

    def claim(self, job: str) -> Item | None:
        return self.table.claim(f"restore-wait#{job}")

    def drop(self, job: str) -> None:
        self.table.delete(f"restore-wait#{job}")


class DrillSampling:
    """How many completed backup (or copy) jobs each database had, and when it was last drilled."""

    def __init__(self, table: StateTable) -> None:
        self.table = table

    def count_job(self, stream: str) -> tuple[int, float | None]:
        """Count one more job; (the count, when the last drill was sampled)."""
        item = self.table.update(
            f"drill-sampling#{stream}", "ADD job_count :one", values={":one": 1}, returns="ALL_NEW"
        )
        item = item or {}
        last = item.get("last_drill_at")
        return int(item.get("job_count", 1)), float(last) if last is not None else None

    def mark_drilled(self, stream: str, at: float) -> None:
        self.table.update(f"drill-sampling#{stream}", "SET last_drill_at = :now", values={":now": at})


class DrillSchedule:
    def __init__(self, table: StateTable) -> None:
        self.table = table

    def claim_tick(self, now: int, every: int, slack: int) -> bool:
        """True for the one tick that is due (`every` seconds after the last, less `slack`)."""
        return self.table.put(
            "drill-schedule#last",
            {"at": now},
            condition="attribute_not_exists(pk) OR #at <= :due",
            values={":due": now - every + slack},
        )


@dataclass(frozen=True)
class Sighting:
    kind: str  # "new" | "rose" | "updated"
    previous: str | None  # the severity alerted before this sighting
    acted: bool  # savings were started for this anomaly already


class CostAnomalies:
    """The highest severity alerted per anomaly (Cost Anomaly Detection re-sends the same id as its impact grows:
    Deckwatch alerts again only when the severity rises) and whether savings were started for it."""

    TTL = 90 * 86400

    def __init__(self, table: StateTable) -> None:
        self.table = table

    def sighted(self, anomaly_id: str, level: str, rank: int, impact: float, environment: str | None) -> Sighting:
        pk, now, iso = f"cost#anomaly#{anomaly_id}", _now(), clock.iso()
        if self.table.put(
            pk,
            {
                "severity": level,
                "severity_rank": rank,
                "impact": impact,
                "first_seen": iso,
                "last_seen": iso,
                "environment": environment or "unknown",
                "acted": False,
                "expires_at": now + self.TTL,
            },
            condition="attribute_not_exists(pk)",
        ):
            return Sighting("new", None, False)
        old = self.table.update(
            pk,
            "SET #severity = :s, #severity_rank = :r, #impact = :i, #last_seen = :t, #expires_at = :e",
            condition="#severity_rank < :r",  # only a rise: two concurrent deliveries cannot both alert
            values={":s": level, ":r": rank, ":i": impact, ":t": iso, ":e": now + self.TTL},
            returns="ALL_OLD",
        )
        if old is not None:
            return Sighting("rose", old["severity"], bool(old.get("acted", False)))
        new = self.table.update(
            pk,
            "SET #impact = :i, #last_seen = :t, #expires_at = :e",
            values={":i": impact, ":t": iso, ":e": now + self.TTL},
            returns="ALL_NEW",
        )
        new = new or {}
        return Sighting("updated", new.get("severity"), bool(new.get("acted", False)))

    def mark_acted(self, anomaly_id: str, execution: str) -> None:
        self.table.update(
            f"cost#anomaly#{anomaly_id}", "SET acted = :t, execution = :x", values={":t": True, ":x": execution}
        )

    def all(self) -> list[Item]:
        """Every anomaly seen, each with its `anomaly_id`."""
        return [{"anomaly_id": i["pk"].removeprefix("cost#anomaly#"), **i} for i in self.table.scan("cost#anomaly#")]


class SavedChanges:
    """Exactly what a savings action changed (the previous ECS desired count, the RDS instance that was available),
    so that a resume restores it. Lives until resumed."""

    def __init__(self, table: StateTable) -> None:
        self.table = table

    def save(self, resource: str, change: Item) -> bool:
        """False if a change of this resource is recorded already by another execution (stopped earlier and not
        resumed yet: that recorded state is the one to restore)."""
        return self.table.put(
            f"cost#saved#{resource}",
            {"resource": resource, "execution": str(change["execution"]), "change": json.dumps(change, sort_keys=True)},
            condition="attribute_not_exists(pk) OR execution = :x",
            values={":x": str(change["execution"])},
        )

    def all(self) -> dict[str, Item]:
        return {i["resource"]: json.loads(i["change"]) for i in self.table.scan("cost#saved#")}

    def forget(self, resource: str) -> None:
        self.table.delete(f"cost#saved#{resource}")


class MaintenanceEntries:
    """Planned maintenance started by hand (`deckwatch maintenance start`): one item holding every entry, so that
    the alarm path asks with one read whether a resource is under maintenance (a pattern entry matches many)."""

    PK = "maintenance#all"

    def __init__(self, table: StateTable) -> None:
        self.table = table

    def all(self) -> dict[str, Item]:
        """Entries whose `until` is still ahead, by resource key or pattern."""
        item = self.table.get(self.PK) or {}
        now = _now()
        return {k: v for k, v in dict(item.get("entries", {})).items() if int(v.get("until", 0)) > now}

    def start(self, resource: str, entry: Item) -> None:
        self.table.update(self.PK, "SET #entries = if_not_exists(#entries, :empty)", values={":empty": {}})
        self.table.update(self.PK, "SET #entries.#r = :e", values={":e": entry}, names={"#r": resource})
        self._prune()

    def stop(self, resource: str) -> Item | None:
        """Remove the entry; the entry it was, or None if there was none (running or not)."""
        old = self.table.update(
            self.PK,
            "REMOVE #entries.#r",
            condition="attribute_exists(#entries.#r)",
            names={"#r": resource},
            returns="UPDATED_OLD",
        )
        return None if old is None else dict(old.get("entries", {})).get(resource)

    def _prune(self) -> None:
        item = self.table.get(self.PK) or {}
        now = _now()
        for key, entry in dict(item.get("entries", {})).items():
            if int(entry.get("until", 0)) <= now:
                self.table.update(
                    self.PK,
                    "REMOVE #entries.#r",
                    condition="#entries.#r.#until <= :now",
                    values={":now": now},
                    names={"#r": key},
                )


# ------------------------------------------------------------------ the store ------------------------------------
class StateStore:
    """Every item kind of the state table, on one table client."""

    def __init__(self, table_name: str, client: Any = None, clients: Clients | None = None) -> None:
        self.table = StateTable(table_name, client=client, clients=clients)
        self.leases = Leases(self.table)
        self.watches = AlarmWatches(self.table)
        self.approvals = PendingApprovals(self.table)
        self.incidents = OpenIncidents(self.table)
        self.cooldowns = Cooldowns(self.table)
        self.budgets = HourlyBudgets(self.table)
        self.artifacts = PipelineArtifacts(self.table)
        self.cutovers = CutoverControls(self.table)
        self.restore_waits = RestoreWaits(self.table)
        self.drill_sampling = DrillSampling(self.table)
        self.drill_schedule = DrillSchedule(self.table)
        self.anomalies = CostAnomalies(self.table)
        self.savings = SavedChanges(self.table)
        self.maintenance = MaintenanceEntries(self.table)

    @property
    def table_name(self) -> str:
        return self.table.table_name
