"""A replay report as a readable timeline."""

from __future__ import annotations

from collections import Counter
from typing import Any


def render(report: Any) -> str:
    r = report.to_json()
    ev = r["event"]
    out = [f"event {ev.get('id')}  {ev.get('source')}  {ev.get('detail-type')}   [{r['environment']}]"]
    if r["note"]:
        out.append(f"  {r['note']}")
    for rule in r["matched_rules"]:
        out.append(f"  rule      {rule}")
    for inv in r["invocations"]:
        mark = "ok" if inv["status"] == "ok" else f"ERROR {inv['error']}"
        out.append(f"  invoke    {inv['function']}: {mark}")
    for fu in r.get("follow_ups", []):
        rules = ", ".join(fu["matched_rules"]) or "no rule"
        out.append(f"  emitted   {fu['source']} {fu['detail-type']} -> {rules}")
    for d in r.get("access_denied", []):
        out.append(f"  denied    {d['principal']}: {d['action']} on {d['resource']} (IAM, template.yaml)")
    for dl in r["dead_letters"]:
        out.append(f"  dlq       {dl['function']} -> {dl['queue']} (event kept with its error)")
    for ex in r["executions"]:
        err = f" ({ex['error']})" if ex.get("error") else ""
        out.append(f"  execution {ex['state_machine']} {ex['name']}: {ex['status']}{err}")
        out.append(f"            {' -> '.join(ex['path'])}")
    for rec in r["ledger"]:
        dry = " [dry-run]" if rec.get("dry_run") else ""
        out.append(f"  ledger    {rec['capability']:<11} {rec['decision']:<18} {rec['subject']}{dry}")
        if rec.get("reason"):
            out.append(f"            {rec['reason']}")
    if r["aws_calls"]:
        counts = Counter(f"{c['service']}:{c['operation']}" for c in r["aws_calls"])
        out.append("  aws calls " + ", ".join(f"{k}" + (f" x{n}" if n > 1 else "") for k, n in counts.items()))
    out.append(f"  took {r['real_seconds']:.2f}s real, {r['simulated_seconds']:.0f}s simulated")
    return "\n".join(out)
