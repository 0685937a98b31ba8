"""Cost Explorer: what moto lacks - anomalies (GetAnomalies), forecasts (GetCostForecast) and cost and usage
computed from seeded daily costs (GetCostAndUsage; moto's own answers only from a queue of canned results).

State lives on moto's CE backend (reset with it): daily cost rows (day, service, tags, amount) and anomalies in
the shape of botocore's `Anomaly`. Responses follow botocore's ce service-2.json shapes. Seed with `add_costs`
and `put_anomaly`, or `seed(runtime)` for the demo (45 days of cost for dev, staging and prod).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

_installed = False

DEMO_DAILY = {
    "Amazon Elastic Container Service": 9.6,
    "Amazon Relational Database Service": 7.9,
    "Amazon Elastic Load Balancing": 2.1,
    "EC2 - Other": 1.6,
    "AmazonCloudWatch": 0.7,
}
DEMO_SCALE = {"dev": 0.3, "staging": 0.8, "prod": 5.0}


@dataclass
class CostStore:
    rows: list[tuple[date, str, dict[str, str], float]] = field(default_factory=list)
    anomalies: dict[str, dict[str, Any]] = field(default_factory=dict)


def _error(code: str, message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(code, message)


def store(account_id: str = "123456789012") -> CostStore:
    from moto.ce.models import ce_backends

    backend = ce_backends[account_id]["aws"]
    found = getattr(backend, "_deckwatch_costs", None)
    if found is None:
        found = CostStore()
        backend._deckwatch_costs = found  # type: ignore[attr-defined]
    return found


def add_costs(
    start: date, days: int, daily: dict[str, float], tags: dict[str, str], account_id: str = "123456789012"
) -> None:
    """`daily` USD per service per day, from `start` for `days` days, on resources tagged `tags`."""
    s = store(account_id)
    for i in range(days):
        for service, amount in daily.items():
            s.rows.append((start + timedelta(days=i), service, dict(tags), float(amount)))


def put_anomaly(anomaly: dict[str, Any], account_id: str = "123456789012") -> None:
    """Create or update (same AnomalyId) an anomaly, PascalCase as GetAnomalies returns it."""
    for required in ("AnomalyId", "AnomalyScore", "Impact", "MonitorArn"):
        if required not in anomaly:
            raise ValueError(f"an anomaly needs {required}")
    store(account_id).anomalies[anomaly["AnomalyId"]] = json.loads(json.dumps(anomaly))


# ------------------------------------------------------------------------------------------ queries -----------
def _matches(expr: dict[str, Any] | None, service: str, tags: dict[str, str]) -> bool:
    if not expr:
        return True
    if "And" in expr:
        return all(_matches(e, service, tags) for e in expr["And"])
    if "Or" in expr:
        return any(_matches(e, service, tags) for e in expr["Or"])
    if "Not" in expr:
        return not _matches(expr["Not"], service, tags)
    if "Tags" in expr:
        t = expr["Tags"]
        value = tags.get(t["Key"])
        if "ABSENT" in t.get("MatchOptions", []):
            return value is None
        return value is not None and value in t.get("Values", [])
    if "Dimensions" in expr:
        d = expr["Dimensions"]
        if d["Key"] == "SERVICE":
            return service in d.get("Values", [])
        return True  # one account, one region locally: other dimensions match everything
    raise _error("ValidationException", f"unsupported filter expression {sorted(expr)}")


def _buckets(start: date, end: date, granularity: str) -> list[tuple[date, date]]:
    out = []
    cur = start
    while cur < end:
        if granularity == "DAILY":
            nxt = cur + timedelta(days=1)
        else:
            nxt = (cur.replace(day=1) + timedelta(days=32)).replace(day=1)
        out.append((cur, min(nxt, end)))
        cur = min(nxt, end)
    return out


def _period(body: dict[str, Any], key: str = "TimePeriod") -> tuple[date, date]:
    try:
        p = body[key]
        start, end = date.fromisoformat(p["Start"][:10]), date.fromisoformat(p["End"][:10])
    except (KeyError, ValueError) as exc:
        raise _error("ValidationException", f"{key} needs Start and End as YYYY-MM-DD ({exc})") from None
    if end <= start:
        raise _error("ValidationException", "Start date must be before End date")
    return start, end


def cost_and_usage(s: CostStore, body: dict[str, Any], today: date) -> dict[str, Any]:
    start, end = _period(body)
    granularity = body.get("Granularity", "MONTHLY")
    metrics = body.get("Metrics") or ["UnblendedCost"]
    group_by = body.get("GroupBy") or []
    results = []
    for b_start, b_end in _buckets(start, end, granularity):
        sums: dict[str, float] = {}
        total = 0.0
        for day, service, tags, amount in s.rows:
            if not (b_start <= day < b_end) or not _matches(body.get("Filter"), service, tags):
                continue
            total += amount
            if group_by:
                g = group_by[0]
                key = service if g["Key"] == "SERVICE" else f"{g['Key']}${tags.get(g['Key'], '')}"
                sums[key] = sums.get(key, 0.0) + amount

        def m(value: float) -> dict[str, Any]:
            return {name: {"Amount": f"{value:.10f}", "Unit": "USD"} for name in metrics}

        results.append(
            {
                "TimePeriod": {"Start": b_start.isoformat(), "End": b_end.isoformat()},
                "Total": {} if group_by else m(total),
                "Groups": [{"Keys": [k], "Metrics": m(v)} for k, v in sorted(sums.items())],
                "Estimated": b_end > today,
            }
        )
    out: dict[str, Any] = {"ResultsByTime": results, "DimensionValueAttributes": []}
    if group_by:
        out["GroupDefinitions"] = group_by
    return out


def cost_forecast(s: CostStore, body: dict[str, Any], today: date) -> dict[str, Any]:
    start, end = _period(body)
    if start < today:
        raise _error("ValidationException", "start date must be equal to or no later than the current date")
    window = [today - timedelta(days=14), today]
    spent = [a for d, svc, tags, a in s.rows if window[0] <= d < window[1] and _matches(body.get("Filter"), svc, tags)]
    if not spent:
        raise _error("DataUnavailableException", "Insufficient amount of historical data to generate forecast.")
    per_day = sum(spent) / 14.0
    by_time = []
    for b_start, b_end in _buckets(start, end, body.get("Granularity", "MONTHLY")):
        mean = per_day * (b_end - b_start).days
        by_time.append(
            {
                "TimePeriod": {"Start": b_start.isoformat(), "End": b_end.isoformat()},
                "MeanValue": f"{mean:.10f}",
                "PredictionIntervalLowerBound": f"{mean * 0.9:.10f}",
                "PredictionIntervalUpperBound": f"{mean * 1.1:.10f}",
            }
        )
    total = per_day * (end - start).days
    return {"Total": {"Amount": f"{total:.10f}", "Unit": "USD"}, "ForecastResultsByTime": by_time}


def anomalies(s: CostStore, body: dict[str, Any]) -> dict[str, Any]:
    interval = body.get("DateInterval") or {}
    if "StartDate" not in interval:
        raise _error("ValidationException", "DateInterval.StartDate is required")
    lo, hi = interval["StartDate"][:10], (interval.get("EndDate") or "9999-12-31")[:10]
    found = []
    for a in s.anomalies.values():
        day = str(a.get("AnomalyStartDate", ""))[:10]
        if not (lo <= day <= hi):
            continue
        if body.get("MonitorArn") and a["MonitorArn"] != body["MonitorArn"]:
            continue
        if body.get("Feedback") and a.get("Feedback") != body["Feedback"]:
            continue
        if (f := body.get("TotalImpact")) and not _impact_ok(float(a["Impact"].get("TotalImpact", 0.0)), f):
            continue
        found.append(a)
    found.sort(key=lambda a: (str(a.get("AnomalyStartDate", "")), a["AnomalyId"]))
    offset = int(body.get("NextPageToken") or 0)
    size = int(body.get("MaxResults") or 100)
    page = found[offset : offset + size]
    out: dict[str, Any] = {"Anomalies": page}
    if offset + size < len(found):
        out["NextPageToken"] = str(offset + size)
    return out


def _impact_ok(value: float, f: dict[str, Any]) -> bool:
    op, a, b = f["NumericOperator"], float(f["StartValue"]), float(f.get("EndValue", 0.0))
    return {
        "EQUAL": value == a,
        "GREATER_THAN_OR_EQUAL": value >= a,
        "LESS_THAN_OR_EQUAL": value <= a,
        "GREATER_THAN": value > a,
        "LESS_THAN": value < a,
        "BETWEEN": a <= value <= b,
    }[op]


# ------------------------------------------------------------------------------------------ moto wiring -------
def install() -> None:
    global _installed  # noqa: PLW0603 - moto's classes are process-wide, so is this flag
    if _installed:
        return
    from moto.ce.responses import CostExplorerResponse

    from deckwatch import clock

    original = CostExplorerResponse.get_cost_and_usage

    def _today() -> date:
        return clock.now().date()

    def get_cost_and_usage(self: Any) -> str:
        s = store(self.current_account)
        if not s.rows:
            return original(self)  # moto's queue of canned results, when nothing was seeded
        return json.dumps(cost_and_usage(s, json.loads(self.body), _today()))

    def get_cost_forecast(self: Any) -> str:
        return json.dumps(cost_forecast(store(self.current_account), json.loads(self.body), _today()))

    def get_anomalies(self: Any) -> str:
        return json.dumps(anomalies(store(self.current_account), json.loads(self.body)))

    CostExplorerResponse.get_cost_and_usage = get_cost_and_usage  # type: ignore[method-assign]
    CostExplorerResponse.get_cost_forecast = get_cost_forecast  # type: ignore[attr-defined]
    CostExplorerResponse.get_anomalies = get_anomalies  # type: ignore[attr-defined]
    _installed = True


def refresh(runtime: Any) -> None:
    """45 days of cost per environment (tagged Environment=<env>), so that forecasts and reports have data."""
    from deckwatch import clock

    start = clock.now().date() - timedelta(days=45)
    for env, scale in DEMO_SCALE.items():
        add_costs(start, 46, {k: round(v * scale, 2) for k, v in DEMO_DAILY.items()}, {"Environment": env})
