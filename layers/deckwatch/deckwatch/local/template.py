"""Read template.yaml as AWS would: CloudFormation YAML tags, the AWS::LanguageExtensions transform (Fn::ForEach),
the SAM transform, then Deckwatch's local adjustments (code locations that moto can load, state machine
definitions with their DefinitionSubstitutions)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from samtranslator.yaml_helper import intrinsics_multi_constructor

from deckwatch.local.moto_patches import CONTEXT_SENTINEL

CODE_BUCKET = "deckwatch-local-artifacts"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that reads CloudFormation's short-form intrinsic functions (`!Ref`, `!Sub`, `!GetAtt A.B`...)
    with the SAM translator's own constructor, the one its `yaml_parse` uses: any `!Tag` becomes `{"Fn::Tag": ...}`
    (`Ref` and `Condition` without the prefix), so no tag can be missing from a list. Not `yaml_parse` itself: it
    registers the constructor on `yaml.SafeLoader` for the whole process, after which every `yaml.safe_load`
    (the policy loader's among them) would accept a `!Ref` in a policy locally that Lambda rejects."""


_CfnLoader.add_multi_constructor("!", intrinsics_multi_constructor)


def load_yaml(path: Path, parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """The template at `path`, with its AWS::LanguageExtensions applied (see `expand_language_extensions`) for the
    stack parameters given (the others at their defaults)."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a template")
    return expand_language_extensions(data, parameters)


LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"
_FOR_EACH = "Fn::ForEach::"


def expand_language_extensions(template: dict[str, Any], parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """What CloudFormation's AWS::LanguageExtensions transform does to this template before the SAM transform runs:
    Fn::ForEach loops (in Conditions, Resources and Outputs) are written out, and the transform leaves the list.
    Neither the SAM translator nor moto's CloudFormation knows Fn::ForEach. Only what template.yaml uses is
    supported: a literal list of strings, or a `Ref` to a CommaDelimitedList parameter (its value in `parameters`,
    else its Default; "" is the empty list: template.yaml guards such a loop with a Condition), as the collection; the
    identifier as `${Id}`/`&{Id}` in output keys and Fn::Sub strings and as `Ref: Id`; anything else fails loudly
    rather than deploy differently."""
    transforms = template.get("Transform")
    names = [transforms] if isinstance(transforms, str) else list(transforms or [])
    if LANGUAGE_EXTENSIONS not in names:
        return template
    lists = _list_parameters(template, parameters or {})
    out = dict(template)
    for section in ("Conditions", "Resources", "Outputs"):
        if isinstance(out.get(section), dict):
            out[section] = _expand_loops(out[section], section, lists)
    rest = [n for n in names if n != LANGUAGE_EXTENSIONS]
    if rest:
        out["Transform"] = rest[0] if len(rest) == 1 else rest
    else:
        del out["Transform"]
    return out


def _list_parameters(template: dict[str, Any], given: dict[str, str]) -> dict[str, list[str]]:
    """The template's CommaDelimitedList parameters as lists: the value given, else the Default."""
    out = {}
    for name, spec in (template.get("Parameters") or {}).items():
        if isinstance(spec, dict) and spec.get("Type") == "CommaDelimitedList":
            value = str(given.get(name, spec.get("Default", "")))
            # an empty list writes nothing: whatever CloudFormation writes for "", the loop's Condition leaves it out
            out[name] = [v.strip() for v in value.split(",")] if value.strip() else []
    return out


def _expand_loops(entries: dict[str, Any], where: str, lists: dict[str, list[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def add(key: str, value: Any) -> None:
        if key in out:
            raise ValueError(f"{where}: Fn::ForEach writes {key!r}, which is already defined")
        out[key] = value

    for key, value in entries.items():
        if not key.startswith(_FOR_EACH):
            add(key, value)
            continue
        if not (
            isinstance(value, list)
            and len(value) == 3  # [identifier, collection, fragment]
            and isinstance(value[0], str)
            and isinstance(value[2], dict)
        ):
            raise ValueError(f"{where}/{key}: Fn::ForEach takes [identifier, collection, {{output key: value}}]")
        identifier, collection, fragment = value
        if isinstance(collection, dict) and set(collection) == {"Ref"} and collection["Ref"] in lists:
            collection = lists[collection["Ref"]]
        if not isinstance(collection, list) or not all(isinstance(item, str) for item in collection):
            raise ValueError(
                f"{where}/{key}: the local runtime expands only a literal list of strings or a list parameter"
            )
        for item in collection:
            written = _replace_identifier(fragment, identifier, item)
            for k, v in _expand_loops(written, f"{where}/{key}", lists).items():
                add(k, v)
    return out


def _replace_identifier(value: Any, identifier: str, item: str) -> Any:
    def text(s: str) -> str:
        alphanumeric = "".join(c for c in item if c.isalnum())
        return s.replace("${" + identifier + "}", item).replace("&{" + identifier + "}", alphanumeric)

    if isinstance(value, list):
        return [_replace_identifier(v, identifier, item) for v in value]
    if not isinstance(value, dict):
        return value
    if value == {"Ref": identifier}:
        return item
    if set(value) == {"Fn::Sub"}:
        sub = value["Fn::Sub"]
        if isinstance(sub, str):
            return {"Fn::Sub": text(sub)}
        if isinstance(sub, list) and sub and isinstance(sub[0], str):
            return {"Fn::Sub": [text(sub[0]), *_replace_identifier(sub[1:], identifier, item)]}
    return {text(k): _replace_identifier(v, identifier, item) for k, v in value.items()}


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
    sam = load_yaml(root / "template.yaml", parameters)
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
