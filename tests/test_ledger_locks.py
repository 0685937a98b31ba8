"""Ledger and lease locks against moto's DynamoDB, with tables shaped like template.yaml's."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypedDict

import boto3
import pytest
from deckwatch import clock
from deckwatch.errors import LockHeldError, LockLostError
from deckwatch.ledger import Capability, Ledger, Record, verify
from deckwatch.locks import acquire_or_record
from deckwatch.state import StateStore
from moto import mock_aws

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import KeySchemaElementTypeDef

LEDGER, LOCKS = "deckwatch-test-ledger", "deckwatch-test-locks"
EVER = "2000-01-01"  # an explicit lower bound (see test_query_defaults_cover_all_time for the default)


class _LeaseArgs(TypedDict):
    """acquire_or_record's keyword arguments that every call of a test shares."""

    capability: Capability
    environment: str
    lease_seconds: int


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        key_sk: list[KeySchemaElementTypeDef] = [{"AttributeName": "sk", "KeyType": "RANGE"}]
        client.create_table(
            TableName=LEDGER,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "capability", "day")
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, *key_sk],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by_capability",
                    "KeySchema": [{"AttributeName": "capability", "KeyType": "HASH"}, *key_sk],
                    "Projection": {"ProjectionType": "ALL"},
                },
                {
                    "IndexName": "by_day",
                    "KeySchema": [{"AttributeName": "day", "KeyType": "HASH"}, *key_sk],
                    "Projection": {"ProjectionType": "ALL"},
                },
            ],
        )
        client.create_table(
            TableName=LOCKS,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        yield client


@pytest.fixture
def sim() -> Iterator[clock.SimulatedClock]:
    simulated = clock.SimulatedClock()
    clock.install(simulated)
    try:
        yield simulated
    finally:
        clock.install(clock.WallClock())


def record(record_id: str, time: str, subject: str = "service/web", capability: str = "cutover", **kw: Any) -> Record:
    return Record(
        record_id=record_id,
        time=time,
        environment="staging",
        capability=capability,  # type: ignore[arg-type]
        subject=subject,
        kind="decision",
        decision=kw.pop("decision", "cutover-requested"),
        **kw,
    )


def count_items(client: Any) -> int:
    return len(client.scan(TableName=LEDGER)["Items"])


# ------------------------------------------------------------------ ledger ---------------------------------------


def test_chain_links_every_record_of_a_subject(ddb: Any) -> None:
    ledger = Ledger(LEDGER, client=ddb)
    for i in range(4):
        ledger.append(record(f"r{i}", f"2026-11-30T09:0{i}:00.000Z", details={"weight": i * 0.25}))
    ledger.append(record("other", "2026-11-30T09:00:30.000Z", subject="service/api"))
    rows = ledger.by_subject("service/web", since=EVER)
    assert [r["seq"] for r in rows] == [0, 1, 2, 3]
    assert rows[0]["prev_hash"] == "0" * 64
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(rows))
    assert verify(ledger) == (5, [])
    assert verify(ledger, "service/api") == (1, [])


def test_verify_finds_a_changed_a_removed_and_an_inserted_record(ddb: Any) -> None:
    """What IAM denies Deckwatch's own roles, an administrator's credentials can still do: verify notices."""
    ledger = Ledger(LEDGER, client=ddb)
    for i in range(4):
        ledger.append(record(f"r{i}", f"2026-11-30T09:0{i}:00.000Z"))
    key = {"pk": {"S": "service/web"}, "sk": {"S": "2026-11-30T09:01:00.000Z#r1"}}
    ddb.update_item(
        TableName=LEDGER,
        Key=key,
        UpdateExpression="SET decision = :d",
        ExpressionAttributeValues={":d": {"S": "approved"}},
    )
    assert [(f.problem, f.detail) for f in verify(ledger)[1]] == [("changed", "record r1")]
    # removed together with its link: the successor's link no longer follows on
    ddb.delete_item(TableName=LEDGER, Key={"pk": {"S": "service/web"}, "sk": {"S": "2026-11-30T09:02:00.000Z#r2"}})
    ddb.delete_item(TableName=LEDGER, Key={"pk": {"S": "chain#service/web"}, "sk": {"S": f"{2:012d}"}})
    problems = {(f.problem, f.detail) for f in verify(ledger)[1]}
    assert ("missing", "links 2..2") in problems
    # a record slipped in with a plausible body but no link
    forged = dict(ddb.get_item(TableName=LEDGER, Key=key)["Item"])
    forged["sk"] = {"S": "2026-11-30T09:01:30.000Z#forged"}
    ddb.put_item(TableName=LEDGER, Item=forged)
    problems = {(f.problem, f.detail) for f in verify(ledger)[1]}
    assert ("unchained", "record r1") in problems  # the forged copy keeps r1's record_id


def test_verify_accepts_a_chain_shortened_by_retention_only(ddb: Any) -> None:
    ledger = Ledger(LEDGER, retention_days=30, client=ddb)
    sim = clock.SimulatedClock(start=datetime(2026, 11, 1, 9, tzinfo=UTC).timestamp())
    clock.install(sim)
    try:
        ledger.append(record("old", "2026-11-01T09:00:00.000Z"))
        sim.advance_to(datetime(2026, 11, 20, 9, tzinfo=UTC).timestamp())
        ledger.append(record("new", "2026-11-20T09:00:00.000Z"))
        for key in (
            {"pk": {"S": "service/web"}, "sk": {"S": "2026-11-01T09:00:00.000Z#old"}},
            {"pk": {"S": "chain#service/web"}, "sk": {"S": f"{0:012d}"}},
        ):
            ddb.delete_item(TableName=LEDGER, Key=key)  # what TTL does 30 days on, or what someone did today
        assert [f.problem for f in verify(ledger)[1]] == ["missing"]
        sim.advance_to(datetime(2026, 12, 2, 9, tzinfo=UTC).timestamp())  # 31 days on: it expired, as it should
        assert verify(ledger) == (1, [])
    finally:
        clock.install(clock.WallClock())


def test_concurrent_writers_extend_one_chain(ddb: Any) -> None:
    """Two writers read the same head: the loser of the link re-reads it and chains after the winner."""
    ledger = Ledger(LEDGER, client=ddb)
    ledger.append(record("r0", "2026-11-30T09:00:00.000Z"))
    head = ledger._head("service/web")
    stale = Ledger(LEDGER, client=ddb)
    reads = iter([head])
    stale._head = lambda subject: next(reads, None) or Ledger._head(stale, subject)  # type: ignore[method-assign]
    ledger.append(record("winner", "2026-11-30T09:00:01.000Z"))
    stale.append(record("loser", "2026-11-30T09:00:01.000Z"))  # its first attempt used the head before the winner
    rows = sorted(ledger.by_subject("service/web", since=EVER), key=lambda r: r["seq"])
    assert [(r["record_id"], r["seq"]) for r in rows] == [("r0", 0), ("winner", 1), ("loser", 2)]
    assert verify(ledger) == (3, [])


def test_append_is_idempotent_per_record_id(ddb: Any) -> None:
    ledger = Ledger(LEDGER, client=ddb)
    first = record("evt-1:cutover:triage:service/web", "2026-11-30T09:00:00.000Z", details={"ratio": 0.5})
    assert ledger.append(first) == first
    # A redelivery builds the record again (a later time), with the same deterministic id.
    again = record("evt-1:cutover:triage:service/web", "2026-11-30T09:00:05.000Z", decision="other")
    assert ledger.append(again) == again
    rows = ledger.by_subject("service/web", since=EVER)
    assert len(rows) == 1
    assert rows[0]["decision"] == "cutover-requested"
    assert rows[0]["details"] == {"ratio": 0.5}  # floats survive DynamoDB (stored as Decimal)
    assert count_items(ddb) == 3  # the record, its id claim and its chain link, nothing else


def test_record_item_layout(ddb: Any) -> None:
    ledger = Ledger(LEDGER, retention_days=30, client=ddb)
    ledger.append(record("r1", "2026-11-30T09:00:00.000Z"))
    item = ddb.get_item(TableName=LEDGER, Key={"pk": {"S": "service/web"}, "sk": {"S": "2026-11-30T09:00:00.000Z#r1"}})[
        "Item"
    ]
    assert item["day"] == {"S": "2026-11-30"}
    assert item["capability"] == {"S": "cutover"}
    assert int(item["expires_at"]["N"]) == 1796029200 + 30 * 86400  # 2026-11-30T09:00:00Z + 30 days
    claim = ddb.get_item(TableName=LEDGER, Key={"pk": {"S": "id#r1"}, "sk": {"S": "id"}})["Item"]
    assert claim["ref_pk"] == {"S": "service/web"}


def test_queries_are_time_ordered(ddb: Any) -> None:
    ledger = Ledger(LEDGER, client=ddb)
    # Written out of order, over two days, two subjects and two capabilities.
    ledger.append(record("c", "2026-11-30T10:00:00.000Z"))
    ledger.append(record("a", "2026-11-29T23:59:00.000Z"))
    ledger.append(
        record(
            "x",
            "2026-11-30T09:30:00.000Z",
            subject="arn:alarm:cpu",
            capability="remediation",
            decision="runbook-selected",
        )
    )
    ledger.append(record("b", "2026-11-30T08:00:00.000Z"))

    assert [r["record_id"] for r in ledger.by_subject("service/web", since=EVER)] == ["a", "b", "c"]
    assert [r["record_id"] for r in ledger.by_subject("service/web", since="2026-11-30")] == ["b", "c"]
    assert [r["record_id"] for r in ledger.by_subject("service/web", since=EVER, until="2026-11-30T09")] == ["a", "b"]
    assert [r["record_id"] for r in ledger.by_capability("cutover", since=EVER)] == ["a", "b", "c"]
    assert [r["record_id"] for r in ledger.by_capability("remediation", since=EVER)] == ["x"]
    assert ledger.by_capability("drills", since=EVER) == []
    every = ledger.by_time("2026-11-29T00:00:00.000Z", "2026-11-30T23:59:59.999Z")
    assert [r["record_id"] for r in every] == ["a", "b", "x", "c"]
    later = ledger.by_time("2026-11-30T09:00:00.000Z", "2026-11-30T23:59:59.999Z")
    assert [r["record_id"] for r in later] == ["x", "c"]
    assert all(r["sk"] != "id" for r in every)


def test_query_defaults_cover_all_time(ddb: Any) -> None:
    """by_subject/by_capability document `since` as optional: the defaults must query everything."""
    ledger = Ledger(LEDGER, client=ddb)
    ledger.append(record("a", "2026-11-29T23:59:00.000Z"))
    ledger.append(record("b", "2026-11-30T08:00:00.000Z"))
    assert [r["record_id"] for r in ledger.by_subject("service/web")] == ["a", "b"]
    assert [r["record_id"] for r in ledger.by_capability("cutover")] == ["a", "b"]


# ------------------------------------------------------------------ locks ----------------------------------------


def test_acquire_refuse_renew_release(ddb: Any, sim: clock.SimulatedClock) -> None:
    locks = StateStore(LOCKS, client=ddb).leases
    expires = locks.acquire("db/shop-staging-db", "drill-1", "drills", 600)
    assert expires == pytest.approx(clock.now_epoch() + 600, abs=2)
    assert locks.holder("db/shop-staging-db") == {
        "resource": "db/shop-staging-db",
        "owner": "drill-1",
        "capability": "drills",
        "expires_at": expires,
    }

    with pytest.raises(LockHeldError) as held:
        locks.acquire("db/shop-staging-db", "remediation-7", "remediation", 600)
    assert held.value.holder == "drill-1"
    assert held.value.capability == "drills"
    assert "drill-1" in str(held.value)

    sim.advance(300)
    renewed = locks.acquire("db/shop-staging-db", "drill-1", "drills", 600)
    assert renewed >= expires + 299

    assert locks.release("db/shop-staging-db", "drill-1") is True
    assert locks.holder("db/shop-staging-db") is None
    assert locks.release("db/shop-staging-db", "drill-1") is False  # idempotent: already free, nothing removed
    # free again: anyone may take it
    locks.acquire("db/shop-staging-db", "remediation-7", "remediation", 60)


def test_expired_lease_is_taken_over(ddb: Any, sim: clock.SimulatedClock) -> None:
    locks = StateStore(LOCKS, client=ddb).leases
    locks.acquire("service/web", "cutover-1", "cutover", 60)
    with pytest.raises(LockHeldError):
        locks.acquire("service/web", "remediation-1", "remediation", 60)
    sim.advance(61.5)
    assert locks.holder("service/web") is None  # an expired lease counts as free
    locks.acquire("service/web", "remediation-1", "remediation", 60)
    assert locks.holder("service/web")["owner"] == "remediation-1"  # type: ignore[index]
    # the crashed holder comes back: its lease is gone
    with pytest.raises(LockLostError, match="held by remediation-1, not cutover-1"):
        locks.release("service/web", "cutover-1")
    assert locks.holder("service/web")["owner"] == "remediation-1"  # type: ignore[index]


def test_release_by_non_owner_raises(ddb: Any, sim: clock.SimulatedClock) -> None:
    locks = StateStore(LOCKS, client=ddb).leases
    locks.acquire("service/web", "cutover-1", "cutover", 600)
    with pytest.raises(LockLostError, match="cutover-1"):
        locks.release("service/web", "someone-else")
    assert locks.holder("service/web")["owner"] == "cutover-1"  # type: ignore[index]


def test_acquire_or_record_writes_refusal_with_holder(ddb: Any, sim: clock.SimulatedClock) -> None:
    locks, ledger = StateStore(LOCKS, client=ddb).leases, Ledger(LEDGER, client=ddb)
    kw: _LeaseArgs = {"capability": "remediation", "environment": "staging", "lease_seconds": 600}
    acquire_or_record(locks, ledger, resource="db/shop-staging-db", owner="drill-9", event_id="evt-0", **kw)
    assert ledger.by_subject("db/shop-staging-db", since=EVER) == []  # granted: nothing to record

    with pytest.raises(LockHeldError):
        acquire_or_record(
            locks,
            ledger,
            resource="db/shop-staging-db",
            owner="remediation-3",
            event_id="evt-1",
            policy_version="abc123",
            **kw,
        )
    rows = ledger.by_subject("db/shop-staging-db", since=EVER)
    assert len(rows) == 1
    refusal = rows[0]
    assert refusal["record_id"] == "evt-1:lock-refused:db/shop-staging-db"
    assert (refusal["kind"], refusal["decision"]) == ("refusal", "refused")
    assert refusal["details"]["holder"] == "drill-9"
    assert refusal["details"]["holder_capability"] == "remediation"
    assert "drill-9" in refusal["reason"]
    assert refusal["policy_version"] == "abc123"

    # the same refused event, redelivered: still one refusal record
    with pytest.raises(LockHeldError):
        acquire_or_record(locks, ledger, resource="db/shop-staging-db", owner="remediation-3", event_id="evt-1", **kw)
    assert len(ledger.by_subject("db/shop-staging-db", since=EVER)) == 1
