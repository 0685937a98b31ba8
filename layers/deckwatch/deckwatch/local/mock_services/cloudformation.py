"""What moto 5.2.5's CloudFormation needs to create workload/template.yaml (the stack Deckwatch manages), and
template.yaml's own gaps, filled in moto: never by rewriting a template to suit moto.

Two kinds of change, both installed once per process like every mock service (`install()`, idempotent) and
switched off inside `moto_as_is()` (the tests that show each gap is still real in moto):

1. Gaps in what moto implements for a type it knows (a property, an attribute, an intrinsic). Each is listed in
   GAPS with what moto does without the patch; tests/workload/test_workload_moto.py shows every one on a
   three-line template, so a moto upgrade that fixes one fails that test and the patch can go.
2. Types moto's CloudFormation does not implement at all (it warns "Tried to parse <type> but it's not supported"
   and creates nothing, while the stack still reports CREATE_COMPLETE): models for the ones the workload's
   behaviour depends on (MODELS), each delegating to moto's own backend, so that the API sees them as AWS does.
   Their create, update and delete follow CloudFormation's documented behaviour for the properties the workload
   uses:

   - AWS::CloudWatch::Alarm (metric alarms with a statistic or an extended statistic, and metric-math alarms with
     `Metrics`): PutMetricAlarm; an update replaces the configuration and keeps the alarm's state (CloudWatch's
     PutMetricAlarm on an existing alarm); Ref = the alarm's name, GetAtt Arn.
   - AWS::CodePipeline::Pipeline: CreatePipeline with the declaration in the API's shape (Fn::If inside Stages
     resolved; action `Configuration` keys kept as written, as the API does); update = UpdatePipeline; Ref = name.
     Nothing runs by itself: `deckwatch.local.pipelines` runs executions in simulated time.
   - AWS::Backup::BackupVault, AWS::Backup::BackupPlan (BackupPlanRule -> Rules, TargetBackupVault ->
     TargetBackupVaultName): Ref = the vault's name / the plan's id, GetAtt BackupVaultArn / BackupPlanArn.
   - AWS::Budgets::Budget: CreateBudget with its notifications and subscribers; Ref = the budget's name.
   - AWS::SecretsManager::Secret (SecretString or GenerateSecretString, KmsKeyId, Tags): Ref = ARN. The workload's
     drill credential is its contract with Deckwatch's drill validator (tag and key), so it comes from the stack.
   - AWS::Lambda::Url (template.yaml's ApprovalLinksFunctionUrl): moto's function URL configuration of the target
     function; Ref = the function's ARN, GetAtt FunctionUrl its URL (with the trailing slash AWS gives it, which
     moto's own URLs lack).
   - AWS::ECS::Service, whose moto model uses only Cluster, ServiceName, TaskDefinition and DesiredCount:
     LoadBalancers (so that the service is registered with its target groups, from which the ELBv2 mock
     synthesises target health), NetworkConfiguration, launch type (FARGATE when a capacity provider strategy is
     given) and Tags are honoured; a service without DesiredCount starts with 1 task, as CloudFormation does, and
     an update leaves the count alone when the template has none ("if a desired count is not specified, it is
     omitted from the operation"). An update calls UpdateService with the template's TaskDefinition, as
     CloudFormation does (it sends every property, not only the changed ones), and updates the tags.

Types the workload declares that stay skipped, and why (the placeholder of `skipped-type-references` stands in for
them when something refers to them): SKIPPED.

The patches apply process-wide; `moto_as_is()` turns all of them off for a block.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import secrets
import string
import threading
from collections.abc import Callable, Iterator
from typing import Any

# gap id -> what moto 5.2.5 does without the patch
GAPS = {
    "getatt-dotted-attribute": "The YAML loader splits the short form !GetAtt Database.Endpoint.Address on every "
    "dot and Fn::GetAtt then uses only 'Endpoint' ('does not support attribute type Endpoint').",
    "fn-cidr": "Fn::Cidr is not implemented: clean_json leaves the {'Fn::Cidr': ...} dict in place and the "
    "enclosing Fn::Select fails with KeyError (every subnet of the VPC).",
    "kms-key-tags": "AWS::KMS::Key Tags in CloudFormation's Key/Value shape raise KeyError 'TagKey' (moto's KMS "
    "tagging expects the KMS API's TagKey/TagValue).",
    "kms-key-policy": "AWS::KMS::Key KeyPolicy is kept as the template's object, so GetKeyPolicy answers an object "
    "where KMS answers the policy document as a JSON string.",
    "listener-forward-config": "AWS::ElasticLoadBalancingV2::Listener: a forward action with ForwardConfig (weighted "
    "target groups) and no TargetGroupArn raises KeyError 'TargetGroupArn'; moto's ELBv2 API itself supports it.",
    "rds-parameter-group-ref": "AWS::RDS::DBParameterGroup has no physical_resource_id, so !Ref returns the model "
    "object and AWS::RDS::DBInstance fails ('DBParameterGroup' object has no attribute 'startswith').",
    "rds-getatt": "AWS::RDS::DBInstance supports only Endpoint.Address/Endpoint.Port in Fn::GetAtt; DbiResourceId "
    "(task roles' rds-db:connect ARN) and MasterUserSecret.SecretArn (an output) fail the stack.",
    "skipped-type-references": "A resource of a type moto skips resolves to None: Fn::GetAtt on it (also inside "
    "Fn::Sub) fails the stack ('references undefined resource'), and an output's Fn::GetAtt on it raises "
    "AttributeError in validate_outputs. Patched: such references resolve to a placeholder string.",
    "parameter-update": "On UpdateStack moto marks a resource for update when a parameter it refers to with Ref "
    "changes, comparing raw parameter values: a changed SSM value behind an AWS::SSM::Parameter::Value<...> "
    "parameter (same name) never reaches a resource, nor does a parameter used in Fn::Sub or in a condition. "
    "CloudFormation updates every resource whose resolved properties change.",
    "novalue-in-list": "!Ref AWS::NoValue inside a list stays as None (an IAM statement's Resource list gets a "
    "null entry, Fn::Join writes 'None'); CloudFormation removes the element.",
    "elbv2-getatt": "AWS::ElasticLoadBalancingV2::LoadBalancer Fn::GetAtt CanonicalHostedZoneID / "
    "LoadBalancerFullName and TargetGroup TargetGroupFullName are not implemented (the Route 53 alias of the "
    "internal ALB needs the zone id).",
    "ecs-service-properties": "AWS::ECS::Service: only Cluster, ServiceName, TaskDefinition and DesiredCount are "
    "used; LoadBalancers, NetworkConfiguration, CapacityProviderStrategy and Tags are ignored (services are not "
    "registered with their target groups), and a missing DesiredCount creates 0 tasks where CloudFormation starts "
    "1.",
    "depends-on-lazy": "moto creates a resource the first time another one refers to it (Ref, GetAtt), out of the "
    "DependsOn order: an ECS service referred to by an alarm is created before the task definition it DependsOn "
    "(and names only by family, from an SSM parameter), and fails. Patched: a resource's DependsOn are created "
    "first, however it is reached.",
    "update-without-model": "On UpdateStack a modified resource whose model has no update_from_cloudformation_json "
    "(AWS::ElasticLoadBalancingV2::TargetGroup, security group rules...) becomes None in the stack's resource map: "
    "every later Ref to it resolves to nothing (a listener updated next loses its target groups). Patched: the "
    "resource stays; a target group applies its health-check properties and tags as CloudFormation does "
    "(ModifyTargetGroup, AddTags); other such types keep their previous properties.",
    "task-definition-update": "AWS::ECS::TaskDefinition: an update registers the new revision with the template's "
    "ContainerDefinitions as written (PascalCase keys, where create converts them), so its containers have no image; "
    "CloudFormation registers a proper new revision (a replacement).",
    "task-definition-properties": "AWS::ECS::TaskDefinition: only Family, ContainerDefinitions, Volumes and Memory "
    "are used; Cpu, NetworkMode, RequiresCompatibilities, TaskRoleArn, ExecutionRoleArn, RuntimePlatform and Tags "
    "are dropped (a cutover copies the revision without them; cost savings cannot price the tasks).",
    "role-update": "AWS::IAM::Role: an update changes the description only; the template's inline Policies are not "
    "applied, so a role keeps its old permissions after UpdateStack. Patched: inline policies put and removed as "
    "the template says (ManagedPolicyArns stay as moto's create leaves them: not attached).",
    "skipped-required-types": "AWS::CloudWatch::Alarm, AWS::CodePipeline::Pipeline, AWS::Backup::BackupVault, "
    "AWS::Backup::BackupPlan, AWS::Budgets::Budget and AWS::SecretsManager::Secret have no CloudFormation model: "
    "moto warns, creates nothing, and the stack still reports CREATE_COMPLETE.",
}

# Gaps that do not stop the stack and are left as moto has them (test_workload_moto.py shows each one).
UNPATCHED = {
    "rds-subnet-group-ref": "!Ref of an AWS::RDS::DBSubnetGroup returns moto's model object (DBInstance needs it "
    "that way), so the output DrillSubnetGroupName reads '<moto.rds.models.DBSubnetGroup object at ...>'.",
}

# Types of workload/template.yaml left skipped (moto has no model and none is added here), and why that changes
# nothing Deckwatch's local runs exercise.
SKIPPED = {
    "AWS::ApplicationAutoScaling::ScalableTarget": "scaling is AWS's, not Deckwatch's: Deckwatch sets desired "
    "counts through the ECS API, which moto has; the bounds are checked statically (test_workload_stack.py)",
    "AWS::ApplicationAutoScaling::ScalingPolicy": "as above",
    "AWS::Backup::BackupSelection": "selection of the plan; the drills start from recovery points, not selections",
    "AWS::Backup::RestoreTestingPlan": "AWS Backup's own restore testing, complementary to Deckwatch's drills",
    "AWS::Backup::RestoreTestingSelection": "as above",
    "AWS::CE::AnomalyMonitor": "cost anomalies reach Deckwatch as SNS and EventBridge events; local runs inject them",
    "AWS::CE::AnomalySubscription": "as above",
    "AWS::CloudFront::Distribution": "edge only: Deckwatch shifts ALB listener weights behind it",
    "AWS::CloudTrail::Trail": "audit trail, a security service",
    "AWS::CodeBuild::Project": "the build runs Docker, which no local run executes; deckwatch.local.pipelines "
    "plays the build action's outcome",
    "AWS::Config::ConfigurationRecorder": "security service",
    "AWS::Config::DeliveryChannel": "security service",
    "AWS::EC2::SecurityGroupEgress": "egress rules between groups; the groups and ingress rules are created",
    "AWS::ElastiCache::ReplicationGroup": "the cache is the application's; Deckwatch never acts on it",
    "AWS::ElastiCache::SubnetGroup": "as above",
    "AWS::GuardDuty::Detector": "security service",
    "AWS::S3::BucketPolicy": "TLS-only / log-delivery bucket policies; the buckets are created",
    "AWS::SQS::QueuePolicy": "TLS-only queue policy; the queues are created",
    "AWS::SecurityHub::Hub": "security service",
    "AWS::WAFv2::IPSet": "WAF, a security service",
    "AWS::WAFv2::LoggingConfiguration": "WAF, a security service",
    "AWS::WAFv2::WebACL": "WAF, a security service",
    "AWS::WAFv2::WebACLAssociation": "WAF, a security service",
}

PLACEHOLDER_PREFIX = "moto-skipped:"
_installed = False
_lock = threading.Lock()
_off = 0  # > 0 inside moto_as_is()


def active() -> bool:
    return _off == 0


@contextlib.contextmanager
def moto_as_is() -> Iterator[None]:
    """moto's CloudFormation exactly as it is, for the block (tests that show each gap is real)."""
    global _off  # noqa: PLW0603 - moto's classes are process-wide, so is this switch
    install()
    _off += 1
    try:
        yield
    finally:
        _off -= 1


@contextlib.contextmanager
def patched() -> Iterator[None]:
    """The patches, for code that uses moto without an embedded AWS (they are process-wide once installed)."""
    install()
    yield


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


def _tags(tags: Any) -> dict[str, str]:
    """CloudFormation's tags ([{Key, Value}] or a map) as a map."""
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    return {str(t["Key"]): str(t["Value"]) for t in tags or []}


def _no_value(value: Any, resources_map: Any) -> bool:
    """An element CloudFormation drops from a list: !Ref AWS::NoValue, also as the branch an Fn::If picks."""
    if isinstance(value, dict) and value == {"Ref": "AWS::NoValue"}:
        return True
    if isinstance(value, dict) and list(value) == ["Fn::If"]:
        condition, yes, no = value["Fn::If"]
        return _no_value(yes if resources_map.lazy_condition_map[condition] else no, resources_map)
    return False


def _references(node: Any, conditions: dict[str, Any], seen: frozenset[str] = frozenset()) -> set[str]:
    """Parameters and resources a template fragment refers to: Ref, ${Name} in Fn::Sub, and through the conditions
    of its Fn::If and Condition."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= _references(item, conditions, seen)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                found |= set(re.findall(r"\$\{([^}!.]+)\}", str(text)))
                found |= _references(value[1] if isinstance(value, list) else None, conditions, seen)
            elif key in ("Fn::If", "Condition"):
                name = value[0] if key == "Fn::If" else value
                if isinstance(name, str) and name in conditions and name not in seen:
                    found |= _references(conditions[name], conditions, seen | {name})
                found |= _references(value[1:] if key == "Fn::If" else None, conditions, seen)
            else:
                found |= _references(value, conditions, seen)
    return found


def _unwrap(value: Any) -> str:
    """A Ref's value: moto returns some models themselves instead of their physical id."""
    return str(getattr(value, "physical_resource_id", None) or getattr(value, "name", None) or value)


# ------------------------------------------------------------------ models of skipped types ----------------------
class _Model:
    """What moto's CloudFormation asks of a model (moto's CloudFormationModel protocol). Not a subclass of it:
    moto finds its models among that class's subclasses once per process, and these join only while `active()`
    (see `install`)."""

    TYPE = ""
    ATTRIBUTES: tuple[str, ...] = ()

    physical_resource_id: str

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name in self.ATTRIBUTES:
            return self.attribute(attribute_name)
        raise UnformattedGetAttTemplateException()

    def attribute(self, name: str) -> Any:
        raise NotImplementedError(name)

    def is_created(self) -> bool:
        return True

    def delete(self, account_id: str, region_name: str) -> None:
        return None


class Alarm(_Model):
    TYPE = "AWS::CloudWatch::Alarm"
    ATTRIBUTES = ("Arn",)

    def __init__(self, name: str, arn: str) -> None:
        self.name = self.physical_resource_id = name
        self.arn = arn

    def attribute(self, name: str) -> Any:
        return self.arn

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kw: Any
    ) -> Alarm:
        props = cloudformation_json.get("Properties", {})
        name = str(props.get("AlarmName") or resource_name)
        return cls._put(name, props, account_id, region_name, keep_state=None)

    @classmethod
    def _put(cls, name: str, props: dict[str, Any], account_id: str, region_name: str, keep_state: Any) -> Alarm:
        from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat, cloudwatch_backends

        backend = cloudwatch_backends[account_id][region_name]
        queries = None
        if props.get("Metrics"):
            queries = []
            for m in props["Metrics"]:
                stat = m.get("MetricStat")
                metric_stat = None
                if stat:
                    metric = stat.get("Metric", {})
                    metric_stat = MetricStat(
                        metric=Metric(
                            metric_name=metric.get("MetricName"),
                            namespace=metric.get("Namespace"),
                            dimensions=[Dimension(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])],
                        ),
                        period=str(stat.get("Period")),
                        stat=stat.get("Stat"),
                        unit=stat.get("Unit"),
                    )
                queries.append(
                    MetricDataQuery(
                        query_id=m.get("Id"),
                        label=m.get("Label"),
                        period=m.get("Period"),
                        return_data=str(m.get("ReturnData", True)).lower(),
                        expression=m.get("Expression"),
                        metric_stat=metric_stat,
                    )
                )
        put: Any = backend.put_metric_alarm  # moto's signature says str where CloudFormation may omit a property
        alarm = put(
            name=name,
            namespace=props.get("Namespace"),
            metric_name=props.get("MetricName"),
            comparison_operator=props.get("ComparisonOperator"),
            evaluation_periods=int(props.get("EvaluationPeriods", 1)),
            period=int(props["Period"]) if props.get("Period") is not None else None,
            threshold=float(props["Threshold"]) if props.get("Threshold") is not None else None,
            statistic=props.get("Statistic"),
            description=props.get("AlarmDescription"),
            dimensions=[{"Name": d["Name"], "Value": d["Value"]} for d in props.get("Dimensions", [])],
            alarm_actions=[str(a) for a in props.get("AlarmActions", [])],
            metric_data_queries=queries,
            datapoints_to_alarm=int(props["DatapointsToAlarm"]) if props.get("DatapointsToAlarm") else None,
            extended_statistic=props.get("ExtendedStatistic"),
            ok_actions=[str(a) for a in props.get("OKActions", [])],
            insufficient_data_actions=[str(a) for a in props.get("InsufficientDataActions", [])],
            unit=props.get("Unit"),
            actions_enabled=str(props.get("ActionsEnabled", True)).lower() != "false",
            treat_missing_data=props.get("TreatMissingData"),
            evaluate_low_sample_count_percentile=props.get("EvaluateLowSampleCountPercentile"),
            threshold_metric_id=props.get("ThresholdMetricId"),
            tags=[{"Key": k, "Value": v} for k, v in _tags(props.get("Tags")).items()],
        )
        if keep_state is not None:  # PutMetricAlarm on an existing alarm leaves its state as it was
            alarm.state_value, alarm.state_reason, alarm.state_reason_data, alarm.state_updated_timestamp = keep_state
            alarm.history = getattr(keep_state, "history", alarm.history)
        return cls(name, alarm.alarm_arn)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Alarm,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Alarm:
        from moto.cloudwatch.models import cloudwatch_backends

        backend = cloudwatch_backends[account_id][region_name]
        props = cloudformation_json.get("Properties", {})
        name = str(props.get("AlarmName") or original_resource.name)
        old = backend.alarms.get(original_resource.name)
        if name != original_resource.name:  # a new name replaces the alarm
            backend.delete_alarms([original_resource.name])
            old = None
        state = (old.state_value, old.state_reason, old.state_reason_data, old.state_updated_timestamp) if old else None
        history = list(old.history) if old else []
        made = cls._put(name, props, account_id, region_name, keep_state=state)
        if old is not None:
            backend.alarms[name].history = history
        return made

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.cloudwatch.models import cloudwatch_backends

        cloudwatch_backends[account_id][region_name].delete_alarms([self.name])


def _api_shape(value: Any, keep: bool = False) -> Any:
    """A CloudFormation pipeline declaration in CodePipeline's API shape: keys start lower case, except inside an
    action's Configuration (kept as written)."""
    if isinstance(value, list):
        return [_api_shape(v) for v in value]
    if isinstance(value, dict):
        if keep:
            return {k: str(v) if not isinstance(v, str) else v for k, v in value.items()}
        return {k[:1].lower() + k[1:]: _api_shape(v, keep=(k == "Configuration")) for k, v in value.items()}
    return value


class Pipeline(_Model):
    TYPE = "AWS::CodePipeline::Pipeline"
    ATTRIBUTES = ("Version",)

    def __init__(self, name: str, version: int) -> None:
        self.name = self.physical_resource_id = name
        self.version = version

    def attribute(self, name: str) -> Any:
        return str(self.version)

    @staticmethod
    def _declaration(props: dict[str, Any], name: str) -> dict[str, Any]:
        wanted = ("RoleArn", "ArtifactStore", "ArtifactStores", "Stages", "PipelineType", "ExecutionMode", "Variables")
        doc = _api_shape({k: props[k] for k in wanted if k in props})
        doc["name"] = name
        return dict(doc)

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kw: Any
    ) -> Pipeline:
        from moto.codepipeline.models import codepipeline_backends

        props = cloudformation_json.get("Properties", {})
        name = str(props.get("Name") or resource_name)
        tags = [{"key": k, "value": v} for k, v in _tags(props.get("Tags")).items()]
        pipeline, _ = codepipeline_backends[account_id][region_name].create_pipeline(
            cls._declaration(props, name), tags
        )
        return cls(name, int(pipeline["version"]))

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Pipeline,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Pipeline:
        from moto.codepipeline.models import codepipeline_backends

        backend = codepipeline_backends[account_id][region_name]
        props = cloudformation_json.get("Properties", {})
        name = str(props.get("Name") or original_resource.name)
        if name != original_resource.name:
            backend.delete_pipeline(original_resource.name)
            return cls.create_from_cloudformation_json(name, cloudformation_json, account_id, region_name)
        pipeline = backend.update_pipeline(cls._declaration(props, name))
        arn = backend.pipelines[name]._arn
        backend.tag_resource(arn, [{"key": k, "value": v} for k, v in _tags(props.get("Tags")).items()])
        return cls(name, int(pipeline["version"]))

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.codepipeline.models import codepipeline_backends

        codepipeline_backends[account_id][region_name].delete_pipeline(self.name)


class BackupVault(_Model):
    TYPE = "AWS::Backup::BackupVault"
    ATTRIBUTES = ("BackupVaultArn", "BackupVaultName")

    def __init__(self, name: str, arn: str) -> None:
        self.name = self.physical_resource_id = name
        self.arn = arn

    def attribute(self, name: str) -> Any:
        return self.arn if name == "BackupVaultArn" else self.name

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kw: Any
    ) -> BackupVault:
        from moto.backup.models import backup_backends

        props = cloudformation_json.get("Properties", {})
        name = str(props.get("BackupVaultName") or resource_name)
        backend = backup_backends[account_id][region_name]
        vault = backend.create_backup_vault(
            backup_vault_name=name,
            backup_vault_tags=_tags(props.get("BackupVaultTags")),
            encryption_key_arn=props.get("EncryptionKeyArn"),
            creator_request_id=None,  # type: ignore[arg-type]
        )
        lock = props.get("LockConfiguration")
        if lock:
            backend.put_backup_vault_lock_configuration(
                name,
                int(lock["MinRetentionDays"]) if lock.get("MinRetentionDays") else None,
                int(lock["MaxRetentionDays"]) if lock.get("MaxRetentionDays") else None,
                int(lock["ChangeableForDays"]) if lock.get("ChangeableForDays") else None,
            )
        return cls(name, vault.backup_vault_arn)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: BackupVault,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> BackupVault:
        from moto.backup.models import backup_backends

        backend = backup_backends[account_id][region_name]
        props = cloudformation_json.get("Properties", {})
        backend.tag_resource(original_resource.arn, _tags(props.get("BackupVaultTags")))
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.backup.models import backup_backends

        backup_backends[account_id][region_name].delete_backup_vault(self.name)


class BackupPlan(_Model):
    TYPE = "AWS::Backup::BackupPlan"
    ATTRIBUTES = ("BackupPlanArn", "BackupPlanId", "VersionId")

    def __init__(self, plan_id: str, arn: str, version: str) -> None:
        self.physical_resource_id = self.plan_id = plan_id
        self.arn = arn
        self.version = version

    def attribute(self, name: str) -> Any:
        return {"BackupPlanArn": self.arn, "BackupPlanId": self.plan_id, "VersionId": self.version}[name]

    @staticmethod
    def _plan(props: dict[str, Any]) -> dict[str, Any]:
        doc = dict(props.get("BackupPlan") or {})
        rules = []
        for declared in doc.pop("BackupPlanRule", []) or []:
            rule = dict(declared)
            rule["TargetBackupVaultName"] = _unwrap(rule.pop("TargetBackupVault"))
            if "RecoveryPointTags" in rule:
                rule["RecoveryPointTags"] = _tags(rule["RecoveryPointTags"])
            rules.append(rule)
        doc["Rules"] = rules
        return doc

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kw: Any
    ) -> BackupPlan:
        from moto.backup.models import backup_backends

        props = cloudformation_json.get("Properties", {})
        plan = backup_backends[account_id][region_name].create_backup_plan(
            backup_plan=cls._plan(props),
            backup_plan_tags=_tags(props.get("BackupPlanTags")),
            creator_request_id=None,  # type: ignore[arg-type]
        )
        return cls(plan.backup_plan_id, plan.backup_plan_arn, plan.version_id)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: BackupPlan,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> BackupPlan:
        from moto.backup.models import backup_backends

        backend = backup_backends[account_id][region_name]
        plan = backend.plans[original_resource.plan_id]
        props = cloudformation_json.get("Properties", {})
        # UpdateBackupPlan: same id, a new version of the document
        plan.backup_plan = cls._plan(props)
        plan.version_id = secrets.token_hex(24)
        backend.tag_resource(plan.backup_plan_arn, _tags(props.get("BackupPlanTags")))
        return cls(plan.backup_plan_id, plan.backup_plan_arn, plan.version_id)

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.backup.models import backup_backends

        backup_backends[account_id][region_name].delete_backup_plan(self.plan_id)


class Budget(_Model):
    TYPE = "AWS::Budgets::Budget"

    def __init__(self, name: str) -> None:
        self.name = self.physical_resource_id = name

    @staticmethod
    def _budget(props: dict[str, Any], name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        budget = dict(props.get("Budget") or {})
        budget["BudgetName"] = name
        if "BudgetLimit" in budget:
            limit = budget["BudgetLimit"]
            budget["BudgetLimit"] = {"Amount": str(limit["Amount"]), "Unit": limit["Unit"]}
        notifications = []
        for entry in props.get("NotificationsWithSubscribers", []) or []:
            notification = dict(entry["Notification"])
            notification["Threshold"] = float(notification["Threshold"])
            notifications.append({"Notification": notification, "Subscribers": list(entry.get("Subscribers", []))})
        return budget, notifications

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kw: Any
    ) -> Budget:
        from moto.budgets.models import budgets_backends

        props = cloudformation_json.get("Properties", {})
        name = str((props.get("Budget") or {}).get("BudgetName") or resource_name)
        budget, notifications = cls._budget(props, name)
        budgets_backends[account_id]["aws"].create_budget(account_id, budget, notifications)
        return cls(name)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Budget,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Budget:
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(original_resource.name, cloudformation_json, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.budgets.models import budgets_backends

        budgets_backends[account_id]["aws"].delete_budget(account_id, self.name)


def _generate(spec: dict[str, Any]) -> str:
    """GenerateSecretString as Secrets Manager generates it (length, excluded characters, punctuation)."""
    alphabet = string.ascii_letters + string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += "!#$%&()*+,-.:;<=>?@[]^_{|}~"
    excluded = set(str(spec.get("ExcludeCharacters", "")))
    alphabet = "".join(c for c in alphabet if c not in excluded)
    text = "".join(secrets.choice(alphabet) for _ in range(int(spec.get("PasswordLength", 32))))
    template, key = spec.get("SecretStringTemplate"), spec.get("GenerateStringKey")
    return json.dumps({**json.loads(template), key: text}) if template and key else text


class Secret(_Model):
    TYPE = "AWS::SecretsManager::Secret"
    ATTRIBUTES = ("Id",)

    def __init__(self, arn: str, name: str) -> None:
        self.arn = self.physical_resource_id = arn
        self.name = name

    def attribute(self, name: str) -> Any:
        return self.arn

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kw: Any
    ) -> Secret:
        from moto.secretsmanager.models import secretsmanager_backends

        props = cloudformation_json.get("Properties", {})
        value = props.get("SecretString")
        if value is None:
            value = _generate(props.get("GenerateSecretString") or {})
        created = secretsmanager_backends[account_id][region_name].create_secret(
            name=str(props.get("Name") or resource_name),
            secret_string=str(value),
            secret_binary=None,
            description=props.get("Description"),
            tags=[{"Key": k, "Value": v} for k, v in _tags(props.get("Tags")).items()],
            kms_key_id=props.get("KmsKeyId"),
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        short = json.loads(created)
        return cls(short["ARN"], short["Name"])

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Secret,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Secret:
        from moto.secretsmanager.models import secretsmanager_backends

        backend = secretsmanager_backends[account_id][region_name]
        props = cloudformation_json.get("Properties", {})
        secret: Any = backend.secrets[original_resource.arn]
        if props.get("Description") is not None:
            secret.description = props["Description"]
        if props.get("KmsKeyId") is not None:
            secret.kms_key_id = props["KmsKeyId"]
        backend.tag_resource(original_resource.arn, _tags(props.get("Tags")))
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.secretsmanager.models import secretsmanager_backends

        secretsmanager_backends[account_id][region_name].delete_secret(self.arn, None, True)


class FunctionUrl(_Model):
    TYPE = "AWS::Lambda::Url"
    ATTRIBUTES = ("FunctionArn", "FunctionUrl")

    def __init__(self, function_arn: str, url: str) -> None:
        self.function_arn = self.physical_resource_id = function_arn
        self.url = url

    def attribute(self, name: str) -> Any:
        return self.url if name == "FunctionUrl" else self.function_arn

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kw: Any
    ) -> FunctionUrl:
        from moto.awslambda.models import lambda_backends

        props = cloudformation_json["Properties"]
        config = {k: v for k, v in props.items() if k in ("AuthType", "Cors", "InvokeMode")}
        made = lambda_backends[account_id][region_name].create_function_url_config(props["TargetFunctionArn"], config)
        made.url = made.url.rstrip("/") + "/"  # as AWS gives it, to GetFunctionUrlConfig too
        return cls(made.function.function_arn, made.url)

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.awslambda.models import lambda_backends

        lambda_backends[account_id][region_name].delete_function_url_config(self.function_arn)


MODELS: tuple[type[_Model], ...] = (Alarm, Pipeline, BackupVault, BackupPlan, Budget, Secret, FunctionUrl)


# ------------------------------------------------------------------ AWS::ECS::Service ----------------------------
def _ecs_properties(props: dict[str, Any]) -> dict[str, Any]:
    """AWS::ECS::Service properties in the shape of moto's create_service / update_service."""
    out: dict[str, Any] = {
        "cluster": _unwrap(props["Cluster"]),
        "task_definition": _unwrap(props["TaskDefinition"]) if props.get("TaskDefinition") is not None else None,
        "desired_count": int(props["DesiredCount"]) if props.get("DesiredCount") is not None else None,
        "load_balancers": [
            {k: v for k, v in (("targetGroupArn", lb.get("TargetGroupArn")), ("containerName", lb.get(
                "ContainerName")), ("containerPort", int(lb["ContainerPort"]) if lb.get("ContainerPort") else None),
                ("loadBalancerName", lb.get("LoadBalancerName"))) if v is not None}
            for lb in props.get("LoadBalancers", []) or []
        ],
        "tags": [{"key": k, "value": v} for k, v in _tags(props.get("Tags")).items()],
        "launch_type": props.get("LaunchType") or ("FARGATE" if props.get("CapacityProviderStrategy") else None),
        "propagate_tags": props.get("PropagateTags") or "NONE",
    }  # fmt: skip
    vpc = (props.get("NetworkConfiguration") or {}).get("AwsvpcConfiguration")
    if vpc:
        out["network_configuration"] = {
            "awsvpcConfiguration": {
                "subnets": [_unwrap(s) for s in vpc.get("Subnets", [])],
                "securityGroups": [_unwrap(s) for s in vpc.get("SecurityGroups", [])],
                "assignPublicIp": vpc.get("AssignPublicIp", "DISABLED"),
            }
        }
    return out


def _ecs_create(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_from_cloudformation_json(
        cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        if not active():
            return original(resource_name, cloudformation_json, account_id, region_name, **kwargs)
        from moto.ecs.models import ecs_backends

        p = _ecs_properties(cloudformation_json["Properties"])
        return ecs_backends[account_id][region_name].create_service(
            p["cluster"],
            str(cloudformation_json["Properties"].get("ServiceName") or resource_name),
            1 if p["desired_count"] is None else p["desired_count"],  # CloudFormation starts a new service at 1
            task_definition_str=p["task_definition"],
            load_balancers=p["load_balancers"],
            tags=p["tags"],
            launch_type=p["launch_type"],
            propagate_tags=p["propagate_tags"],
            network_configuration=p.get("network_configuration"),
        )

    return create_from_cloudformation_json


def _ecs_update(original: Callable[..., Any]) -> Callable[..., Any]:
    def update_from_cloudformation_json(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        if not active():
            return original(
                original_resource=original_resource,
                new_resource_name=new_resource_name,
                cloudformation_json=cloudformation_json,
                account_id=account_id,
                region_name=region_name,
            )
        from moto.ecs.models import ecs_backends

        backend = ecs_backends[account_id][region_name]
        props = cloudformation_json["Properties"]
        p = _ecs_properties(props)
        name = str(props.get("ServiceName") or original_resource.name)
        if name != original_resource.name or p["cluster"] not in (
            original_resource.cluster_name,
            original_resource.cluster_arn,
        ):  # a replacement
            backend.delete_service(original_resource.cluster_name, original_resource.name, force=True)
            return create_from(cloudformation_json, name, account_id, region_name)
        # UpdateService with every property of the template (CloudFormation does not send only what changed);
        # a desired count only when the template has one
        update: dict[str, Any] = {
            "cluster": p["cluster"],
            "service": name,
            "task_definition": p["task_definition"],
            "desired_count": p["desired_count"],
            "load_balancers": p["load_balancers"],
        }
        if p.get("network_configuration"):
            update["network_configuration"] = p["network_configuration"]
        service = backend.update_service(update)
        if p["tags"]:
            backend.tag_resource(service.arn, {t["key"]: t["value"] for t in p["tags"]})
        return service

    def create_from(cloudformation_json: Any, name: str, account_id: str, region_name: str) -> Any:
        from moto.ecs.models import Service

        return Service.create_from_cloudformation_json(name, cloudformation_json, account_id, region_name)

    return update_from_cloudformation_json


def _update_target_group(group: Any, resource_json: dict[str, Any], account_id: str, region_name: str) -> None:
    """What CloudFormation does in place for a target group: ModifyTargetGroup with the health-check properties,
    and the tags."""
    from moto.elbv2.models import elbv2_backends

    backend = elbv2_backends[account_id][region_name]
    props = resource_json.get("Properties", {})
    matcher = props.get("Matcher") or {}
    backend.modify_target_group(
        group.arn,
        health_check_proto=props.get("HealthCheckProtocol"),
        health_check_port=props.get("HealthCheckPort"),
        health_check_path=props.get("HealthCheckPath"),
        health_check_interval=props.get("HealthCheckIntervalSeconds"),
        health_check_timeout=props.get("HealthCheckTimeoutSeconds"),
        healthy_threshold_count=props.get("HealthyThresholdCount"),
        unhealthy_threshold_count=props.get("UnhealthyThresholdCount"),
        http_codes=matcher.get("HttpCode"),
        health_check_enabled=props.get("HealthCheckEnabled"),
    )
    if props.get("Tags"):
        backend.add_tags([group.arn], props["Tags"])


# ------------------------------------------------------------------ installation ---------------------------------
def install() -> None:
    """Patch moto's CloudFormation once per process (idempotent); every patch defers to moto while not active()."""
    global _installed  # noqa: PLW0603 - moto's classes are process-wide, so is this flag
    with _lock:
        if _installed:
            return
        _install()
        _installed = True


def _install() -> None:
    from moto.cloudformation import parsing
    from moto.ecs import models as ecs_models
    from moto.elbv2 import models as elbv2_models
    from moto.iam import models as iam_models
    from moto.kms import models as kms_models
    from moto.rds import models as rds_models

    original_clean_json = parsing.clean_json
    original_getitem = parsing.ResourceMap.__getitem__
    original_validate_outputs = parsing.ResourceMap.validate_outputs
    original_key_create = kms_models.Key.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    original_convert = elbv2_models.ELBv2Backend.convert_and_validate_properties
    original_db_getatt = rds_models.DBInstance.get_cfn_attribute
    original_db_has = rds_models.DBInstance.has_cfn_attr.__func__  # type: ignore[attr-defined]
    original_lb_getatt = elbv2_models.FakeLoadBalancer.get_cfn_attribute
    original_tg_getatt = getattr(elbv2_models.FakeTargetGroup, "get_cfn_attribute", None)
    original_diff = parsing.ResourceMap.build_resource_diff
    original_model_map = parsing.get_model_map
    original_parse_and_update = parsing.parse_and_update_resource
    original_td_update = ecs_models.TaskDefinition.update_from_cloudformation_json
    original_td_create = ecs_models.TaskDefinition.create_from_cloudformation_json
    original_role_update = iam_models.Role.update_from_cloudformation_json
    original_ecs_create = ecs_models.Service.create_from_cloudformation_json
    original_ecs_update = ecs_models.Service.update_from_cloudformation_json

    # skipped-required-types (and Secret): the models join moto's map while active
    def get_model_map() -> dict[str, Any]:
        models = original_model_map()
        if not active():
            return models
        return {**models, **{m.cloudformation_type(): m for m in MODELS}}

    parsing.get_model_map = get_model_map  # type: ignore[assignment]

    # update-without-model
    def parse_and_update_resource(
        logical_id: str, resource_json: dict[str, Any], resources_map: Any, account_id: str, region_name: str
    ) -> Any:
        updated = original_parse_and_update(logical_id, resource_json, resources_map, account_id, region_name)
        if updated is not None or not active():
            return updated
        original = resources_map._parsed_resources.get(logical_id)
        if isinstance(original, elbv2_models.FakeTargetGroup):
            _update_target_group(original, parsing.clean_json(resource_json, resources_map), account_id, region_name)
        return original

    parsing.parse_and_update_resource = parse_and_update_resource

    # fn-cidr, getatt-dotted-attribute
    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        if active() and isinstance(resource_json, list):  # novalue-in-list
            return [clean_json(v, resources_map) for v in resource_json if not _no_value(v, resources_map)]
        if active() and isinstance(resource_json, dict) and list(resource_json) == ["Fn::Cidr"]:
            return _cidr(original_clean_json(resource_json["Fn::Cidr"], resources_map))
        if active() and isinstance(resource_json, dict) and list(resource_json) == ["Fn::GetAtt"]:
            path = resource_json["Fn::GetAtt"]
            if isinstance(path, list) and len(path) > 2:
                resource_json = {"Fn::GetAtt": [path[0], ".".join(path[1:])]}
        return original_clean_json(resource_json, resources_map)

    parsing.clean_json = clean_json

    # skipped-type-references, depends-on-lazy
    def getitem(self: Any, key: str) -> Any:
        if active() and key not in self._parsed_resources and key in self._resource_json_map:
            depends = self._resource_json_map[key].get("DependsOn") or []
            for dependency in [depends] if isinstance(depends, str) else depends:
                if dependency in self._resource_json_map and dependency not in self._parsed_resources:
                    getitem(self, dependency)
        found = original_getitem(self, key)
        if found is None and active() and key in self._resource_json_map:
            spec = self._resource_json_map[key]
            condition = spec.get("Condition")
            skipped = parsing.resource_class_from_type(spec.get("Type", "")) is None
            if skipped and not (condition and not self.lazy_condition_map[condition]):
                return Skipped(key, spec["Type"])
        return found

    parsing.ResourceMap.__getitem__ = getitem  # type: ignore[method-assign]

    def validate_outputs(self: Any) -> None:
        """moto's check of the outputs' Fn::GetAtt, minus skipped types, with dotted attributes rejoined."""
        saved = self._template.get("Outputs")
        if not active() or not saved:
            return original_validate_outputs(self)
        checked = {}
        for k, output in saved.items():
            value = output.get("Value")
            if isinstance(value, dict) and "Fn::GetAtt" in value:
                logical, *attribute = value["Fn::GetAtt"]
                spec = self._resource_json_map.get(logical, {})
                if parsing.resource_class_from_type(spec.get("Type", "")) is None:
                    continue
                checked[k] = {**output, "Value": {"Fn::GetAtt": [logical, ".".join(attribute)]}}
                continue
            checked[k] = output
        self._template["Outputs"] = checked
        try:
            original_validate_outputs(self)
        finally:
            self._template["Outputs"] = saved
        return None

    parsing.ResourceMap.validate_outputs = validate_outputs  # type: ignore[method-assign]

    # parameter-update
    def build_resource_diff(self: Any, other_template: dict[str, Any], parameters: Any = None) -> dict[str, Any]:
        diff: dict[str, Any] = original_diff(self, other_template, parameters)
        if not active():
            return diff
        changed = set()
        for name, slot in (other_template.get("Parameters") or {}).items():
            kind = str(slot.get("Type", ""))
            given = (parameters or {}).get(name)
            before = self.input_parameters.get(name, slot.get("Default"))
            value = given if given is not None else before
            if kind.startswith("AWS::SSM::Parameter::"):
                if value and self.resolved_parameters.get(name) != self.parse_ssm_parameter(value, kind):
                    changed.add(name)
            elif parameters is not None and given is not None and str(given) != str(before):
                changed.add(name)
        conditions = other_template.get("Conditions") or {}
        for logical, spec in other_template["Resources"].items():
            known = logical in self._resource_json_map and logical not in diff["Modify"]
            if known and _references(spec, conditions) & changed:
                diff["Modify"].append(logical)
        return diff

    parsing.ResourceMap.build_resource_diff = build_resource_diff  # type: ignore[method-assign]

    # kms-key-tags
    def key_create(cls: Any, resource_name: str, cloudformation_json: Any, *args: Any, **kwargs: Any) -> Any:
        props = cloudformation_json.get("Properties", {})
        if active() and props.get("Tags"):
            props = {
                **props,
                "Tags": [{"TagKey": t["Key"], "TagValue": t["Value"]} if "Key" in t else t for t in props["Tags"]],
            }
        if active() and isinstance(props.get("KeyPolicy"), dict):  # kms-key-policy
            props = {**props, "KeyPolicy": json.dumps(props["KeyPolicy"])}
        cloudformation_json = {**cloudformation_json, "Properties": props}
        return original_key_create(cls, resource_name, cloudformation_json, *args, **kwargs)

    kms_models.Key.create_from_cloudformation_json = classmethod(key_create)  # type: ignore[method-assign,assignment]

    # listener-forward-config
    def convert(self: Any, properties: dict[str, Any]) -> list[dict[str, Any]]:
        if not active():
            return original_convert(self, properties)
        actions = []
        for action in properties["DefaultActions"]:
            if action.get("Type") == "forward" and "TargetGroupArn" not in action:
                actions.append(action)  # the ELBv2 API model handles ForwardConfig
            else:
                actions += original_convert(self, {"DefaultActions": [action]})
        return actions

    elbv2_models.ELBv2Backend.convert_and_validate_properties = convert  # type: ignore[method-assign]

    # rds-parameter-group-ref
    def parameter_group_id(self: Any) -> Any:
        return self.name if active() else self

    rds_models.DBParameterGroup.physical_resource_id = property(parameter_group_id)  # type: ignore[attr-defined]

    # rds-getatt
    def db_getatt(self: Any, attribute: str) -> Any:
        if active() and attribute == "DbiResourceId":
            return self.dbi_resource_id
        if active() and attribute == "MasterUserSecret.SecretArn":
            return f"arn:aws:secretsmanager:{self.region}:{self.account_id}:secret:rds!db-{self.dbi_resource_id}"
        return original_db_getatt(self, attribute)

    def db_has(cls: Any, attribute: str) -> bool:
        extra = active() and attribute in ("DbiResourceId", "MasterUserSecret.SecretArn")
        return extra or bool(original_db_has(cls, attribute))

    rds_models.DBInstance.get_cfn_attribute = db_getatt  # type: ignore[method-assign,assignment]
    rds_models.DBInstance.has_cfn_attr = classmethod(db_has)  # type: ignore[method-assign,assignment]

    # elbv2-getatt
    def lb_getatt(self: Any, attribute: str) -> Any:
        if active() and attribute == "CanonicalHostedZoneID":
            return "Z35SXDOTRQ7X7K"  # us-east-1's ALB zone
        if active() and attribute == "LoadBalancerFullName":
            return self.arn.split(":loadbalancer/", 1)[1]
        return original_lb_getatt(self, attribute)

    def tg_getatt(self: Any, attribute: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if active() and attribute == "TargetGroupFullName":
            return self.arn.split(":", 5)[5]
        if active() and attribute == "TargetGroupName":
            return self.name
        if original_tg_getatt is not None:
            return original_tg_getatt(self, attribute)
        raise UnformattedGetAttTemplateException()

    elbv2_models.FakeLoadBalancer.get_cfn_attribute = lb_getatt  # type: ignore[method-assign,assignment]
    elbv2_models.FakeTargetGroup.get_cfn_attribute = tg_getatt  # type: ignore[attr-defined]

    # role-update
    def role_update(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        role = original_role_update(
            original_resource=original_resource,
            new_resource_name=new_resource_name,
            cloudformation_json=cloudformation_json,
            account_id=account_id,
            region_name=region_name,
        )
        if not active():
            return role
        props = cloudformation_json["Properties"]
        backend = iam_models.iam_backends[account_id]["aws"]
        wanted = {p["PolicyName"]: p["PolicyDocument"] for p in props.get("Policies", [])}
        for name in list(role.policies):
            if name not in wanted:
                backend.delete_role_policy(role.name, name)
        for name, document in wanted.items():
            role.put_policy(name, document)
        return role

    iam_models.Role.update_from_cloudformation_json = classmethod(  # type: ignore[method-assign,assignment]
        role_update
    )

    # task-definition-properties
    def td_create(
        cls: Any, /, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        if not active():
            return original_td_create(resource_name, cloudformation_json, account_id, region_name, **kwargs)
        from moto.core.utils import pascal_to_camelcase, remap_nested_keys

        p = cloudformation_json["Properties"]
        camel = {k: remap_nested_keys(p[k], pascal_to_camelcase) for k in ("ContainerDefinitions", "Volumes") if k in p}
        return ecs_models.ecs_backends[account_id][region_name].register_task_definition(
            family=p.get("Family", resource_name),
            container_definitions=camel.get("ContainerDefinitions", []),
            volumes=camel.get("Volumes"),
            network_mode=p.get("NetworkMode"),
            tags=[{"key": k, "value": v} for k, v in _tags(p.get("Tags")).items()],
            requires_compatibilities=p.get("RequiresCompatibilities"),
            cpu=str(p["Cpu"]) if p.get("Cpu") is not None else None,
            memory=str(p["Memory"]) if p.get("Memory") is not None else None,
            task_role_arn=p.get("TaskRoleArn"),
            execution_role_arn=p.get("ExecutionRoleArn"),
            runtime_platform=p.get("RuntimePlatform")
            and {
                "cpuArchitecture": p["RuntimePlatform"].get("CpuArchitecture"),
                "operatingSystemFamily": p["RuntimePlatform"].get("OperatingSystemFamily"),
            },
        )

    ecs_models.TaskDefinition.create_from_cloudformation_json = classmethod(  # type: ignore[method-assign,assignment]
        td_create
    )

    # task-definition-update
    def td_update(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        if not active():
            return original_td_update(
                original_resource=original_resource,
                new_resource_name=new_resource_name,
                cloudformation_json=cloudformation_json,
                account_id=account_id,
                region_name=region_name,
            )
        # a replacement: a new revision registered as create registers one; the old one deregistered
        made = ecs_models.TaskDefinition.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )
        ecs_models.ecs_backends[account_id][region_name].deregister_task_definition(original_resource.arn)
        return made

    ecs_models.TaskDefinition.update_from_cloudformation_json = classmethod(  # type: ignore[method-assign,assignment]
        td_update
    )

    # ecs-service-properties
    ecs_models.Service.create_from_cloudformation_json = classmethod(  # type: ignore[method-assign,assignment]
        _ecs_create(original_ecs_create)
    )
    ecs_models.Service.update_from_cloudformation_json = classmethod(  # type: ignore[method-assign,assignment]
        _ecs_update(original_ecs_update)
    )
