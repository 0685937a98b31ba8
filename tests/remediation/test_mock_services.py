"""The embedded AWS extensions remediation relies on, on plain moto: DynamoDB transactions that snapshot only the
items they touch (and still roll back), CloudWatch composite alarms, SetAlarmState events, injected faults."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from deckwatch.local import moto_patches
from deckwatch.local.mock_services import dynamodb as mock_ddb
from deckwatch.local.mock_services import faults as mock_cw
from moto import mock_aws

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    for var, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(var, value)
    moto_patches.apply()
    mock_ddb.install()
    mock_cw.install()
    captured: list[dict[str, Any]] = []
    moto_patches.HOOKS.put_event = captured.append
    try:
        with mock_aws():
            yield captured
    finally:
        moto_patches.HOOKS.put_event = None
        mock_cw.clear_faults()


def test_cancelled_transaction_rolls_back_only_what_it_wrote(aws: Any) -> None:
    ddb = boto3.client("dynamodb")
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )

    def put(pk: str, v: str) -> TransactWriteItemTypeDef:
        item: dict[str, AttributeValueTypeDef] = {"pk": {"S": pk}, "sk": {"S": "1"}, "v": {"S": v}}
        return {"Put": {"TableName": "t", "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}

    ddb.transact_write_items(TransactItems=[put("a", "1"), put("b", "1")])
    with pytest.raises(ddb.exceptions.TransactionCanceledException) as cancelled:
        ddb.transact_write_items(TransactItems=[put("c", "1"), put("a", "2")])
    assert [r["Code"] for r in cancelled.value.response["CancellationReasons"]] == ["None", "ConditionalCheckFailed"]
    items = sorted((i["pk"]["S"], i["v"]["S"]) for i in ddb.scan(TableName="t")["Items"])
    assert items == [("a", "1"), ("b", "1")]


def test_set_alarm_state_emits_the_event_once_per_change_and_composites_follow(aws: list[dict[str, Any]]) -> None:
    cw = boto3.client("cloudwatch")
    for name in ("x", "y"):
        cw.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/ECS",
            MetricName="CPUUtilization",
            Statistic="Average",
            Period=60,
            EvaluationPeriods=1,
            Threshold=80,
            ComparisonOperator="GreaterThanThreshold",
        )
    cw.put_composite_alarm(AlarmName="both", AlarmRule='ALARM("x") AND ALARM("y")')
    cw.set_alarm_state(AlarmName="x", StateValue="ALARM", StateReason="r")
    cw.set_alarm_state(AlarmName="x", StateValue="ALARM", StateReason="again")  # no change: no event
    assert [e["detail"]["alarmName"] for e in aws] == ["x"]
    cw.set_alarm_state(AlarmName="y", StateValue="ALARM", StateReason="r")
    assert [e["detail"]["alarmName"] for e in aws] == ["x", "y", "both"]
    composite = aws[-1]
    assert composite["source"] == "aws.cloudwatch"
    assert composite["detail-type"] == "CloudWatch Alarm State Change"
    assert composite["resources"] == ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:both"]
    assert composite["detail"]["state"]["value"] == "ALARM"
    assert composite["detail"]["previousState"]["value"] == "OK"
    assert composite["detail"]["configuration"]["alarmRule"] == 'ALARM("x") AND ALARM("y")'
    triggering = json.loads(composite["detail"]["state"]["reasonData"])["triggeringAlarms"]
    assert {t["arn"].rsplit(":", 1)[-1] for t in triggering} == {"x", "y"}
    assert composite["detail"]["state"]["timestamp"].endswith("+0000")
    found = cw.describe_alarms(AlarmNames=["both"], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert found[0]["StateValue"] == "ALARM"
    assert aws[0]["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["name"] == "CPUUtilization"


def test_injected_faults_are_served_then_stop(aws: Any) -> None:
    ecs, rds = boto3.client("ecs"), boto3.client("rds")
    mock_cw.inject("ecs", "ListClusters", "Throttling", times=1)
    mock_cw.inject("rds", "DescribeDBInstances", "AccessDenied", times=1)
    with pytest.raises(ecs.exceptions.ClientError) as throttled:
        boto3.client("ecs", config=Config(retries={"mode": "standard", "total_max_attempts": 1})).list_clusters()
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    with pytest.raises(rds.exceptions.ClientError) as denied:
        rds.describe_db_instances()
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert mock_cw.pending_faults() == 0
    assert ecs.list_clusters()["clusterArns"] == []
