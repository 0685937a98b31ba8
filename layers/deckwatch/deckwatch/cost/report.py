"""The weekly cost report of one environment: cost and top services for the last week and month-to-date, the
forecast against the budget, open anomalies, savings actions taken and what the stopped capacity saved
(estimated from list prices). Stored as JSON (S3 bucket REPORT_BUCKET; a local folder DECKWATCH_REPORT_DIR
when set) and sent as a readable notification."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from deckwatch import clock
from deckwatch.cost import costs
from deckwatch.ledger import Record

if TYPE_CHECKING:
    from deckwatch.context import Services

TOP = 5


class ReportRequest(BaseModel):
    """The schedule's event (EventBridge Scheduled Event) or a console input {"weekEnding": "YYYY-MM-DD"}."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)
    id: str | None = None
    week_ending: date | None = Field(default=None, alias="weekEnding")


def weekly(req: ReportRequest, deps: Services) -> dict[str, Any]:
    loaded = deps.policy()
    policy = loaded.policy
    cost = policy.cost
    ce = costs.ce_client(deps)
    end = req.week_ending or clock.now().date()
    week_start = end - timedelta(days=7)
    month_start = end.replace(day=1)
    week_total, week_services = costs.spend(ce, cost, week_start, end)
    mtd_total, mtd_services = costs.spend(ce, cost, month_start, end)
    doc: dict[str, Any] = {
        "environment": policy.environment,
        "generated_at": clock.iso(),
        "week": {
            "start": week_start.isoformat(),
            "end": end.isoformat(),
            "total_usd": week_total,
            "top_services": _top(week_services),
        },
        "month_to_date": {
            "start": month_start.isoformat(),
            "end": end.isoformat(),
            "total_usd": mtd_total,
            "top_services": _top(mtd_services),
        },
        "forecast": costs.month_outlook(ce, cost),
        "open_anomalies": _open_anomalies(deps, policy.environment, week_start),
        "savings": _savings(deps, week_start),
        "policy_version": loaded.version,
    }
    where = _store(deps, doc, policy.environment, end)
    doc["stored"] = where
    deps.notifier.publish(
        subject=f"weekly cost report {end.isoformat()}",
        text=render(doc),
        capability="cost",
        environment=policy.environment,
        severity="info",
        data={"stored": where, "week_total_usd": week_total, "month_to_date_usd": mtd_total},
    )
    deps.ledger.append(
        Record(
            record_id=f"cost-report:{policy.environment}:{end.isoformat()}",
            environment=policy.environment,
            capability="cost",
            subject=f"report/{end.isoformat()}",
            kind="report",
            decision="reported",
            reason=f"week ${week_total:.2f}, month to date ${mtd_total:.2f}",
            event_id=req.id,
            policy_version=loaded.version,
            details={"stored": where, "estimated_savings_usd": doc["savings"]["estimated_savings_usd"]},
        )
    )
    return doc


def _top(by_service: dict[str, float]) -> list[dict[str, Any]]:
    ranked = sorted(by_service.items(), key=lambda kv: -kv[1])[:TOP]
    return [{"service": k, "usd": v} for k, v in ranked]


def _open_anomalies(deps: Services, env: str, since: date) -> list[dict[str, Any]]:
    """Anomalies of this environment seen by Deckwatch and still open (last seen within the week)."""
    out = []
    for item in deps.state.anomalies.all():
        if item.get("environment") != env or str(item.get("last_seen", "")) < since.isoformat():
            continue
        out.append(
            {
                "anomaly_id": item["anomaly_id"],
                "severity": item.get("severity"),
                "impact_usd": item.get("impact"),
                "first_seen": item.get("first_seen"),
                "last_seen": item.get("last_seen"),
                "savings_started": bool(item.get("acted")),
            }
        )
    return sorted(out, key=lambda a: -float(a["impact_usd"] or 0))


def _savings(deps: Services, since: date) -> dict[str, Any]:
    actions = [
        r
        for r in deps.ledger.by_capability("cost", since=since.isoformat())
        if r.get("kind") == "action" and not r.get("dry_run") and r.get("outcome") == "done"
    ]
    saved = 0.0
    restored = []
    for r in actions:
        if r.get("decision") == "restored":
            restored.append(r["subject"])
            saved += float(r.get("details", {}).get("estimated_savings_usd") or 0.0)
    still = []
    now = clock.now()
    for key, change in deps.state.savings.all().items():
        stopped = datetime.fromisoformat(str(change.get("stopped_at")).replace("Z", "+00:00"))
        hours = max(
            0.0,
            (now - max(stopped, datetime.combine(since, datetime.min.time(), stopped.tzinfo))).total_seconds() / 3600,
        )
        hourly = change.get("estimated_hourly_usd")
        est = round(hours * hourly, 2) if isinstance(hourly, int | float) else None
        saved += est or 0.0
        still.append(
            {
                "resource": key,
                "since": change.get("stopped_at"),
                "hours_this_week": round(hours, 1),
                "estimated_savings_usd": est,
            }
        )
    return {
        "actions": [
            {"time": r["time"], "resource": r["subject"], "decision": r["decision"], "actor": r.get("actor")}
            for r in actions
        ],
        "restored": restored,
        "still_stopped": still,
        "estimated_savings_usd": round(saved, 2),
        "estimate_basis": "on-demand list prices of the stopped capacity (Fargate vCPU/GB-hours, RDS instance-hours)",
    }


def _store(deps: Services, doc: dict[str, Any], env: str, end: date) -> list[str]:
    body = json.dumps(doc, indent=2, sort_keys=True, default=str)
    key = f"cost-reports/{env}/{end.isoformat()}.json"
    where = []
    bucket = deps.settings.report_bucket
    if bucket:
        deps.clients("s3").put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")
        where.append(f"s3://{bucket}/{key}")
    folder = deps.settings.report_dir
    if folder:
        path = Path(folder) / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
        where.append(str(path))
    return where


def render(doc: dict[str, Any]) -> str:
    w, m, s = doc["week"], doc["month_to_date"], doc["savings"]

    def services(part: dict[str, Any]) -> str:
        return ", ".join(f"{x['service']} ${x['usd']:.2f}" for x in part["top_services"]) or "no cost data"

    lines = [
        f"Weekly cost report, {doc['environment']}, week {w['start']} to {w['end']}",
        f"Last week: ${w['total_usd']:.2f} (top: {services(w)})",
        f"Month to date: ${m['total_usd']:.2f} (top: {services(m)})",
        "Forecast: " + costs.describe_outlook(doc["forecast"]),
        "",
        f"Open anomalies: {len(doc['open_anomalies'])}",
        *[
            f"  - {a['anomaly_id']}: {a['severity']}, ${float(a['impact_usd'] or 0):.2f}"
            + (" (savings started)" if a["savings_started"] else "")
            for a in doc["open_anomalies"]
        ],
        "",
        f"Savings actions this week: {len(s['actions'])}; estimated savings ${s['estimated_savings_usd']:.2f} "
        f"({s['estimate_basis']})",
        *[f"  - still stopped: {x['resource']} since {x['since']}" for x in s["still_stopped"]],
        *[f"  - restored: {r}" for r in s["restored"]],
        "",
        "Stored: " + (", ".join(doc.get("stored") or []) or "nowhere (no REPORT_BUCKET)"),
    ]
    return "\n".join(lines)
