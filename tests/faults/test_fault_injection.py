"""The embedded AWS's fault injection, as botocore sees it: each kind of the fault matrix shaped for each protocol
the control plane speaks (JSON, query/XML, REST-JSON, REST-XML, CBOR), classified by deckwatch.actions as the
same failure from AWS would be; a call whose answer is lost was applied all the same."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError
from deckwatch.actions import classify
from deckwatch.local.mock_services import faults
from deckwatch.local.runtime import LocalAWS

NO_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture(scope="module")
def rt(local_aws_factory: Callable[..., AbstractContextManager[LocalAWS]]) -> Iterator[LocalAWS]:
    with local_aws_factory("staging") as runtime:
        yield runtime


@pytest.fixture(autouse=True)
def _clean(rt: LocalAWS) -> Iterator[None]:
    faults.clear_faults()
    yield
    faults.clear_faults()


def client(rt: LocalAWS, service: str) -> Any:
    return rt._boto_session().client(service, config=NO_RETRY)


# (client name, operation as botocore names it, a harmless call of it)
CALLS: list[tuple[str, str, Callable[[Any], Any]]] = [
    ("ecs", "ListClusters", lambda c: c.list_clusters()),  # JSON
    ("dynamodb", "ListTables", lambda c: c.list_tables()),  # JSON
    ("elbv2", "DescribeLoadBalancers", lambda c: c.describe_load_balancers()),  # query
    ("sns", "ListTopics", lambda c: c.list_topics()),  # query
    ("cloudwatch", "DescribeAlarms", lambda c: c.describe_alarms()),  # CBOR
    ("lambda", "ListFunctions", lambda c: c.list_functions()),  # REST-JSON
    ("s3", "ListBuckets", lambda c: c.list_buckets()),  # REST-XML
    ("stepfunctions", "ListStateMachines", lambda c: c.list_state_machines()),  # JSON, service id "sfn"
]
EXPECTED = {"throttle": "throttled", "5xx": "throttled", "denied": "denied"}


@pytest.mark.parametrize(("service", "operation", "call"), CALLS, ids=[c[0] for c in CALLS])
@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_each_kind_reaches_botocore_as_aws_sends_it(
    rt: LocalAWS, service: str, operation: str, call: Callable[[Any], Any], kind: str
) -> None:
    c = client(rt, service)
    faults.inject(service, operation, kind)
    with pytest.raises(ClientError) as caught:
        call(c)
    assert classify(caught.value)[0] == EXPECTED[kind]
    status = caught.value.response["ResponseMetadata"]["HTTPStatusCode"]
    assert status == {"throttle": 400, "5xx": 500, "denied": 403}[kind]
    assert faults.pending_faults() == 0
    call(c)  # transient: the next call goes through


def test_botocore_retries_what_it_retries_in_aws(rt: LocalAWS) -> None:
    retrying = rt._boto_session().client("ecs", config=Config(retries={"mode": "standard", "total_max_attempts": 3}))
    faults.inject("ecs", "ListClusters", "5xx", times=2)
    retrying.list_clusters()  # two 500s, then the answer
    faults.inject("ecs", "ListClusters", "denied", times=1)
    with pytest.raises(ClientError):
        retrying.list_clusters()  # AccessDenied is not retried...
    assert faults.pending_faults() == 0  # ...so one attempt served it


def test_timeout_after_apply_applies_the_call_and_loses_its_answer(rt: LocalAWS) -> None:
    ssm = client(rt, "ssm")
    faults.inject("ssm", "PutParameter", faults.TIMEOUT_AFTER_APPLY)
    with pytest.raises(ReadTimeoutError) as caught:
        ssm.put_parameter(Name="/faults/applied", Value="yes", Type="String")
    assert classify(caught.value)[0] == "unknown"
    assert ssm.get_parameter(Name="/faults/applied")["Parameter"]["Value"] == "yes"


def test_faults_aim_at_one_function_and_skip_calls(rt: LocalAWS) -> None:
    ecs = client(rt, "ecs")
    faults.inject("ecs", "ListClusters", "throttle", caller="deckwatch-staging-nobody")
    ecs.list_clusters()  # the runtime's own call: not the aimed function's
    faults.clear_faults()
    faults.inject("ecs", "ListClusters", "throttle", skip=2)
    ecs.list_clusters()
    ecs.list_clusters()
    with pytest.raises(ClientError):
        ecs.list_clusters()


def test_trace_records_the_handlers_calls_only(rt: LocalAWS) -> None:
    from support.samples import EVENTS, load_event

    faults.trace()
    rt.client("ecs").list_clusters()  # the runtime's (or a test's) own call: not the control plane's
    rt.replay(load_event(EVENTS / "alarm_events/alarm-metric.json"))
    seen = faults.trace(on=False)
    assert seen and all(t.function.startswith("deckwatch-staging-") for t in seen)
    assert ("dynamodb", "TransactWriteItems", True) in {(t.service, t.operation, t.applied) for t in seen}  # ledger
    assert not any(t.operation == "ListClusters" for t in seen)
