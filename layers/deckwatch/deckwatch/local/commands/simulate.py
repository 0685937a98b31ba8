"""`deckwatch simulate --days 30 --seed N`: a team's month on the embedded AWS (issue 12).

Each environment (dev, staging, prod, one after another: one embedded AWS per process) runs in a world built from
the workload stack, with the month's releases through its pipelines, stack updates, alarm storms, an RDS failover,
backups and drills, a cost runaway, people's rollbacks and resumes, duplicate and late events and a policy change,
deterministic for a seed. The system's promises are checked after every event; a broken one stops the month with
the last events and ledger records (exit 1). Otherwise a summary per environment (exit 0), or one JSON document.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ENVIRONMENTS = ("dev", "staging", "prod")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("simulate", help="a seeded month of releases, incidents, drills and costs, checked")
    p.add_argument("--days", type=int, default=30, help="length of the month (default 30)")
    p.add_argument("--seed", type=int, default=1, help="the same seed gives the same month")
    p.add_argument("--env", default=",".join(ENVIRONMENTS), help="environments, comma-separated (default all)")
    p.add_argument("--json", action="store_true", help="one JSON document instead of the summary")
    p.add_argument("--timeline", type=Path, help="write every environment's full timeline to this file")
    p.add_argument("--root", type=Path, default=None, help="repository root (default: found from here)")
    p.set_defaults(func=cmd_simulate)


def cmd_simulate(args: argparse.Namespace) -> int:
    from deckwatch.local.cli import UsageError, _root
    from deckwatch.local.simulation import report
    from deckwatch.local.simulation.run import SimulationFailed, simulate

    environments = tuple(e for e in args.env.split(",") if e)
    if not environments or any(e not in ENVIRONMENTS for e in environments):
        raise UsageError(f"--env: comma-separated among {', '.join(ENVIRONMENTS)}")
    if args.days < 1 or args.days > 60:
        raise UsageError("--days: 1 to 60")

    def log(text: str) -> None:
        sys.stderr.write(f"{text}\n")

    try:
        month = simulate(_root(args.root), days=args.days, seed=args.seed, environments=environments, log=log)
    except SimulationFailed as failed:
        sys.stdout.write(f"A PROMISE BROKE\n{failed}\n")
        return 1
    if args.timeline is not None:
        args.timeline.write_text("\n".join(line for r in month.results for line in r.timeline) + "\n", encoding="utf-8")
    if args.json:
        sys.stdout.write(json.dumps(report.as_json(month), indent=2, default=str) + "\n")
    else:
        sys.stdout.write(report.render(month) + "\n")
    return 0 if month.ok else 1
