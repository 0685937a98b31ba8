"""What moto 5.2.5's CloudFormation needs to create workload/template.yaml, and nothing more.

moto (pinned in pyproject.toml) implements CloudFormation for a subset of resource types and, for those, a
subset of properties and attributes. Where it lacks something the workload uses, this module fills the gap *in
moto* for the duration of a `patched()` block - the template is never rewritten to suit moto. Each gap is
listed in GAPS with what moto does without the patch; tests/workload/test_workload_moto.py asserts the list is
still accurate (a moto upgrade that fixes one makes that test fail, so the patch can be dropped).

Resource types moto does not implement at all are skipped by moto itself (it warns "Tried to parse <type> but
it's not supported" and creates nothing). The test module classifies every one of them.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterator
from typing import Any
from unittest import mock

from moto.cloudformation import parsing
from moto.elbv2 import models as elbv2_models
from moto.kms import models as kms_models
from moto.rds import models as rds_models

# gap id -> what moto 5.2.5 does without the patch
GAPS = {
    "getatt-dotted-attribute": "The YAML loader splits the short form !GetAtt Database.Endpoint.Address on every "
    "dot and Fn::GetAtt then uses only 'Endpoint' ('does not support attribute type Endpoint').",
    "fn-cidr": "Fn::Cidr is not implemented: clean_json leaves the {'Fn::Cidr': ...} dict in place and the "
    "enclosing Fn::Select fails with KeyError (every subnet of the VPC).",
    "kms-key-tags": "AWS::KMS::Key Tags in CloudFormation's Key/Value shape raise KeyError 'TagKey' (moto's KMS "
    "tagging expects the KMS API's TagKey/TagValue).",
    "listener-forward-config": "AWS::ElasticLoadBalancingV2::Listener: a forward action with ForwardConfig (weighted "
    "target groups) and no TargetGroupArn raises KeyError 'TargetGroupArn'; moto's ELBv2 API itself supports it.",
    "rds-parameter-group-ref": "AWS::RDS::DBParameterGroup has no physical_resource_id, so !Ref returns the model "
    "object and AWS::RDS::DBInstance fails ('DBParameterGroup' object has no attribute 'startswith').",
    "rds-getatt": "AWS::RDS::DBInstance supports only Endpoint.Address/Endpoint.Port in Fn::GetAtt; DbiResourceId "
    "(task roles' rds-db:connect ARN) and MasterUserSecret.SecretArn (an output) fail the stack.",
    "skipped-type-references": "A resource of a type moto skips resolves to None: Fn::GetAtt on it (also inside "
    "Fn::Sub) fails the stack ('references undefined resource'), and an output's Fn::GetAtt on it raises "
    "AttributeError in validate_outputs. Patched: such references resolve to a placeholder string.",
    "ssm-parameter-update": "On UpdateStack moto re-resolves AWS::SSM::Parameter::Value<...> parameters but decides "
    "which resources to update by comparing the raw parameter values (the SSM names), so a changed SSM value never "
    "reaches a resource. CloudFormation updates the resources whose resolved values changed.",
    "elbv2-getatt": "AWS::ElasticLoadBalancingV2::LoadBalancer Fn::GetAtt CanonicalHostedZoneID / "
    "LoadBalancerFullName and TargetGroup TargetGroupFullName are not implemented (the Route 53 alias of the "
    "internal ALB needs the zone id).",
}

# Gaps that do not stop the stack and are left as moto has them (test_workload_moto.py shows each one).
UNPATCHED = {
    "rds-subnet-group-ref": "!Ref of an AWS::RDS::DBSubnetGroup returns moto's model object (DBInstance needs it "
    "that way), so the output DrillSubnetGroupName reads '<moto.rds.models.DBSubnetGroup object at ...>'.",
    "join-novalue": "Fn::Join keeps AWS::NoValue as the string 'None' (output DatabaseAlarms outside prod).",
    "ecs-service-properties": "AWS::ECS::Service: only Cluster, ServiceName, TaskDefinition and DesiredCount are "
    "used; LoadBalancers, NetworkConfiguration, CapacityProviderStrategy, DeploymentConfiguration and Tags are "
    "ignored (services are not registered with their target groups), and a missing DesiredCount creates 0 "
    "tasks where CloudFormation starts 1.",
}

PLACEHOLDER_PREFIX = "moto-skipped:"


class Skipped:
    """Stands in for a resource of a type moto does not implement, so references to it resolve."""

    def __init__(self, logical_id: str, resource_type: str) -> None:
        self.logical_resource_id = logical_id
        self.cf_resource_type = resource_type
        self.physical_resource_id = f"{PLACEHOLDER_PREFIX}{logical_id}"

    def get_cfn_attribute(self, attribute: str) -> str:
        return f"{PLACEHOLDER_PREFIX}{self.logical_resource_id}.{attribute}"

    def is_created(self) -> bool:
        return True


def _cidr(args: list[Any]) -> list[str]:
    block, count, bits = args
    network = ipaddress.ip_network(str(block))
    subnets = network.subnets(new_prefix=network.max_prefixlen - int(bits))
    return [str(next(subnets)) for _ in range(int(count))]


@contextlib.contextmanager
def patched() -> Iterator[None]:
    """Fill the gaps in GAPS for the duration of the block."""
    original_clean_json = parsing.clean_json
    original_getitem = parsing.ResourceMap.__getitem__
    original_validate_outputs = parsing.ResourceMap.validate_outputs
    original_key_create = kms_models.Key.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    original_convert = elbv2_models.ELBv2Backend.convert_and_validate_properties
    original_db_getatt = rds_models.DBInstance.get_cfn_attribute
    original_db_has = rds_models.DBInstance.has_cfn_attr.__func__  # type: ignore[attr-defined]
    original_lb_getatt = elbv2_models.FakeLoadBalancer.get_cfn_attribute
    original_diff = parsing.ResourceMap.build_resource_diff

    # fn-cidr
    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        if isinstance(resource_json, dict) and list(resource_json) == ["Fn::Cidr"]:
            return _cidr(original_clean_json(resource_json["Fn::Cidr"], resources_map))
        # getatt-dotted-attribute
        if isinstance(resource_json, dict) and list(resource_json) == ["Fn::GetAtt"]:
            path = resource_json["Fn::GetAtt"]
            if isinstance(path, list) and len(path) > 2:
                resource_json = {"Fn::GetAtt": [path[0], ".".join(path[1:])]}
        return original_clean_json(resource_json, resources_map)

    # skipped-type-references
    def getitem(self: Any, key: str) -> Any:
        found = original_getitem(self, key)
        if found is None and key in self._resource_json_map:
            spec = self._resource_json_map[key]
            condition = spec.get("Condition")
            skipped = parsing.resource_class_from_type(spec.get("Type", "")) is None
            if skipped and not (condition and not self.lazy_condition_map[condition]):
                return Skipped(key, spec["Type"])
        return found

    def validate_outputs(self: Any) -> None:
        """moto's check of the outputs' Fn::GetAtt, minus skipped types, with dotted attributes rejoined."""
        saved = self._template.get("Outputs")
        if saved:
            checked = {}
            for k, v in saved.items():
                value = v.get("Value")
                if isinstance(value, dict) and "Fn::GetAtt" in value:
                    logical, *attribute = value["Fn::GetAtt"]
                    spec = self._resource_json_map.get(logical, {})
                    if parsing.resource_class_from_type(spec.get("Type", "")) is None:
                        continue
                    v = {**v, "Value": {"Fn::GetAtt": [logical, ".".join(attribute)]}}
                checked[k] = v
            self._template["Outputs"] = checked
        try:
            original_validate_outputs(self)
        finally:
            if saved:
                self._template["Outputs"] = saved

    # ssm-parameter-update
    def build_resource_diff(self: Any, other_template: dict[str, Any], parameters: Any = None) -> dict[str, Any]:
        diff = original_diff(self, other_template, parameters)
        changed = []
        for name, slot in (other_template.get("Parameters") or {}).items():
            kind = slot.get("Type", "")
            if not kind.startswith("AWS::SSM::Parameter::"):
                continue
            path = (parameters or {}).get(name) or self.input_parameters.get(name) or slot.get("Default")
            if path and self.resolved_parameters.get(name) != self.parse_ssm_parameter(path, kind):
                changed.append(name)
        for logical, spec in other_template["Resources"].items():
            known = logical in self._resource_json_map and logical not in diff["Modify"]
            if known and set(parsing.get_references_from_template(spec)) & set(changed):
                diff["Modify"].append(logical)
        return diff

    # kms-key-tags
    def key_create(cls: Any, resource_name: str, cloudformation_json: Any, *args: Any, **kwargs: Any) -> Any:
        props = cloudformation_json.get("Properties", {})
        if props.get("Tags"):
            props = {
                **props,
                "Tags": [{"TagKey": t["Key"], "TagValue": t["Value"]} if "Key" in t else t for t in props["Tags"]],
            }
            cloudformation_json = {**cloudformation_json, "Properties": props}
        return original_key_create(cls, resource_name, cloudformation_json, *args, **kwargs)

    # listener-forward-config
    def convert(self: Any, properties: dict[str, Any]) -> list[dict[str, Any]]:
        actions = []
        for action in properties["DefaultActions"]:
            if action.get("Type") == "forward" and "TargetGroupArn" not in action:
                actions.append(action)  # the ELBv2 API model handles ForwardConfig
            else:
                actions += original_convert(self, {"DefaultActions": [action]})
        return actions

    # rds-getatt
    def db_getatt(self: Any, attribute: str) -> Any:
        if attribute == "DbiResourceId":
            return self.dbi_resource_id
        if attribute == "MasterUserSecret.SecretArn":
            return f"arn:aws:secretsmanager:{self.region}:{self.account_id}:secret:rds!db-{self.dbi_resource_id}"
        return original_db_getatt(self, attribute)

    def db_has(cls: Any, attribute: str) -> bool:
        return attribute in ("DbiResourceId", "MasterUserSecret.SecretArn") or original_db_has(cls, attribute)

    # elbv2-getatt
    def lb_getatt(self: Any, attribute: str) -> Any:
        if attribute == "CanonicalHostedZoneID":
            return "Z35SXDOTRQ7X7K"  # us-east-1's ALB zone
        if attribute == "LoadBalancerFullName":
            return self.arn.split(":loadbalancer/", 1)[1]
        return original_lb_getatt(self, attribute)

    def tg_getatt(self: Any, attribute: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute == "TargetGroupFullName":
            return self.arn.split(":", 5)[5]
        if attribute == "TargetGroupName":
            return self.name
        raise UnformattedGetAttTemplateException()

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(parsing, "clean_json", clean_json))
        stack.enter_context(mock.patch.object(parsing.ResourceMap, "__getitem__", getitem))
        stack.enter_context(mock.patch.object(parsing.ResourceMap, "validate_outputs", validate_outputs))
        stack.enter_context(mock.patch.object(parsing.ResourceMap, "build_resource_diff", build_resource_diff))
        stack.enter_context(
            mock.patch.object(kms_models.Key, "create_from_cloudformation_json", classmethod(key_create))
        )
        stack.enter_context(mock.patch.object(elbv2_models.ELBv2Backend, "convert_and_validate_properties", convert))
        stack.enter_context(
            mock.patch.object(
                rds_models.DBParameterGroup, "physical_resource_id", property(lambda self: self.name), create=True
            )
        )
        stack.enter_context(mock.patch.object(rds_models.DBInstance, "get_cfn_attribute", db_getatt))
        stack.enter_context(mock.patch.object(rds_models.DBInstance, "has_cfn_attr", classmethod(db_has)))
        stack.enter_context(mock.patch.object(elbv2_models.FakeLoadBalancer, "get_cfn_attribute", lb_getatt))
        stack.enter_context(
            mock.patch.object(elbv2_models.FakeTargetGroup, "get_cfn_attribute", tg_getatt, create=True)
        )
        yield
