"""template.yaml's shared pieces: the managed policies each function role gets (and only those), a log group for
every function and state machine (Fn::ForEach, expanded locally as CloudFormation does), the exported outputs,
and the samconfig.toml environments that deploy it."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import pytest
from deckwatch.local.template import Template, expand_language_extensions, load, load_yaml
from support.samples import REPO_ROOT

if TYPE_CHECKING:
    from deckwatch.local.runtime import LocalAWS

# Which of the stack's shared managed policies each role has: exactly the statements it had inline before they
# were shared. A role gains one only if its function needs all of it (e.g. DrillValidatorFunction writes no ledger).
CORE = {"KeyAccess", "PolicyParameterAccess", "LedgerWriteAccess", "NotifyAccess"}
INTAKE = CORE | {"IdempotencyAccess"}  # the event intake functions keep idempotency records
SHARED = {
    "PipelineEventsFunction": INTAKE,
    "AlarmEventsFunction": INTAKE,
    "BackupEventsFunction": INTAKE,
    "CostEventsFunction": INTAKE,
    "CostAlertsFunction": INTAKE,
    "RemediationEventsFunction": INTAKE - {"NotifyAccess"},
    "ApprovalFunction": CORE,  # the policy's approvers, for the signed approval links
    "ApprovalLinksFunction": {"KeyAccess", "PolicyParameterAccess", "LedgerWriteAccess"},
    "CutoverFunction": CORE,
    "RemediationFunction": CORE,
    "DrillFunction": CORE,
    "CostActionsFunction": CORE,
    "CostReportFunction": CORE,
    "DrillValidatorFunction": {"KeyAccess", "PolicyParameterAccess"},
    "ApprovalStateMachine": {"LogDeliveryAccess"},
    "CutoverStateMachine": {"LogDeliveryAccess"},
    "RemediationStateMachine": {"LogDeliveryAccess"},
    "DrillStateMachine": {"LogDeliveryAccess"},
    "CostSavingsStateMachine": {"LogDeliveryAccess"},
}
ROLE_MANAGED_POLICY_QUOTA = 10  # IAM's default quota of managed policies attached to one role


@pytest.fixture(scope="module")
def template() -> Template:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        return load(REPO_ROOT, {"Environment": "staging"})


def _of_type(template: Template | dict[str, Any], sam_type: str) -> list[str]:
    """Logical ids of the SAM template's resources of a type (Fn::ForEach loops expanded)."""
    sam = template.sam if isinstance(template, Template) else template
    return [lid for lid, res in sam["Resources"].items() if res["Type"] == sam_type]


def _statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    stmts = doc["Statement"]
    return stmts if isinstance(stmts, list) else [stmts]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ------------------------------------------------------------------ IAM ------------------------------------------
def test_every_role_has_exactly_its_shared_policies(template: Template) -> None:
    resources = template.cfn["Resources"]
    shared = set(template.resources("AWS::IAM::ManagedPolicy"))
    owners = _of_type(template, "AWS::Serverless::Function") + _of_type(template, "AWS::Serverless::StateMachine")
    assert set(SHARED) == set(owners)
    assert set().union(*SHARED.values()) == shared  # every shared policy is used
    for owner in owners:
        arns = resources[f"{owner}Role"]["Properties"].get("ManagedPolicyArns", [])
        refs = {a["Ref"] for a in arns if isinstance(a, dict) and "Ref" in a}
        assert refs == SHARED[owner], owner
        assert len(arns) <= ROLE_MANAGED_POLICY_QUOTA, owner


def test_no_inline_statement_repeats_a_shared_one(template: Template) -> None:
    shared = [
        {k: v for k, v in st.items() if k != "Sid"}
        for pol in template.resources("AWS::IAM::ManagedPolicy").values()
        for st in _statements(pol["Properties"]["PolicyDocument"])
    ]
    for owner, res in template.sam["Resources"].items():
        if res["Type"] not in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
            continue
        for policy in res["Properties"].get("Policies", []):
            for st in _statements(policy) if "Statement" in policy else []:
                if str(st.get("Sid", "")).startswith("Runbook"):
                    continue  # they mirror the runbook registry (tests/remediation/test_registry_iam.py)
                assert {k: v for k, v in st.items() if k != "Sid"} not in shared, (owner, st.get("Sid"))


def test_shared_policies_are_narrow(template: Template) -> None:
    """Each grants a few actions on the stack's own resources; only log delivery, which has no resource-level
    permissions, uses "*"."""
    for lid, pol in template.resources("AWS::IAM::ManagedPolicy").items():
        assert "ManagedPolicyName" not in pol["Properties"], lid  # generated names: CAPABILITY_IAM suffices
        for st in _statements(pol["Properties"]["PolicyDocument"]):
            # the one Deny: whatever else a ledger writer is granted, it cannot change or remove a record
            assert st["Effect"] == "Allow" or (lid, st["Sid"]) == ("LedgerWriteAccess", "LedgerIsAppendOnly"), lid
            assert all(not a.endswith("*") for a in _as_list(st["Action"])), lid
            assert "*" not in _as_list(st["Resource"]) or lid == "LogDeliveryAccess", lid


def test_every_function_can_send_to_the_dead_letter_queue(template: Template) -> None:
    """SAM grants it for the Globals' DeadLetterQueue and EventInvokeConfig destination; no statement repeats it."""
    for fn in _of_type(template, "AWS::Serverless::Function"):
        role = template.cfn["Resources"][f"{fn}Role"]["Properties"]
        granted = [
            st
            for pol in role.get("Policies", [])
            for st in _statements(pol["PolicyDocument"])
            if st["Resource"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
        ]
        assert granted, fn
        assert all(_as_list(st["Action"]) == ["sqs:SendMessage"] for st in granted), fn


# ------------------------------------------------------------------ log groups -----------------------------------
def test_log_groups_are_written_by_two_loops() -> None:
    text = (REPO_ROOT / "template.yaml").read_text(encoding="utf-8")
    assert text.count("Type: AWS::Logs::LogGroup") == 2  # one loop for functions, one for state machines
    assert "Fn::ForEach::FunctionLogs:" in text
    assert "Fn::ForEach::StateMachineLogs:" in text
    assert len(_of_type(load_yaml(REPO_ROOT / "template.yaml"), "AWS::Logs::LogGroup")) == 19


def test_every_function_and_state_machine_logs_to_its_own_group(template: Template) -> None:
    resources = template.cfn["Resources"]
    groups = template.resources("AWS::Logs::LogGroup")
    functions = template.resources("AWS::Lambda::Function")
    machines = template.resources("AWS::StepFunctions::StateMachine")
    used = []
    for lid, fn in functions.items():
        group = fn["Properties"]["LoggingConfig"]["LogGroup"]
        assert group == {"Ref": f"{lid.removesuffix('Function')}Logs"}, lid
        used.append(group["Ref"])
    for lid, sm in machines.items():
        (dest,) = sm["Properties"]["LoggingConfiguration"]["Destinations"]
        assert dest["CloudWatchLogsLogGroup"]["LogGroupArn"] == {"Fn::GetAtt": [f"{lid}Logs", "Arn"]}, lid
        assert sm["Properties"]["LoggingConfiguration"]["Level"] == "ERROR", lid
        used.append(f"{lid}Logs")
    assert sorted(used) == sorted(groups)
    for lid, group in groups.items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, lid
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["Key", "Arn"]}, lid
    assert "Fn::ForEach" not in str(resources)


@pytest.fixture(scope="module")
def rt(local_aws_factory: Callable[..., AbstractContextManager[LocalAWS]]) -> Iterator[LocalAWS]:
    with local_aws_factory("staging") as runtime:
        yield runtime


def test_embedded_aws_creates_the_log_groups_by_their_owners_names(rt: LocalAWS) -> None:
    """What CloudFormation deploys from the loops: the name of the function or state machine it logs for."""
    lam, sfn = rt.client("lambda"), rt.client("stepfunctions")
    expected = {}
    for lid in rt.template.code_dirs:
        name = lam.get_function_configuration(FunctionName=rt.physical[lid])["FunctionName"]
        expected[f"{lid.removesuffix('Function')}Logs"] = f"/aws/lambda/{name}"
    for lid in rt.template.resources("AWS::StepFunctions::StateMachine"):
        name = sfn.describe_state_machine(stateMachineArn=rt.physical[lid])["name"]
        expected[f"{lid}Logs"] = f"/aws/vendedlogs/states/{name}"
    assert {lid: rt.physical[lid] for lid in expected} == expected
    assert len(expected) == 19  # 14 functions, 5 state machines
    described = {g["logGroupName"]: g for g in rt.client("logs").describe_log_groups()["logGroups"]}
    for name in expected.values():
        assert described[name]["retentionInDays"] == 90  # LogRetentionDays' default


# ------------------------------------------------------------------ Fn::ForEach, locally -------------------------
def test_expand_for_each_as_cloudformation_does() -> None:
    template = {
        "Transform": ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"],
        "Resources": {
            "Plain": {"Type": "AWS::SNS::Topic"},
            "Fn::ForEach::Queues": [
                "Name",
                ["Fast", "slow-lane"],
                {
                    "&{Name}Queue": {
                        "Type": "AWS::SQS::Queue",
                        "Properties": {
                            "QueueName": {"Fn::Sub": "q-${Name}-${AWS::Region}"},
                            "Tags": [{"Key": "name", "Value": {"Ref": "Name"}}],
                            "RedrivePolicy": {"Fn::Sub": ["${Name}:${X}", {"X": {"Ref": "Name"}}]},
                            "Other": {"Ref": "Plain"},
                        },
                    },
                    "Fn::ForEach::Inner": [
                        "Side",
                        ["A", "B"],
                        {
                            "&{Name}${Side}Alarm": {
                                "Type": "AWS::CloudWatch::Alarm",
                                "Properties": {"Side": {"Ref": "Side"}},
                            }
                        },
                    ],
                },
            ],
        },
        "Outputs": {"Fn::ForEach::Out": ["N", ["One"], {"${N}Out": {"Value": {"Fn::Sub": "${N}"}}}]},
    }
    out = expand_language_extensions(template)
    assert out["Transform"] == "AWS::Serverless-2016-10-31"
    assert list(out["Resources"]) == [
        "Plain",
        "FastQueue",
        "FastAAlarm",
        "FastBAlarm",
        "slowlaneQueue",
        "slowlaneAAlarm",
        "slowlaneBAlarm",
    ]
    fast = out["Resources"]["FastQueue"]["Properties"]
    assert fast["QueueName"] == {"Fn::Sub": "q-Fast-${AWS::Region}"}
    assert fast["Tags"] == [{"Key": "name", "Value": "Fast"}]
    assert fast["RedrivePolicy"] == {"Fn::Sub": ["Fast:${X}", {"X": "Fast"}]}
    assert fast["Other"] == {"Ref": "Plain"}
    assert out["Resources"]["slowlaneBAlarm"]["Properties"] == {"Side": "B"}
    assert out["Outputs"] == {"OneOut": {"Value": {"Fn::Sub": "One"}}}
    assert "Fn::ForEach::Queues" in template["Resources"]  # the input is left as it was


def test_expand_leaves_templates_without_the_transform_alone() -> None:
    template = {"Transform": "AWS::Serverless-2016-10-31", "Resources": {"Fn::ForEach::X": ["I", ["a"], {}]}}
    assert expand_language_extensions(template) is template


@pytest.mark.parametrize(
    ("loop", "message"),
    [
        (["I", {"Ref": "Names"}, {"${I}Topic": {}}], "only a literal list of strings or a list parameter"),
        (["I", ["a"]], r"takes \[identifier, collection"),
        (["I", ["a", "a"], {"${I}Topic": {}}], "'aTopic', which is already defined"),
    ],
)
def test_expand_refuses_what_it_cannot_do_like_cloudformation(loop: list[Any], message: str) -> None:
    template = {"Transform": ["AWS::LanguageExtensions"], "Resources": {"Fn::ForEach::T": loop}}
    with pytest.raises(ValueError, match=message):
        expand_language_extensions(template)


# ------------------------------------------------------------------ outputs --------------------------------------
def test_outputs_export_the_stacks_resources(template: Template) -> None:
    outputs = template.sam["Outputs"]
    expected = {"KeyArn", "DeadLetterQueueUrl"}
    expected |= {f"{lid}Arn" for lid in _of_type(template, "AWS::Serverless::StateMachine")}
    expected |= {f"{lid}Name" for lid in _of_type(template, "AWS::DynamoDB::Table")}
    expected |= {f"{lid}Arn" for lid in _of_type(template, "AWS::SNS::Topic")}
    expected |= {"DrillValidatorRoleArn", "PipelineEventsRoleArn"}  # the workload stack's key policies name them
    expected |= {"CostAlertTopicArnsSubscribed"}  # with CostAlertTopicArns given (tests/cost/test_topics.py)
    expected |= {f"{lid}Name" for lid in _of_type(template, "AWS::CloudWatch::Dashboard")}
    assert set(outputs) == expected
    for name, output in outputs.items():
        assert output["Description"], name
        assert output["Export"] == {"Name": {"Fn::Sub": f"deckwatch-${{Environment}}-{name}"}}, name


def test_embedded_aws_exports_the_outputs(rt: LocalAWS) -> None:
    exports = {e["Name"]: e["Value"] for e in rt.client("cloudformation").list_exports()["Exports"]}
    assert exports == {f"deckwatch-staging-{name}": value for name, value in rt.outputs.items()}
    assert exports["deckwatch-staging-CostSavingsStateMachineArn"] == rt.physical["CostSavingsStateMachine"]
    assert exports["deckwatch-staging-IdempotencyTableName"] == "deckwatch-staging-idempotency"


# ------------------------------------------------------------------ samconfig.toml -------------------------------
@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_every_environment_names_its_stack_and_region_for_every_sam_command(env: str) -> None:
    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    shared = config[env]["global"]["parameters"]
    assert shared["stack_name"] == f"deckwatch-{env}"
    assert shared["region"] == "us-east-1"
    assert shared["language_extensions"] is True  # sam build/validate/local expand the template's Fn::ForEach
    # global too: sam sync and sam local invoke --config-env <env> run with the environment's parameters
    assert shared["parameter_overrides"].startswith(f"Environment={env} ")
    assert shared["tags"] == f"app=deckwatch environment={env}"
    deploy = config[env]["deploy"]["parameters"]
    assert not set(deploy) & set(shared), "said once, in global"
    assert "CAPABILITY_AUTO_EXPAND" in deploy["capabilities"]  # AWS::LanguageExtensions is a transform too
    assert deploy["confirm_changeset"] is (env == "prod")


def test_sam_commands_without_an_environment_expand_fn_for_each_too() -> None:
    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    assert config["default"]["global"]["parameters"]["language_extensions"] is True


def _cutover_principal(rt: LocalAWS) -> Any:
    return next(p for p in rt.principals.values() if p.name == "CutoverFunction")


@pytest.mark.parametrize(
    ("action", "resource", "context", "allowed"),
    [
        (
            "iam:PassRole",
            "role/shop-staging-WebTaskRole-1A2B3C",
            {"iam:passedtoservice": "ecs-tasks.amazonaws.com"},
            True,
        ),
        (
            "iam:PassRole",
            "role/shop-staging-WebTaskRole-1A2B3C",
            {"iam:passedtoservice": "lambda.amazonaws.com"},
            False,
        ),
        (
            "iam:PassRole",
            "role/deckwatch-staging-CutoverFunctionRole-X",
            {"iam:passedtoservice": "ecs-tasks.amazonaws.com"},
            False,
        ),
        (
            "iam:PassRole",
            "role/shop-prod-WebTaskRole-1A2B3C",
            {"iam:passedtoservice": "ecs-tasks.amazonaws.com"},
            False,
        ),
        ("lambda:UpdateFunctionCode", "function:shop-staging-api", {}, True),
        ("lambda:InvokeFunction", "function:shop-staging-api:live", {}, True),
        ("lambda:UpdateFunctionCode", "function:deckwatch-staging-cutover", {}, False),
        ("lambda:InvokeFunction", "function:shop-prod-api", {}, False),
    ],
)
def test_the_cutover_passes_and_changes_only_the_workloads_roles_and_functions(
    rt: LocalAWS, action: str, resource: str, context: dict[str, str], allowed: bool
) -> None:
    service = action.split(":")[0]
    arn = (
        f"arn:aws:iam::123456789012:{resource}"
        if service == "iam"
        else f"arn:aws:lambda:us-east-1:123456789012:{resource}"
    )
    assert _cutover_principal(rt).decide(action, arn, context).allowed is allowed
