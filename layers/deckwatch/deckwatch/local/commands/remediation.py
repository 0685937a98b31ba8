"""`deckwatch incidents [--env ENV] [--open] [--json]`: remediation incidents from the ledger (real AWS; the
embedded AWS in tests and the demo), newest first, with their outcome and measured time to mitigate."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

ENVIRONMENTS = ("dev", "staging", "prod")


def _line(text: str) -> None:
    sys.stdout.write(text + "\n")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("incidents", help="list remediation incidents from the ledger (real AWS)")
    p.add_argument("--env", choices=ENVIRONMENTS, default=None, help="one environment (default: all three)")
    p.add_argument("--open", action="store_true", help="only incidents still open")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_incidents)


def list_incidents(environment: str, only_open: bool = False) -> list[dict[str, Any]]:
    from deckwatch.local import account
    from deckwatch.remediation.incidents import summarize

    deps = account.services(environment)
    found = summarize(deps.ledger.by_capability("remediation"))
    return [i for i in found if i["state"] == "open"] if only_open else found


def cmd_incidents(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from deckwatch.local.cli import UsageError

    envs = [args.env] if args.env else list(ENVIRONMENTS)
    rows: list[dict[str, Any]] = []
    for env in envs:
        try:
            rows += list_incidents(env, args.open)
        except (ClientError, BotoCoreError) as exc:  # e.g. no stack in that environment: said in one line
            if args.env:
                raise UsageError(f"cannot read the {env} ledger: {exc}") from None
    for inc in rows:
        if args.json:
            _line(json.dumps(inc, sort_keys=True, default=str))
            continue
        ttm = inc["time_to_mitigate_seconds"]
        _line(
            f"{inc['incident_id']}  {inc['environment']:<7} {inc['state']:<6} {inc['outcome'] or '-':<16} "
            f"{inc['runbook']:<24} {inc['resource']}  opened {inc['opened_at']}  "
            f"actions {inc['actions']}  joined {inc['joined_events']}"
            + (f"  mitigated in {ttm:.0f}s" if isinstance(ttm, int | float) else "")
        )
    if not rows and not args.json:
        _line("no incidents" + (" open" if args.open else ""))
    return 0
