"""The compliance report: what an auditor asks of one environment over a period, answered from the ledger alone.

- production changes, each with the approvals behind it (a change in prod without an approval is a finding);
- every action by capability and outcome, and every refusal or rejection with its reason;
- drills against their objectives (RTO and RPO per drill) and against the schedule (a drilled resource with no
  drill in the period is a finding);
- the policy versions in force (first and last record under each);
- the ledger's own integrity over the period (`deckwatch.ledger.verify`: a changed or missing record is a finding).

`deckwatch report compliance --env E --from ISO --to ISO [--out DIR] [--json]` writes compliance.json and
compliance.html (self-contained, no script) and exits 1 when there are findings, so CI or a scheduled job can
gate on it. The builder takes plain records (html_report.from_ledger), so tests feed it an embedded AWS's ledger.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from pathlib import Path
from typing import Any

from deckwatch.local import html_report

Records = list[dict[str, Any]]
REFUSALS = frozenset({"refusal", "rejection"})


def build(
    environment: str,
    records: Records,
    *,
    start: str,
    end: str,
    integrity: list[str] | None = None,
    generated_at: str = "",
) -> dict[str, Any]:
    """The report's document (JSON-ready). `records`: the environment's ledger records; only those in
    [start, end] count. `integrity`: the ledger verifier's findings for the period (None: not checked)."""
    inside = [r for r in records if start <= str(r["time"]) <= end + "~" and r.get("environment") == environment]
    model = html_report.build({environment: inside})
    changes = [
        {
            "what": c["what"],
            "subject": c["subject"],
            "time": c["time"],
            "approvals": [
                {"decision": a["decision"], "actor": a.get("actor", ""), "time": a["time"]} for a in c["approvals"]
            ],
            # a release needs a person's approval in prod; a runbook or a savings action is authorized by the
            # policy version it ran under (listed below), unless it asked for an approval too
            "approved": _approved(c),
        }
        for c in model.changes
    ]
    actions: dict[str, Counter[str]] = {}
    for r in inside:
        if r.get("kind") == "action":
            outcome = "dry-run" if r.get("dry_run") else str(r.get("outcome") or "done")
            actions.setdefault(str(r["capability"]), Counter())[outcome] += 1
    refusals = [
        {k: r.get(k, "") for k in ("time", "capability", "subject", "decision", "reason")}
        for r in inside
        if r.get("kind") in REFUSALS or (r.get("kind") == "approval" and r.get("decision") in ("rejected", "expired"))
    ]
    drills = [
        {"resource": resource, **d, "within_objectives": _within(d)}
        for resource, runs in model.drills.items()
        for d in runs
    ]
    versions: dict[str, dict[str, Any]] = {}
    for r in inside:
        v = str(r.get("policy_version") or "")
        if v:
            seen = versions.setdefault(v, {"version": v, "first": r["time"], "last": r["time"], "records": 0})
            seen["last"], seen["records"] = r["time"], seen["records"] + 1
    findings = [
        f"unapproved production change: {c['what']} on {c['subject']} at {c['time']}"
        for c in changes
        if environment == "prod" and c["approved"] is False
    ]
    findings += [
        f"drill of {d['resource']} at {d['time']} missed its objectives (RTO {d['rto_minutes']} / "
        f"{d['rto_objective_minutes']} min, RPO {d['rpo_minutes']} / {d['rpo_objective_minutes']} min)"
        for d in drills
        if d["within_objectives"] is False
    ]
    findings += [f"ledger: {f}" for f in integrity or []]
    return {
        "environment": environment,
        "from": start,
        "to": end,
        "generated_at": generated_at,
        "records": len(inside),
        "ledger_verified": None if integrity is None else not integrity,
        "production_changes": changes if environment == "prod" else [],
        "changes": changes,
        "actions": {cap: dict(sorted(c.items())) for cap, c in sorted(actions.items())},
        "refusals": refusals,
        "drills": drills,
        "policy_versions": sorted(versions.values(), key=lambda v: str(v["first"])),
        "findings": findings,
    }


def _approved(change: dict[str, Any]) -> bool | str:
    """True: a person approved it. "rejected": a person refused it (or nobody answered), so its traffic never moved
    (the idle colour it had deployed is rolled back). "policy": a runbook or savings action, authorized by the
    policy version it ran under. False: a release in prod that no one approved, a finding."""
    decisions = {a["decision"] for a in change["approvals"]}
    if "approved" in decisions:
        return True
    if decisions & {"rejected", "expired"}:
        return "rejected"
    return False if change["what"].startswith("cutover") else "policy"


def _within(d: dict[str, Any]) -> bool | None:
    """True/False against both objectives; None when the drill measured nothing (it failed before a restore)."""
    pairs = [
        (d.get("rto_minutes"), d.get("rto_objective_minutes")),
        (d.get("rpo_minutes"), d.get("rpo_objective_minutes")),
    ]
    known = [(v, o) for v, o in pairs if v is not None and o is not None]
    if not known:
        return None
    return all(float(v) <= float(o) for v, o in known)


def missed_schedule(doc: dict[str, Any], expected: list[str]) -> list[str]:
    """Resources the policy drills that had no drill in the period: findings, added to the document."""
    drilled = [str(d["resource"]).split(" in ")[0] for d in doc["drills"]]
    missing = [
        f"no drill of {r} between {doc['from']} and {doc['to']}"
        for r in expected
        if not any(s == r or s.endswith(f":{r}") for s in drilled)
    ]
    doc["findings"] += missing
    return missing


def write(out_dir: Path, doc: dict[str, Any]) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    as_json = out_dir / "compliance.json"
    as_json.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    page = out_dir / "compliance.html"
    page.write_text(render(doc), encoding="utf-8")
    return as_json, page


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _table(headers: list[str], rows: list[list[Any]], empty: str) -> str:
    if not rows:
        return f"<p class='empty'>{_e(empty)}</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(doc: dict[str, Any]) -> str:
    """A self-contained page (no script, no external resource): what a reviewer prints or attaches."""
    verdict = "no findings" if not doc["findings"] else f"{len(doc['findings'])} finding(s)"
    sections = [
        ("Findings", _table(["finding"], [[f] for f in doc["findings"]], "None.")),
        (
            "Changes and their approvals",
            _table(
                ["time", "change", "subject", "approvals", "approved"],
                [
                    [
                        c["time"],
                        c["what"],
                        c["subject"],
                        "; ".join(f"{a['decision']} by {a['actor']} at {a['time']}" for a in c["approvals"]) or "-",
                        {True: "yes", False: "no"}.get(c["approved"], c["approved"]),
                    ]
                    for c in doc["changes"]
                ],
                "No change in the period.",
            ),
        ),
        (
            "Actions by capability and outcome",
            _table(
                ["capability", "outcomes"],
                [[cap, ", ".join(f"{k}: {v}" for k, v in c.items())] for cap, c in doc["actions"].items()],
                "No action in the period.",
            ),
        ),
        (
            "Refusals and rejections",
            _table(
                ["time", "capability", "subject", "decision", "reason"],
                [[r["time"], r["capability"], r["subject"], r["decision"], r["reason"]] for r in doc["refusals"]],
                "None.",
            ),
        ),
        (
            "Drills against objectives",
            _table(
                ["time", "resource", "outcome", "RTO / objective (min)", "RPO / objective (min)", "within"],
                [
                    [
                        d["time"],
                        d["resource"],
                        d["outcome"],
                        f"{d['rto_minutes']} / {d['rto_objective_minutes']}",
                        f"{d['rpo_minutes']} / {d['rpo_objective_minutes']}",
                        {True: "yes", False: "no", None: "-"}[d["within_objectives"]],
                    ]
                    for d in doc["drills"]
                ],
                "No drill in the period.",
            ),
        ),
        (
            "Policy versions",
            _table(
                ["version", "first record", "last record", "records"],
                [[v["version"], v["first"], v["last"], v["records"]] for v in doc["policy_versions"]],
                "None.",
            ),
        ),
    ]
    integrity = {True: "verified", False: "findings (see above)", None: "not checked"}[doc["ledger_verified"]]
    body = "".join(f"<section><h2>{_e(t)}</h2>{b}</section>" for t, b in sections)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Deckwatch compliance {_e(doc['environment'])}</title>"
        "<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;"
        "margin:.5em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}"
        "th{background:#f3f3f3}.empty{color:#666}.verdict{font-weight:bold}</style></head><body>"
        f"<h1>Compliance: {_e(doc['environment'])}</h1>"
        f"<p>{_e(doc['from'])} to {_e(doc['to'])} &middot; {doc['records']} ledger records &middot; ledger "
        f"{_e(integrity)} &middot; generated {_e(doc['generated_at'])}</p>"
        f"<p class='verdict'>{_e(verdict)}</p>{body}</body></html>"
    )
