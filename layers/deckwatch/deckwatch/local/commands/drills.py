# ruff: noqa: T201 - a CLI command talks to a person on stdout
"""`deckwatch drills [--env ENV]`: restore drills from the ledger, with the RTO/RPO trend per resource.

deckwatch drills --env staging            # every drill report, oldest first, per resource
deckwatch drills --env prod --json
"""

from __future__ import annotations

import argparse
import json
from typing import Any

ENVIRONMENTS = ("dev", "staging", "prod")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("drills", help="restore drills with their RTO/RPO trend per resource (the ledger)")
    p.add_argument("--env", choices=ENVIRONMENTS, default="staging")
    p.add_argument("--since", default="", help="ISO date/time (default: everything the ledger keeps)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_drills)


def cmd_drills(args: argparse.Namespace) -> int:
    from deckwatch.local import account

    deps = account.services(args.env)
    records = [r for r in deps.ledger.by_capability("drills", since=args.since) if r.get("kind") == "report"]
    trend = trends(records)
    print(json.dumps(trend, indent=2, default=str) if args.json else render(trend, args.env))
    return 0


def trends(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """resource -> its drill reports, oldest first: time, outcome, RTO/RPO against their objectives. Drills of
    cross-region copies trend apart, under "<resource> in <DR region>": their RTO and RPO are the DR region's."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in sorted(records, key=lambda r: r["time"]):
        d = r.get("details", {})
        subject, region = r["subject"], d.get("region")
        home = subject.split(":")[3] if subject.count(":") > 3 else None
        key = f"{subject} in {region}" if region and home and region != home else subject
        out.setdefault(key, []).append(
            {
                "time": r["time"],
                "drill_id": d.get("drill_id"),
                "outcome": r.get("outcome"),
                "rto_minutes": d.get("rto_minutes"),
                "rto_objective_minutes": d.get("rto_objective_minutes"),
                "rpo_minutes": d.get("rpo_minutes"),
                "rpo_objective_minutes": d.get("rpo_objective_minutes"),
                "reason": r.get("reason", ""),
                "report": d.get("report"),
            }
        )
    return out


def _minutes(value: Any) -> str:
    return "  -  " if value is None else f"{value:5.1f}"


def render(trend: dict[str, list[dict[str, Any]]], env: str) -> str:
    if not trend:
        return f"no restore drills in the {env} ledger"
    lines = []
    for resource, drills in trend.items():
        passed = sum(d["outcome"] == "passed" for d in drills)
        lines.append(f"{resource}   {passed}/{len(drills)} passed")
        lines.append("  time                      outcome   RTO min (obj)   RPO min (obj)")
        for d in drills:
            lines.append(
                f"  {d['time']:<25} {d['outcome'] or '?':<9} "
                f"{_minutes(d['rto_minutes'])} ({d['rto_objective_minutes']})"
                f"     {_minutes(d['rpo_minutes'])} ({d['rpo_objective_minutes']})"
                + (f"   {d['reason'][:80]}" if d["outcome"] == "failed" else "")
            )
        rtos = [d["rto_minutes"] for d in drills if d["rto_minutes"] is not None]
        rpos = [d["rpo_minutes"] for d in drills if d["rpo_minutes"] is not None]
        if len(rtos) >= 2:
            lines.append(f"  RTO trend {' -> '.join(f'{v:.1f}' for v in rtos[-5:])}")
        if len(rpos) >= 2:
            lines.append(f"  RPO trend {' -> '.join(f'{v:.1f}' for v in rpos[-5:])}")
    return "\n".join(lines)
