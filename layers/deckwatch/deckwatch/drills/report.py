"""RTO and RPO of a drill against the policy's objectives, and the drill report: one ledger record and one JSON
document (S3 bucket DRILL_REPORTS_BUCKET in AWS; the folder DECKWATCH_DRILL_REPORTS_DIR locally)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deckwatch import clock
from deckwatch.drills.common import record, target_for

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.drills.model import Drill, StepTask


def _ts(iso: str | None) -> float | None:
    if not iso:
        return None
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def measure(drill: Drill, state: dict[str, Any], rto_minutes: int, rpo_minutes: int) -> dict[str, Any]:
    """RTO: restore request -> validation passed. RPO: newest data found -> the backup job's completion."""
    validation = state.get("validation") or {}
    requested = _ts((state.get("restore") or {}).get("requested_at"))
    passed_at = _ts(validation.get("finished_at")) if validation.get("passed") else None
    rto = round((passed_at - requested) / 60, 2) if passed_at is not None and requested is not None else None
    newest, completed = _ts(validation.get("newest_data")), _ts(drill.backup_completed_at)
    rpo = round(max(0.0, completed - newest) / 60, 2) if newest is not None and completed is not None else None
    return {
        "rto_minutes": rto,
        "rto_objective_minutes": rto_minutes,
        "rto_met": rto is not None and rto <= rto_minutes,
        "rpo_minutes": rpo,
        "rpo_objective_minutes": rpo_minutes,
        "rpo_met": rpo is not None and rpo <= rpo_minutes,
        "newest_data": validation.get("newest_data"),
        "backup_completed_at": drill.backup_completed_at,
        # a copy's data became recoverable in the DR region when the copy job completed
        "rpo_measured_to": "copy job completion" if drill.trigger == "copy-job" else "backup job completion",
    }


def report(task: StepTask, deps: Services) -> dict[str, Any]:
    drill = task.drill()
    state = task.state
    target = target_for(deps.policy().policy.drills.targets, drill.target)
    rto_obj = target.objectives.rto_minutes if target else 0
    rpo_obj = target.objectives.rpo_minutes if target else 0
    objectives = measure(drill, state, rto_obj, rpo_obj)
    validation = state.get("validation") or {}
    cleanup = state.get("cleanup") or {}
    error = _error(state)
    reasons: list[str] = []
    if drill.dry_run:
        outcome = "planned"
    else:
        if error:
            reasons.append(error)
        if validation and not validation.get("passed"):
            reasons += [f"check {c['name']} failed ({c.get('error') or c['observed']})" for c in _failed(validation)]
        if validation.get("passed") and not objectives["rto_met"]:
            reasons.append(f"RTO {objectives['rto_minutes']} min > objective {rto_obj} min")
        if validation.get("passed") and not objectives["rpo_met"]:
            reasons.append(f"RPO {objectives['rpo_minutes']} min > objective {rpo_obj} min")
        if not validation and not error:
            reasons.append("validation did not run")
        if not cleanup.get("confirmed_gone", False):
            reasons.append("clean-up not confirmed: " + str(state.get("cleanup_error") or cleanup.get("note")))
        outcome = "failed" if reasons else "passed"
    doc = {
        "drill_id": drill.drill_id,
        "environment": drill.environment,
        "resource": drill.source_arn,
        "recovery_point": drill.recovery_point_arn,
        "trigger": drill.trigger,
        "dry_run": drill.dry_run,
        "outcome": outcome,
        "reasons": reasons,
        "timings": {
            "restore_requested_at": (state.get("restore") or {}).get("restore_job_id")
            and state["restore"]["requested_at"],
            "restore_finished_at": (state.get("restore_result") or state.get("poll") or {}).get("completed_at"),
            "restore_signal": (state.get("restore_result") or {}).get("via"),
            "validation_started_at": validation.get("started_at"),
            "validation_finished_at": validation.get("finished_at"),
            "reported_at": clock.iso(),
        },
        "restore_job": (state.get("restore") or {}).get("restore_job_id"),
        "region": drill.region,
        "instance": drill.instance_id,
        "cluster": drill.cluster_id or None,
        "endpoint": (state.get("tagged") or {}).get("endpoint"),
        "tls": validation.get("tls"),
        "checks": validation.get("checks", []),
        "objectives": objectives,
        "cleanup": cleanup or {"error": state.get("cleanup_error")},
        "planned": (state.get("plan") or {}).get("planned"),
        "execution": drill.execution,
    }
    location = _store(deps, doc)
    record(
        deps,
        drill,
        "report",
        kind="report",
        decision=f"drill-{outcome}",
        reason="; ".join(reasons)
        or (
            f"RTO {objectives['rto_minutes']} min, RPO {objectives['rpo_minutes']} min"
            if outcome == "passed"
            else "dry-run: plan recorded"
        ),
        outcome=outcome,
        details={
            "report": location,
            "rto_minutes": objectives["rto_minutes"],
            "rpo_minutes": objectives["rpo_minutes"],
            "rto_objective_minutes": rto_obj,
            "rpo_objective_minutes": rpo_obj,
            "checks": [{k: c.get(k) for k in ("name", "passed", "observed")} for c in doc["checks"]],
            "cleaned_up": cleanup.get("confirmed_gone", False),
            "region": drill.region,
            "kind": drill.kind,
        },
    )
    if outcome != "planned":
        _emit(deps, drill, objectives, passed=outcome == "passed")
    if outcome == "failed":
        deps.notifier.publish(
            subject=f"restore drill FAILED for {drill.source_id}",
            text="\n".join(reasons),
            capability="drills",
            environment=drill.environment,
            severity="critical",
            data={"drill_id": drill.drill_id, "report": location, "recovery_point": drill.recovery_point_arn},
        )
    return {"passed": outcome != "failed", "outcome": outcome, "location": location, "reasons": reasons} | {
        k: objectives[k] for k in ("rto_minutes", "rpo_minutes", "rto_met", "rpo_met")
    }


def _emit(deps: Services, drill: Drill, objectives: dict[str, Any], passed: bool) -> None:
    """RTO and RPO against their objectives (seconds), and the verdict, per drill target (the dashboard's drills)."""
    from deckwatch import metrics

    def seconds(key: str) -> float | None:
        minutes = objectives.get(key)
        return float(minutes) * 60 if isinstance(minutes, int | float) else None

    metrics.emit(
        deps.settings,
        {
            "DrillsPassed": 1 if passed else 0,
            "DrillsFailed": 0 if passed else 1,
            "DrillRto": seconds("rto_minutes"),
            "DrillRpo": seconds("rpo_minutes"),
            "DrillRtoObjective": seconds("rto_objective_minutes"),
            "DrillRpoObjective": seconds("rpo_objective_minutes"),
        },
        Target=drill.target,
    )


def _failed(validation: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in validation.get("checks", []) if not c.get("passed")]


def _error(state: dict[str, Any]) -> str | None:
    err = state.get("error")
    if not err:
        return None
    cause = str(err.get("Cause") or "")
    try:
        parsed = json.loads(cause)
        cause = str(parsed.get("errorMessage") or cause)
    except ValueError:
        pass
    return f"{err.get('Error')}: {cause}"[:500]


def _store(deps: Services, doc: dict[str, Any]) -> str:
    key = f"drills/{doc['environment']}/{doc['resource'].rsplit(':', 1)[-1]}/{doc['drill_id']}.json"
    body = json.dumps(doc, indent=2, sort_keys=True, default=str)
    folder = deps.settings.drill_reports_dir
    if folder:
        path = Path(folder) / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
        return str(path)
    bucket = deps.settings.require("drill_reports_bucket")
    deps.clients("s3").put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")
    return f"s3://{bucket}/{key}"
