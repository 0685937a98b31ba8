"""The `--env-vars` file of `sam local invoke` for a deployed stack: every environment variable template.yaml gives
a function, with the value it has in that stack.

SAM CLI runs a function locally with the variables its template declares, but it cannot know what a `!Ref
LedgerTable` is in a deployed stack (it passes the logical id, or nothing); an env-vars file supplies the values.
They come from the stack itself, through the caller's AWS configuration: CloudFormation's DescribeStacks (the
stack's parameters and outputs) and ListStackResources (each resource's physical id), with the intrinsic functions
of the variable values (Ref, Fn::GetAtt, Fn::Sub, Fn::If, Fn::Join, Fn::FindInMap, Fn::Select, Fn::ImportValue)
evaluated against them, as CloudFormation did when it deployed them; an attribute the physical id does not give
(a function URL) is asked of its service. Not Lambda's GetFunctionConfiguration: the functions' environment is
encrypted with the stack's KMS key, which a developer may not be allowed to use.

The file is what SAM expects: `{"Parameters": {VAR: value}}` for the variables every function has (Globals) and
`{FunctionLogicalId: {VAR: value}}` for a function's own; a function's own wins over Parameters, as in SAM.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PSEUDO = ("AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::StackName", "AWS::StackId", "AWS::URLSuffix")


class UnresolvableError(Exception):
    """A value the deployed stack cannot give (a resource it does not have, an attribute not derivable)."""


NO_VALUE = object()  # Ref AWS::NoValue: the variable is not set


@dataclass
class DeployedStack:
    """What CloudFormation says about one stack."""

    name: str
    stack_id: str
    parameters: dict[str, str]
    outputs: dict[str, str]
    resources: dict[str, tuple[str, str]]  # logical id -> (resource type, physical id)
    exports: Callable[[], dict[str, str]] = field(default=lambda: {}, repr=False)
    function_url: Callable[[str], str] | None = field(default=None, repr=False)  # function -> its URL

    @classmethod
    def read(cls, cfn: Any, stack_name: str, lam: Any = None) -> DeployedStack:
        """The stack, through a CloudFormation client (and a Lambda client for function URLs)."""
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        resources: dict[str, tuple[str, str]] = {}
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name):
            for res in page["StackResourceSummaries"]:
                if res.get("PhysicalResourceId"):
                    resources[res["LogicalResourceId"]] = (res["ResourceType"], res["PhysicalResourceId"])

        def exports() -> dict[str, str]:
            out: dict[str, str] = {}
            for page in cfn.get_paginator("list_exports").paginate():
                out |= {e["Name"]: e["Value"] for e in page["Exports"]}
            return out

        return cls(
            name=stack["StackName"],
            stack_id=stack["StackId"],
            parameters={p["ParameterKey"]: p.get("ResolvedValue", p["ParameterValue"]) for p in stack["Parameters"]},
            outputs={o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
            resources=resources,
            exports=exports,
            function_url=None
            if lam is None
            else lambda f: str(lam.get_function_url_config(FunctionName=f)["FunctionUrl"]),
        )

    @property
    def region(self) -> str:
        return self.stack_id.split(":")[3]

    @property
    def account(self) -> str:
        return self.stack_id.split(":")[4]

    @property
    def partition(self) -> str:
        return self.stack_id.split(":")[1]


class Resolver:
    """Evaluates the intrinsic functions of a SAM template's values against a deployed stack."""

    def __init__(self, template: dict[str, Any], stack: DeployedStack) -> None:
        self.template = template
        self.stack = stack
        declared = template.get("Parameters", {})
        self.parameters = {
            name: str(stack.parameters.get(name, spec.get("Default", ""))) for name, spec in declared.items()
        }
        self._exports: dict[str, str] | None = None

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.value(n) for n in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((fn, arg),) = node.items()
            handler = _FUNCTIONS.get(fn)
            if handler is not None:
                return handler(self, arg)
        return {k: self.value(v) for k, v in node.items()}

    def condition(self, name: str) -> bool:
        return bool(self._condition(self.template["Conditions"][name]))

    def _condition(self, expr: Any) -> Any:
        if isinstance(expr, dict) and len(expr) == 1:
            ((fn, arg),) = expr.items()
            if fn == "Condition":
                return self.condition(arg)
            if fn == "Fn::Equals":
                left, right = (self.value(a) for a in arg)
                return str(left) == str(right)
            if fn == "Fn::Not":
                return not self._condition(arg[0])
            if fn == "Fn::And":
                return all(self._condition(a) for a in arg)
            if fn == "Fn::Or":
                return any(self._condition(a) for a in arg)
        return self.value(expr)

    def ref(self, name: str) -> str:
        pseudo = {
            "AWS::Region": self.stack.region,
            "AWS::AccountId": self.stack.account,
            "AWS::Partition": self.stack.partition,
            "AWS::StackName": self.stack.name,
            "AWS::StackId": self.stack.stack_id,
            "AWS::URLSuffix": "amazonaws.com.cn" if self.stack.partition == "aws-cn" else "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name == "AWS::NoValue":
            return NO_VALUE  # type: ignore[return-value]
        if name in self.parameters:
            return self.parameters[name]
        found = self.stack.resources.get(name)
        if found is None:
            raise UnresolvableError(f"stack {self.stack.name} has no resource {name}")
        return found[1]  # the physical id is what Ref gives for every resource type the functions refer to

    def get_att(self, logical: str, attribute: str) -> str:
        found = self.stack.resources.get(logical)
        if found is None:
            raise UnresolvableError(f"stack {self.stack.name} has no resource {logical}")
        kind, physical = found
        if kind == "AWS::Lambda::Url" and attribute in ("FunctionUrl", "FunctionArn"):
            if attribute == "FunctionArn":
                return physical  # a function URL's physical id is its function's ARN
            if self.stack.function_url is None:
                raise UnresolvableError(f"{logical}.FunctionUrl: no Lambda client to ask")
            return self.stack.function_url(physical)
        if attribute != "Arn":
            raise UnresolvableError(f"{logical}.{attribute}: only Arn attributes are derived from the stack")
        s = self.stack
        arn = f"arn:{s.partition}:{{}}:{s.region}:{s.account}:"
        by_type = {
            "AWS::Lambda::Function": lambda: arn.format("lambda") + f"function:{physical}",
            "AWS::DynamoDB::Table": lambda: arn.format("dynamodb") + f"table/{physical}",
            "AWS::SQS::Queue": lambda: arn.format("sqs") + physical.rstrip("/").rsplit("/", 1)[-1],
            "AWS::SNS::Topic": lambda: physical,
            "AWS::StepFunctions::StateMachine": lambda: physical,
            "AWS::KMS::Key": lambda: arn.format("kms") + f"key/{physical}",
            "AWS::S3::Bucket": lambda: f"arn:{s.partition}:s3:::{physical}",
            "AWS::Logs::LogGroup": lambda: arn.format("logs") + f"log-group:{physical}:*",
            "AWS::IAM::Role": lambda: f"arn:{s.partition}:iam::{s.account}:role/{physical}",
            "AWS::SecretsManager::Secret": lambda: physical,
        }
        if kind not in by_type:
            raise UnresolvableError(f"{logical}.Arn: cannot derive the ARN of a {kind}")
        return by_type[kind]()

    def sub(self, arg: Any) -> str:
        text, local = (arg[0], {k: self.value(v) for k, v in arg[1].items()}) if isinstance(arg, list) else (arg, {})

        def one(match: re.Match[str]) -> str:
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in local:
                return str(local[expr])
            if "." in expr and not expr.startswith("AWS::"):
                logical, attribute = expr.split(".", 1)
                return self.get_att(logical, attribute)
            return self.ref(expr)

        return re.sub(r"\$\{([^}]+)\}", one, str(text))

    def import_value(self, arg: Any) -> str:
        if self._exports is None:
            self._exports = self.stack.exports()
        name = str(self.value(arg))
        if name not in self._exports:
            raise UnresolvableError(f"no export {name}")
        return self._exports[name]


def _if(r: Resolver, arg: Any) -> Any:
    name, yes, no = arg
    return r.value(yes if r.condition(name) else no)


def _join(r: Resolver, arg: Any) -> str:
    sep, items = arg
    return str(sep).join(str(x) for x in r.value(items))


def _select(r: Resolver, arg: Any) -> Any:
    index, items = arg
    return r.value(items)[int(r.value(index))]


def _find_in_map(r: Resolver, arg: Any) -> Any:
    name, first, second = (r.value(a) for a in arg)
    return r.template["Mappings"][name][str(first)][str(second)]


def _get_att(r: Resolver, arg: Any) -> str:
    logical, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
    return r.get_att(str(r.value(logical)), str(r.value(attribute)))


_FUNCTIONS: dict[str, Callable[[Resolver, Any], Any]] = {
    "Ref": lambda r, a: r.ref(str(a)),
    "Fn::GetAtt": _get_att,
    "Fn::Sub": lambda r, a: r.sub(a),
    "Fn::If": _if,
    "Fn::Join": _join,
    "Fn::Select": _select,
    "Fn::FindInMap": _find_in_map,
    "Fn::ImportValue": lambda r, a: r.import_value(a),
}


@dataclass
class EnvVars:
    """The env-vars document, and the variables that could not be resolved (left out of it, with the reason)."""

    document: dict[str, dict[str, str]]
    missing: list[str] = field(default_factory=list)


def env_vars(template: dict[str, Any], stack: DeployedStack) -> EnvVars:
    """`template`: the SAM template as read (Fn::ForEach expanded; deckwatch.local.template.load_yaml)."""
    r = Resolver(template, stack)
    missing: list[str] = []

    def resolve(owner: str, variables: dict[str, Any]) -> dict[str, str]:
        out = {}
        for name, node in variables.items():
            try:
                value = r.value(node)
            except UnresolvableError as exc:
                missing.append(f"{owner}.{name}: {exc}")
                continue
            if value is NO_VALUE:
                continue
            out[name] = str(value).lower() if isinstance(value, bool) else str(value)
        return out

    globals_ = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    document = {"Parameters": resolve("Globals", globals_)}
    for logical, res in template.get("Resources", {}).items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        own = (res.get("Properties", {}).get("Environment") or {}).get("Variables") or {}
        if own:
            document[logical] = resolve(logical, own)
    return EnvVars(document, missing)
