"""`deckwatch report --env E [--env E2 ...] --out DIR [--since ISO]`: one self-contained HTML page from the
ledger of deployed environments (real AWS, the caller's credentials; deckwatch.local.html_report).

    deckwatch report --env prod --out report/             # report/index.html
    deckwatch report --env staging --env prod --since 2026-11-01 --out report/
On the embedded AWS: `deckwatch demo --report DIR`.

    deckwatch report compliance --env prod --from 2026-11-01 --to 2026-11-30 [--out DIR] [--json]
The compliance report (deckwatch.local.compliance): production changes with their approvals, actions and refusals,
drills against objectives and schedule, policy versions, the ledger's integrity; exit 1 on findings.
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
    p.add_argument("kind", nargs="?", choices=["compliance"], help="compliance: the auditor's report of one env")
    p.add_argument("--env", choices=ENVIRONMENTS, action="append", required=True, help="repeat for several")
    p.add_argument("--out", type=Path, help="folder for index.html (compliance: compliance.json and .html)")
    p.add_argument("--since", default="", help="ISO date/time (default: everything the ledger keeps)")
    p.add_argument("--from", dest="start", default="", help="compliance: first day (ISO date or time)")
    p.add_argument("--to", dest="end", default="", help="compliance: last day (ISO date or time), inclusive")
    p.add_argument("--json", action="store_true", help="compliance: print the JSON document")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from deckwatch.local.cli import UsageError

    if args.kind == "compliance":
        return cmd_compliance(args)
    if args.out is None:
        raise UsageError("report: --out DIR is required (the folder for index.html)")
    from botocore.exceptions import BotoCoreError, ClientError

    from deckwatch.local import account
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


def cmd_compliance(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from deckwatch.local import account
    from deckwatch.local.cli import UsageError

    if len(set(args.env)) != 1:
        raise UsageError("report compliance: one --env (an audit is of one environment)")
    start, end = _period(args.start, args.end)
    services = account.services(args.env[0])
    try:
        doc = compliance_of(services, args.env[0], start, end)
    except (ClientError, BotoCoreError) as exc:
        raise UsageError(f"cannot read the {args.env[0]} ledger: {exc}") from None
    return emit(doc, args.out, as_json=args.json)


def _period(start: str, end: str) -> tuple[str, str]:
    from datetime import datetime

    from deckwatch.local.cli import UsageError

    if not start or not end:
        raise UsageError("report compliance: --from and --to are required (ISO dates, e.g. 2026-11-01)")
    for flag, value in (("--from", start), ("--to", end)):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise UsageError(f"report compliance: {flag} {value!r} is not an ISO date or time") from None
    if end < start:
        raise UsageError(f"report compliance: --to {end} is before --from {start}")
    return start, end


def compliance_of(services: Any, environment: str, start: str, end: str) -> dict[str, Any]:
    """The compliance document of one environment's ledger (services: deckwatch.context.Services)."""
    from deckwatch import clock
    from deckwatch.ledger import verify
    from deckwatch.local import compliance
    from deckwatch.local.html_report import from_ledger

    records = from_ledger(services.ledger, since=start)
    _, findings = verify(services.ledger)
    doc = compliance.build(
        environment,
        records,
        start=start,
        end=end,
        integrity=[f"{f.problem} {f.subject}: {f.detail}" for f in findings],
        generated_at=clock.iso(),
    )
    drills = services.policy().policy.drills
    if drills.schedule:
        compliance.missed_schedule(doc, [t.resource for t in drills.targets])
    return doc


def emit(doc: dict[str, Any], out: Path | None, *, as_json: bool) -> int:
    import json

    from deckwatch.local import compliance

    if out is not None:
        as_file, page = compliance.write(out, doc)
        sys.stderr.write(f"{as_file}\n{page}\n")
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    else:
        sys.stdout.write(
            f"{doc['environment']} {doc['from']} to {doc['to']}: {doc['records']} records, "
            f"{len(doc['changes'])} changes, {len(doc['refusals'])} refusals, {len(doc['drills'])} drills, "
            f"{len(doc['findings'])} findings\n"
        )
        for finding in doc["findings"]:
            sys.stdout.write(f"  - {finding}\n")
    return 1 if doc["findings"] else 0
