"""Budget notification parsing (several formats), attribution and severity, the action registry against the
template's IAM grants, and the Cost Explorer extension of moto."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import pytest
from deckwatch.cost import attribution, budgets
from deckwatch.cost.actions import iam_actions
from deckwatch.events.cost import AnomalyDetail
from deckwatch.local.runtime import LocalAWS
from deckwatch.policy.model import Cost, CostThresholds
from support.cost import ALERTS
from support.samples import REPO_ROOT

CLASSIC = json.loads((ALERTS / "budget-actual.json").read_text(encoding="utf-8"))["Message"]


def test_classic_actual_notification() -> None:
    n = budgets.parse(CLASSIC)
    assert (n.budget_name, n.alert_type, n.budget_type) == ("shop-staging-monthly", "ACTUAL", "Cost")
    assert (n.budgeted_usd, n.threshold, n.threshold_unit, n.amount_usd) == (800.0, 640.0, "USD", 652.18)
    assert (n.account, n.notification_date, n.unparsed, n.over_budget) == (
        "123456789012",
        "November 30, 2026",
        [],
        False,
    )


def test_forecasted_percent_threshold_with_thousands_and_unknown_lines() -> None:
    text = (
        CLASSIC.replace("ACTUAL", "FORECASTED")
        .replace("$652.18", "$1,012.40")
        .replace("> $640.00", "> 100.00%")
        .replace("Budget Type: Cost", "Budget Type: Cost\nCost Filters: TagKeyValue: user:Environment$staging")
    )
    n = budgets.parse(text)
    assert (n.alert_type, n.amount_usd, n.threshold, n.threshold_unit) == ("FORECASTED", 1012.40, 100.0, "%")
    assert n.threshold_usd == 800.0 and n.over_budget
    assert n.unparsed == ["Cost Filters: TagKeyValue: user:Environment$staging"]  # kept verbatim


def test_fields_only_format_with_name_from_subject() -> None:
    text = "Alert Type: FORECASTED\nBudgeted Amount: 300 USD\nForecasted Amount: 412.5 USD\nSomething new: 42\n"
    n = budgets.parse(text, "AWS Budgets: shop-dev-monthly has exceeded your alert threshold")
    assert (n.budget_name, n.alert_type, n.budgeted_usd, n.amount_usd) == (
        "shop-dev-monthly",
        "FORECASTED",
        300.0,
        412.5,
    )
    assert n.unparsed == ["Something new: 42"]


def test_not_a_budget_notification() -> None:
    with pytest.raises(ValueError, match="without budget_name and alert_type"):
        budgets.parse("Dear AWS Customer,\nhello\n")


def _detail(**changes: Any) -> AnomalyDetail:
    base: dict[str, Any] = {"anomalyId": "a", "monitorArn": "arn:m", "monitorName": "x", "impact": {"totalImpact": 1}}
    return AnomalyDetail.model_validate(base | changes)


@pytest.mark.parametrize(
    ("changes", "owner", "env"),
    [
        ({"monitorName": "shop-staging-services"}, "ours", "staging"),
        ({"monitorName": "tags", "dimensionalValue": "Environment$staging"}, "ours", "staging"),  # SNS spelling
        ({"monitorName": "tags", "dimensionValue": "staging"}, "ours", "staging"),  # EventBridge spelling
        ({"monitorName": "shop-prod-services"}, "other", "prod"),
        ({"monitorName": "shop-staging-other"}, "unknown", None),
        ({"monitorName": "billing"}, "unknown", None),
    ],
)
def test_attribution(changes: dict[str, Any], owner: str, env: str | None) -> None:
    cost = Cost(anomaly_monitor="shop-staging-services", allocation_tag={"key": "Environment", "value": "staging"})
    who = attribution.attribute_anomaly(_detail(**changes), "staging", cost)
    assert (who.owner, who.environment) == (owner, env)


def test_severity_thresholds() -> None:
    t = CostThresholds(absolute_usd=50, percent=20)
    assert [attribution.severity(i, p, t) for i, p in ((10, 5), (60, 5), (10, None), (60, 25))] == [
        "low",
        "medium",
        "low",
        "high",
    ]


def test_template_grants_cost_actions_exactly_the_registry() -> None:
    from deckwatch.local.template import load

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        cfn = load(REPO_ROOT, {"Environment": "staging"}).cfn
    role = cfn["Resources"]["CostActionsFunctionRole"]["Properties"]
    granted: set[str] = set()
    for pol in role.get("Policies", []):
        for st in pol["PolicyDocument"]["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            granted |= {a for a in actions if a.split(":")[0] in ("ecs", "rds")}
    assert granted == iam_actions()


@pytest.fixture(scope="module")
def rt(local_aws_factory: Callable[..., AbstractContextManager[LocalAWS]]) -> Iterator[LocalAWS]:
    with local_aws_factory("staging") as runtime:
        yield runtime


def test_mock_cost_explorer(rt: LocalAWS) -> None:
    from deckwatch.local.mock_services import ce as mock

    ce = rt.client("ce")
    from deckwatch import clock

    today = clock.now().date()
    staging = {"Tags": {"Key": "Environment", "Values": ["staging"]}}
    by_day = ce.get_cost_and_usage(
        TimePeriod={"Start": (today - timedelta(days=3)).isoformat(), "End": today.isoformat()},
        Granularity="DAILY",
        Metrics=["UnblendedCost"],
        Filter=staging,
    )["ResultsByTime"]
    assert len(by_day) == 3
    assert float(by_day[0]["Total"]["UnblendedCost"]["Amount"]) == pytest.approx(0.8 * 21.9, rel=0.01)
    nxt = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    fc = ce.get_cost_forecast(
        TimePeriod={"Start": today.isoformat(), "End": nxt.isoformat()},
        Metric="UNBLENDED_COST",
        Granularity="MONTHLY",
        Filter=staging,
    )
    assert float(fc["Total"]["Amount"]) == pytest.approx(0.8 * 21.9 * (nxt - today).days, rel=0.01)
    with pytest.raises(ce.exceptions.DataUnavailableException):
        ce.get_cost_forecast(
            TimePeriod={"Start": today.isoformat(), "End": nxt.isoformat()},
            Metric="UNBLENDED_COST",
            Granularity="MONTHLY",
            Filter={"Tags": {"Key": "Environment", "Values": ["nowhere"]}},
        )
    for i in range(3):
        mock.put_anomaly(
            {
                "AnomalyId": f"a{i}",
                "AnomalyStartDate": today.isoformat(),
                "MonitorArn": "arn:m",
                "AnomalyScore": {"MaxScore": 0.9, "CurrentScore": 0.8},
                "Impact": {"MaxImpact": 10.0 * i, "TotalImpact": 10.0 * i},
            }
        )
    page = ce.get_anomalies(DateInterval={"StartDate": today.isoformat()}, MaxResults=2)
    assert [a["AnomalyId"] for a in page["Anomalies"]] == ["a0", "a1"]
    rest = ce.get_anomalies(DateInterval={"StartDate": today.isoformat()}, NextPageToken=page["NextPageToken"])
    assert [a["AnomalyId"] for a in rest["Anomalies"]] == ["a2"]
    big = ce.get_anomalies(
        DateInterval={"StartDate": today.isoformat()},
        TotalImpact={"NumericOperator": "GREATER_THAN_OR_EQUAL", "StartValue": 15.0},
    )
    assert [a["AnomalyId"] for a in big["Anomalies"]] == ["a2"]
