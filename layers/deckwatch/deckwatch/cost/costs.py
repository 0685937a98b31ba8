"""Cost Explorer reads: the month's actual and forecast spend against the budget, and cost by service.

Everything is filtered on the environment's cost-allocation tag (policy cost.allocation_tag). Cost Explorer is
a global API served from us-east-1.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from deckwatch import clock

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.policy.model import Cost

METRIC = "UnblendedCost"


CE_REGION = "us-east-1"  # Cost Explorer's one endpoint


def ce_client(deps: Services) -> Any:
    return deps.clients("ce", region=CE_REGION)


def tag_filter(cost: Cost) -> dict[str, Any] | None:
    tag = cost.allocation_tag or {}
    if not tag.get("key") or not tag.get("value"):
        return None
    return {"Tags": {"Key": tag["key"], "Values": [tag["value"]], "MatchOptions": ["EQUALS"]}}


def _filter(cost: Cost) -> dict[str, Any]:
    f = tag_filter(cost)
    return {"Filter": f} if f else {}


def month_bounds(today: date) -> tuple[date, date]:
    first = today.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return first, nxt


def spend(client: Any, cost: Cost, start: date, end: date) -> tuple[float, dict[str, float]]:
    """(total, per service) between start (inclusive) and end (exclusive)."""
    if end <= start:
        return 0.0, {}
    by_service: dict[str, float] = {}
    kwargs: dict[str, Any] = {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "MONTHLY",
        "Metrics": [METRIC],
        "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
        **_filter(cost),
    }
    while True:
        page = client.get_cost_and_usage(**kwargs)
        for bucket in page.get("ResultsByTime", []):
            for group in bucket.get("Groups", []):
                name = group["Keys"][0]
                by_service[name] = by_service.get(name, 0.0) + float(group["Metrics"][METRIC]["Amount"])
        token = page.get("NextPageToken")
        if not token:
            break
        kwargs["NextPageToken"] = token
    return round(sum(by_service.values()), 2), {k: round(v, 2) for k, v in by_service.items()}


def month_outlook(client: Any, cost: Cost) -> dict[str, Any]:
    """Month-to-date spend, the forecast for the rest of the month (GetCostForecast) and the budget."""
    today = clock.now().date()
    first, nxt = month_bounds(today)
    actual, _ = spend(client, cost, first, today)
    out: dict[str, Any] = {
        "month": first.strftime("%Y-%m"),
        "actual_to_date_usd": actual,
        "forecast_rest_of_month_usd": None,
        "forecast_month_usd": None,
        "budget_usd": cost.monthly_budget_usd,
        "budget_name": cost.budget,
        "forecast_percent_of_budget": None,
        "over_budget": None,
        "note": "",
    }
    try:
        resp = client.get_cost_forecast(
            TimePeriod={"Start": today.isoformat(), "End": nxt.isoformat()},
            Metric="UNBLENDED_COST",
            Granularity="MONTHLY",
            **_filter(cost),
        )
    except client.exceptions.DataUnavailableException as exc:
        out["note"] = f"no forecast: {exc.response['Error'].get('Message', 'not enough cost history')}"
        return out
    rest = round(float(resp["Total"]["Amount"]), 2)
    total = round(actual + rest, 2)
    out |= {"forecast_rest_of_month_usd": rest, "forecast_month_usd": total}
    if cost.monthly_budget_usd:
        out["forecast_percent_of_budget"] = round(100.0 * total / cost.monthly_budget_usd, 1)
        out["over_budget"] = total > cost.monthly_budget_usd
    return out


def describe_outlook(o: dict[str, Any]) -> str:
    if o.get("forecast_month_usd") is None:
        return f"Month {o['month']}: ${o['actual_to_date_usd']:.2f} so far; {o.get('note') or 'no forecast'}."
    text = f"Month {o['month']}: ${o['actual_to_date_usd']:.2f} so far, forecast ${o['forecast_month_usd']:.2f}"
    if o.get("budget_usd"):
        verdict = "OVER budget" if o["over_budget"] else "within budget"
        text += f" against a budget of ${o['budget_usd']:.2f} ({o['forecast_percent_of_budget']:.0f}%, {verdict})"
    return text + "."
