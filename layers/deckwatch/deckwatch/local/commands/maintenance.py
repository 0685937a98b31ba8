# ruff: noqa: T201 - a CLI command talks to a person on stdout
"""`deckwatch maintenance start|stop|list`: planned maintenance of named resources (real AWS, the caller's
credentials; deckwatch.maintenance). While it lasts, alarms on them are recorded, not remediated and not paged,
and drills and cost savings leave them alone.

    deckwatch maintenance start --env prod --resource rds:shop-prod-db --until 2027-01-10T06:00:00+01:00 \\
        --reason "minor version upgrade"
    deckwatch maintenance start --env prod --resource 'alarm:shop-prod-db-*' --until ... --reason ...
    deckwatch maintenance stop --env prod --resource rds:shop-prod-db
    deckwatch maintenance list --env prod               # by hand and scheduled in the policy
"""

from __future__ import annotations

import argparse
import json
from typing import Any

ENVIRONMENTS = ("dev", "staging", "prod")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("maintenance", help="planned maintenance of resources (real AWS)").add_subparsers(
        dest="op", required=True
    )
    start = p.add_parser("start", help="put resources under maintenance until a time")
    start.add_argument("--env", choices=ENVIRONMENTS, required=True)
    start.add_argument("--resource", action="append", required=True, help="resource key (repeat for several)")
    start.add_argument("--until", required=True, help="ISO time with its offset, e.g. 2027-01-10T06:00:00+01:00")
    start.add_argument("--reason", required=True)
    start.add_argument("--dry-run", action="store_true", help="record the plan only")
    start.add_argument("--actor", default=None, help="who (default: the caller's IAM identity)")
    start.set_defaults(func=cmd_start)
    stop = p.add_parser("stop", help="end the maintenance of resources now")
    stop.add_argument("--env", choices=ENVIRONMENTS, required=True)
    stop.add_argument("--resource", action="append", required=True)
    stop.add_argument("--dry-run", action="store_true")
    stop.add_argument("--actor", default=None)
    stop.set_defaults(func=cmd_stop)
    ls = p.add_parser("list", help="maintenance running and scheduled in the policy")
    ls.add_argument("--env", choices=ENVIRONMENTS, required=True)
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    ls.set_defaults(func=cmd_list)


def cmd_start(args: argparse.Namespace) -> int:
    from deckwatch import maintenance
    from deckwatch.local import account

    deps = account.services(args.env)
    actor = args.actor or account.caller(deps)
    for resource in args.resource:
        out = maintenance.start(
            deps, resource=resource, until=args.until, reason=args.reason, actor=actor, dry_run=args.dry_run
        )
        note = " (dry-run: nothing changed)" if out["dry_run"] else ""
        print(f"{resource}: under maintenance until {out['until']}{note}")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from deckwatch import maintenance
    from deckwatch.local import account

    deps = account.services(args.env)
    actor = args.actor or account.caller(deps)
    for resource in args.resource:
        out = maintenance.stop(deps, resource=resource, actor=actor, dry_run=args.dry_run)
        if out is None:
            print(f"{resource}: no maintenance started by hand (nothing to stop)")
        else:
            print(f"{resource}: maintenance over" + (" (dry-run: nothing changed)" if out["dry_run"] else ""))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from deckwatch import maintenance
    from deckwatch.local import account

    rows = maintenance.listing(account.services(args.env))
    for row in rows:
        if args.json:
            print(json.dumps(row, sort_keys=True, default=str))
        elif "until" in row:
            print(f"{row['resource']}  until {row['until']}  {row['reason']}  (by {row.get('started_by', '?')})")
        else:
            state = "now" if row["now"] else "scheduled"
            print(f"{row['resource']}  {state}  {'; '.join(row['windows'])}  {row['reason']}  ({row['source']})")
    if not rows and not args.json:
        print(f"no maintenance in {args.env}")
    return 0
