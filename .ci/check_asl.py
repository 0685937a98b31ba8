# ruff: noqa: T201 - a command-line script: it reports on stdout
"""Check every statemachines/*.asl.json against template.yaml and two ASL validators.

For each ASL file:
  1. it is referenced by an AWS::Serverless::StateMachine's DefinitionUri in template.yaml;
  2. every ${Name} placeholder in it is a key of that state machine's DefinitionSubstitutions (and, as a warning,
     every substitution is used);
  3. it holds no literal ARN: account/region resources come from DefinitionSubstitutions. Only Step Functions'
     service integration ARNs (arn:aws:states:::service:action, which name no account or region) are allowed;
  4. with each placeholder replaced by a dummy Lambda ARN it parses with moto's ASL parser (the one the local
     runtime executes), and with statelint (`--statelint PATH`, the @wmfs/statelint binary) if given.

Usage: python .ci/check_asl.py [--statelint PATH] [ASL_FILE ...]    (default: statemachines/*.asl.json)
Exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
ARN = re.compile(r"\barn:[^\"\s]*")
SERVICE_INTEGRATION = re.compile(r"arn:(aws|aws-cn|aws-us-gov):states:::[a-z0-9-]+:[A-Za-z0-9.:-]+")


def dummy_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:123456789012:function:{name}"


def state_machines(template: dict[str, Any]) -> dict[Path, list[tuple[str, dict[str, Any]]]]:
    """ASL path -> [(logical id, DefinitionSubstitutions)] of the state machines that use it."""
    out: dict[Path, list[tuple[str, dict[str, Any]]]] = {}
    for logical_id, res in (template.get("Resources") or {}).items():
        if res.get("Type") not in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            continue
        props = res.get("Properties") or {}
        uri = props.get("DefinitionUri")
        if isinstance(uri, str):
            subs = props.get("DefinitionSubstitutions") or {}
            out.setdefault((ROOT / uri).resolve(), []).append((logical_id, subs))
    return out


def check(path: Path, users: list[tuple[str, dict[str, Any]]], statelint: str | None) -> list[str]:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    errors: list[str] = []
    text = path.read_text(encoding="utf-8")
    names = sorted(set(PLACEHOLDER.findall(text)))

    if not users:
        errors.append(f"{rel}: no AWS::Serverless::StateMachine in template.yaml has DefinitionUri: {rel}")
    for logical_id, subs in users:
        missing = [n for n in names if n not in subs]
        if missing:
            errors.append(
                f"{rel}: placeholder(s) {', '.join('${' + n + '}' for n in missing)} missing from "
                f"{logical_id}.Properties.DefinitionSubstitutions in template.yaml"
            )
        unused = sorted(set(subs) - set(names))
        if unused:
            print(f"warning: {logical_id}.DefinitionSubstitutions {', '.join(unused)} not used in {rel}")

    for lineno, line in enumerate(text.splitlines(), 1):
        for match in ARN.finditer(line):
            if not SERVICE_INTEGRATION.fullmatch(match.group(0)):
                errors.append(
                    f"{rel}:{lineno}: literal ARN {match.group(0)!r}; pass it in through DefinitionSubstitutions"
                )

    concrete = PLACEHOLDER.sub(lambda m: dummy_arn(m.group(1)), text)
    try:
        json.loads(concrete)
    except json.JSONDecodeError as exc:
        return [*errors, f"{rel}: not valid JSON after substitution: {exc}"]
    try:
        AmazonStateLanguageParser.parse(concrete)
    except Exception as exc:  # noqa: BLE001 - any parser error is a finding
        errors.append(f"{rel}: moto ASL parser: {type(exc).__name__}: {exc}")

    if statelint:
        with tempfile.NamedTemporaryFile("w", suffix=".asl.json", delete=False, encoding="utf-8") as tmp:
            tmp.write(concrete)
        try:
            proc = subprocess.run([statelint, tmp.name], capture_output=True, text=True, check=False)  # noqa: S603
        finally:
            Path(tmp.name).unlink()
        report = (proc.stdout + proc.stderr).strip().replace(tmp.name, str(rel))
        if proc.returncode != 0 or report:
            errors.append(f"{rel}: statelint (exit {proc.returncode}):\n{report}")
    return errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--statelint", help="path of the statelint binary (skipped if not given)")
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "layers" / "deckwatch"))
    from deckwatch.local.template import load_yaml

    machines = state_machines(load_yaml(ROOT / "template.yaml"))
    files = [f.resolve() for f in args.files] or sorted((ROOT / "statemachines").glob("*.asl.json"))
    if not files:
        print("check_asl: no statemachines/*.asl.json found", file=sys.stderr)
        return 1
    for uri in machines:
        if not uri.exists():
            print(f"check_asl: template.yaml DefinitionUri {uri.relative_to(ROOT)} does not exist", file=sys.stderr)
            return 1

    failed = False
    for path in files:
        errors = check(path, machines.get(path, []), args.statelint)
        for error in errors:
            print(f"FAIL {error}")
        if errors:
            failed = True
        else:
            print(f"ok   {path.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
