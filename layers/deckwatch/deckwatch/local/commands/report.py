"""`deckwatch report --env E [--env E2 ...] --out DIR [--since ISO]`: one self-contained HTML page from the
ledger of deployed environments (real AWS, the caller's credentials; deckwatch.local.html_report).

    deckwatch report --env prod --out report/             # report/index.html
    deckwatch report --env staging --env prod --since 2026-11-01 --out report/
On the embedded AWS: `deckwatch demo --report DIR`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ENVIRONMENTS = ("dev", "staging", "prod")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report", help="an HTML page of cutovers, incidents, drills, savings, approvals (real AWS)"
    )
    p.add_argument("--env", choices=ENVIRONMENTS, action="append", required=True, help="repeat for several")
    p.add_argument("--out", type=Path, required=True, help="folder for index.html")
    p.add_argument("--since", default="", help="ISO date/time (default: everything the ledger keeps)")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from deckwatch.local import account
    from deckwatch.local.cli import UsageError
    from deckwatch.local.html_report import from_ledger, write

    records = {}
    for env in dict.fromkeys(args.env):
        try:
            records[env] = from_ledger(account.services(env).ledger, since=args.since)
        except (ClientError, BotoCoreError) as exc:
            raise UsageError(f"cannot read the {env} ledger: {exc}") from None
    path = write(args.out, records)
    sys.stdout.write(f"{path} ({sum(len(r) for r in records.values())} ledger records)\n")
    return 0
