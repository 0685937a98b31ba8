"""Canary analysis: in each interval of a bake, the new colour's own figures against the stable colour's, read with
GetMetricData from where they are published (per target group for an ALB, per executed version for a Lambda alias,
per colour in a queue worker's own metrics, with its queue's age).

A load-balancer-wide alarm cannot see a canary that fails 40% of its requests at 10% of the traffic (4% overall);
its target group's figures can. Providers are registered per kind of service; each answers `Figures` for both
colours, and "no data" is its own answer (too few requests on the canary: it did not receive traffic), never a
pass (Flagger's `scheduler_metrics`). The verdict of an interval is recorded with every figure, so that a person
can see why a step advanced or rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.cutover.router import TrafficRouter
    from deckwatch.policy.model import Analysis, Service


@dataclass(frozen=True)
class Figures:
    """One colour's figures over an interval (absent: the metric had no datapoint)."""

    requests: float = 0.0
    values: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    outcome: str  # "passed" | "failed" | "no-data"
    canary: Figures
    stable: Figures
    failures: list[str]

    def doc(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "canary": {"requests": self.canary.requests, **self.canary.values},
            "stable": {"requests": self.stable.requests, **self.stable.values},
            "failures": self.failures,
        }


Provider = Callable[["Services", "Service", "TrafficRouter", str, str, datetime, datetime], tuple[Figures, Figures]]
PROVIDERS: dict[str, Provider] = {}


def provider(kind: str) -> Callable[[Provider], Provider]:
    def wrap(fn: Provider) -> Provider:
        PROVIDERS[kind] = fn
        return fn

    return wrap


def judge(policy: Analysis, canary: Figures, stable: Figures) -> Verdict:
    if canary.requests < policy.min_requests:
        return Verdict("no-data", canary, stable, [f"{canary.requests:.0f} requests < {policy.min_requests}"])
    failures = []
    for metric in policy.metrics:
        value = canary.values.get(metric.name)
        if value is None:
            continue
        if metric.max is not None and value > metric.max:
            failures.append(f"{metric.name} {value:.4g} > {metric.max:.4g}")
            continue
        baseline = stable.values.get(metric.name)
        if metric.max_relative is not None and baseline is not None and stable.requests >= policy.min_requests:
            limit = baseline * metric.max_relative + metric.min_delta
            if value > limit:
                failures.append(f"{metric.name} {value:.4g} > {limit:.4g} (stable {baseline:.4g})")
    return Verdict("failed" if failures else "passed", canary, stable, failures)


def measure(
    deps: Services, svc: Service, router: TrafficRouter, canary: str, stable: str, start: float, end: float
) -> tuple[Figures, Figures]:
    fn = PROVIDERS.get(svc.kind)
    if fn is None:
        return Figures(), Figures()
    return fn(deps, svc, router, canary, stable, _at(start), _at(end))


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _query(qid: str, namespace: str, metric: str, dims: dict[str, str], stat: str, period: int) -> dict[str, Any]:
    return {
        "Id": qid,
        "ReturnData": True,
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(dims.items())],
            },
            "Period": period,
            "Stat": stat,
        },
    }


def _results(deps: Services, queries: list[dict[str, Any]], start: datetime, end: datetime) -> dict[str, list[float]]:
    out = deps.clients("cloudwatch").get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end)
    return {r["Id"]: [float(v) for v in r.get("Values", [])] for r in out.get("MetricDataResults", [])}


def _one(values: list[float], how: str = "sum") -> float | None:
    if not values:
        return None
    return sum(values) if how == "sum" else max(values)


@provider("ecs")
def _alb(
    deps: Services, svc: Service, router: Any, canary: str, stable: str, start: datetime, end: datetime
) -> tuple[Figures, Figures]:
    """Per target group: HTTPCode_Target_5XX_Count / RequestCount, TargetResponseTime p99, UnHealthyHostCount."""
    period = max(60, int((end - start).total_seconds()))
    lb = router.load_balancer_arn().split(":loadbalancer/", 1)[-1]
    tgs = router.target_groups()
    queries = []
    for colour in (canary, stable):
        dims = {"TargetGroup": tgs[colour].split(":", 5)[-1], "LoadBalancer": lb}
        queries += [
            _query(f"{colour}_requests", "AWS/ApplicationELB", "RequestCount", dims, "Sum", period),
            _query(f"{colour}_errors", "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", dims, "Sum", period),
            _query(f"{colour}_p99", "AWS/ApplicationELB", "TargetResponseTime", dims, "p99", period),
            _query(f"{colour}_unhealthy", "AWS/ApplicationELB", "UnHealthyHostCount", dims, "Maximum", period),
        ]
    found = _results(deps, queries, start, end)
    return _figures(found, canary, "unhealthy_hosts"), _figures(found, stable, "unhealthy_hosts")


@provider("lambda")
def _alias(
    deps: Services, svc: Service, router: Any, canary: str, stable: str, start: datetime, end: datetime
) -> tuple[Figures, Figures]:
    """Per executed version of the alias: Errors / Invocations, Duration p99."""
    if svc.function is None:
        return Figures(), Figures()
    period = max(60, int((end - start).total_seconds()))
    fn, alias = svc.function.function, svc.function.alias
    queries = []
    for version in (canary, stable):
        dims = {"FunctionName": fn, "Resource": f"{fn}:{alias}", "ExecutedVersion": version}
        queries += [
            _query(f"v{version}_requests", "AWS/Lambda", "Invocations", dims, "Sum", period),
            _query(f"v{version}_errors", "AWS/Lambda", "Errors", dims, "Sum", period),
            _query(f"v{version}_p99", "AWS/Lambda", "Duration", dims, "p99", period),
        ]
    found = _results(deps, queries, start, end)
    return _figures(found, f"v{canary}", None, ms=True), _figures(found, f"v{stable}", None, ms=True)


@provider("ecs_worker")
def _worker(
    deps: Services, svc: Service, router: Any, canary: str, stable: str, start: datetime, end: datetime
) -> tuple[Figures, Figures]:
    """Per colour, from the worker's own metrics (no AWS service counts a queue's messages per consumer): messages
    handled = MessagesProcessed + MessagesFailed (the "requests": a colour that handled none has no data),
    error_rate = MessagesFailed / handled, latency_p99 = MessageAge p99 (seconds from sent to done); and the
    queue's ApproximateAgeOfOldestMessage maximum (queue_age), one figure for both colours: a canary that takes
    messages and does not finish them makes the whole queue old."""
    if svc.queue is None:
        return Figures(), Figures()
    period = max(60, int((end - start).total_seconds()))
    q = svc.queue
    queries = [
        _query("queue_age", "AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": q.name}, "Maximum", period)
    ]
    for colour in (canary, stable):
        dims = {**q.dimensions, "Colour": colour}
        queries += [
            _query(f"{colour}_processed", q.metrics_namespace, "MessagesProcessed", dims, "Sum", period),
            _query(f"{colour}_errors", q.metrics_namespace, "MessagesFailed", dims, "Sum", period),
            _query(f"{colour}_p99", q.metrics_namespace, "MessageAge", dims, "p99", period),
        ]
    found = _results(deps, queries, start, end)
    age = _one(found.get("queue_age", []), "max")
    out = []
    for colour in (canary, stable):
        processed, failed = _one(found.get(f"{colour}_processed", [])), _one(found.get(f"{colour}_errors", []))
        handled = (processed or 0.0) + (failed or 0.0)
        found[f"{colour}_requests"] = [handled] if processed is not None or failed is not None else []
        figures = _figures(found, colour, None)
        if age is not None and figures.requests > 0:  # the queue's age says nothing of a colour that took nothing
            figures = Figures(figures.requests, {**figures.values, "queue_age": age})
        out.append(figures)
    return out[0], out[1]


def _figures(found: dict[str, list[float]], key: str, unhealthy: str | None, ms: bool = False) -> Figures:
    requests = _one(found.get(f"{key}_requests", [])) or 0.0
    values: dict[str, float] = {}
    errors = _one(found.get(f"{key}_errors", []))
    if requests > 0 and errors is not None:
        values["error_rate"] = round(errors / requests, 5)
    p99 = _one(found.get(f"{key}_p99", []), "max")
    if p99 is not None:
        values["latency_p99"] = round(p99 / 1000 if ms else p99, 4)
    if unhealthy is not None:
        bad = _one(found.get(f"{key}_unhealthy", []), "max")
        if bad is not None:
            values[unhealthy] = bad
    return Figures(requests, values)
