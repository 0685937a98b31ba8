# ruff: noqa: T201 - a CLI command talks to a person on stdout
"""`deckwatch resume`: restore what Deckwatch's cost savings stopped (real AWS, the caller's credentials).

    deckwatch resume --env staging                      # everything stopped by savings actions
    deckwatch resume --env staging ecs:shop-staging/shop-staging-web-blue rds:shop-staging-db
    deckwatch resume --env staging --list               # what is stopped, and since when
The console equivalent: start the cost-savings state machine with events/statemachines/cost_savings/resume-*.json.
"""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any

ENVIRONMENTS = ("dev", "staging", "prod")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "resume", help="restore ECS services and RDS instances stopped by cost savings (real AWS)"
    )
    p.add_argument("resources", nargs="*", help="resource keys (ecs:<cluster>/<service>, rds:<db>); default: all")
    p.add_argument("--env", choices=ENVIRONMENTS, required=True)
    p.add_argument("--list", action="store_true", help="only list what is stopped")
    p.add_argument("--dry-run", action="store_true", help="record what would be restored, change nothing")
    p.add_argument("--actor", default=None, help="who resumes (default: the caller's IAM identity)")
    p.set_defaults(func=cmd_resume)


def cmd_resume(args: argparse.Namespace) -> int:
    from deckwatch.cost import savings
    from deckwatch.local import account
    from deckwatch.local.cli import UsageError

    bad = [r for r in args.resources if not r.startswith(("ecs:", "rds:"))]
    if bad:
        raise UsageError(f"not a resource key: {', '.join(bad)} (ecs:<cluster>/<service> or rds:<db instance>)")
    deps = account.services(args.env)
    stopped = deps.state.savings.all()
    if args.list:
        for key, change in sorted(stopped.items()):
            print(json.dumps({"resource": key, **change}, sort_keys=True))
        return 0
    if not stopped:
        print(f"nothing stopped by Deckwatch in {args.env}")
        return 0
    actor = args.actor or account.caller(deps)
    result = savings.resume(
        deps,
        run_id=f"cli-resume-{uuid.uuid4().hex[:12]}",
        actor=actor,
        resources=args.resources or None,
        dry_run=args.dry_run,
    )
    print(savings.describe(result, "restore"))
    return 0
