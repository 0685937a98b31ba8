"""IAM in the embedded AWS (deckwatch/local/iam.py): the policy evaluator, the resource each call names, and the
enforcement on the stack's functions and state machines (their own roles, as the template grants them)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from botocore.exceptions import ClientError
from deckwatch.local import iam
from deckwatch.local.runtime import ACCOUNT, REGION, LocalAWS
from deckwatch.local.timeline import render
from support.samples import EVENTS, load_event

ROLE = f"arn:aws:iam::{ACCOUNT}:role/deckwatch-test-FnRole"


def principal(*statements: dict[str, Any]) -> iam.Principal:
    doc = {"Version": "2012-10-17", "Statement": list(statements)}
    return iam.Principal("Fn", ROLE, "fn", tuple(iam.parse_document(doc, "test")))


def allow(action: Any, resource: Any = "*", **condition: Any) -> dict[str, Any]:
    st: dict[str, Any] = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        st["Condition"] = condition
    return st


def allowed(p: iam.Principal, action: str, resource: str, **context: str | list[str]) -> bool:
    return p.decide(action, resource, {k.lower(): v for k, v in context.items()}).allowed


# ------------------------------------------------------------------ the evaluator ---------------------------------
def test_an_allow_needs_its_action_and_its_resource() -> None:
    p = principal(allow("dynamodb:GetItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/ledger"))
    assert allowed(p, "dynamodb:GetItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/ledger")
    assert not allowed(p, "dynamodb:PutItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/ledger")
    assert not allowed(p, "dynamodb:GetItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/state")
    assert not allowed(p, "dynamodb:GetItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/ledger/index/by_day")


def test_actions_ignore_case_resources_do_not_and_wildcards_span_segments() -> None:
    p = principal(allow("ECS:describe*", f"arn:aws:ecs:*:{ACCOUNT}:service/*"))
    assert allowed(p, "ecs:DescribeServices", f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/shop/web-blue")
    assert not allowed(p, "ecs:UpdateService", f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/shop/web-blue")
    assert not allowed(p, "ecs:DescribeServices", f"arn:aws:ecs:us-east-1:{ACCOUNT}:Service/shop/web-blue")
    single = principal(allow("s3:GetObject", "arn:aws:s3:::bucket/report-?.json"))
    assert allowed(single, "s3:GetObject", "arn:aws:s3:::bucket/report-1.json")
    assert not allowed(single, "s3:GetObject", "arn:aws:s3:::bucket/report-10.json")


def test_an_explicit_deny_wins_and_silence_denies() -> None:
    p = principal(allow("sns:*"), {"Effect": "Deny", "Action": "sns:Publish", "Resource": "arn:aws:sns:*:*:secret"})
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:"
    assert allowed(p, "sns:Publish", topic + "open")
    decision = p.decide("sns:Publish", topic + "secret", {})
    assert (decision.allowed, decision.explicit_deny) == (False, True)
    nothing = principal(allow("sqs:SendMessage", "arn:aws:sqs:*:*:q"))
    assert nothing.decide("sns:Publish", topic + "open", {}) == iam.Decision(False)


def test_not_action_and_not_resource() -> None:
    p = principal({"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::private/*"})
    assert allowed(p, "s3:GetObject", "arn:aws:s3:::public/a")
    assert not allowed(p, "s3:GetObject", "arn:aws:s3:::private/a")
    assert not allowed(p, "iam:PassRole", "arn:aws:s3:::public/a")


def test_string_and_arn_conditions() -> None:
    region = principal(
        allow("rds:DescribeDBInstances", "*", StringEquals={"aws:RequestedRegion": ["us-east-1", "eu-west-1"]})
    )
    assert allowed(region, "rds:DescribeDBInstances", "*", **{"aws:RequestedRegion": "eu-west-1"})
    assert not allowed(region, "rds:DescribeDBInstances", "*", **{"aws:RequestedRegion": "us-west-2"})
    assert not allowed(region, "rds:DescribeDBInstances", "*")  # the key is missing: no match
    like = principal(allow("ecs:ListTasks", "*", ArnLike={"ecs:cluster": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/*"}))
    assert allowed(like, "ecs:ListTasks", "*", **{"ecs:cluster": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/shop"})
    assert not allowed(like, "ecs:ListTasks", "*", **{"ecs:cluster": f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/shop"})
    tag = principal(allow("ecs:UpdateService", "*", StringLike={"aws:ResourceTag/Environment": "stag*"}))
    assert allowed(tag, "ecs:UpdateService", "*", **{"aws:resourcetag/environment": "staging"})
    assert not allowed(tag, "ecs:UpdateService", "*", **{"aws:resourcetag/environment": "prod"})


def test_missing_keys_negation_if_exists_bool_and_null() -> None:
    negated = principal(allow("s3:GetObject", "*", StringNotEquals={"aws:ResourceTag/secret": "yes"}))
    assert allowed(negated, "s3:GetObject", "*")  # missing key: a negated operator holds
    assert not allowed(negated, "s3:GetObject", "*", **{"aws:ResourceTag/secret": "yes"})
    if_exists = principal(
        allow("iam:PassRole", "*", StringEqualsIfExists={"iam:PassedToService": "ecs-tasks.amazonaws.com"})
    )
    assert allowed(if_exists, "iam:PassRole", "*")
    assert not allowed(if_exists, "iam:PassRole", "*", **{"iam:PassedToService": "lambda.amazonaws.com"})
    tls = principal(allow("sqs:*", "*", Bool={"aws:SecureTransport": True}))
    assert allowed(tls, "sqs:SendMessage", "*", **{"aws:SecureTransport": "true"})
    assert not allowed(tls, "sqs:SendMessage", "*", **{"aws:SecureTransport": "false"})
    null = principal(allow("ec2:*", "*", Null={"aws:ResourceTag/owner": "true"}))
    assert allowed(null, "ec2:DescribeVpcs", "*")
    assert not allowed(null, "ec2:DescribeVpcs", "*", **{"aws:ResourceTag/owner": "me"})


def test_set_qualifiers() -> None:
    any_value = principal(allow("events:PutEvents", "*", **{"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}))
    assert allowed(any_value, "events:PutEvents", "*", **{"aws:TagKeys": ["c", "b"]})
    assert not allowed(any_value, "events:PutEvents", "*", **{"aws:TagKeys": ["c"]})
    all_values = principal(allow("events:PutEvents", "*", **{"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}))
    assert allowed(all_values, "events:PutEvents", "*", **{"aws:TagKeys": ["a", "b"]})
    assert not allowed(all_values, "events:PutEvents", "*", **{"aws:TagKeys": ["a", "c"]})


def test_an_operator_the_evaluator_cannot_judge_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="DateGreaterThan is not supported"):
        principal(allow("s3:*", "*", DateGreaterThan={"aws:CurrentTime": "2020-01-01T00:00:00Z"}))
    with pytest.raises(ValueError, match="Principal belongs in resource-based policies"):
        principal({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"})


def key_policy(*statements: dict[str, Any]) -> list[iam.Statement]:
    return iam.parse_document({"Statement": list(statements)}, "key", resource_based=True)


def test_a_key_policy_decides_kms_and_delegates_to_iam_through_the_account() -> None:
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k"
    root = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}
    granted = principal(allow(["kms:Decrypt", "kms:GenerateDataKey"], key))
    bare = principal()
    decide = iam._decide_key  # the module's KMS rule, on its own
    assert decide(granted, key_policy(root), "kms:Decrypt", key, {}).allowed  # delegated, and the role allows
    assert not decide(bare, key_policy(root), "kms:Decrypt", key, {}).allowed  # delegated, the role does not
    direct = {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt", "Resource": "*"}
    assert decide(bare, key_policy(direct), "kms:Decrypt", key, {}).allowed  # the key policy names the role
    assert not decide(granted, key_policy(), "kms:Decrypt", key, {}).allowed  # no statement for the account
    deny = {"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"}
    assert decide(granted, key_policy(root, deny), "kms:Decrypt", key, {}).explicit_deny


# ------------------------------------------------------------------ the resource of each call -----------------------
def auths(service: str, operation: str, region: str = REGION, **params: Any) -> list[tuple[str, str]]:
    call = iam.Call(service, operation, params, region, ACCOUNT, iam.World(ACCOUNT))
    return [(a.action, a.resource) for a in iam.authorizations(call)]


def context_of(service: str, operation: str, **params: Any) -> dict[str, Any]:
    call = iam.Call(service, operation, params, "eu-west-1", ACCOUNT, iam.World(ACCOUNT))
    return dict(iam.authorizations(call)[0].context)


TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/"


def test_dynamodb_transactions_are_authorised_item_by_item_and_queries_name_their_index() -> None:
    items = [{"Put": {"TableName": "ledger", "Item": {}}}, {"ConditionCheck": {"TableName": "ledger", "Key": {}}}]
    assert auths("dynamodb", "TransactWriteItems", TransactItems=items) == [
        ("dynamodb:PutItem", TABLE + "ledger"),
        ("dynamodb:ConditionCheckItem", TABLE + "ledger"),
    ]
    assert auths("dynamodb", "Query", TableName="ledger", IndexName="by_day") == [
        ("dynamodb:Query", TABLE + "ledger/index/by_day")
    ]


def test_lambda_names_the_version_or_alias_it_invokes() -> None:
    fn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
    assert auths("lambda", "Invoke", FunctionName="hook") == [("lambda:InvokeFunction", fn + "hook")]
    assert auths("lambda", "Invoke", FunctionName="hook:live") == [("lambda:InvokeFunction", fn + "hook:live")]
    assert auths("lambda", "Invoke", FunctionName=f"{ACCOUNT}:function:hook", Qualifier="2") == [
        ("lambda:InvokeFunction", fn + "hook:2")
    ]
    assert auths("lambda", "UpdateAlias", FunctionName=fn + "api", Name="live") == [("lambda:UpdateAlias", fn + "api")]


def test_ecs_services_by_arn_scoped_by_cluster() -> None:
    found = auths("ecs", "DescribeServices", cluster="shop", services=["web-blue", "web-green"])
    base = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/shop/"
    assert found == [("ecs:DescribeServices", base + "web-blue"), ("ecs:DescribeServices", base + "web-green")]
    assert (
        context_of("ecs", "ListTasks", cluster="shop")["ecs:cluster"] == f"arn:aws:ecs:eu-west-1:{ACCOUNT}:cluster/shop"
    )


def test_calls_that_pass_a_role_or_tag_on_create_are_authorised_for_it_too() -> None:
    point = f"arn:aws:rds:{REGION}:{ACCOUNT}:snapshot:awsbackup:job-1"
    role = f"arn:aws:iam::{ACCOUNT}:role/service-role/AWSBackupDefaultServiceRole"
    assert auths("backup", "StartRestoreJob", RecoveryPointArn=point, IamRoleArn=role, Metadata={}) == [
        ("backup:StartRestoreJob", point),
        ("iam:PassRole", role),
    ]
    created = auths("rds", "CreateDBInstance", DBInstanceIdentifier="d", DBClusterIdentifier="c", Tags=[{"Key": "k"}])
    rds = f"arn:aws:rds:{REGION}:{ACCOUNT}:"
    assert created == [
        ("rds:CreateDBInstance", rds + "db:d"),
        ("rds:CreateDBInstance", rds + "cluster:c"),
        ("rds:AddTagsToResource", rds + "db:d"),
    ]


def test_every_request_carries_its_region_and_put_events_its_bus_and_source() -> None:
    entry = {"Source": "deckwatch", "DetailType": "Deckwatch Rollback Requested", "Detail": "{}"}
    assert auths("events", "PutEvents", Entries=[entry]) == [
        ("events:PutEvents", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default")
    ]
    context = context_of("events", "PutEvents", Entries=[entry])
    assert (context["aws:requestedregion"], context["events:source"]) == ("eu-west-1", "deckwatch")


def test_an_operation_without_a_rule_fails_loudly() -> None:
    with pytest.raises(iam.UnmappedOperation, match="ecs:DeleteCluster"):
        auths("ecs", "DeleteCluster", cluster="shop")


def test_usage_lists_refusals_and_grants_never_used() -> None:
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/"
    line = {
        "used": [["Fn", "dynamodb:GetItem", "Role/P#Reads", table + "ledger"]],
        "denied": [{"principal": "Fn", "action": "sns:Publish", "resource": "arn:t", "message": "m"}],
        "granted": {
            "Fn": [
                ["Role/P#Reads", ["dynamodb:GetItem", "dynamodb:Query"], [table + "ledger", table + "state"]],
                ["Role/P#Other", ["s3:*"], []],
            ]
        },
    }
    report = iam.usage([json.dumps(line)])
    assert report["denied"] == [{"principal": "Fn", "action": "sns:Publish", "resources": ["arn:t"]}]
    assert report["unused"] == [
        {"principal": "Fn", "statement": "Role/P#Other", "action": "s3:*", "resource": "*"},
        {"principal": "Fn", "statement": "Role/P#Reads", "action": "dynamodb:GetItem", "resource": table + "state"},
        {"principal": "Fn", "statement": "Role/P#Reads", "action": "dynamodb:Query", "resource": table + "ledger"},
        {"principal": "Fn", "statement": "Role/P#Reads", "action": "dynamodb:Query", "resource": table + "state"},
    ]


# ------------------------------------------------------------------ enforced in the embedded AWS -------------------
@pytest.fixture(scope="module")
def rt(local_aws_factory: Callable[..., AbstractContextManager[LocalAWS]]) -> Iterator[LocalAWS]:
    with local_aws_factory("staging") as runtime:
        yield runtime


def fn(rt: LocalAWS, logical: str) -> str:
    return rt.physical[logical]


def denied(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call()
    return dict(info.value.response["Error"])


@contextmanager
def without(rt: LocalAWS, logical: str, *sources: str) -> Iterator[None]:
    """The principal `logical` with the statements named `sources` (prefixes) removed, for one test."""
    arn = next(a for a, p in rt.principals.items() if p.name == logical)
    saved = rt.principals[arn]
    kept = tuple(st for st in saved.statements if not st.source.startswith(sources))
    assert len(kept) < len(saved.statements), [st.source for st in saved.statements]
    rt.principals[arn] = dataclasses.replace(saved, statements=kept)
    try:
        yield
    finally:
        rt.principals[arn] = saved


def test_each_function_and_state_machine_acts_as_its_own_role(rt: LocalAWS) -> None:
    resources = rt.template.cfn["Resources"]
    expected = {
        k for k, v in resources.items() if v["Type"] in ("AWS::Lambda::Function", "AWS::StepFunctions::StateMachine")
    }
    assert {p.name for p in rt.principals.values()} == expected
    keys = {rt.function_env(name)["AWS_ACCESS_KEY_ID"] for name in rt.functions}
    assert len(keys) == len(rt.functions)  # one identity per function, as Lambda gives each its role's session
    for p in rt.principals.values():
        assert p.role_arn.startswith(f"arn:aws:iam::{ACCOUNT}:role/deckwatch-staging-{p.name}Role-")
        assert p.statements


def test_a_function_is_refused_what_its_role_does_not_grant_the_world_is_not(rt: LocalAWS) -> None:
    ledger = {"TableName": fn(rt, "LedgerTable"), "Key": {"pk": {"S": "x"}, "sk": {"S": "y"}}}
    approval = rt.caller_client(fn(rt, "ApprovalFunction"), "dynamodb")
    error = denied(lambda: approval.get_item(**ledger))
    assert error["Code"] == "AccessDeniedException"
    role = next(p for p in rt.principals.values() if p.name == "ApprovalFunction").role_arn.rsplit("/", 1)[-1]
    assert error["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{role}/deckwatch-staging-approval is not authorized to perform: "
        f"dynamodb:GetItem on resource: arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/deckwatch-staging-ledger "
        "because no identity-based policy allows the dynamodb:GetItem action"
    )
    rt.client("dynamodb").get_item(**ledger)  # the runtime's own client: the world, unchecked
    assert rt.caller_client(fn(rt, "DrillFunction"), "dynamodb").get_item(**ledger)["ResponseMetadata"]


@pytest.mark.parametrize(
    ("service", "call", "code"),
    [
        ("sns", lambda c, rt: c.publish(TopicArn=rt.physical["CostAlertsTopic"], Message="m"), "AuthorizationError"),
        ("ec2", lambda c, rt: c.describe_security_groups(), "UnauthorizedOperation"),
        ("s3", lambda c, rt: c.put_object(Bucket=rt.physical["CostReportsBucket"], Key="k", Body=b"x"), "AccessDenied"),
        ("rds", lambda c, rt: c.describe_db_instances(), "AccessDenied"),
        ("elbv2", lambda c, rt: c.describe_load_balancers(), "AccessDenied"),
        ("cloudwatch", lambda c, rt: c.describe_alarms(), "AccessDenied"),
        ("lambda", lambda c, rt: c.invoke(FunctionName=rt.physical["DrillFunction"]), "AccessDeniedException"),
        ("backup", lambda c, rt: c.list_backup_vaults(), "AccessDeniedException"),
        ("stepfunctions", lambda c, rt: c.send_task_success(taskToken="t", output="{}"), "AccessDeniedException"),
    ],
)
def test_a_denial_has_the_services_own_code(rt: LocalAWS, service: str, call: Any, code: str) -> None:
    client = rt.caller_client(fn(rt, "ApprovalFunction"), service)
    error = denied(lambda: call(client, rt))
    assert error["Code"] == code
    assert "is not authorized to perform" in error["Message"]


def test_resource_tags_in_conditions(rt: LocalAWS) -> None:
    """CostActionsFunction may change ECS services tagged with its environment only."""
    ecs = rt.caller_client(fn(rt, "CostActionsFunction"), "ecs")
    tagged = ecs.describe_services(cluster="shop-staging", services=["shop-staging-web-blue"])["services"][0]
    ecs.update_service(cluster="shop-staging", service="shop-staging-web-blue", desiredCount=tagged["desiredCount"])
    world = rt.client("ecs")
    td = tagged["taskDefinition"]
    world.create_service(cluster="shop-staging", serviceName="untagged", taskDefinition=td, desiredCount=1)
    error = denied(lambda: ecs.update_service(cluster="shop-staging", service="untagged", desiredCount=0))
    assert error["Code"] == "AccessDeniedException"
    assert ":service/shop-staging/untagged" in error["Message"]


def test_the_requested_region_in_conditions(rt: LocalAWS) -> None:
    """Without DrillDrRegion the drill function is limited to the stack's region (staging deploys none)."""
    import boto3

    assert "DrillDrRegion" not in rt.parameters
    creds = rt.credentials(fn(rt, "DrillFunction"))
    session = boto3.session.Session(
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=creds["AWS_SESSION_TOKEN"],
    )
    session.client("rds", region_name=REGION).describe_db_instances()
    remote = session.client("rds", region_name="us-west-2")
    assert denied(remote.describe_db_instances)["Code"] == "AccessDenied"


def test_secrets_by_their_tag(rt: LocalAWS) -> None:
    sm = rt.client("secretsmanager")
    ok = sm.create_secret(
        Name="iam-test/drill", SecretString="{}", Tags=[{"Key": "deckwatch:drill-credentials", "Value": "true"}]
    )
    other = sm.create_secret(Name="iam-test/other", SecretString="{}")
    validator = rt.caller_client(fn(rt, "DrillValidatorFunction"), "secretsmanager")
    assert validator.get_secret_value(SecretId="iam-test/drill")["ARN"] == ok["ARN"]
    error = denied(lambda: validator.get_secret_value(SecretId="iam-test/other"))
    assert other["ARN"] in error["Message"]


def test_an_encrypted_topic_needs_the_key_too(rt: LocalAWS) -> None:
    """Publishing to the notifications topic (the stack's KMS key) needs KeyAccess: the key policy delegates to IAM."""
    sns = rt.caller_client(fn(rt, "ApprovalFunction"), "sns")
    sns.publish(TopicArn=rt.physical["NotificationsTopic"], Message="m")
    with without(rt, "ApprovalFunction", "KeyAccess"):
        error = denied(lambda: sns.publish(TopicArn=rt.physical["NotificationsTopic"], Message="m"))
    assert error["Code"] == "AuthorizationError"
    assert "kms:GenerateDataKey on resource: arn:aws:kms:" in error["Message"]


def test_a_state_machine_invokes_its_tasks_with_its_own_role(rt: LocalAWS) -> None:
    payload = json.loads((EVENTS / "statemachines" / "approval" / "staging-remediation.json").read_text())
    with without(rt, "ApprovalStateMachine", "ApprovalStateMachineRole/"):
        report = rt.start_execution("ApprovalStateMachine", payload)
    assert [e["status"] for e in report.executions] == ["FAILED"]
    assert [(d["principal"], d["action"]) for d in report.access_denied] == [
        ("ApprovalStateMachine", "lambda:InvokeFunction")
    ]
    assert report.invocations == [] and report.ledger == []
    assert "denied    ApprovalStateMachine: lambda:InvokeFunction on arn:aws:lambda:" in render(report)
    assert rt.start_execution("ApprovalStateMachine", payload).executions[0]["status"] == "SUCCEEDED"


def test_a_denied_call_fails_the_handler_as_in_aws(rt: LocalAWS) -> None:
    event = load_event(EVENTS / "alarm_events" / "alarm-metric.json")
    with without(rt, "AlarmEventsFunction", "AlarmEventsFunctionRole/AlarmEventsFunctionRolePolicy"):
        report = rt.replay(event)
    assert [(d["principal"], d["action"]) for d in report.access_denied][:1] == [
        ("AlarmEventsFunction", "dynamodb:GetItem")
    ]
    assert report.invocations[0]["status"] == "error"
    assert "AccessDeniedException" in str(report.invocations[0]["error"])
    assert [d["function"] for d in report.dead_letters] == ["AlarmEventsFunction"]
    assert "lost" not in report.dead_letters[0]  # the DLQ send is the function role's, which still has it
