"""`deckwatch`: replay real events against the embedded AWS, run the demo, validate and publish policies,
answer approvals and read the ledger.

Exit codes: 0 done (including "no rule matched"), 2 bad input (one line naming the problem), 1 internal failure.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any, NoReturn

from deckwatch.errors import DeckwatchError, PolicyError
from deckwatch.local import frame_stack

ENVIRONMENTS = ("dev", "staging", "prod")


class UsageError(Exception):
    """Bad input from the person at the keyboard: reported in one line, exit 2."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(frame_stack.run(lambda: args.func(args)))
    except (UsageError, PolicyError) as exc:
        _err(str(exc) if not isinstance(exc, PolicyError) else _policy_lines(exc))
        return 2
    except DeckwatchError as exc:
        _err(f"{type(exc).__name__}: {exc}")
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if getattr(args, "debug", False):
            raise
        _err(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)")
        return 1


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deckwatch", description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("replay", help="deliver a real AWS event to the embedded AWS and show what Deckwatch did")
    r.add_argument("event", help="EventBridge event (or SNS message) JSON file, '-' for stdin")
    _local_args(r)
    r.add_argument("--json", action="store_true", help="print one JSON object instead of a timeline")
    r.add_argument(
        "--topic",
        default=None,
        metavar="ARN",
        help="deliver an SNS message as if it arrived on this topic; a topic of the stack's own is used as it is, "
        "any other is one the stack is deployed to listen to (CostAlertTopicArns)",
    )
    r.set_defaults(func=cmd_replay)

    x = sub.add_parser("execute", help="start a state machine on the embedded AWS with a console input")
    x.add_argument("state_machine", help="logical id (ApprovalStateMachine) or short name (approval)")
    x.add_argument("input", help="input JSON file (events/statemachines/<name>/*.json)")
    _local_args(x)
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=cmd_execute)

    d = sub.add_parser("demo", help="scripted scenarios on the embedded AWS, narrated")
    d.add_argument("--root", type=Path, default=None, help="repository root (default: found from here)")
    d.add_argument("--report", type=Path, default=None, help="also write the ledgers as an HTML page into this folder")
    d.set_defaults(func=cmd_demo)

    pol = sub.add_parser("policy", help="validate, document and publish policies").add_subparsers(
        dest="op", required=True
    )
    v = pol.add_parser("validate", help="report every error with its field and line; exit 2 if any")
    v.add_argument("files", nargs="+", type=Path)
    v.set_defaults(func=cmd_policy_validate)
    s = pol.add_parser("schema", help="print the policy's JSON Schema")
    s.set_defaults(func=cmd_policy_schema)
    pu = pol.add_parser("push", help="validate, then store as the environment's policy in SSM (real AWS)")
    pu.add_argument("file", type=Path)
    pu.add_argument("--env", choices=ENVIRONMENTS, required=True)
    pu.add_argument("--key-id", default=None, help="KMS key (default alias/deckwatch-<env>)")
    pu.set_defaults(func=cmd_policy_push)
    pi = pol.add_parser("init", help="write a first policy from a deployed workload stack's outputs and tags")
    pi.add_argument("--stack", required=True, help="the workload stack (e.g. shop-staging)")
    pi.add_argument("--env", choices=ENVIRONMENTS, required=True)
    pi.add_argument("--out", type=Path, default=None, help="policy file to write (default: standard output)")
    pi.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    pi.set_defaults(func=cmd_policy_init)

    for verb in ("approve", "reject"):
        a = sub.add_parser(verb, help=f"{verb} a pending approval (real AWS)")
        a.add_argument("approval_id")
        a.add_argument("--env", choices=ENVIRONMENTS, required=True)
        a.add_argument("--reason", default="")
        a.add_argument("--actor", default=None, help="who answers (default: the caller's IAM identity)")
        a.set_defaults(func=cmd_answer, approve=verb == "approve")

    led = sub.add_parser("ledger", help="read the ledger, or verify its hash chains (real AWS)")
    led.add_argument(
        "action",
        nargs="?",
        choices=("show", "verify"),
        default="show",
        help="show records (default), or verify every chain (or --subject's): exit 1 on any finding",
    )
    led.add_argument("--env", choices=ENVIRONMENTS, required=True)
    group = led.add_mutually_exclusive_group()
    group.add_argument("--subject")
    group.add_argument("--capability", choices=("core", "cutover", "remediation", "drills", "cost"))
    group.add_argument("--since", help="ISO time: everything since then")
    led.set_defaults(func=cmd_ledger)

    from deckwatch.local.commands import register_all

    register_all(sub)
    return p


def _local_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", choices=ENVIRONMENTS, default="dev")
    p.add_argument("--policy", type=Path, default=None, help="policy file (default: the example for --env)")
    p.add_argument(
        "--approvals",
        choices=("approve", "reject", "timeout"),
        default="approve",
        help="how the simulated operator answers approval requests",
    )
    p.add_argument("--root", type=Path, default=None, help="repository root (default: found from here)")
    p.add_argument(
        "--parameter",
        dest="parameters",
        action="append",
        type=_parameter,
        default=[],
        metavar="KEY=VALUE",
        help="a stack parameter, over samconfig.toml's for --env (repeatable), e.g. CostAlertTopicArns=ARN,ARN",
    )


def _parameter(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


# ---------------------------------------------------------------------------------------------- commands ------
def cmd_replay(args: argparse.Namespace) -> int:
    from deckwatch.local.routing import BadInput, classify

    raw = _read_input(args.event)
    try:
        kind, doc = classify(raw)
    except BadInput as exc:
        raise UsageError(f"{args.event}: {exc}") from None
    args.parameters = dict(args.parameters)
    if args.topic is not None:
        from deckwatch.local.routing import on_topic

        if kind != "sns":
            raise UsageError(f"{args.event}: --topic delivers SNS messages; this is an EventBridge event")
        try:
            doc = on_topic(doc, args.topic)
        except BadInput as exc:
            raise UsageError(f"--topic: {exc}") from None
        if not args.topic.rsplit(":", 1)[-1].startswith(f"deckwatch-{args.env}-"):
            listened = [t for t in args.parameters.get("CostAlertTopicArns", "").split(",") if t]
            args.parameters["CostAlertTopicArns"] = ",".join(dict.fromkeys([*listened, args.topic]))
    with _runtime(args) as rt:
        report = rt.replay(doc, kind=kind)
    _show(report, args.json)
    rejected = [i for i in report.invocations if str(i.get("error") or "").startswith("InvalidEventError: ")]
    if rejected:  # shown above with the ledger's rejection and the dead letter; bad input all the same
        first = rejected[0]
        reason = str(first["error"]).removeprefix("InvalidEventError: ")
        raise UsageError(
            f"{args.event}: rejected by {first['function']}: {reason} (the ledger says why; the DLQ has it)"
        )
    return 0


def cmd_execute(args: argparse.Namespace) -> int:
    try:
        payload = json.loads(_read_input(args.input))
    except json.JSONDecodeError as exc:
        raise UsageError(f"{args.input}: not valid JSON: {exc}") from None
    with _runtime(args) as rt:
        logical = _state_machine(rt, args.state_machine)
        report = rt.start_execution(logical, payload)
    _show(report, args.json)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from deckwatch.local.demo import run

    return run(_root(args.root), report=args.report)


def cmd_policy_validate(args: argparse.Namespace) -> int:
    from deckwatch.policy import load_file
    from deckwatch.policy.loader import MAX_PARAMETER_BYTES

    failed = 0
    for f in args.files:
        try:
            lp = load_file(f, max_bytes=MAX_PARAMETER_BYTES)  # what `push` could store
            print(f"{f}: ok ({lp.policy.environment}, version {lp.version})")
        except PolicyError as exc:
            failed += 1
            print(_policy_lines(exc), file=sys.stderr)
    return 2 if failed else 0


def cmd_policy_schema(args: argparse.Namespace) -> int:
    from deckwatch.policy.model import Policy

    print(json.dumps(Policy.model_json_schema(by_alias=True), indent=2))
    return 0


def cmd_policy_push(args: argparse.Namespace) -> int:
    from deckwatch.aws import Clients
    from deckwatch.policy import load_file
    from deckwatch.policy.loader import MAX_PARAMETER_BYTES, decode

    lp = load_file(args.file, max_bytes=MAX_PARAMETER_BYTES)  # the Advanced tier's limit: refused here, not by SSM
    if lp.policy.environment != args.env:
        raise UsageError(f"{args.file} is the {lp.policy.environment} policy, not {args.env}'s")
    name = f"/deckwatch/{args.env}/policy"
    Clients()("ssm").put_parameter(
        Name=name,
        Value=decode(args.file.read_bytes(), str(args.file)),
        Type="SecureString",
        KeyId=args.key_id or f"alias/deckwatch-{args.env}",
        Overwrite=True,
        Tier="Advanced",
    )
    print(f"{name}: policy version {lp.version} stored; functions pick it up within a minute")
    return 0


def cmd_answer(args: argparse.Namespace) -> int:
    from deckwatch import approvals
    from deckwatch.local import account

    deps = account.services(args.env)
    actor = args.actor or account.caller(deps)
    verdict = approvals.decide(deps, args.approval_id, approve=args.approve, actor=actor, reason=args.reason)
    print(f"approval {args.approval_id}: {verdict}")
    return 0


def cmd_ledger(args: argparse.Namespace) -> int:
    from deckwatch.local import account

    if args.action == "verify":
        return _ledger_verify(args)
    if not (args.subject or args.capability or args.since):
        raise UsageError("ledger: one of --subject, --capability or --since is required")
    deps = account.services(args.env)
    if args.subject:
        records = deps.ledger.by_subject(args.subject)
    elif args.capability:
        records = deps.ledger.by_capability(args.capability)
    else:
        records = deps.ledger.by_time(args.since)
    for rec in records:
        print(json.dumps(rec, sort_keys=True, default=str))
    return 0


def _ledger_verify(args: argparse.Namespace) -> int:
    from deckwatch.ledger import verify
    from deckwatch.local import account

    if args.capability or args.since:
        raise UsageError("ledger verify: only --subject narrows it")
    checked, findings = verify(account.services(args.env).ledger, args.subject)
    for finding in findings:
        print(f"{finding.problem}: {finding.subject}: {finding.detail}")
    print(f"ledger {args.env}: {checked} records checked, {len(findings)} findings")
    return 1 if findings else 0


# ---------------------------------------------------------------------------------------------- helpers -------
def _read_input(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None


def _root(given: Path | None) -> Path:
    if given is not None:
        if not (given / "template.yaml").is_file():
            raise UsageError(f"{given}: no template.yaml here")
        return given
    for candidate in (Path.cwd(), *Path.cwd().parents):
        if (candidate / "template.yaml").is_file() and (candidate / "statemachines").is_dir():
            return candidate
    raise UsageError("template.yaml not found: run from the Deckwatch repository or pass --root")


def _runtime(args: argparse.Namespace) -> Any:
    from deckwatch.local.runtime import LocalAWS

    if args.policy is not None:
        from deckwatch.policy import load_file

        load_file(args.policy)  # invalid -> exit 2 with every problem, before starting anything
    parameters = dict(getattr(args, "parameters", None) or {})
    return LocalAWS(
        _root(args.root),
        environment=args.env,
        policy_file=args.policy,
        approvals=args.approvals,
        parameters=parameters,
    )


def cmd_policy_init(args: argparse.Namespace, client: Any = None) -> int:
    """`client(service)`: boto3 clients of the account the stack is in (default: the caller's, real AWS)."""
    from deckwatch.local.policy_init import StackError, describe, init

    if client is None:
        from deckwatch.aws import Clients

        client = Clients()
    try:
        facts, text = init(client, args.stack, args.env, args.out, force=args.force)
    except StackError as exc:
        raise UsageError(str(exc)) from None
    if args.out is None:
        sys.stdout.write(text)
    where = args.out or "standard output"
    print(f"{where}: {args.env} policy of {args.stack}: {describe(facts, text)}", file=sys.stderr)
    return 0


def _state_machine(rt: Any, name: str) -> str:
    machines = rt.template.resources("AWS::StepFunctions::StateMachine")
    for logical in machines:
        if name in (logical, logical.removesuffix("StateMachine").lower()):
            return str(logical)
    raise UsageError(f"no state machine {name!r}; known: {', '.join(sorted(machines))}")


def _policy_lines(exc: PolicyError) -> str:
    return "\n".join(f"{exc.source}:{p.line or '?'}: {p.path or '<root>'}: {p.message}" for p in exc.problems)


def _err(text: str) -> None:
    print(f"deckwatch: {text}", file=sys.stderr)


def _show(report: Any, as_json: bool) -> None:
    from deckwatch.local.timeline import render

    if as_json:
        print(json.dumps(report.to_json(), indent=2, sort_keys=False, default=str))
    else:
        print(render(report))


def run() -> NoReturn:
    """The `deckwatch` command: `main()`, then the process ends without tearing down its heap.

    An embedded AWS leaves a quarter of a gigabyte of objects (moto's backends, botocore's models, the snapshot):
    the interpreter's own exit frees them one by one and collects them again, which took a second of a three-second
    replay (2.05 s to `main`'s return, 3.09 s to the process's end). Nothing needs that: the exit handlers run (log
    handlers flush, temporary folders go), the output is flushed, and the process exits with `main`'s code. A
    thread other than this one still running (none does) gets the interpreter's ordinary exit, which waits for it.
    """
    code = main()
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`deckwatch ... | head`): nothing to write to
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
