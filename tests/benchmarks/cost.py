"""Monthly cost of one environment for the stated workload, counted from traced runs and template.yaml.

Per workflow run (counted from the reactions' traced runs, world.traced): Lambda invocations, their GB-seconds
(duration estimated from the calls they make, latencies.py, plus the measured cold init, billed since AWS bills
the INIT phase), Step Functions transitions (the executions' paths), DynamoDB reads and writes, SNS publishes,
S3 puts. Standing cost from template.yaml: alarms, the dashboard, the schedules (each fired once, traced), the
KMS key, the secret. Prices: us-east-1, arm64, without free tier (it is per account, not per environment), as
named constants with their date. Every line says how it was obtained.
"""

from __future__ import annotations

import re
from typing import Any

from deckwatch.local.runtime import LocalAWS
from support.samples import REPO_ROOT

from benchmarks import latencies as lat
from benchmarks.world import Trace, cpu_scale, memory_mb, traced

PRICES_AS_OF = "2026-12-02 (AWS pricing pages as known to the author; not re-checked here: no internet)"
LAMBDA_REQUEST = 0.20 / 1e6
LAMBDA_GB_SECOND_ARM = 0.0000133334
SFN_TRANSITION = 0.025 / 1000
DDB_WRITE_REQUEST_UNIT = 0.625 / 1e6  # on-demand (after the 2024-11 price cut)
DDB_READ_REQUEST_UNIT = 0.125 / 1e6
SNS_PUBLISH = 0.50 / 1e6
SNS_EMAIL = 2.00 / 100_000
S3_PUT = 0.005 / 1000
CW_ALARM_STANDARD = 0.10  # per alarm-month
CW_DASHBOARD = 3.00  # per dashboard-month (the first 3 per account are free: not counted, per account)
CW_CUSTOM_METRIC = 0.30  # per metric-month (first 10,000)
CW_LOGS_INGEST_GB = 0.50
KMS_KEY_MONTH = 1.00
KMS_REQUEST = 0.03 / 10_000
SECRET_MONTH = 0.40
XRAY_TRACE = 5.00 / 1e6
EVENTBRIDGE_CUSTOM_EVENT = 1.00 / 1e6
WEEKS_PER_MONTH = 52 / 12
LOG_BYTES_PER_INVOCATION = 3_000  # assumed: Lambda START/END/REPORT lines + Powertools JSON lines
METRIC_SERIES_PER_NAME = 2  # assumed: dimension values (service, runbook, outcome) per metric name
HOURS_PER_MONTH = 730
# Custom metrics are prorated by the hour: a series costs CW_CUSTOM_METRIC / 730 per hour in which it is published.
# Which workflow publishes a metric name (by its words), hence in how many hours a month at most it appears.
METRIC_WORKFLOW = {
    "Cutover": "release",
    "Rollback": "release",
    "Resumes": "release",
    "Incident": "alarm event",
    "Mitigate": "alarm event",
    "Drill": "drill",
    "Anomal": "anomaly",
    "Savings": "schedule",
}
GOAL_USD = 1.0

WORKLOAD_PER_WEEK = {  # the workload, mapped to the traced run that stands for it
    "release": (20, "alarm during bake -> listener restored"),
    "alarm event": (200, "alarm -> remediating call"),
    "drill": (7, "backup job event -> restore started"),
    "anomaly": (10, "anomaly -> notification"),
}
READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}


def counts(trace: Trace, executions: list[dict[str, Any]], cold_init_s: dict[str, float]) -> dict[str, float]:
    """What one traced run uses."""
    calls = trace.calls()
    invocations = trace.invocations()
    gb_seconds = 0.0
    for fn in invocations:  # warm duration: its calls' p50 plus compute; 1 ms billing granularity
        own = [c for c in calls if c[0] == fn]
        seconds = sum(lat.api(s).p50 for _, s, _ in own) / max(invocations.count(fn), 1) + 0.02
        gb_seconds += seconds * memory_mb(fn) / 1024
    for fn in set(invocations):  # one cold init per function per run, at the function's CPU share
        gb_seconds += cold_init_s.get(fn, 1.0) * cpu_scale(fn) * memory_mb(fn) / 1024
    ddb = [op for _, s, op in calls if s == "dynamodb"]
    return {
        "lambda_invocations": len(invocations),
        "lambda_gb_seconds": round(gb_seconds, 3),
        "sfn_transitions": sum(len(e["path"]) + 1 for e in executions),  # + the start
        "dynamodb_reads": sum(1 for op in ddb if op in READS),
        "dynamodb_writes": sum(1 for op in ddb if op in WRITES) + 6 * ddb.count("TransactWriteItems"),
        "sns_publishes": sum(1 for _, s, op in calls if (s, op) == ("sns", "Publish")),
        "s3_puts": sum(1 for _, s, op in calls if (s, op) == ("s3", "PutObject")),
        "events_put": sum(1 for _, s, op in calls if op == "PutEvents"),
    }


def _usd(c: dict[str, float]) -> float:
    return (
        c["lambda_invocations"] * (LAMBDA_REQUEST + XRAY_TRACE)
        + c["lambda_gb_seconds"] * LAMBDA_GB_SECOND_ARM
        + c["sfn_transitions"] * SFN_TRANSITION
        + c["dynamodb_reads"] * DDB_READ_REQUEST_UNIT
        + c["dynamodb_writes"] * DDB_WRITE_REQUEST_UNIT
        + c["sns_publishes"] * (SNS_PUBLISH + SNS_EMAIL)
        + c["s3_puts"] * S3_PUT
        + c["events_put"] * EVENTBRIDGE_CUSTOM_EVENT
        + c["lambda_invocations"] * LOG_BYTES_PER_INVOCATION / 1e9 * CW_LOGS_INGEST_GB
        + (c["dynamodb_reads"] + c["dynamodb_writes"]) * KMS_REQUEST  # CMK-encrypted tables (upper bound)
    )


def _runs_per_month(expr: str) -> float:
    if m := re.match(r"rate\((\d+) (minute|hour|day)s?\)", expr):
        per = {"minute": 60, "hour": 3600, "day": 86400}[m.group(2)] * int(m.group(1))
        return 30.44 * 86400 / per
    if expr.startswith("cron("):
        return WEEKS_PER_MONTH if "MON" in expr or "?" in expr.split()[4] else 30.44
    return 0.0


def template_standing() -> dict[str, Any]:
    text = (REPO_ROOT / "template.yaml").read_text(encoding="utf-8")
    return {
        "alarms": text.count("Type: AWS::CloudWatch::Alarm"),
        "dashboards": text.count("Type: AWS::CloudWatch::Dashboard"),
        "kms_keys": text.count("Type: AWS::KMS::Key"),
        "secrets": text.count("Type: AWS::SecretsManager::Secret"),
        "metric_names": sorted(set(re.findall(r'MetricName=\\"(\w+)\\"', text))),
        "schedules": re.findall(r"Schedule: ((?:rate|cron)\([^)]*\))", text),
    }


def model(
    rt: LocalAWS | None, runs: dict[str, tuple[Trace, list[dict[str, Any]]]], cold_init_s: dict[str, float]
) -> dict[str, Any]:
    """Monthly cost lines (USD), the total, and which line breaks the goal if it is broken."""
    lines: list[dict[str, Any]] = []
    for workflow, (per_week, reaction) in WORKLOAD_PER_WEEK.items():
        if reaction not in runs:
            continue
        c = counts(*runs[reaction], cold_init_s)
        monthly = per_week * WEEKS_PER_MONTH
        lines.append(
            {
                "line": f"{workflow} x {per_week}/week",
                "per_run": c,
                "usd_per_month": round(_usd(c) * monthly, 4),
                "how": f"counted from the traced run '{reaction}'",
            }
        )
    standing = template_standing()
    hours = {w: min(HOURS_PER_MONTH, n * WEEKS_PER_MONTH) for w, (n, _) in WORKLOAD_PER_WEEK.items()}
    hours["schedule"] = HOURS_PER_MONTH  # the working-hours savings schedule runs every 15 minutes
    metric_hours = 0.0
    for metric in standing["metric_names"]:
        publisher = next((w for word, w in METRIC_WORKFLOW.items() if word in metric), None)
        metric_hours += METRIC_SERIES_PER_NAME * (hours[publisher] if publisher else HOURS_PER_MONTH)
    if rt is not None:
        schedules = [r for r in rt.rules if r.schedule]
        for rule in schedules:
            with traced(rt) as trace:
                report = rt.fire_schedule(rule.logical_id)
            c = counts(trace, [{"path": e["path"]} for e in report.executions], cold_init_s)
            monthly = _runs_per_month(str(rule.schedule))
            lines.append(
                {
                    "line": f"schedule {rule.logical_id} {rule.schedule}",
                    "per_run": c,
                    "usd_per_month": round(_usd(c) * monthly, 4),
                    "how": f"fired once, traced; x {monthly:.0f} runs/month",
                }
            )
    lines += [
        {
            "line": f"CloudWatch alarms x {standing['alarms']}",
            "usd_per_month": standing["alarms"] * CW_ALARM_STANDARD,
            "how": "template.yaml AWS::CloudWatch::Alarm, standard resolution",
        },
        {
            "line": f"CloudWatch dashboard x {standing['dashboards']}",
            "usd_per_month": standing["dashboards"] * CW_DASHBOARD,
            "how": "template.yaml (free only for an account's first 3)",
        },
        {
            "line": f"custom metrics: {len(standing['metric_names'])} names x {METRIC_SERIES_PER_NAME} series",
            "usd_per_month": round(metric_hours / HOURS_PER_MONTH * CW_CUSTOM_METRIC, 3),
            "how": "names from the dashboard; series per name assumed; prorated by the hours they are published",
        },
        {
            "line": f"KMS key x {standing['kms_keys']}",
            "usd_per_month": standing["kms_keys"] * KMS_KEY_MONTH,
            "how": "template.yaml AWS::KMS::Key (customer managed)",
        },
        {
            "line": f"Secrets Manager secret x {standing['secrets']}",
            "usd_per_month": standing["secrets"] * SECRET_MONTH,
            "how": "template.yaml AWS::SecretsManager::Secret",
        },
    ]
    total = round(sum(line["usd_per_month"] for line in lines), 2)
    biggest = sorted(lines, key=lambda line: -line["usd_per_month"])[:3]
    return {
        "prices_as_of": PRICES_AS_OF,
        "lines": lines,
        "total_usd_per_month": total,
        "goal_usd": GOAL_USD,
        "breaks_goal": [b["line"] for b in biggest if b["usd_per_month"] >= 0.25] if total > GOAL_USD else [],
    }
