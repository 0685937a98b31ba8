"""Minimal CloudFormation YAML loading and evaluation for workload tests.

Loads a template with the short-form intrinsic tags (!Ref, !Sub, !GetAtt, !If,
...) turned into their long JSON form, then evaluates a resource's properties
for one set of parameter values: conditions are resolved, Fn::If picks its
branch, Fn::Sub / Fn::FindInMap / Fn::Join / Fn::Select are computed, and Refs
to resources whose Ref *is* their name (ECS cluster, RDS instance, ...) resolve
to that name. Anything that only exists at deploy time (ARNs, ids, GetAtt of
generated values) becomes an Unresolved placeholder, which compares unequal to
every real name.

Deliberately independent of the deckwatch package and of cfn-lint's internals; the YAML tags are read by the
SAM translator's own constructor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from samtranslator.yaml_helper import intrinsics_multi_constructor

# --------------------------------------------------------------------- loading


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation short-form intrinsics, with the SAM translator's own constructor
    (samtranslator.yaml_helper, as deckwatch.local.template uses it): any `!Tag` becomes its long form."""


CfnLoader.add_multi_constructor("!", intrinsics_multi_constructor)


def load_template(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=CfnLoader)


# ------------------------------------------------------------------ evaluation


@dataclass(frozen=True)
class Unresolved:
    """A value only CloudFormation knows at deploy time (an ARN, an id...)."""

    what: str

    def __str__(self) -> str:  # used when substituted into strings
        return f"<{self.what}>"


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()

# Resource types whose Ref returns the physical name, and the property it is
# taken from. Everything else Refs to an ARN or id we cannot know offline.
REF_IS_NAME = {
    "AWS::ECS::Cluster": "ClusterName",
    "AWS::RDS::DBInstance": "DBInstanceIdentifier",
    "AWS::RDS::DBSubnetGroup": "DBSubnetGroupName",
    "AWS::Backup::BackupVault": "BackupVaultName",
    "AWS::Backup::RestoreTestingPlan": "RestoreTestingPlanName",
    "AWS::CodePipeline::Pipeline": "Name",
    "AWS::CodeBuild::Project": "Name",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::ECR::Repository": "RepositoryName",
    "AWS::CloudTrail::Trail": "TrailName",
}
# GetAtt attributes that are the resource's own name.
GETATT_IS_NAME = {
    ("AWS::ECS::Service", "Name"): "ServiceName",
    ("AWS::ElasticLoadBalancingV2::LoadBalancer", "LoadBalancerName"): "Name",
    ("AWS::ElasticLoadBalancingV2::TargetGroup", "TargetGroupName"): "Name",
}


class Stack:
    """A template evaluated for one set of parameter values.

    Parameters of type AWS::SSM::Parameter::Value<...> are given as CloudFormation is given them (the SSM
    parameter's name) and resolved through `ssm` (name -> value), as CloudFormation does at create/update time;
    a name missing from `ssm` stays Unresolved.
    """

    def __init__(self, template: dict, parameters: dict[str, str], ssm: dict[str, str] | None = None):
        self.template = template
        self.params: dict[str, Any] = {
            name: spec["Default"] for name, spec in (template.get("Parameters") or {}).items() if "Default" in spec
        }
        self.params.update(parameters)
        for name, spec in (template.get("Parameters") or {}).items():
            if str(spec.get("Type", "")).startswith("AWS::SSM::Parameter::Value") and name in self.params:
                path = self.params[name]
                self.params[name] = (ssm or {}).get(path, Unresolved(f"SSM {path}"))
        self.params.setdefault("AWS::Region", "us-east-1")
        self.params.setdefault("AWS::Partition", "aws")
        self.params.setdefault("AWS::AccountId", "123456789012")
        self.params.setdefault("AWS::StackName", f"shop-{parameters.get('Environment', 'x')}")
        self._conditions: dict[str, bool] = {}

    # conditions ---------------------------------------------------------------
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            expr = self.template["Conditions"][name]
            self._conditions[name] = bool(self._cond(expr))
        return self._conditions[name]

    def _cond(self, expr: Any) -> Any:
        if isinstance(expr, dict) and len(expr) == 1:
            ((fn, arg),) = expr.items()
            if fn == "Condition":
                return self.condition(arg)
            if fn == "Fn::Equals":
                a, b = (self.evaluate(x) for x in arg)
                return str(a) == str(b)
            if fn == "Fn::Not":
                return not self._cond(arg[0])
            if fn == "Fn::And":
                return all(self._cond(x) for x in arg)
            if fn == "Fn::Or":
                return any(self._cond(x) for x in arg)
        return self.evaluate(expr)

    # resources ----------------------------------------------------------------
    def resources(self) -> dict[str, dict]:
        """Resources that exist for these parameters (Condition honoured)."""
        out = {}
        for logical, res in self.template["Resources"].items():
            if "Condition" in res and not self.condition(res["Condition"]):
                continue
            out[logical] = res
        return out

    def props(self, logical: str) -> dict:
        res = self.template["Resources"][logical]
        value = self.evaluate(res.get("Properties") or {})
        return value

    def of_type(self, rtype: str) -> dict[str, dict]:
        return {logical: self.props(logical) for logical, res in self.resources().items() if res["Type"] == rtype}

    # intrinsic evaluation -----------------------------------------------------
    def evaluate(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.evaluate(x) for x in node]
            return [x for x in items if x is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            handler = self._FUNCTIONS.get(key)
            if handler is not None:
                return handler(self, arg)
        out = {}
        for key, value in node.items():
            value = self.evaluate(value)
            if value is not NO_VALUE:
                out[key] = value
        return out

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.params:
            return self.params[name]
        if name in (self.template.get("Parameters") or {}):
            return Unresolved(f"Parameter {name}")  # deploy-time input, no default
        res = self.template["Resources"].get(name)
        if res is None:
            raise KeyError(f"Ref to unknown parameter or resource {name!r}")
        if "Condition" in res and not self.condition(res["Condition"]):
            raise KeyError(f"Ref to resource {name!r} that does not exist for {self.params}")
        prop = REF_IS_NAME.get(res["Type"])
        if prop and prop in (res.get("Properties") or {}):
            return self.evaluate(res["Properties"][prop])
        return Unresolved(f"Ref {name}")

    def _getatt(self, arg: Any) -> Any:
        logical, attr = (self.evaluate(x) for x in arg)
        res = self.template["Resources"].get(logical)
        if res is None:
            raise KeyError(f"GetAtt of unknown resource {logical!r}")
        prop = GETATT_IS_NAME.get((res["Type"], attr))
        if prop and prop in (res.get("Properties") or {}):
            return self.evaluate(res["Properties"][prop])
        return Unresolved(f"GetAtt {logical}.{attr}")

    def _sub(self, arg: Any) -> Any:
        if isinstance(arg, list):
            text, local = arg[0], {k: self.evaluate(v) for k, v in arg[1].items()}
        else:
            text, local = arg, {}

        def repl(match: re.Match) -> str:
            expr = match.group(1)
            if expr.startswith("!"):  # ${!Literal}
                return "${" + expr[1:] + "}"
            if expr in local:
                return str(local[expr])
            if "." in expr and not expr.startswith("AWS::"):
                return str(self._getatt(expr.split(".", 1)))
            return str(self._ref(expr))

        # "${!Name}" is CloudFormation's escape for a literal "${Name}"; a lone
        # "$" not followed by "{" is just a dollar sign.
        return re.sub(r"\$\{([^}]+)\}", repl, text)

    def _if(self, arg: Any) -> Any:
        cond, yes, no = arg
        return self.evaluate(yes if self.condition(cond) else no)

    def _find_in_map(self, arg: Any) -> Any:
        m, k1, k2 = (self.evaluate(x) for x in arg)
        return self.template["Mappings"][m][str(k1)][str(k2)]

    def _join(self, arg: Any) -> Any:
        sep, items = arg
        return str(sep).join(str(x) for x in self.evaluate(items))

    def _select(self, arg: Any) -> Any:
        idx, items = arg
        items = self.evaluate(items)
        if isinstance(items, list):
            return items[int(self.evaluate(idx))]
        return Unresolved("Select")

    _FUNCTIONS: dict = {}


Stack._FUNCTIONS = {
    "Ref": Stack._ref,
    "Fn::GetAtt": Stack._getatt,
    "Fn::Sub": Stack._sub,
    "Fn::If": Stack._if,
    "Fn::FindInMap": Stack._find_in_map,
    "Fn::Join": Stack._join,
    "Fn::Select": Stack._select,
    "Fn::GetAZs": lambda self, arg: [Unresolved(f"az{i}") for i in range(6)],
    "Fn::Cidr": lambda self, arg: [Unresolved(f"cidr{i}") for i in range(256)],
    "Fn::ImportValue": lambda self, arg: Unresolved("ImportValue"),
    "Fn::Base64": lambda self, arg: Unresolved("Base64"),
    "Fn::Split": lambda self, arg: (
        text.split(arg[0]) if isinstance(text := self.evaluate(arg[1]), str) else Unresolved("Split")
    ),
    "Condition": lambda self, arg: self.condition(arg),
}


def tag_value(tags: Any, key: str) -> Any:
    """Value of tag `key` in either tag shape CloudFormation uses (list or map)."""
    if isinstance(tags, dict):
        return tags.get(key)
    for tag in tags or []:
        if isinstance(tag, dict) and tag.get("Key") == key:
            return tag.get("Value")
    return None
