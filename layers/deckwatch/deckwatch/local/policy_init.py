"""`deckwatch policy init`: a first Deckwatch policy for a deployed workload stack, from its outputs and tags.

The workload stack publishes everything a policy names as an output (workload/README.md, "Stack-to-stack contract"):
per service `<Service>Blue/GreenServiceName`, load balancer, listeners, target groups, alarms, pipeline, queue; and
the database, drill network and secret, backup vault, budget and anomaly monitor. `generate` turns those into policy
YAML (a pure function: the same stack gives the same text); `read_stack` reads them from CloudFormation (and the few
facts outputs carry only as ARNs: listener ports, the budget's amount). What only a person can decide (thresholds,
approvals, drill objectives, savings) is filled in with a cautious default and marked `# DECIDE:`.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

COLOURS = ("blue", "green")
# what the control plane acts on during a cutover: request errors and latency of the new colour; capacity alarms
# (cpu, memory) are for remediation instead
_CAPACITY = re.compile(r"-(cpu|memory)-high$")
_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./:@-]*$")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


class StackError(Exception):
    """The stack cannot be read as a Deckwatch workload (missing, or without Deckwatch's outputs)."""


@dataclass(frozen=True)
class StackFacts:
    """What `generate` reads: the stack's outputs and tags, its resources (logical id -> (type, physical id)), and
    facts outputs carry only by ARN (listener ARN -> port, budget name -> monthly amount in USD)."""

    name: str
    outputs: Mapping[str, str]
    tags: Mapping[str, str] = field(default_factory=dict)
    resources: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    listener_ports: Mapping[str, int] = field(default_factory=dict)
    budget_usd: float | None = None


def usable(value: str | None) -> bool:
    """An output CloudFormation resolved to a name or ARN (not empty, not a placeholder of an emulator)."""
    return bool(value) and not str(value).startswith("moto-skipped:") and "<" not in str(value)


def _q(value: str) -> str:
    """A YAML scalar: plain when it reads back as the same string, JSON-quoted otherwise."""
    if _PLAIN.match(value) and value.lower() not in _YAML_WORDS and not re.fullmatch(r"[-+.\d_:eE]+", value):
        return value
    return json.dumps(value)


def _flow(items: Sequence[str]) -> str:
    return "[" + ", ".join(_q(i) for i in items) + "]"


def _split(value: str | None) -> list[str]:
    return [v for v in (value or "").split(",") if usable(v)]


def _tg_name(arn: str) -> str:
    # arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>
    return arn.split(":targetgroup/", 1)[1].split("/", 1)[0] if ":targetgroup/" in arn else arn


def _secret_name(arn: str) -> str:
    # arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 random characters>
    if ":secret:" not in arn:
        return arn
    return re.sub(r"-[A-Za-z0-9]{6}$", "", arn.split(":secret:", 1)[1])


def _lambda_alias(arn: str) -> tuple[str, str] | None:
    # arn:aws:lambda:<region>:<account>:function:<name>:<alias>
    parts = arn.split(":")
    if len(parts) == 8 and parts[5] == "function":
        return parts[6], parts[7]
    return None


def _prefix(service: str) -> str:
    return "".join(p.title() for p in re.split(r"[-_]", service))


@dataclass
class _Found:
    """Everything the policy names, by where it came from (for the summary and the tests)."""

    services: list[str] = field(default_factory=list)
    ecs: list[str] = field(default_factory=list)
    workers: list[str] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)
    vaults: list[str] = field(default_factory=list)
    budgets: list[str] = field(default_factory=list)
    monitors: list[str] = field(default_factory=list)


def has_deckwatch_outputs(outputs: Mapping[str, str]) -> bool:
    keys = ("Services", "ClusterName", "DbInstanceIdentifier", "BudgetName", "BackupVaultName")
    return any(usable(outputs.get(k)) for k in keys) or any(k.endswith("BlueServiceName") for k in outputs)


def generate(facts: StackFacts, environment: str) -> str:
    """The policy YAML for `environment` from the stack's facts (deterministic: same facts, same text)."""
    out = facts.outputs
    if not has_deckwatch_outputs(out):
        raise StackError(
            f"stack {facts.name} has no Deckwatch outputs (Services, ClusterName, DbInstanceIdentifier, ...)"
        )
    declared = out.get("Environment") or facts.tags.get("Environment")
    if declared and declared != environment:
        raise StackError(f"stack {facts.name} is the {declared} environment's, not {environment}'s")
    prod = environment == "prod"
    lines: list[str] = [
        f"# Deckwatch policy for {environment}, generated by `deckwatch policy init --stack {facts.name}` from the",
        "# stack's outputs and tags. Each `# DECIDE:` is a cautious default for a person to confirm or change.",
        "version: 1",
        f"environment: {environment}",
        "dry_run: true  # DECIDE: plan and record every action, change nothing; false once the ledger looks right",
        "",
        "notifications:",
        "  emails: []  # DECIDE: who is subscribed to the notifications topic",
        "  approvers: []  # DECIDE: who answers approvals (informational)",
        "",
    ]
    found = _Found()
    cluster = out.get("ClusterName", "")
    names = _split(out.get("Services")) or sorted(
        {
            k.removesuffix("BlueServiceName").lower()
            for k in out
            if k.endswith("BlueServiceName") and k != "BlueServiceName"
        }
    )
    service_lines: list[str] = []
    rules: list[str] = []
    leftover: list[tuple[str, str]] = []  # (alarm, why) for notify_only rules
    savings_ecs: list[tuple[str, str]] = []
    for name in names:
        p = _prefix(name)
        colours = {c: out.get(f"{p}{c.title()}ServiceName", "") for c in COLOURS}
        colour_alarms = {c: _split(out.get(f"{p}{c.title()}Alarms")) for c in COLOURS}
        wide = _split(out.get(f"{p}Alarms")) + _split(out.get(f"{p}ServiceAlarms"))
        every = [*colour_alarms["blue"], *colour_alarms["green"], *wide]
        found.alarms += every
        max_tasks = out.get(f"{p}MaxTasks", "")
        pipeline = out.get(f"{p}PipelineName", "")
        function, alias = out.get(f"{p}FunctionName", ""), out.get(f"{p}AliasName", "")
        if usable(function) and usable(alias):
            found.services.append(name)
            service_lines += _lambda_service(name, function, alias, every, pipeline, prod)
            continue
        if not all(usable(v) for v in colours.values()) or not usable(cluster):
            continue
        alb = out.get(f"{p}LoadBalancerName", "")
        tgs = {c: out.get(f"{p}{c.title()}TargetGroupArn", "") for c in COLOURS}
        if usable(alb) and all(usable(v) for v in tgs.values()):
            found.services.append(name)
            found.ecs.append(name)
            first = len(found.ecs) == 1  # the first states the SLO limits, the others refer to them
            service_lines += _ecs_service(facts, name, p, cluster, colours, alb, tgs, every, pipeline, prod, first)
            rules += _scale_out(name, cluster, colours, colour_alarms, wide, max_tasks, service=name)
        else:  # a queue worker: blue/green ECS services without a load balancer
            found.workers.append(name)
            queue = out.get(f"{p}QueueName", "")
            if usable(queue):  # cut over by its share of the queue's consumers (kind ecs_worker)
                found.services.append(name)
                service_lines += _worker_service(facts, name, p, cluster, colours, queue, every, pipeline, prod)
            else:
                service_lines += [
                    f"  # {name}: ECS services {colours['blue']} / {colours['green']} have no load balancer and the",
                    "  # stack names no queue (no QueueName output), so it is no cutover service here.",
                ]
            # remediation acts on each colour by name: a worker's live colour is known only once Deckwatch cut it
            # over (its traffic parameters), and its capacity alarms are about the colour they name
            rules += _scale_out(name, cluster, colours, colour_alarms, wide, max_tasks, service=None)
            savings_ecs += [(cluster, colours[c]) for c in COLOURS]
        in_service = name in found.services
        watches = _watched_by_worker if name in found.workers else lambda a: not _CAPACITY.search(a)
        for a in every:
            if a.endswith("-cpu-high"):
                continue  # scale-out rules above
            if in_service and watches(a):
                continue  # watched during cutovers (services[].alarms)
            leftover.append((a, "memory (DECIDE: ecs_replace_tasks?)" if a.endswith("-memory-high") else name))
    for logical, (rtype, physical) in sorted(facts.resources.items()):
        alias_of = _lambda_alias(physical) if rtype == "AWS::Lambda::Alias" else None
        if alias_of and alias_of[0] not in found.services:
            fn_name = re.sub(r"[^a-z0-9-]+", "-", alias_of[0].lower()).strip("-")[:63] or logical.lower()
            found.services.append(fn_name)
            service_lines += _lambda_service(fn_name, alias_of[0], alias_of[1], [], "", prod)
    listed = any(line.startswith("  - ") for line in service_lines)
    lines += ["services:" if listed else "services: []", *service_lines, ""]

    db = out.get("DbInstanceIdentifier", "")
    db_alarms = _split(out.get("DatabaseAlarms"))
    found.alarms += db_alarms
    if usable(db):
        found.databases.append(db)
    for a in db_alarms:
        if "free-storage" in a and usable(db):
            rules += [
                f"    - alarm: {{name: {_q(a)}}}",
                "      runbook: rds_grow_storage",
                f"      parameters: {{db_instance: {_q(db)}, percent: 20}}  # DECIDE: growth per action",
                "      bounds: {max_storage_gib: 500}  # DECIDE: the most storage Deckwatch may grow the database to",
                "      cooldown_minutes: 360",
                "      verify_minutes: 30",
                f"      approval_required: {'true' if prod else 'false'}  # DECIDE",
            ]
        else:
            leftover.append((a, "database (DECIDE: rds_failover?)"))
    lines += [
        "remediation:",
        "  max_actions_per_hour: 6  # DECIDE: the most actions Deckwatch takes in an hour, all rules together",
        "  rules:  # DECIDE: cooldown_minutes (15) and verify_minutes (10) where a rule does not set them"
        if rules or leftover
        else "  rules: []",
        *rules,
    ]
    if leftover:
        lines.append("    # notified, never acted on (DECIDE: give any of these a runbook):")
        lines += _notify_only(leftover)
    lines.append("")
    lines += _drills(facts, found, environment)
    lines += _cost(facts, found, environment, savings_ecs)
    return "\n".join(lines).rstrip("\n") + "\n"


def _ecs_service(
    facts: StackFacts,
    name: str,
    p: str,
    cluster: str,
    colours: Mapping[str, str],
    alb: str,
    tgs: Mapping[str, str],
    alarms: list[str],
    pipeline: str,
    prod: bool,
    first: bool = True,
) -> list[str]:
    out = facts.outputs
    listener = out.get(f"{p}ProductionListenerArn", "")
    test = out.get(f"{p}TestListenerArn", "")
    port = facts.listener_ports.get(listener, 443)
    watched = [a for a in alarms if not _CAPACITY.search(a)]
    lines = [
        f"  - name: {_q(name)}",
        "    kind: ecs",
        "    ecs:",
        f"      cluster: {_q(cluster)}",
        f"      services: {{blue: {_q(colours['blue'])}, green: {_q(colours['green'])}}}",
        "    alb:",
        f"      load_balancer: {_q(alb)}",
        f"      listener_port: {port}",
    ]
    if usable(test):
        lines.append(f"      test_listener_port: {facts.listener_ports.get(test, 8443)}")
    lines.append(f"      target_groups: {{blue: {_q(_tg_name(tgs['blue']))}, green: {_q(_tg_name(tgs['green']))}}}")
    return lines + _cutover(watched, "traffic steps", _analysis(facts, first), pipeline, prod)


def _cutover(watched: list[str], steps: str, analysis: list[str], pipeline: str, prod: bool) -> list[str]:
    """What every cutover service ends with: the alarms that roll back, the rollout, approval and trigger."""
    lines = [
        "    alarms:  # DECIDE: the alarms that roll a cutover back",
        *[f"      - {_q(a)}" for a in watched],
        f"    rollout:  # DECIDE: {steps}, bake, rollback window",
        "      strategy: canary",
        "      steps: [10, 100]",
        "      bake_minutes: 10",
        "      rollback_window_minutes: 30",
        *analysis,
        f"    require_approval: {'true' if prod else 'false'}  # DECIDE: a person approves each cutover",
    ]
    if usable(pipeline):
        action = "ApproveProd" if prod else "BuildImage"
        lines += ["    triggers:", f"      - {{pipeline: {_q(pipeline)}, action: {action}, state: SUCCEEDED}}"]
    lines.append("")
    return lines


def _analysis(facts: StackFacts, first: bool) -> list[str]:
    """The canary analysis limits from the stack's own SLO outputs (the thresholds its alarms use), so that a
    canary is held to the service's objective, not to Deckwatch's defaults; nothing when the stack has none. The
    first service states them under a YAML anchor and the others refer to it: one place to change, and the
    policy stays within its SSM parameter's 8 KB."""
    out = facts.outputs
    try:
        latency = float(out["SloLatencySeconds"])
        errors = float(out["SloErrorRatePercent"]) / 100
    except (KeyError, ValueError):
        return []
    if not first:
        return ["      analysis: *slo  # the same SLO limits"]
    return [
        "      analysis: &slo  # the stack's SLOs (SloLatencySeconds, SloErrorRatePercent outputs)",
        "        metrics:",
        f"          - {{name: error_rate, max: {errors:g}, max_relative: 2.0, min_delta: {errors / 2:g}}}",
        f"          - {{name: latency_p99, max: {latency:g}, max_relative: 1.5, min_delta: 0.05}}",
        "          - {name: unhealthy_hosts, max: 0}",
    ]


def _worker_analysis(facts: StackFacts) -> list[str]:
    """A worker's canary limits: failed messages and the queue's age from the stack's SLO outputs when it has
    them (the thresholds of its own alarms), else Deckwatch's defaults for a person to decide."""
    out = facts.outputs
    try:
        errors, age = float(out["SloErrorRatePercent"]) / 100, float(out["SloQueueAgeSeconds"])
        source = "  # the stack's SLOs (SloErrorRatePercent, SloQueueAgeSeconds)"
    except (KeyError, ValueError):
        errors, age, source = 0.05, 60.0, "  # DECIDE: failed messages, their age (sent to done) and the queue's (s)"
    return [
        "      analysis:",
        f"        metrics:{source}",
        f"          - {{name: error_rate, max: {errors:g}, max_relative: 2.0, min_delta: {min(errors, 0.01) / 2:g}}}",
        "          - {name: latency_p99, max_relative: 1.5, min_delta: 0.05}",
        f"          - {{name: queue_age, max: {age:g}}}",
    ]


def _watched_by_worker(alarm: str) -> bool:
    """Not its capacity alarms (remediation's), nor its dead-letter depth: dead letters stay until someone redrives
    them, and an alarm that stays in ALARM would refuse every later release."""
    return not _CAPACITY.search(alarm) and not alarm.endswith("-dlq-depth")


def _worker_service(
    facts: StackFacts,
    name: str,
    p: str,
    cluster: str,
    colours: Mapping[str, str],
    queue: str,
    alarms: list[str],
    pipeline: str,
    prod: bool,
) -> list[str]:
    """A queue worker as a cutover service (kind ecs_worker): its colours, its queue and the namespace of the metrics
    its tasks publish per colour (the stack's <Service>MetricsNamespace output)."""
    namespace = facts.outputs.get(f"{p}MetricsNamespace", "")
    env_tag = facts.tags.get("Environment", "")
    watched = [a for a in alarms if _watched_by_worker(a)]
    lines = [
        f"  - name: {_q(name)}",
        "    kind: ecs_worker  # no load balancer: a canary is a share of the queue's consumers",
        "    ecs:",
        f"      cluster: {_q(cluster)}",
        f"      services: {{blue: {_q(colours['blue'])}, green: {_q(colours['green'])}}}",
        "    queue:",
        f"      name: {_q(queue)}",
        f"      metrics_namespace: {_q(namespace)}"
        if usable(namespace)
        else f"      metrics_namespace: {_q(f'{name}/metrics')}  # DECIDE: no {p}MetricsNamespace output; where the "
        "worker publishes MessagesProcessed, MessagesFailed and MessageAge by Colour",
    ]
    if env_tag:
        lines.append(f"      dimensions: {{Environment: {_q(env_tag)}}}  # DECIDE: the metrics' other dimensions")
    return lines + _cutover(watched, "steps (shares of the tasks)", _worker_analysis(facts), pipeline, prod)


def _lambda_service(name: str, function: str, alias: str, alarms: list[str], pipeline: str, prod: bool) -> list[str]:
    lines = [
        f"  - name: {_q(name)}",
        "    kind: lambda",
        f"    lambda: {{function: {_q(function)}, alias: {_q(alias)}}}",
        f"    alarms: {_flow([a for a in alarms if not _CAPACITY.search(a)])}  # DECIDE: the alarms that roll back",
        "    rollout: {strategy: canary, steps: [10, 100], bake_minutes: 10, rollback_window_minutes: 30}  # DECIDE",
        f"    require_approval: {'true' if prod else 'false'}  # DECIDE",
    ]
    if usable(pipeline):
        lines += ["    triggers:", f"      - {{pipeline: {_q(pipeline)}, action: BuildImage, state: SUCCEEDED}}"]
    lines.append("")
    return lines


def _scale_out(
    name: str,
    cluster: str,
    colours: Mapping[str, str],
    colour_alarms: Mapping[str, list[str]],
    wide: list[str],
    max_tasks: str,
    service: str | None,
) -> list[str]:
    """ecs_scale_out rules for a service's CPU alarms: a policy service's act on its live colour; a worker's name
    each colour's ECS service (the one the alarm is about)."""
    bound = (
        f"      bounds: {{max_tasks: {int(max_tasks)}}}  # the stack's {_prefix(name)}MaxTasks"
        if max_tasks.isdigit() and int(max_tasks) >= 1
        else "      bounds: {max_tasks: 4}  # DECIDE: no MaxTasks output; the most tasks a scale-out may reach"
    )
    tail = [bound, "      approval_required: false  # DECIDE"]  # cooldown and verification: the defaults
    rules: list[str] = []
    cpu_wide = [a for a in wide if a.endswith("-cpu-high")]
    blue = [a for a in colour_alarms["blue"] if a.endswith("-cpu-high")]
    green = [a for a in colour_alarms["green"] if a.endswith("-cpu-high")]
    if service is not None:
        head = [
            "      runbook: ecs_scale_out",
            f"      service: {_q(service)}",
            "      parameters: {step: 2}  # DECIDE",
        ]
        for a in cpu_wide:
            rules += [
                f"    # {name}: CPU of the colour serving traffic",
                f"    - alarm: {{name: {_q(a)}}}",
                *head,
                *tail,
            ]
        pattern = _colour_pattern(blue, green)
        if pattern is not None:
            rules += [
                f"    # {name}: each colour's CPU (acts while that colour is live)",
                f"    - alarm: {{pattern: {_q(pattern)}}}",
                *head,
                *tail,
            ]
        else:
            for a in blue + green:
                rules += [f"    - alarm: {{name: {_q(a)}}}", *head, *tail]
        return rules
    for colour, alarms in (("blue", blue), ("green", green)):
        for a in alarms:
            rules += [
                f"    # {name} ({colour})",
                f"    - alarm: {{name: {_q(a)}}}",
                "      runbook: ecs_scale_out",
                f"      parameters: {{cluster: {_q(cluster)}, service: {_q(colours[colour])}, step: 1}}  # DECIDE",
                *tail,
            ]
    return rules


def _notify_only(alarms: list[tuple[str, str]]) -> list[str]:
    """One notify_only rule per alarm, a colour pair as one pattern, under a comment per group."""
    names = {a for a, _ in alarms}
    lines: list[str] = []
    group = None
    for a, why in alarms:
        if "-green-" in a and a.replace("-green-", "-blue-", 1) in names:
            continue  # in its blue twin's pattern
        if why != group:
            lines.append(f"    # {why}")
            group = why
        twin = a.replace("-blue-", "-green-", 1) if "-blue-" in a else None
        pattern = _colour_pattern([a], [twin]) if twin in names and twin is not None else None
        match = f"pattern: {_q(pattern)}" if pattern else f"name: {_q(a)}"
        lines.append(f"    - {{alarm: {{{match}}}, runbook: notify_only}}")
    return lines


def _colour_pattern(blue: list[str], green: list[str]) -> str | None:
    if len(blue) != 1 or len(green) != 1 or "-blue-" not in blue[0]:
        return None
    pattern = blue[0].replace("-blue-", "-*-", 1)
    return pattern if fnmatchcase(green[0], pattern) else None


def _drills(facts: StackFacts, found: _Found, environment: str) -> list[str]:
    out = facts.outputs
    db = out.get("DbInstanceIdentifier", "")
    subnet_group, security_group = out.get("DrillSubnetGroupName", ""), out.get("DrillSecurityGroupName", "")
    secret = out.get("DrillSecretArn", "")
    vault = out.get("BackupVaultName", "")
    lines = ["drills:"]
    if usable(vault):
        found.vaults.append(vault)
        plan = out.get("BackupPlanId", "")
        lines.append(
            f"  # backups: vault {vault}" + (f", plan {plan}" if usable(plan) else "") + "; every completed backup job"
        )
        lines.append("  # of a target below starts a drill (DECIDE: cross-region copies: drill_copies and dr_networks)")
    if not (usable(db) and usable(subnet_group) and usable(security_group) and usable(secret)):
        missing = [
            k
            for k, v in (
                ("DbInstanceIdentifier", db),
                ("DrillSubnetGroupName", subnet_group),
                ("DrillSecurityGroupName", security_group),
                ("DrillSecretArn", secret),
            )
            if not usable(v)
        ]
        return [*lines, f"  targets: []  # no drills: the stack has no usable {', '.join(missing)}", ""]
    database = facts.tags.get("Application", "postgres")
    return [
        *lines,
        "  network:",
        f"    db_subnet_group: {_q(subnet_group)}",
        f"    security_group: {_q(security_group)}",
        "  max_age_hours: 6",
        "  targets:",
        f"    - resource: {_q(db)}",
        "      engine: postgres",
        f"      database: {_q(database)}  # DECIDE: the database the checks run in",
        f"      secret: {_q(_secret_name(secret))}",
        "      sampling: {min_days_between: 7}  # DECIDE: how often a backup is drilled",
        "      objectives: {rto_minutes: 60, rpo_minutes: 1500}  # DECIDE: recovery time and point objectives",
        "      checks: {}  # DECIDE: tables, row_count_floors, freshness, assertions a good restore passes",
        "",
    ]


def _cost(facts: StackFacts, found: _Found, environment: str, savings_ecs: list[tuple[str, str]]) -> list[str]:
    out = facts.outputs
    budget, monitor = out.get("BudgetName", ""), out.get("CostAnomalyMonitorName", "")
    lines = ["cost:"]
    if usable(budget):
        found.budgets.append(budget)
        lines.append(f"  budget: {_q(budget)}")
        if facts.budget_usd:
            lines.append(f"  monthly_budget_usd: {facts.budget_usd:g}  # the budget's limit")
    if usable(monitor):
        found.monitors.append(monitor)
        lines.append(f"  anomaly_monitor: {_q(monitor)}")
    env_tag = facts.tags.get("Environment")
    if env_tag:
        lines.append(f"  allocation_tag: {{key: Environment, value: {_q(env_tag)}}}")
    lines += [
        "  thresholds: {absolute_usd: 50, percent: 20}  # DECIDE: the anomaly impact worth a notification",
        "  savings:",
        "    mode: notify  # DECIDE: notify, approve, or act (not in prod): scale to zero outside working hours",
        f"    services: {_flow(found.ecs)}" + ("  # both colours, whichever serves traffic" if found.ecs else ""),
    ]
    if savings_ecs:
        lines.append("    ecs_services:  # the queue workers' colours")
        lines += [f"      - {{cluster: {_q(c)}, service: {_q(s)}}}" for c, s in savings_ecs]
    lines.append(f"    rds_instances: {_flow(found.databases)}")
    lines.append("    # DECIDE: working_hours (outside them savings are taken), min_severity")
    return lines


def summary(facts: StackFacts) -> dict[str, list[str]]:
    """What the stack's outputs name, by kind (printed by the command, compared by the tests)."""
    out = facts.outputs
    services: list[str] = []
    workers: list[str] = []
    alarms: list[str] = _split(out.get("DatabaseAlarms"))
    for name in _split(out.get("Services")):
        p = _prefix(name)
        alarms += [a for k in ("BlueAlarms", "GreenAlarms", "Alarms", "ServiceAlarms") for a in _split(out.get(p + k))]
        (services if usable(out.get(f"{p}LoadBalancerName")) else workers).append(name)

    def one(key: str) -> list[str]:
        return [v for v in [out.get(key, "")] if usable(v)]

    return {
        "services": services,
        "workers": workers,
        "alarms": sorted(set(alarms)),
        "databases": one("DbInstanceIdentifier"),
        "backup vaults": one("BackupVaultName"),
        "budgets": one("BudgetName"),
        "anomaly monitors": one("CostAnomalyMonitorName"),
    }


# ---------------------------------------------------------------- reading AWS ---------------------------------------
def read_stack(client: Any, name: str) -> StackFacts:
    """The facts of stack `name`; `client(service)` gives a boto3 client. StackError if it does not exist."""
    from botocore.exceptions import ClientError

    cfn = client("cloudformation")
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        raise StackError(f"stack {name}: {exc.response.get('Error', {}).get('Message', exc)}") from None
    if not stacks:
        raise StackError(f"stack {name} does not exist")
    stack = stacks[0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    tags = {t["Key"]: t["Value"] for t in stack.get("Tags", [])}
    if not has_deckwatch_outputs(outputs):
        raise StackError(f"stack {name} has no Deckwatch outputs (Services, ClusterName, DbInstanceIdentifier, ...)")
    resources: dict[str, tuple[str, str]] = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=name):
        for r in page["StackResourceSummaries"]:
            resources[r["LogicalResourceId"]] = (r["ResourceType"], r.get("PhysicalResourceId") or "")
    listeners = [v for k, v in sorted(outputs.items()) if k.endswith("ListenerArn") and usable(v)]
    ports: dict[str, int] = {}
    if listeners:
        elb = client("elbv2")
        for arn in dict.fromkeys(listeners):
            with contextlib.suppress(ClientError):
                ports[arn] = int(elb.describe_listeners(ListenerArns=[arn])["Listeners"][0]["Port"])
    budget_usd = None
    if usable(outputs.get("BudgetName")):
        with contextlib.suppress(ClientError, KeyError, ValueError):
            account = client("sts").get_caller_identity()["Account"]
            found = client("budgets").describe_budget(AccountId=account, BudgetName=outputs["BudgetName"])
            budget_usd = float(found["Budget"]["BudgetLimit"]["Amount"])
    if not usable(outputs.get("DrillSubnetGroupName")):
        # a DB subnet group's Ref is its name; an emulator may not resolve it: the group tagged for drills
        outputs["DrillSubnetGroupName"] = _tagged_subnet_group(client, tags.get("Environment")) or ""
    return StackFacts(name, outputs, tags, resources, ports, budget_usd)


def _tagged_subnet_group(client: Any, environment: str | None) -> str | None:
    rds = client("rds")
    for group in rds.describe_db_subnet_groups().get("DBSubnetGroups", []):
        arn = group.get("DBSubnetGroupArn")
        if not arn:
            continue
        tags = {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=arn).get("TagList", [])}
        if tags.get("deckwatch:role") == "drills" and tags.get("Environment") == environment:
            return str(group["DBSubnetGroupName"])
    return None


def init(
    client: Any, stack: str, environment: str, out: Path | None = None, force: bool = False
) -> tuple[StackFacts, str]:
    """Read `stack`, generate its policy for `environment`, validate it with the policy loader and write it to `out`
    (refusing to overwrite an existing file unless `force`). Returns the facts read and the text; StackError on bad
    input."""
    from deckwatch.policy import parse
    from deckwatch.policy.loader import MAX_PARAMETER_BYTES

    if out is not None and out.exists() and not force:
        raise StackError(f"{out} exists; pass --force to overwrite it")
    facts = read_stack(client, stack)
    text = generate(facts, environment)
    # the loader's verdict, as `policy validate` gives it (what `push` can store): PolicyError (exit 2) if it refuses
    parse(text, str(out or f"<policy of {stack}>"))
    size = len(text.encode("utf-8"))
    if size > MAX_PARAMETER_BYTES:
        raise StackError(
            f"the policy of {stack} is {size} bytes; its SSM parameter holds at most {MAX_PARAMETER_BYTES}"
        )
    if out is not None:
        out.write_text(text, encoding="utf-8")
    return facts, text


def describe(facts: StackFacts, text: str) -> str:
    """One line on what the policy names, and how many decisions await a person."""
    found = summary(facts)
    parts = [
        f"{len(v)} {k} ({', '.join(v)})" if k in ("services", "workers") else f"{len(v)} {k}" for k, v in found.items()
    ]
    return f"{', '.join(parts)}; {text.count('# DECIDE')} lines marked '# DECIDE:' to review"
