# ruff: noqa: T201 - a command-line script: it reports on stdout
"""Translate template.yaml (SAM) into plain CloudFormation JSON, one file per environment, for cfn-lint and checkov.

Usage: python .ci/translate.py OUTDIR [ENV ...]     (default envs: dev staging prod; writes OUTDIR/template-ENV.json)

Local artefact paths are rewritten the way `sam package` would (CodeUri/ContentUri -> S3 URIs), and each
DefinitionUri state machine gets its ASL file inlined as Definition, so cfn-lint also sees the definitions.
No AWS calls are made: deckwatch.local.template.translate resolves managed policy ARNs itself.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ARTIFACT_BUCKET = "deckwatch-ci-artifacts"


def packaged(sam: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(sam))
    for logical_id, res in out.get("Resources", {}).items():
        props = res.get("Properties") or {}
        kind = res.get("Type")
        if kind == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = f"s3://{ARTIFACT_BUCKET}/{logical_id}.zip"
        elif kind == "AWS::Serverless::LayerVersion" and isinstance(props.get("ContentUri"), str):
            props["ContentUri"] = f"s3://{ARTIFACT_BUCKET}/{logical_id}.zip"
        elif kind == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            asl = ROOT / props.pop("DefinitionUri")
            props["Definition"] = json.loads(asl.read_text(encoding="utf-8"))
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    # The translator records metrics nobody publishes and warns about it when they are garbage collected.
    logging.getLogger("samtranslator.metrics").setLevel(logging.ERROR)
    sys.path.insert(0, str(ROOT / "layers" / "deckwatch"))
    from deckwatch.local.template import load_yaml, translate

    outdir = Path(argv[0])
    outdir.mkdir(parents=True, exist_ok=True)
    sam = packaged(load_yaml(ROOT / "template.yaml"))
    for env in argv[1:] or ["dev", "staging", "prod"]:
        cfn = translate(sam, {"Environment": env})
        target = outdir / f"template-{env}.json"
        target.write_text(json.dumps(cfn, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        print(f"translated template.yaml (Environment={env}) -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
