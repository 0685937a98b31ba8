"""The month's summary, as a person reads it (`deckwatch simulate`) or as JSON (`--json`)."""

from __future__ import annotations

from typing import Any

from deckwatch.local.simulation.run import Month


def render(month: Month) -> str:
    lines = [f"A month in the life: {month.days} day(s), seed {month.seed}, {month.real_seconds:.0f} s of real time"]
    for result in month.results:
        s = result.summary
        lines += ["", f"== {result.environment}"]
        lines.append(
            f"releases: {len(s['releases'])} pushed, {s['shipped']} shipped, {s['rolled_back']} rolled back "
            f"({s['events']['duplicated']} pipeline events delivered twice, {s['events']['late']} late)"
        )
        for r in s["releases"]:
            rollback = ""
            if r["cutover"] == "rolled-back":
                rollback = (
                    f" - served traffic {r['exposure_seconds']} s" if r.get("exposure_seconds") is not None else ""
                )
            failed = f" [{r['failed_action']}]" if r["failed_action"] else ""
            reason = f": {r['reason']}" if r["reason"] and r["cutover"] != "completed" else ""
            lines.append(
                f"  #{r['n']:<2} {r['at']} {r['service']:<6} {r['quality']:<5} pipeline {r['pipeline']:<10} "
                f"cutover {r['cutover'] or '-'}{reason}{rollback}{failed}"
            )
        i = s["incidents"]
        lines.append(
            f"incidents: {i['opened']} opened ({i['joined']} alarms joined one), {i['acted']} acted on, "
            f"{i['mitigated']} mitigated, {i['escalated']} escalated, {i['refused']} refused by guardrails "
            f"({i['refused_locked']['cutover']} under a cutover's lock, {i['refused_locked']['drills']} a drill's), "
            f"{i['unverified']} unverified; {i['failovers_noted']} RDS failover events noted"
        )
        for d in s["drills"]:
            lines.append(
                f"drill {d['at']}: {d['outcome']}, RTO {d['rto_minutes']} min, RPO {d['rpo_minutes']} min"
                + (f" ({d['reason']})" if d["outcome"] != "passed" else "")
            )
        if not s["drills"]:
            lines.append("drills: none")
        v = s["savings"]
        lines.append(
            f"savings: {v['actions']} stopped, {v['resumed']} resumed, {v['hours_stopped']} h stopped, "
            f"${v['saved_usd']:.2f} saved"
        )
        lines.append(
            f"work: {s['lambda_invocations']} Lambda invocations, {s['state_machine_executions']} executions "
            f"({s['state_transitions']} state transitions), {s['dynamodb_writes']} DynamoDB writes, "
            f"{s['world_changing_calls']} world-changing calls each with its ledger record, {s['checks']} checks"
        )
        lines.append("promises: kept" if not result.problems else "PROMISES BROKEN AT THE END:")
        lines += [f"  - {p}" for p in result.problems]
    return "\n".join(lines)


def as_json(month: Month) -> dict[str, Any]:
    return {
        "days": month.days,
        "seed": month.seed,
        "real_seconds": round(month.real_seconds, 1),
        "ok": month.ok,
        "environments": {r.environment: {"summary": r.summary, "problems": r.problems} for r in month.results},
    }
