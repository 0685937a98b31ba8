"""`deckwatch sam-env --env E [--stack NAME] [--out FILE]`: the `--env-vars` file of `sam local invoke` for the
deployed stack of an environment (real AWS, the caller's credentials and region; deckwatch.local.sam_env).

    deckwatch sam-env --env dev --out env.json
    sam local invoke --config-env dev -e events/cutover/cutover.Deploy.json --env-vars env.json CutoverFunction
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ENVIRONMENTS = ("dev", "staging", "prod")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "sam-env", help="write the --env-vars file of `sam local invoke` from a deployed stack (real AWS)"
    )
    p.add_argument("--env", choices=ENVIRONMENTS, required=True)
    p.add_argument("--stack", default=None, help="stack name (default deckwatch-<env>, as samconfig.toml names it)")
    p.add_argument("--out", type=Path, default=None, help="file to write (default: stdout)")
    p.add_argument("--root", type=Path, default=None, help="repository root (default: found from here)")
    p.set_defaults(func=cmd_sam_env)


def cmd_sam_env(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from deckwatch.aws import Clients
    from deckwatch.local.cli import UsageError, _root
    from deckwatch.local.sam_env import DeployedStack, env_vars
    from deckwatch.local.template import load_yaml

    stack_name = args.stack or f"deckwatch-{args.env}"
    template = load_yaml(_root(args.root) / "template.yaml")
    try:
        clients = Clients()
        stack = DeployedStack.read(clients("cloudformation"), stack_name, lam=clients("lambda"))
    except (ClientError, BotoCoreError) as exc:
        raise UsageError(f"cannot read stack {stack_name}: {exc}") from None
    deployed_env = stack.parameters.get("Environment")
    if deployed_env != args.env:
        raise UsageError(f"stack {stack_name} is the {deployed_env or 'unknown'} environment's, not {args.env}'s")
    result = env_vars(template, stack)
    text = json.dumps(result.document, indent=2, sort_keys=True) + "\n"
    for problem in result.missing:  # e.g. a resource added to template.yaml since the stack was deployed
        sys.stderr.write(f"deckwatch: not in the env-vars file: {problem}\n")
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        functions = len(result.document) - 1
        sys.stderr.write(
            f"{args.out}: variables of stack {stack_name} ({stack.region}) for every function "
            f"({len(result.document['Parameters'])} shared, {functions} functions with their own)\n"
        )
    return 0
