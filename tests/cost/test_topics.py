"""Cost alerts on topics the stack does not own: the CostAlertTopicArns parameter subscribes CostAlertsFunction (with
SNS's permission to invoke it) to each topic named at deploy time (`deckwatch replay --topic`: tests/test_cli.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from deckwatch.local import routing
from deckwatch.local.runtime import LocalAWS
from deckwatch.local.template import Template, load, load_yaml
from support.samples import EVENTS, REPO_ROOT

TEAM = "arn:aws:sns:us-east-1:123456789012:team-costs"
FINOPS = "arn:aws:sns:us-east-1:123456789012:finops-alerts"
BUDGET = EVENTS / "cost_alerts" / "budget-actual.json"


def budget_on(topic: str, **changes: Any) -> dict[str, Any]:
    doc = json.loads(BUDGET.read_text(encoding="utf-8"))
    doc.update(changes)
    return routing.on_topic(doc, topic)


# ------------------------------------------------------------------ the template ----------------------------------
def test_one_subscription_and_permission_per_topic_named_at_deploy_time() -> None:
    sam = load_yaml(REPO_ROOT / "template.yaml", {"CostAlertTopicArns": f"{TEAM},{FINOPS}"})
    subscriptions = {k: v for k, v in sam["Resources"].items() if v["Type"] == "AWS::SNS::Subscription"}
    permissions = {  # the approval links' function URL has its own two permissions (no SourceArn)
        k: v
        for k, v in sam["Resources"].items()
        if v["Type"] == "AWS::Lambda::Permission" and v["Properties"]["Principal"] == "sns.amazonaws.com"
    }
    assert len(permissions) == 2
    assert {v["Properties"]["TopicArn"] for v in subscriptions.values()} == {TEAM, FINOPS}
    assert {v["Properties"]["SourceArn"] for v in permissions.values()} == {TEAM, FINOPS}
    for res in (*subscriptions.values(), *permissions.values()):
        assert res["Condition"] == "HasCostAlertTopics"
    for sub in subscriptions.values():
        assert sub["Properties"] == {
            "Protocol": "lambda",
            "TopicArn": sub["Properties"]["TopicArn"],
            "Endpoint": {"Fn::GetAtt": ["CostAlertsFunction", "Arn"]},
        }
    for perm in permissions.values():
        assert perm["Properties"]["Principal"] == "sns.amazonaws.com"
        assert perm["Properties"]["FunctionName"] == {"Ref": "CostAlertsFunction"}
    text = (REPO_ROOT / "template.yaml").read_text(encoding="utf-8")
    assert "Fn::ForEach::CostAlertTopics:" in text  # CloudFormation's own loop, not generated copies


def test_by_default_the_loop_adds_nothing() -> None:
    sam = load_yaml(REPO_ROOT / "template.yaml")
    assert sam["Parameters"]["CostAlertTopicArns"] == {
        "Type": "CommaDelimitedList",
        "Default": "",
        "Description": sam["Parameters"]["CostAlertTopicArns"]["Description"],
    }
    assert [k for k, v in sam["Resources"].items() if v.get("Condition") == "HasCostAlertTopics"] == []
    assert sam["Conditions"]["HasCostAlertTopics"] == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "CostAlertTopicArns"}]}, ""]}]
    }


def test_a_subscription_without_sns_permission_delivers_nothing() -> None:
    template = load(REPO_ROOT, {"Environment": "staging", "CostAlertTopicArns": TEAM})
    cfn = json.loads(json.dumps(template.cfn))
    for logical in [k for k, v in cfn["Resources"].items() if v["Type"] == "AWS::Lambda::Permission"]:
        if cfn["Resources"][logical]["Properties"].get("SourceArn") == TEAM:
            del cfn["Resources"][logical]
    subs = {s.topic: s.permitted for s in routing.sns_subscriptions(Template(REPO_ROOT, template.sam, cfn))}
    assert subs == {TEAM: False, "CostAlertsTopic": True}


# ------------------------------------------------------------------ deployed ---------------------------------------
@pytest.fixture(scope="module")
def rt(local_aws_factory: Callable[..., AbstractContextManager[LocalAWS]]) -> Iterator[LocalAWS]:
    with local_aws_factory("staging", parameters={"CostAlertTopicArns": TEAM}) as runtime:
        yield runtime


def test_the_stack_says_which_topics_it_listens_to(rt: LocalAWS) -> None:
    assert rt.outputs["CostAlertTopicArnsSubscribed"] == TEAM


def test_a_budget_alert_on_the_teams_topic_is_handled(rt: LocalAWS) -> None:
    report = rt.replay(budget_on(TEAM), kind="sns")
    assert report.matched_rules == ["CostAlertsSubscriptionarnawssnsuseast1123456789012teamcosts"]
    assert report.invocations == [{"function": "CostAlertsFunction", "status": "ok", "error": None}]
    assert [r["decision"] for r in report.ledger] == ["alerted"]


def test_a_topic_nobody_subscribed_delivers_nothing(rt: LocalAWS) -> None:
    report = rt.replay(budget_on(FINOPS, MessageId="7b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"), kind="sns")
    assert report.invocations == [] and report.note == f"no function is subscribed to topic {FINOPS}"


def test_the_stacks_own_topic_still_delivers(rt: LocalAWS) -> None:
    own = rt.physical["CostAlertsTopic"]
    report = rt.replay(budget_on(own, MessageId="8b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"), kind="sns")
    assert [i["function"] for i in report.invocations] == ["CostAlertsFunction"]


def test_a_budget_of_another_account_is_ignored(rt: LocalAWS) -> None:
    doc = budget_on(TEAM, MessageId="9b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e")
    doc["Message"] = doc["Message"].replace("AWS Account 123456789012", "AWS Account 210987654321")
    report = rt.replay(doc, kind="sns")
    assert [(r["decision"], r["reason"]) for r in report.ledger] == [
        ("ignored", "event from account 210987654321: this stack acts on account 123456789012 (policy account)")
    ]
    assert ("sns", "Publish") not in [(c["service"], c["operation"]) for c in report.aws_calls]
