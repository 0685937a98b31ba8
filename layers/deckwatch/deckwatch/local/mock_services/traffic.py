"""The world's users: a traffic model that drives the metrics and alarms Deckwatch reads, minute by minute.

Every simulated minute, while anything else is going on in the embedded AWS (a daemon timer of the scheduler):

- each load-balanced ECS service of the policy gets `requests_per_minute` requests (with seeded noise), split
  between its target groups by the production listener's current weights; each colour answers as the release it
  runs does (`release(image, error_rate=..., latency_ms=...)`; the default answers well), and a starved target
  group (`starve(name)`: a misrouted canary) gets nothing whatever its weight;
- the metrics an ALB publishes land in CloudWatch as AWS publishes them: per target group (dimensions TargetGroup
  and LoadBalancer: RequestCount, HTTPCode_Target_5XX_Count, TargetResponseTime samples, HealthyHostCount,
  UnHealthyHostCount) and per load balancer (RequestCount, HTTPCode_Target_5XX_Count, HTTPCode_ELB_5XX_Count,
  TargetResponseTime);
- each Lambda service gets invocations split by its alias's weights (AWS/Lambda Invocations, Errors and Duration
  by FunctionName, Resource and ExecutedVersion);
- in the world built from the workload stack (`LocalAWS(world="workload")`) every load-balanced service of the
  stack is driven, the policy's or not (web behind the public ALB, api behind the internal one), each ECS service
  reports its CPU (AWS/ECS CPUUtilization by ClusterName and ServiceName: what a task's share of the requests costs,
  so that `surge(service, factor)` makes an alarm storm that scaling out ends), and the worker, which has no load
  balancer, gets messages on its queue: both colours consume it in proportion to their running tasks, the queue
  reports its depth and the age of its oldest message (AWS/SQS by QueueName) and each colour what it processed,
  failed and how old its messages were when done (the worker's EMF metrics: namespace shop/worker, dimensions
  Environment and Colour);
- then the alarms on those metrics are evaluated as CloudWatch evaluates them (statistic or p-percentile per
  period, metric math with + - * / FILL MAX MIN SUM AVG, datapoints to alarm out of evaluation periods, missing
  data left as it is) and change state, with their state-change events, when the figures say so.

GetMetricData also answers p-percentile statistics (p99...) over the samples of a period, which moto lacks, and
matches a query's dimensions in any order (moto's sort of dimensions is broken, so it matched them in order only). The
state (`TrafficState`) belongs to the running embedded AWS; its random generator is seeded, so a run is
repeatable for a seed.
"""

from __future__ import annotations

import ast
import math
import random
import re
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MINUTE = 60
SAMPLES_PER_MINUTE = 20  # latency samples written per target group and minute (p99 over an interval's samples)
WINDOW_MINUTES = 60  # datapoints kept for alarm evaluation
RETENTION_SECONDS = 6 * 3600  # CloudWatch keeps 15 days; nothing here reads more than hours, moto scans it all
DRIVEN_NAMESPACES = frozenset({"AWS/ApplicationELB", "AWS/Lambda", "AWS/ECS", "AWS/SQS", "shop/worker"})
CPU_PER_TASK_AT = 3000.0  # requests per minute one task serves at 40% CPU (idle 10%)
WORKER_SHARE = 0.2  # messages per minute put on the worker's queue, as a share of the requests per minute
WORKER_TASK_RATE = 600  # messages one worker task finishes per minute
_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d+)?)$")
_installed = False
_lock = threading.Lock()


@dataclass
class Release:
    """How a release answers: its share of failed requests and its typical (median) latency."""

    error_rate: float = 0.002
    latency_ms: float = 110.0


@dataclass
class TrafficState:
    requests_per_minute: int = 3000
    noise: float = 0.05  # relative noise of a minute's request volume
    seed: int = 7
    releases: dict[str, Release] = field(default_factory=dict)  # image (ECS) or version (Lambda) -> behaviour
    starved: set[str] = field(default_factory=set)  # target group names that receive nothing
    enabled: bool = True
    rng: random.Random = field(default_factory=lambda: random.Random(7))  # noqa: S311 - a traffic model, not crypto
    # (namespace, metric, sorted dimensions) -> deque of (minute epoch, values) the model wrote
    window: dict[tuple[str, str, tuple[tuple[str, str], ...]], deque[tuple[int, list[float]]]] = field(
        default_factory=lambda: defaultdict(_new_window)
    )
    minutes: int = 0  # minutes modelled so far
    surges: dict[str, float] = field(default_factory=dict)  # service name -> factor on its requests per minute
    backlog: dict[str, float] = field(default_factory=dict)  # queue name -> messages waiting


def _new_window() -> deque[tuple[int, list[float]]]:
    return deque(maxlen=WINDOW_MINUTES)


def _state() -> TrafficState:
    from deckwatch.local.mock_services import current

    return current().traffic


# ------------------------------------------------------------------ controls (tests, demo, simulation) -----------
def release(key: str, *, error_rate: float = 0.002, latency_ms: float = 110.0) -> None:
    """How the release `key` (a container image, or a Lambda version) answers from now on."""
    _state().releases[key] = Release(error_rate, latency_ms)


def starve(target_group: str) -> None:
    _state().starved.add(target_group)


def volume(requests_per_minute: int) -> None:
    _state().requests_per_minute = requests_per_minute


def surge(service: str, factor: float) -> None:
    """The service's users send `factor` times the usual requests (1.0: back to normal)."""
    state = _state()
    if factor == 1.0:
        state.surges.pop(service, None)
    else:
        state.surges[service] = factor


def reseed(seed: int) -> None:
    state = _state()
    state.seed, state.rng = seed, random.Random(seed)  # noqa: S311 - a traffic model, not crypto


def enable(on: bool = True) -> None:
    _state().enabled = on


def reset() -> None:
    """Default traffic again: every release answers well, nothing starved, the default volume and seed."""
    state = _state()
    state.releases.clear()
    state.starved.clear()
    state.surges.clear()
    state.backlog.clear()
    state.requests_per_minute, state.noise, state.enabled = 3000, 0.05, True
    reseed(7)


# ------------------------------------------------------------------ the minute -----------------------------------
def refresh(runtime: Any) -> None:
    """At every start of the embedded AWS: the first minute is a minute away."""
    runtime.scheduler.call_later(MINUTE, lambda: _tick(runtime), "traffic minute", daemon=True)


def _tick(runtime: Any) -> None:
    runtime.scheduler.call_later(MINUTE, lambda: _tick(runtime), "traffic minute", daemon=True)
    state = _state()
    if not state.enabled:
        return
    minute = int(runtime.clock.time()) // MINUTE * MINUTE
    data: list[dict[str, Any]] = []
    workload = getattr(runtime, "world_kind", "policy") == "workload"
    for spec in _alb_specs(runtime):
        data += _alb_minute(state, spec, minute, cpu=workload)
    for svc in runtime.policy.policy.services:
        if svc.kind == "lambda" and svc.function is not None:
            data += _lambda_minute(state, svc, minute)
    if workload:
        for name, entry in runtime.world["services"].items():
            if "queue_name" in entry:
                data += _queue_minute(state, runtime, name, entry, minute)
    state.minutes += 1
    if not data:
        return
    cw = runtime.client("cloudwatch")
    by_namespace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in data:
        by_namespace[entry.pop("_ns")].append(entry)
    for namespace, entries in sorted(by_namespace.items()):
        for i in range(0, len(entries), 500):
            cw.put_metric_data(Namespace=namespace, MetricData=entries[i : i + 500])
    _prune(minute - RETENTION_SECONDS)
    evaluate_alarms(state, minute)


def _prune(before: int) -> None:
    """Forget datapoints older than `before` (moto keeps every datapoint and scans them all in GetMetricData)."""
    from moto.cloudwatch.models import cloudwatch_backends

    from deckwatch.local.runtime import ACCOUNT, REGION

    backend = cloudwatch_backends[ACCOUNT][REGION]
    data = backend.metric_data
    if data and data[0].timestamp.timestamp() < before:
        backend.metric_data = [d for d in data if d.timestamp.timestamp() >= before]


def _noisy(state: TrafficState, base: float) -> int:
    return max(0, round(base * (1 + state.rng.gauss(0, state.noise))))


def _binomial(state: TrafficState, n: int, p: float) -> int:
    if n <= 0 or p <= 0:
        return 0
    if p >= 1:
        return n
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    return min(n, max(0, round(state.rng.gauss(mean, sd))))


def _latencies(state: TrafficState, median_ms: float, n: int) -> list[float]:
    # log-normal around the release's median: a p99 about 1.6 times the median
    return [round(median_ms * math.exp(state.rng.gauss(0, 0.2)) / 1000, 4) for _ in range(n)]


def _record(
    state: TrafficState, out: list[dict[str, Any]], ns: str, name: str, dims: dict[str, str], minute: int,
    values: list[float], unit: str,
) -> None:  # fmt: skip
    key = (ns, name, tuple(sorted(dims.items())))
    state.window[key].append((minute, values))
    entry: dict[str, Any] = {
        "_ns": ns,
        "MetricName": name,
        "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(dims.items())],
        "Timestamp": datetime.fromtimestamp(minute, tz=UTC),
        "Unit": unit,
    }
    if len(values) == 1:
        entry["Value"] = values[0]
    else:
        entry["Values"] = values
    out.append(entry)


@dataclass(frozen=True)
class AlbSpec:
    """A load-balanced ECS service the model drives: names of its load balancer, target groups and ECS services."""

    name: str
    cluster: str
    load_balancer: str
    port: int
    target_groups: dict[str, str]  # colour -> target group name
    services: dict[str, str]  # colour -> ECS service name


def _alb_specs(runtime: Any) -> list[AlbSpec]:
    """The policy's load-balanced ECS services and, in the workload's world, the stack's others."""
    specs = [
        AlbSpec(
            svc.name,
            svc.ecs.cluster,
            svc.alb.load_balancer,
            svc.alb.listener_port,
            {c: str(getattr(svc.alb.target_groups, c)) for c in ("blue", "green")},
            {c: str(getattr(svc.ecs.services, c)) for c in ("blue", "green")},
        )
        for svc in runtime.policy.policy.services
        if svc.kind == "ecs" and svc.alb is not None and svc.ecs is not None
    ]
    if getattr(runtime, "world_kind", "policy") == "workload":
        covered = {s.load_balancer for s in specs}
        for name, entry in runtime.world["services"].items():
            if "load_balancer" in entry and entry["load_balancer_name"] not in covered:
                tgs = entry["target_groups"].items()
                groups = {c: arn.split(":targetgroup/", 1)[1].split("/")[0] for c, arn in tgs}
                specs.append(
                    AlbSpec(name, runtime.world["cluster"], entry["load_balancer_name"], 443, groups, entry["ecs"])
                )
    return specs


def _alb_minute(state: TrafficState, spec: AlbSpec, minute: int, cpu: bool = False) -> list[dict[str, Any]]:
    from moto.ecs.models import ecs_backends
    from moto.elbv2.models import elbv2_backends

    from deckwatch.local.mock_services import current
    from deckwatch.local.mock_services import ecs as ecs_mock
    from deckwatch.local.runtime import ACCOUNT, REGION

    elb, ecs = elbv2_backends[ACCOUNT][REGION], ecs_backends[ACCOUNT][REGION]
    unhealthy_groups = current().elbv2.unhealthy
    lb = next((b for b in elb.load_balancers.values() if b.name == spec.load_balancer), None)
    if lb is None:
        return []
    lb_dim = _suffix(lb.arn, ":loadbalancer/")
    listener = next((li for li in lb.listeners.values() if int(li.port) == spec.port), None)
    weights = _weights(listener)
    total = _noisy(state, state.requests_per_minute * state.surges.get(spec.name, 1.0))
    out: list[dict[str, Any]] = []
    lb_requests = lb_errors = 0
    lb_latency: list[float] = []
    for colour in ("blue", "green"):
        tg_name = spec.target_groups[colour]
        tg = next((t for t in elb.target_groups.values() if t.name == tg_name), None)
        if tg is None:
            continue
        ecs_service = next((s for s in ecs.services.values() if s.name == spec.services[colour]), None)
        if ecs_service is not None:
            ecs_mock.progress(ecs_service)
        running = int(ecs_service.running_count) if ecs_service is not None else 0
        share = weights.get(tg.arn, 0) / 100
        requests = 0 if tg_name in state.starved or running == 0 else round(total * share)
        behaviour = state.releases.get(_image(ecs, ecs_service), Release())
        errors = _binomial(state, requests, behaviour.error_rate)
        dims = {"TargetGroup": _suffix(tg.arn, ":"), "LoadBalancer": lb_dim}
        unhealthy = running if tg_name in unhealthy_groups else 0  # elbv2.make_unhealthy: failing health checks
        _record(
            state, out, "AWS/ApplicationELB", "HealthyHostCount", dims, minute, [float(running - unhealthy)], "Count"
        )
        _record(state, out, "AWS/ApplicationELB", "UnHealthyHostCount", dims, minute, [float(unhealthy)], "Count")
        if requests > 0:
            latency = _latencies(state, behaviour.latency_ms, SAMPLES_PER_MINUTE)
            _record(state, out, "AWS/ApplicationELB", "RequestCount", dims, minute, [float(requests)], "Count")
            _record(
                state, out, "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", dims, minute, [float(errors)], "Count"
            )
            _record(state, out, "AWS/ApplicationELB", "TargetResponseTime", dims, minute, latency, "Seconds")
            lb_requests, lb_errors = lb_requests + requests, lb_errors + errors
            lb_latency += latency[: max(1, round(SAMPLES_PER_MINUTE * share))]
        if cpu and running > 0:
            _record(state, out, "AWS/ECS", "CPUUtilization", _ecs_dims(spec.cluster, spec.services[colour]), minute,
                    [_cpu(state, requests / running)], "Percent")  # fmt: skip
    lb_dims = {"LoadBalancer": lb_dim}
    _record(state, out, "AWS/ApplicationELB", "RequestCount", lb_dims, minute, [float(lb_requests)], "Count")
    _record(state, out, "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", lb_dims, minute, [float(lb_errors)], "Count")
    _record(state, out, "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", lb_dims, minute, [0.0], "Count")
    if lb_latency:
        _record(state, out, "AWS/ApplicationELB", "TargetResponseTime", lb_dims, minute, lb_latency, "Seconds")
    return out


def _ecs_dims(cluster: str, service: str) -> dict[str, str]:
    return {"ClusterName": cluster, "ServiceName": service}


def _cpu(state: TrafficState, per_task: float) -> float:
    """Average CPU of a service's tasks: idle 10%, 40% at CPU_PER_TASK_AT requests (or messages) per task."""
    return round(min(100.0, 10.0 + 30.0 * per_task / CPU_PER_TASK_AT + state.rng.gauss(0, 1.5)), 2)


def _queue_minute(
    state: TrafficState, runtime: Any, name: str, entry: dict[str, Any], minute: int
) -> list[dict[str, Any]]:
    """The worker: messages arrive on its queue; both colours consume it by their running tasks."""
    from moto.ecs.models import ecs_backends

    from deckwatch.local.mock_services import ecs as ecs_mock
    from deckwatch.local.runtime import ACCOUNT, REGION

    ecs = ecs_backends[ACCOUNT][REGION]
    queue = entry["queue_name"]
    arrived = _noisy(state, state.requests_per_minute * WORKER_SHARE * state.surges.get(name, 1.0))
    waiting = state.backlog.get(queue, 0.0) + arrived
    running: dict[str, tuple[int, Any]] = {}
    for colour, service_name in entry["ecs"].items():
        service = next((s for s in ecs.services.values() if s.name == service_name), None)
        if service is not None:
            ecs_mock.progress(service)
        running[colour] = (int(service.running_count) if service is not None else 0, service)
    tasks = sum(n for n, _ in running.values())
    done = min(waiting, tasks * WORKER_TASK_RATE)
    backlog = waiting - done
    state.backlog[queue] = backlog
    age = 0.0 if backlog <= 0 else 60.0 * backlog / max(1.0, tasks * WORKER_TASK_RATE or arrived)
    out: list[dict[str, Any]] = []
    environment = runtime.environment
    for colour, (n, service) in running.items():
        if n == 0:
            continue
        handled = round(done * n / tasks)
        behaviour = state.releases.get(_image(ecs, service), Release())
        failed = _binomial(state, handled, behaviour.error_rate)
        dims = {"Environment": environment, "Colour": colour}
        _record(state, out, "shop/worker", "MessagesProcessed", dims, minute, [float(handled - failed)], "Count")
        _record(state, out, "shop/worker", "MessagesFailed", dims, minute, [float(failed)], "Count")
        if handled:
            ages = [age + v for v in _latencies(state, behaviour.latency_ms, SAMPLES_PER_MINUTE)]
            _record(state, out, "shop/worker", "MessageAge", dims, minute, ages, "Seconds")
        _record(state, out, "AWS/ECS", "CPUUtilization", _ecs_dims(runtime.world["cluster"], service.name), minute,
                [_cpu(state, CPU_PER_TASK_AT * handled / n / WORKER_TASK_RATE)], "Percent")  # fmt: skip
    qdims = {"QueueName": queue}
    _record(state, out, "AWS/SQS", "NumberOfMessagesSent", qdims, minute, [float(arrived)], "Count")
    _record(state, out, "AWS/SQS", "ApproximateNumberOfMessagesVisible", qdims, minute, [float(backlog)], "Count")
    _record(state, out, "AWS/SQS", "ApproximateAgeOfOldestMessage", qdims, minute, [round(age, 1)], "Seconds")
    dlq = entry["dead_letter_queue_url"].rsplit("/", 1)[-1]
    _record(state, out, "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": dlq}, minute, [0.0], "Count")
    return out


def _lambda_minute(state: TrafficState, svc: Any, minute: int) -> list[dict[str, Any]]:
    from moto.awslambda.models import lambda_backends

    from deckwatch.local.runtime import ACCOUNT, REGION

    backend = lambda_backends[ACCOUNT][REGION]
    try:
        alias = backend.get_alias(svc.function.alias, svc.function.function)
    except Exception:  # noqa: BLE001 - no such function or alias in this world: no traffic for it
        return []
    routing: Any = alias.routing_config or {}
    extra = {str(v): float(w) for v, w in (routing.get("AdditionalVersionWeights") or {}).items()}
    versions = {str(alias.function_version): 1 - sum(extra.values()), **extra}
    total = _noisy(state, state.requests_per_minute)
    out: list[dict[str, Any]] = []
    alias_dims = {"FunctionName": svc.function.function, "Resource": f"{svc.function.function}:{svc.function.alias}"}
    all_invocations = all_errors = 0
    for version, share in versions.items():
        invocations = round(total * share)
        if invocations <= 0:
            continue
        behaviour = state.releases.get(version, Release())
        errors = _binomial(state, invocations, behaviour.error_rate)
        all_invocations, all_errors = all_invocations + invocations, all_errors + errors
        dims = {**alias_dims, "ExecutedVersion": version}
        for name, values, unit in (
            ("Invocations", [float(invocations)], "Count"),
            ("Errors", [float(errors)], "Count"),
            (
                "Duration",
                [v * 1000 for v in _latencies(state, behaviour.latency_ms, SAMPLES_PER_MINUTE)],
                "Milliseconds",
            ),
        ):
            _record(state, out, "AWS/Lambda", name, dims, minute, values, unit)
    # the alias's own totals (what alarms on the alias watch)
    _record(state, out, "AWS/Lambda", "Invocations", alias_dims, minute, [float(all_invocations)], "Count")
    _record(state, out, "AWS/Lambda", "Errors", alias_dims, minute, [float(all_errors)], "Count")
    return out


def _weights(listener: Any) -> dict[str, int]:
    """Target group ARN -> percent of the listener's traffic."""
    for action in (listener.default_actions if listener is not None else []) or []:
        data = getattr(action, "data", {}) or {}
        groups = (data.get("ForwardConfig") or {}).get("TargetGroups") or (
            [{"TargetGroupArn": data.get("TargetGroupArn"), "Weight": 1}] if data.get("TargetGroupArn") else []
        )
        total = sum(int(g.get("Weight", 1)) for g in groups) or 1
        return {str(g["TargetGroupArn"]): round(100 * int(g.get("Weight", 1)) / total) for g in groups}
    return {}


def _image(ecs: Any, service: Any) -> str:
    if service is None:
        return ""
    td = ecs.task_definitions.get(service.task_definition.split("/")[-1].split(":")[0], {})
    revision = int(service.task_definition.rsplit(":", 1)[-1]) if ":" in service.task_definition else None
    found = td.get(revision) if isinstance(td, dict) else None
    containers = getattr(found, "container_definitions", None) or []
    return str(containers[0].get("image", "")) if containers else ""


def _suffix(arn: str, marker: str) -> str:
    """ALB metric dimension values: app/<name>/<id> and targetgroup/<name>/<id> (the ARN's resource part)."""
    resource = arn.split(":", 5)[-1]
    return resource.split("loadbalancer/", 1)[-1] if marker == ":loadbalancer/" else resource


# ------------------------------------------------------------------ alarms ---------------------------------------
def evaluate_alarms(state: TrafficState, minute: int) -> None:
    """Evaluate the alarms on the metrics the model writes, as CloudWatch does each period, and set the state of
    those whose figures say otherwise (SetAlarmState emits the state-change event)."""
    from moto.cloudwatch.models import cloudwatch_backends

    from deckwatch.local.runtime import ACCOUNT, REGION

    backend = cloudwatch_backends[ACCOUNT][REGION]
    for alarm in list(backend.alarms.values()):
        if getattr(alarm, "rule", None) is not None:
            continue  # composites follow their children
        verdict = _verdict(state, alarm, minute)
        if verdict is None or verdict[0] == alarm.state_value:
            continue
        backend.set_alarm_state(alarm.name, verdict[1], "{}", verdict[0])


def _verdict(state: TrafficState, alarm: Any, minute: int) -> tuple[str, str] | None:
    """(state, reason) from the last evaluation periods, or None when the model has no data for this alarm."""
    period = max(MINUTE, int(alarm.period or MINUTE))
    periods = int(alarm.evaluation_periods or 1)
    needed = int(alarm.datapoints_to_alarm or periods)
    values: list[float | None] = []
    for i in range(periods):
        end = minute + MINUTE - i * period
        values.append(_alarm_value(state, alarm, end - period, end))
    known = [v for v in values if v is not None]
    if not known:
        return None
    threshold = float(alarm.threshold)
    breaching = sum(1 for v in known if _breaches(v, alarm.comparison_operator, threshold))
    missing = len(values) - len(known)
    if str(alarm.treat_missing_data or "missing") == "breaching":
        breaching += missing
    latest = known[0]
    if breaching >= needed:
        return (
            "ALARM",
            f"Threshold Crossed: {breaching} of the last {periods} datapoints breached {threshold} "
            f"(latest {latest:.4g})",
        )
    if len(known) >= min(needed, periods) or str(alarm.treat_missing_data or "missing") == "notBreaching":
        return "OK", f"Threshold Crossed: no more than {breaching} of {periods} datapoints breached {threshold}"
    return None


def _breaches(value: float, operator: str, threshold: float) -> bool:
    return {
        "GreaterThanThreshold": value > threshold,
        "GreaterThanOrEqualToThreshold": value >= threshold,
        "LessThanThreshold": value < threshold,
        "LessThanOrEqualToThreshold": value <= threshold,
    }.get(str(operator), False)


def _alarm_value(state: TrafficState, alarm: Any, start: int, end: int) -> float | None:
    queries = getattr(alarm, "metric_data_queries", None) or []
    if not queries:
        if alarm.namespace not in DRIVEN_NAMESPACES:
            return None
        dims = tuple(sorted((d.name, d.value) for d in alarm.dimensions))
        stat = alarm.extended_statistic or alarm.statistic or "Average"
        return _stat(state, (alarm.namespace, alarm.metric_name, dims), stat, start, end)
    values: dict[str, float | None] = {}
    expression: tuple[str, str] | None = None
    for q in queries:  # moto's MetricDataQuery / MetricStat / Metric objects
        stat_doc = q.metric_stat
        if stat_doc is not None:
            metric = stat_doc.metric
            if metric.namespace not in DRIVEN_NAMESPACES:
                return None
            dims = tuple(sorted((d.name, d.value) for d in metric.dimensions or []))
            key = (metric.namespace, metric.metric_name, dims)
            values[q.id] = _stat(state, key, stat_doc.stat, start, end)
        elif q.expression and str(q.return_data).lower() != "false":
            expression = (q.id, q.expression)
    if expression is None:
        return None
    return _math(expression[1], values)


def _stat(
    state: TrafficState, key: tuple[str, str, tuple[tuple[str, str], ...]], stat: str, start: int, end: int
) -> float | None:
    found = [v for minute, vs in state.window.get(key, ()) if start <= minute < end for v in vs]
    return statistic(found, stat)


def statistic(values: list[float], stat: str) -> float | None:
    """A CloudWatch statistic of raw values (Sum, Average, Minimum, Maximum, SampleCount, pNN)."""
    if not values:
        return None
    match = _PERCENTILE.match(stat)
    if match:
        ordered = sorted(values)
        rank = max(1, math.ceil(float(match.group(1)) / 100 * len(ordered)))
        return ordered[rank - 1]
    return {
        "Sum": sum(values),
        "Average": sum(values) / len(values),
        "Minimum": min(values),
        "Maximum": max(values),
        "SampleCount": float(len(values)),
    }.get(stat)


_FUNCTIONS: dict[str, Any] = {
    "MAX": lambda *a: max(_flat(a)),
    "MIN": lambda *a: min(_flat(a)),
    "SUM": lambda *a: sum(_flat(a)),
    "AVG": lambda *a: sum(_flat(a)) / len(_flat(a)),
}


def _flat(args: tuple[Any, ...]) -> list[float]:
    out: list[float] = []
    for a in args:
        out += [float(x) for x in a] if isinstance(a, list) else [float(a)]
    return out


def _math(expression: str, values: dict[str, float | None]) -> float | None:
    """Metric math of one period: + - * /, numbers, query ids, FILL(id, value), MAX/MIN/SUM/AVG([...])."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        return None

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name):
            return values.get(node.id)
        if isinstance(node, ast.List):
            return [ev(e) for e in node.elts]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = ev(node.operand)
            return None if inner is None else -inner
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div):
            left, right = ev(node.left), ev(node.right)
            if left is None or right is None:
                return None
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            return None if right == 0 else left / right
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id.upper()
            if name == "FILL" and len(node.args) == 2:
                value = ev(node.args[0])
                return ev(node.args[1]) if value is None else value
            args = [ev(a) for a in node.args]
            if name in _FUNCTIONS and all(a is not None for a in args):
                flat = _flat(tuple(args))
                return _FUNCTIONS[name](*flat) if flat else None
        raise ValueError(f"unsupported metric math: {ast.dump(node)[:80]}")

    try:
        result = ev(tree)
    except (ValueError, TypeError, ZeroDivisionError):
        return None
    return None if result is None else float(result)


# ------------------------------------------------------------------ GetMetricData percentiles -------------------
def install() -> None:
    """moto's GetMetricData answers Sum/Average/Minimum/Maximum/SampleCount only: add pNN over a period's values;
    and match dimensions in any order."""
    global _installed  # noqa: PLW0603 - moto's classes are process-wide, so is this flag
    with _lock:
        if _installed:
            return
        from moto.cloudwatch.models import Dimension, Statistics

        # GetMetricData matches a query's dimensions in any order, as CloudWatch does: moto sorts both lists, but
        # its Dimension.__lt__ compares a value with a name, so the sort keeps the request's order
        def dimension_lt(self: Any, other: Any) -> bool:
            return (str(self.name), str(self.value)) < (str(other.name), str(other.value))

        Dimension.__lt__ = dimension_lt  # type: ignore[method-assign]
        original = Statistics.get_statistics_for_type

        def get_statistics_for_type(self: Any, stat: str) -> Any:
            if _PERCENTILE.match(stat):
                return statistic(self.metric_single_values_list, stat)
            return original(self, stat)

        Statistics.get_statistics_for_type = get_statistics_for_type  # type: ignore[method-assign]
        _installed = True
