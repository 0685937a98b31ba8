"""The moto patches: pinned version, idempotent install, call classification, and simulated time in Step Functions."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import moto
import pytest
from deckwatch.local import moto_patches
from deckwatch.local.runtime import LocalAWS

ROLE = "arn:aws:iam::123456789012:role/deckwatch-test-sfn"


def test_moto_version_is_the_pinned_one(repo_root: Any) -> None:
    assert moto.__version__ == moto_patches.MOTO_VERSION
    pyproject = (repo_root / "pyproject.toml").read_text(encoding="utf-8")
    assert f']=={moto_patches.MOTO_VERSION}"' in pyproject


def test_apply_is_idempotent() -> None:
    from moto.awslambda.models import LambdaFunction
    from moto.core.botocore_stubber import BotocoreStubber

    moto_patches.apply()
    invoke, call = LambdaFunction._invoke_lambda, BotocoreStubber.__call__
    moto_patches.apply()
    assert LambdaFunction._invoke_lambda is invoke
    assert BotocoreStubber.__call__ is call  # not wrapped twice (each call would be recorded twice)


@pytest.mark.parametrize(
    ("operation", "mutating"),
    [
        ("PutItem", True),
        ("TransactWriteItems", True),
        ("Publish", True),
        ("SendMessage", True),
        ("StartExecution", True),
        ("DescribeAlarms", False),
        ("GetItem", False),
        ("Query", False),
        ("ListTagsForResource", False),
        ("ReceiveMessage", False),
        ("BatchGetItem", False),
    ],
)
def test_is_mutating(operation: str, mutating: bool) -> None:
    assert moto_patches.is_mutating(operation) is mutating


@pytest.fixture(scope="module")
def rt(local_aws_factory: Callable[..., AbstractContextManager[LocalAWS]]) -> Iterator[LocalAWS]:
    with local_aws_factory("dev", approvals="approve") as runtime:
        yield runtime


def run_definition(rt: LocalAWS, definition: dict[str, Any]) -> tuple[dict[str, Any], float, float]:
    """Create and run a state machine; (describe_execution, real seconds, simulated seconds)."""
    sfn = rt.client("stepfunctions")
    arn = sfn.create_state_machine(name=f"t-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]
    sim0, real0 = rt.clock.simulated_seconds, time.monotonic()
    started: dict[str, Any] = {}

    def start() -> None:
        started.update(sfn.start_execution(stateMachineArn=arn, name=f"run-{uuid.uuid4().hex[:8]}", input="{}"))

    rt.act("start a test state machine", start)  # runs until the execution has ended
    desc = sfn.describe_execution(executionArn=started["executionArn"])
    return desc, time.monotonic() - real0, rt.clock.simulated_seconds - sim0


def test_wait_state_advances_simulated_clock(rt: LocalAWS) -> None:
    before = rt.clock.time()
    desc, real, simulated = run_definition(
        rt,
        {
            "StartAt": "Hour",
            "States": {
                "Hour": {"Type": "Wait", "Seconds": 3600, "Next": "Done"},
                "Done": {"Type": "Pass", "Result": {"ok": True}, "End": True},
            },
        },
    )
    assert desc["status"] == "SUCCEEDED"
    assert json.loads(desc["output"]) == {"ok": True}
    assert real < 10
    assert simulated >= 3600
    assert rt.clock.time() - before >= 3600  # deckwatch.clock sees the hour pass


def test_retry_interval_advances_simulated_clock(rt: LocalAWS) -> None:
    desc, real, simulated = run_definition(
        rt,
        {
            "StartAt": "Flaky",
            "States": {
                "Flaky": {
                    "Type": "Parallel",
                    "Branches": [
                        {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Boom", "Cause": "x"}}}
                    ],
                    "Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 600, "MaxAttempts": 2, "BackoffRate": 1.0}],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Recovered"}],
                    "Next": "Recovered",
                },
                "Recovered": {"Type": "Pass", "End": True},
            },
        },
    )
    assert desc["status"] == "SUCCEEDED"
    assert real < 10
    assert simulated >= 1200  # two retries, 600 s apart each


def test_context_object_paths_survive_cloudformation(rt: LocalAWS) -> None:
    definition = rt.client("stepfunctions").describe_state_machine(stateMachineArn=rt.physical["ApprovalStateMachine"])[
        "definition"
    ]
    assert moto_patches.CONTEXT_SENTINEL not in definition
    doc = json.loads(definition)
    params = doc["States"]["RequestApproval"]["Parameters"]
    assert params["Payload"]["taskToken.$"] == "$$.Task.Token"
    assert params["FunctionName"] == rt.functions["deckwatch-dev-approval"]["arn"]


def test_an_ended_execution_puts_its_status_change_event(rt: LocalAWS) -> None:
    queued: list[dict[str, Any]] = []
    original = moto_patches.HOOKS.put_event
    moto_patches.HOOKS.put_event = queued.append
    try:
        desc, _, _ = run_definition(
            rt, {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Boom", "Cause": "on purpose"}}}
        )
    finally:
        moto_patches.HOOKS.put_event = original
    assert desc["status"] == "FAILED"
    (event,) = [e for e in queued if e["detail"].get("executionArn") == desc["executionArn"]]
    assert (event["source"], event["detail-type"]) == ("aws.states", "Step Functions Execution Status Change")
    assert event["resources"] == [desc["executionArn"]]
    detail = event["detail"]
    assert (detail["status"], detail["error"], detail["cause"]) == ("FAILED", "Boom", "on purpose")
    assert detail["stateMachineArn"] == desc["stateMachineArn"] and detail["input"] == "{}"
    assert detail["stopDate"] >= detail["startDate"] > 0


def test_dynamodb_item_responses_are_what_motos_serializer_writes() -> None:
    """The fast path (mock_services.dynamodb) writes item results as JSON directly: the same document."""
    import boto3
    from deckwatch.local.mock_services import dynamodb as mock_ddb
    from moto import mock_aws
    from moto.dynamodb.responses import DynamoResult

    mock_ddb.install()
    fast = DynamoResult.execute_result
    compared: list[str] = []

    def both(self: Any, context: Any) -> Any:
        out = fast(self, context)
        if context.operation_model.name in mock_ddb.ITEM_OPERATIONS:
            slow = super(DynamoResult, self).execute_result(context)
            assert json.loads(out[2]) == json.loads(slow[2]), context.operation_model.name
            compared.append(context.operation_model.name)
        return out

    DynamoResult.execute_result = both  # type: ignore[method-assign]
    try:
        with mock_aws():
            c = boto3.client("dynamodb", region_name="us-east-1")
            c.create_table(
                TableName="t",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
            key = {"pk": {"S": "a"}, "sk": {"S": "1"}}
            nested = {"M": {"x": {"SS": ["a", "b"]}, "b": {"BOOL": True}, "l": {"L": [{"NULL": True}, {"B": b"xx"}]}}}
            c.put_item(TableName="t", Item={**key, "n": {"N": "1.5"}, "m": nested}, ReturnValues="ALL_OLD")
            c.update_item(
                TableName="t",
                Key=key,
                UpdateExpression="ADD c :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="ALL_NEW",
            )
            c.query(TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}})
            c.scan(TableName="t", Limit=1)
            c.get_item(TableName="t", Key=key)
            c.batch_get_item(RequestItems={"t": {"Keys": [key]}})
            c.delete_item(TableName="t", Key=key, ReturnValues="ALL_OLD")
    finally:
        DynamoResult.execute_result = fast  # type: ignore[method-assign]
    assert compared == ["PutItem", "UpdateItem", "Query", "Scan", "GetItem", "BatchGetItem", "DeleteItem"]


def test_a_main_table_query_reads_its_partition_and_answers_as_dynamodb_does() -> None:
    """Patch 11 changes how moto finds a Query's items, not what it answers: every form of Query the ledger and
    the state table use (ascending, descending, Limit, key conditions, paging) against a table of several
    partitions, compared with the items written, filtered and sorted here."""
    import boto3

    moto_patches.apply()
    with moto.mock_aws():
        ddb: Any = boto3.client("dynamodb", region_name="us-east-1")
        table = f"t-{uuid.uuid4().hex[:8]}"
        ddb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
                {"AttributeName": "v", "AttributeType": "N"},
            ],
            BillingMode="PAY_PER_REQUEST",
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by_v",
                    "KeySchema": [{"AttributeName": "v", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        written = {p: sorted(f"{n:03d}" for n in range(0, 40, 1 + i)) for i, p in enumerate(("a", "b", "c"))}
        for p, keys in written.items():
            for k in reversed(keys):  # written out of order
                ddb.put_item(TableName=table, Item={"pk": {"S": p}, "sk": {"S": k}, "v": {"N": str(len(k))}})

        def query(**kw: Any) -> list[str]:
            out, start = [], None
            while True:
                page = ddb.query(TableName=table, **kw, **({"ExclusiveStartKey": start} if start else {}))
                out += [i["sk"]["S"] for i in page["Items"]]
                start = page.get("LastEvaluatedKey")
                if not start or "Limit" not in kw:
                    return out

        for p, keys in written.items():
            key = {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": p}}}
            assert query(**key) == keys
            assert query(**key, ScanIndexForward=False) == keys[::-1]
            assert query(**key, ScanIndexForward=False, Limit=1)[:1] == keys[-1:]
            assert query(**key, Limit=3) == keys  # paged three at a time
            ranged = {
                "KeyConditionExpression": "pk = :p AND sk >= :s",
                "ExpressionAttributeValues": {":p": {"S": p}, ":s": {"S": "020"}},
            }
            assert query(**ranged) == [k for k in keys if k >= "020"]
            page = ddb.query(TableName=table, ScanIndexForward=False, Limit=1, **key)
            assert [i["sk"]["S"] for i in page["Items"]] == keys[-1:] and page["Count"] == 1
        # an index query (the ledger's by_day and by_capability): the same items in the same order as moto's own
        by_v = {
            "IndexName": "by_v",
            "KeyConditionExpression": "v = :v",
            "ExpressionAttributeValues": {":v": {"N": "3"}},
        }
        patched = [(i["pk"]["S"], i["sk"]["S"]) for i in ddb.query(TableName=table, **by_v)["Items"]]
        assert sorted(patched) == sorted((p, k) for p, keys in written.items() for k in keys)
        from moto.dynamodb.models.table import Table

        mine = Table.query, Table.all_items
        Table.query, Table.all_items = mine[0].__wrapped__, mine[1].__wrapped__  # type: ignore[attr-defined,method-assign]
        try:
            original = [(i["pk"]["S"], i["sk"]["S"]) for i in ddb.query(TableName=table, **by_v)["Items"]]
            first = ddb.query(TableName=table, ScanIndexForward=False, Limit=1, **key)["Items"]
        finally:
            Table.query, Table.all_items = mine  # type: ignore[method-assign]
        assert patched == original
        assert ddb.query(TableName=table, ScanIndexForward=False, Limit=1, **key)["Items"] == first
        empty = {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "none"}}}
        assert query(**empty) == []
        assert sorted(i["pk"]["S"] for i in ddb.scan(TableName=table)["Items"]) == sorted(
            p for p, keys in written.items() for _ in keys
        )  # a Query of a missing partition created nothing


def test_clients_of_one_service_share_a_class_and_keep_their_own_methods() -> None:
    """Patch 12: a client class is built once per service and class hooks; clients stay separate objects with the
    operations botocore would give them, and a boto3 S3 client still gets boto3's transfer methods (its hooks are a
    closure of each session: never shared)."""
    import boto3
    from botocore.client import ClientCreator

    moto_patches.apply()
    a = boto3.session.Session(region_name="us-east-1").client("sqs")
    b = boto3.session.Session(region_name="eu-west-1").client("sqs")
    assert type(a) is type(b) and a is not b
    assert a.meta.region_name == "us-east-1" and b.meta.region_name == "eu-west-1"
    creator: Any = ClientCreator.__new__(ClientCreator)
    creator._event_emitter = boto3.session.Session()._session.get_component("event_emitter")
    built = creator._create_client_class.__wrapped__(creator, "sqs", a.meta.service_model)
    assert built is not type(a)
    assert sorted(n for n in vars(built) if not n.startswith("__")) == sorted(
        n for n in vars(type(a)) if not n.startswith("__")
    )
    s3 = boto3.session.Session(region_name="us-east-1").client("s3")
    assert hasattr(s3, "upload_file") and hasattr(s3, "generate_presigned_post")


def test_moto_lists_a_response_class_methods_as_before() -> None:
    import inspect

    import moto.core.responses
    from moto.dynamodb.responses import DynamoHandler

    moto_patches.apply()
    responses: Any = moto.core.responses
    listed = responses.method_names_from_class(DynamoHandler)
    assert listed == [n for n, _ in inspect.getmembers(DynamoHandler, predicate=inspect.isfunction)]
    assert "query" in listed


def test_an_item_is_built_and_size_checked_as_moto_does() -> None:
    """Patch 13: the item's size is checked once, with moto's limit and error; the item is the same."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.dynamo_type import Item as MotoItem

    moto_patches.apply()
    item: Any = MotoItem
    attrs: dict[str, Any] = {
        "pk": {"S": "chain#staging"},
        "sk": {"N": "42"},
        "tags": {"SS": ["a", "b"]},
        "details": {"M": {"weight": {"N": "10"}, "colours": {"L": [{"S": "blue"}, {"S": "green"}]}}},
        "ok": {"BOOL": True},
    }
    ours = item(DynamoType(attrs["pk"]), DynamoType(attrs["sk"]), attrs)
    theirs = item.__new__(item)
    item.__init__.__wrapped__(theirs, DynamoType(attrs["pk"]), DynamoType(attrs["sk"]), attrs)
    assert ours == theirs and ours.to_json() == theirs.to_json() and ours.size() == theirs.size()
    assert type(ours.attrs) is type(theirs.attrs)
    for size in (404_000, 406_000):  # under and over moto's limit, in several attributes
        big: dict[str, Any] = {"pk": {"S": "x"}, **{f"a{i}": {"S": "y" * (size // 4)} for i in range(4)}}
        outcomes = []
        for build in (item.__init__, item.__init__.__wrapped__):
            try:
                build(item.__new__(item), DynamoType(big["pk"]), None, big)
                outcomes.append("built")
            except ItemSizeTooLarge:
                outcomes.append("too large")
        assert outcomes[0] == outcomes[1] == ("built" if size < 405_000 else "too large")


def test_clients_alias_event_names_as_botocore_does_through_one_cache() -> None:
    """Patch 14: every client's aliaser with botocore's table shares one cache and aliases as botocore does; one with
    a table of its own keeps its own cache; a handler without **kwargs is still refused, a bound method accepted."""
    import boto3
    import botocore.hooks

    moto_patches.apply()
    hooks: Any = botocore.hooks
    a = boto3.session.Session(region_name="us-east-1").client("sqs")
    b = boto3.session.Session(region_name="us-east-1").client("sqs")
    aliaser_a: Any = a.meta.events
    aliaser_b: Any = b.meta.events
    assert aliaser_a._alias_name_cache is aliaser_b._alias_name_cache
    plain = hooks.EventAliaser(hooks.HierarchicalEmitter())
    theirs = hooks.EventAliaser.__new__(hooks.EventAliaser)
    hooks.EventAliaser.__init__.__wrapped__(theirs, hooks.HierarchicalEmitter())
    for name in (
        "before-call.s3.PutObject",
        "before-parameter-build.autoscaling.CreateLaunchConfiguration",
        "before-call.apigateway.GetRestApis",
        "request-created.elasticloadbalancing.Foo",
        "needs-retry",
    ):
        assert plain._alias_event_name(name) == theirs._alias_event_name(name)
    assert plain._alias_event_name("before-call.autoscaling.X") == "before-call.auto-scaling.X"
    own = hooks.EventAliaser(hooks.HierarchicalEmitter(), {"foo": "bar"})
    assert own._alias_name_cache is not aliaser_a._alias_name_cache
    assert own._alias_event_name("before-call.foo.X") == "before-call.bar.X"

    def no_kwargs(request: Any) -> None:
        return None

    class Handler:
        def on(self, **kwargs: Any) -> None:
            return None

    for _ in range(2):  # the second answer comes from the remembered one
        with pytest.raises(ValueError, match="must accept keyword arguments"):
            aliaser_a.register("before-call.sqs.ListQueues", no_kwargs)
        aliaser_a.register("before-call.sqs.ListQueues", Handler().on)
    assert hooks.accepts_kwargs(no_kwargs) == hooks.accepts_kwargs.__wrapped__(no_kwargs) is None
