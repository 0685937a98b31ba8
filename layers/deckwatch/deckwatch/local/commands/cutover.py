"""`deckwatch rollback SERVICE --env ENV --reason ...`: ask the running cutover of SERVICE to roll back now.

Emits the agreed internal event ("Deckwatch Rollback Requested", source "deckwatch") on the default bus of the
real account; the environment's stack routes it to its cutover, which puts 100% of traffic back on the stable
colour at once (or, between steps, before its next action)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from deckwatch.cutover.trigger import ROLLBACK_REQUESTED


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("rollback", help="roll back the running cutover of a service now (real AWS)")
    p.add_argument("service", help="service name in the policy")
    p.add_argument("--env", required=True, choices=["dev", "staging", "prod"])
    p.add_argument("--reason", default="manual rollback", help="recorded in the ledger and the notification")
    p.add_argument("--actor", default=None, help="who asks (default: your AWS identity)")
    p.set_defaults(func=cmd_rollback)


def entry(service: str, env: str, reason: str, actor: str) -> dict[str, Any]:
    """The PutEvents entry of a rollback request (the contract shared with remediation's rollback_cutover)."""
    detail = {"environment": env, "service": service, "reason": reason, "requested_by": actor}
    return {"Source": "deckwatch", "DetailType": ROLLBACK_REQUESTED, "Detail": json.dumps(detail)}


def cmd_rollback(args: argparse.Namespace) -> int:
    from deckwatch.local import account
    from deckwatch.local.cli import UsageError

    if not args.reason.strip():
        raise UsageError("--reason must not be empty")
    deps = account.services(args.env)
    actor = args.actor or account.caller(deps)
    out = deps.clients("events").put_events(Entries=[entry(args.service, args.env, args.reason, actor)])
    if out.get("FailedEntryCount"):
        raise UsageError(f"EventBridge refused the request: {out['Entries'][0].get('ErrorMessage')}")
    sys.stdout.write(f"rollback of {args.service} in {args.env} requested (event {out['Entries'][0]['EventId']})\n")
    return 0
