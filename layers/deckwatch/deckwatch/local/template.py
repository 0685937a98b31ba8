"""Read template.yaml as AWS would: CloudFormation YAML tags, the SAM transform, then Deckwatch's local
adjustments (code locations that moto can load, state machine definitions with their DefinitionSubstitutions)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deckwatch.local.moto_patches import CONTEXT_SENTINEL

CODE_BUCKET = "deckwatch-local-artifacts"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that understands CloudFormation's short-form intrinsic functions."""


def _intrinsic(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    return construct


for _tag in (
    "Base64",
    "Cidr",
    "FindInMap",
    "GetAtt",
    "GetAZs",
    "ImportValue",
    "Join",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "And",
    "Equals",
    "If",
    "Not",
    "Or",
    "ToJsonString",
    "Length",
):
    _CfnLoader.add_constructor(f"!{_tag}", _intrinsic(f"Fn::{_tag}"))
_CfnLoader.add_constructor("!Ref", _intrinsic("Ref"))
_CfnLoader.add_constructor("!Condition", _intrinsic("Condition"))


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a template")
    return data


@dataclass
class Template:
    """The SAM template, its CloudFormation translation and what the local runtime needs to know about it."""

    root: Path
    sam: dict[str, Any]
    cfn: dict[str, Any]
    code_dirs: dict[str, Path] = field(default_factory=dict)  # function logical id -> its folder
    parameters: dict[str, str] = field(default_factory=dict)  # the stack parameters it was translated with

    def resources(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.cfn["Resources"].items() if v["Type"] == cfn_type}


class _PolicyLoader:
    """SAM asks IAM for AWS managed policy ARNs; they are well known, so no call is made."""

    def load(self) -> dict[str, str]:
        base = "arn:aws:iam::aws:policy/"
        return {
            "AWSLambdaBasicExecutionRole": base + "service-role/AWSLambdaBasicExecutionRole",
            "AWSLambdaRole": base + "service-role/AWSLambdaRole",
            "AWSXrayWriteOnlyAccess": base + "AWSXrayWriteOnlyAccess",
            "AWSXRayDaemonWriteAccess": base + "AWSXRayDaemonWriteAccess",
            "AWSLambdaSQSQueueExecutionRole": base + "service-role/AWSLambdaSQSQueueExecutionRole",
        }


def translate(sam: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    import logging

    from samtranslator.translator.transform import transform

    # the translator's metrics are for the CloudFormation service; unpublished locally, and it warns about that
    logging.getLogger("samtranslator.metrics").setLevel(logging.ERROR)
    # it resolves AWS::Region from a boto3 session; any region will do for a translation
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

    return transform(json.loads(json.dumps(sam)), parameters, _PolicyLoader())  # type: ignore[no-any-return]


def load(root: Path, parameters: dict[str, str]) -> Template:
    """template.yaml under `root`, translated, with local code and definitions wired in."""
    sam = load_yaml(root / "template.yaml")
    local = json.loads(json.dumps(sam))
    code_dirs: dict[str, Path] = {}
    definitions: dict[str, str] = {}
    for logical_id, res in local.get("Resources", {}).items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::Serverless::Function":
            code_dirs[logical_id] = root / str(props["CodeUri"])
            props["CodeUri"] = f"s3://{CODE_BUCKET}/{logical_id}.zip"
        elif res["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = f"s3://{CODE_BUCKET}/{logical_id}.zip"
        elif res["Type"] == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            definitions[logical_id] = (root / str(props.pop("DefinitionUri"))).read_text(encoding="utf-8")
            props["Definition"] = {"StartAt": "Placeholder", "States": {"Placeholder": {"Type": "Succeed"}}}
    cfn = translate(local, parameters)
    for logical_id, text in definitions.items():
        props = cfn["Resources"][logical_id]["Properties"]
        subs = props.pop("DefinitionSubstitutions", {})
        props.pop("Definition", None)
        # moto's CloudFormation ignores DefinitionSubstitutions: Fn::Sub with the same map resolves them identically.
        hidden = text.replace("$$", CONTEXT_SENTINEL)
        props["DefinitionString"] = {"Fn::Sub": [hidden, subs]} if subs else hidden
    return Template(root=root, sam=sam, cfn=cfn, code_dirs=code_dirs, parameters=dict(parameters))


def placeholders(definition: str) -> list[str]:
    """The ${Name} placeholders of an ASL definition (each must come from DefinitionSubstitutions)."""
    import re

    return sorted(set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", definition)))
