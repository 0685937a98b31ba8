"""`deckwatch dlq list|show|redrive --env ENV`: the dead-letter queue of a deployed environment (real AWS; the
embedded AWS in tests), through the caller's AWS configuration: what Deckwatch could not process and why, the
message as the DLQ holds it, and handing events back to the functions that failed (deckwatch/deadletters.py)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

ENVIRONMENTS = ("dev", "staging", "prod")


def _line(text: str) -> None:
    sys.stdout.write(text + "\n")


def register(subparsers: Any) -> None:
    dlq = subparsers.add_parser("dlq", help="list, show and redrive the dead-letter queue (real AWS)")
    ops = dlq.add_subparsers(dest="dlq_op", required=True)
    listing = ops.add_parser("list", help="the messages: function, error, event (nothing is consumed)")
    listing.add_argument("--env", choices=ENVIRONMENTS, required=True)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=cmd_list)
    show = ops.add_parser("show", help="one message as the DLQ holds it (JSON)")
    show.add_argument("message_id")
    show.add_argument("--env", choices=ENVIRONMENTS, required=True)
    show.set_defaults(func=cmd_show)
    redrive = ops.add_parser(
        "redrive", help="hand events back to the functions that failed; a message is deleted once Lambda accepted it"
    )
    redrive.add_argument("message_ids", nargs="*", metavar="MESSAGE_ID")
    redrive.add_argument("--all", action="store_true", help="every message")
    redrive.add_argument("--env", choices=ENVIRONMENTS, required=True)
    redrive.set_defaults(func=cmd_redrive)


def _services(env: str) -> Any:
    from deckwatch.local import account

    return account.services(env)


def _aws(env: str, what: Any) -> Any:
    """`what()`, with AWS's refusals (no such queue, no credentials...) said in one line (exit 2)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from deckwatch.deadletters import DeadLetterNotFoundError
    from deckwatch.local.cli import UsageError

    try:
        return what()
    except DeadLetterNotFoundError as exc:
        raise UsageError(str(exc)) from None
    except (ClientError, BotoCoreError) as exc:
        raise UsageError(f"cannot read the {env} DLQ: {exc}") from None


def cmd_list(args: argparse.Namespace) -> int:
    from deckwatch import deadletters

    deps = _services(args.env)
    letters = _aws(args.env, lambda: deadletters.listing(deps))
    for letter in letters:
        s = letter.summary()
        if args.json:
            _line(json.dumps(s, sort_keys=True, default=str))
            continue
        event = " ".join(str(s[k]) for k in ("source", "detail_type", "event_id") if s[k])
        _line(
            f"{s['message_id']}  {s['kind']:<11} {s['function'] or '-':<36} {s['sent_at'] or '-'}  "
            f"{s['condition'] or '-'}  {s['error'][:160] or '-'}  [{event or 'no event id'}]"
        )
    if not letters and not args.json:
        _line(f"the {args.env} DLQ is empty")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from deckwatch import deadletters

    deps = _services(args.env)
    letter = _aws(args.env, lambda: deadletters.find(deps, args.message_id))
    _line(json.dumps(letter.document(), indent=2, sort_keys=True, default=str))
    return 0


def cmd_redrive(args: argparse.Namespace) -> int:
    from deckwatch import deadletters
    from deckwatch.local.cli import UsageError

    if bool(args.message_ids) == bool(args.all):
        raise UsageError("dlq redrive: name the messages (MESSAGE_ID ...) or give --all, not both")
    deps = _services(args.env)
    outcomes = _aws(args.env, lambda: deadletters.redrive(deps, None if args.all else list(args.message_ids)))
    for o in outcomes:
        verb = "redriven" if o.redriven else "kept    "
        gone = f" (deleted {', '.join(o.deleted)})" if len(o.deleted) > 1 else ""
        _line(f"{verb} {o.message_id} -> {o.function or '-'}: {o.note}{gone}")
    if not outcomes:
        _line(f"the {args.env} DLQ is empty")
    return 0 if all(o.redriven or o.note.startswith("a copy") for o in outcomes) else 1
