"""The workload stack, created and updated through moto's CloudFormation (moto 5.2.5, mock_aws, us-east-1).

Deckwatch's embedded AWS creates workload/template.yaml through moto, so the template has to survive it. This
module creates the staging stack after putting the SSM traffic parameters it resolves (as workload/bootstrap.sh
does), checks what moto actually created, then performs the update issue 11 is about: Deckwatch has shifted web
to green (SSM blue 0 / green 100) and changed a desired count through the ECS API; a stack update that touches
every ECS service must leave the listener where SSM says and the count where Deckwatch put it.

moto gaps: where moto lacks a property, attribute or intrinsic the template uses, or a whole resource type the
workload's behaviour depends on (alarms, pipelines, Backup vault and plan, budgets, secrets), Deckwatch's embedded AWS
fills it in moto (deckwatch.local.mock_services.cloudformation, never in the template) and lists it in
moto_cfn.GAPS; each gap is shown here to be real in moto as it is (moto_cfn.moto_as_is()). The types left skipped
(moto warns "Tried to parse <type> but it's not supported by moto's CloudFormation implementation" and creates
nothing) are moto_cfn.SKIPPED, each with the reason its absence changes nothing Deckwatch's local runs exercise.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import ipaddress
import json
import re
import sys
import warnings
from pathlib import Path
from types import ModuleType

import boto3
import pytest
import yaml
from deckwatch.local.mock_services import cloudformation as moto_cfn
from moto import mock_aws
from support import workload_cfn as cfn

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
TEMPLATE = REPO / "workload" / "template.yaml"
ENV = "staging"
REGION = "us-east-1"
ACCOUNT = "123456789012"


def _load(name: str, path: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


gen = _load("workload_generate", REPO / "workload" / "generate.py")

REQUIRED_TYPES = (
    "AWS::CloudWatch::Alarm",
    "AWS::CodePipeline::Pipeline",
    "AWS::Backup::BackupVault",
    "AWS::Backup::BackupPlan",
    "AWS::Budgets::Budget",
)
SKIP_WARNING = re.compile(r"Tried to parse (\S+) but it's not supported")


# ------------------------------------------------------------------------------------------------ world ---


def _parameters(cert: str, cdn_cert: str) -> dict[str, str]:
    params = {
        "Environment": ENV,
        "CertificateArn": cert,
        "CloudFrontCertificateArn": cdn_cert,
        "DeckwatchTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:deckwatch-{ENV}-notifications",
        "DeckwatchCostAlertsTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:deckwatch-{ENV}-cost-alerts",
        "DeckwatchCutoverStateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:deckwatch-{ENV}-cutover",
        "DeckwatchDrillValidatorRoleArn": f"arn:aws:iam::{ACCOUNT}:role/deckwatch-{ENV}-drill-validator",
        "DeckwatchPipelineEventsRoleArn": f"arn:aws:iam::{ACCOUNT}:role/deckwatch-{ENV}-pipeline-events",
        "DrBackupVaultArn": f"arn:aws:backup:us-west-2:{ACCOUNT}:backup-vault:shop-{ENV}-dr",
        "CodeStarConnectionArn": f"arn:aws:codeconnections:{REGION}:{ACCOUNT}:connection/0000",
        "PublicDomainName": "staging.shop.example.com",
        "OriginDomainName": "origin.staging.shop.example.com",
        "InternalDomainName": "internal.staging.shop.example.com",
    }
    for s in gen.SERVICES:
        for param, (path, _) in gen.traffic_parameters(s).items():
            params[param] = path.format(env=ENV)
    return params


def _listeners(elb) -> dict[str, dict[int, dict[str, int]]]:
    """load balancer name -> port -> {target group name: weight}"""
    names = {tg["TargetGroupArn"]: tg["TargetGroupName"] for tg in elb.describe_target_groups()["TargetGroups"]}
    out: dict[str, dict[int, dict[str, int]]] = {}
    for lb in elb.describe_load_balancers()["LoadBalancers"]:
        ports = out.setdefault(lb["LoadBalancerName"], {})
        for listener in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
            weights: dict[str, int] = {}
            for action in listener["DefaultActions"]:
                for tg in (action.get("ForwardConfig") or {}).get("TargetGroups", []):
                    weights[names[tg["TargetGroupArn"]]] = int(tg["Weight"])
            ports[listener["Port"]] = weights
    return out


def _desired(ecs) -> dict[str, int]:
    arns = ecs.list_services(cluster=f"shop-{ENV}")["serviceArns"]
    return {
        s["serviceName"]: s["desiredCount"]
        for s in ecs.describe_services(cluster=f"shop-{ENV}", services=arns)["services"]
    }


def _touch_services(template: dict, **extra_props) -> str:
    """The template with a routine change to every ECS service (a tag), as JSON."""
    changed = copy.deepcopy(template)
    for res in changed["Resources"].values():
        if res["Type"] == "AWS::ECS::Service":
            res["Properties"]["Tags"] = [*res["Properties"]["Tags"], {"Key": "shop:revision", "Value": "2"}]
            res["Properties"].update(extra_props.get(res["Properties"]["ServiceName"]["Fn::Sub"], {}))
    return json.dumps(changed)


@pytest.fixture(scope="module")
def world() -> dict:
    """Everything the tests look at, collected in one pass (create, shift, update, control update)."""
    body = TEMPLATE.read_text(encoding="utf-8")
    template = cfn.load_template(TEMPLATE)
    seen: dict = {}
    with mock_aws(), moto_cfn.patched(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ssm = boto3.client("ssm", region_name=REGION)
        for s in gen.SERVICES:  # what workload/bootstrap.sh puts before the first create
            for path, value in gen.traffic_parameters(s).values():
                ssm.put_parameter(Name=path.format(env=ENV), Value=value.format(env=ENV), Type="String")
        acm = boto3.client("acm", region_name=REGION)
        cert = acm.request_certificate(DomainName="origin.staging.shop.example.com")["CertificateArn"]
        cdn_cert = acm.request_certificate(DomainName="staging.shop.example.com")["CertificateArn"]
        params = _parameters(cert, cdn_cert)
        cf = boto3.client("cloudformation", region_name=REGION)
        cf.create_stack(
            StackName=f"shop-{ENV}",
            TemplateBody=body,
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
            Capabilities=["CAPABILITY_IAM"],
        )
        stack = cf.describe_stacks(StackName=f"shop-{ENV}")["Stacks"][0]
        seen["status"] = stack["StackStatus"]
        seen["outputs"] = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        seen["resources"] = {
            r["LogicalResourceId"]: (r["ResourceType"], r["PhysicalResourceId"])
            for r in cf.list_stack_resources(StackName=f"shop-{ENV}")["StackResourceSummaries"]
        }
        seen["skipped"] = {m.group(1) for w in caught if (m := SKIP_WARNING.search(str(w.message)))}

        ec2 = boto3.client("ec2", region_name=REGION)
        vpc_id = seen["outputs"]["VpcId"]
        seen["vpc_cidr"] = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["CidrBlock"]
        seen["subnets"] = sorted(
            s["CidrBlock"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
        )
        seen["security_groups"] = {
            g["GroupName"]
            for g in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
        }
        elb = boto3.client("elbv2", region_name=REGION)
        seen["schemes"] = {
            lb["LoadBalancerName"]: lb["Scheme"] for lb in elb.describe_load_balancers()["LoadBalancers"]
        }
        seen["target_groups"] = {tg["TargetGroupName"] for tg in elb.describe_target_groups()["TargetGroups"]}
        seen["listeners"] = _listeners(elb)
        ecs = boto3.client("ecs", region_name=REGION)
        seen["clusters"] = [c.split("/")[-1] for c in ecs.list_clusters()["clusterArns"]]
        seen["desired"] = _desired(ecs)
        web_blue = ecs.describe_services(cluster=f"shop-{ENV}", services=[f"shop-{ENV}-web-blue"])["services"][0]
        seen["web_blue_load_balancers"] = web_blue.get("loadBalancers", [])
        seen["task_families"] = set(ecs.list_task_definition_families()["families"])
        rds = boto3.client("rds", region_name=REGION)
        seen["db"] = {d["DBInstanceIdentifier"]: d for d in rds.describe_db_instances()["DBInstances"]}
        sqs = boto3.client("sqs", region_name=REGION)
        seen["queues"] = {u.rsplit("/", 1)[1] for u in sqs.list_queues().get("QueueUrls", [])}
        r53 = boto3.client("route53", region_name=REGION)
        seen["records"] = {
            (r["Name"].rstrip("."), r["Type"])
            for z in r53.list_hosted_zones()["HostedZones"]
            for r in r53.list_resource_record_sets(HostedZoneId=z["Id"])["ResourceRecordSets"]
        }
        # what moto makes of the types it cannot create
        seen["alarms"] = boto3.client("cloudwatch", region_name=REGION).describe_alarms()["MetricAlarms"]
        seen["pipelines"] = boto3.client("codepipeline", region_name=REGION).list_pipelines()["pipelines"]
        seen["vaults"] = boto3.client("backup", region_name=REGION).list_backup_vaults()["BackupVaultList"]
        seen["plans"] = boto3.client("backup", region_name=REGION).list_backup_plans()["BackupPlansList"]
        seen["budgets"] = (
            boto3.client("budgets", region_name=REGION).describe_budgets(AccountId=ACCOUNT).get("Budgets", [])
        )
        seen["web_pipeline"] = boto3.client("codepipeline", region_name=REGION).get_pipeline(name="shop-web")[
            "pipeline"
        ]
        sm = boto3.client("secretsmanager", region_name=REGION)
        seen["drill_secret"] = sm.describe_secret(SecretId=f"shop/{ENV}/db-drill")
        seen["drill_secret_value"] = sm.get_secret_value(SecretId=f"shop/{ENV}/db-drill")["SecretString"]

        # Deckwatch shifts web to green and the api test listener to blue (SSM + API), and scales two services.
        for name, value in {
            f"/deckwatch/{ENV}/traffic/web/blue": "0",
            f"/deckwatch/{ENV}/traffic/web/green": "100",
            f"/deckwatch/{ENV}/traffic/api/test": "blue",
        }.items():
            ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)
        ecs.update_service(cluster=f"shop-{ENV}", service=f"shop-{ENV}-web-green", desiredCount=7)
        ecs.update_service(cluster=f"shop-{ENV}", service=f"shop-{ENV}-worker-blue", desiredCount=3)
        seen["desired_before_update"] = _desired(ecs)

        # A stack update that touches every ECS service (and nothing else in the template).
        cf.update_stack(
            StackName=f"shop-{ENV}",
            TemplateBody=_touch_services(template),
            Parameters=[{"ParameterKey": k, "UsePreviousValue": True} for k in params],
            Capabilities=["CAPABILITY_IAM"],
        )
        seen["update_status"] = cf.describe_stacks(StackName=f"shop-{ENV}")["Stacks"][0]["StackStatus"]
        seen["listeners_after_update"] = _listeners(elb)
        seen["desired_after_update"] = _desired(ecs)

        # Control: the same update with a DesiredCount in the template does reset the count, so the update
        # above did reach the ECS services.
        cf.update_stack(
            StackName=f"shop-{ENV}",
            TemplateBody=_touch_services(template, **{"shop-${Environment}-web-green": {"DesiredCount": 2}}),
            Parameters=[{"ParameterKey": k, "UsePreviousValue": True} for k in params],
            Capabilities=["CAPABILITY_IAM"],
        )
        seen["desired_with_count_in_template"] = _desired(ecs)
    return seen


# ---------------------------------------------------------------------------------------------- creation ---


def test_stack_is_created(world):
    assert world["status"] == "CREATE_COMPLETE"


def test_network(world):
    assert world["vpc_cidr"] == "10.20.0.0/16"
    expected = [str(n) for n in list(ipaddress.ip_network("10.20.0.0/16").subnets(new_prefix=24))[:9]]
    assert world["subnets"] == sorted(expected)  # 3 public, 3 private, 3 isolated /24s
    assert {f"shop-{ENV}-{g}" for g in ("alb", "web", "api", "api-alb", "worker", "db", "cache", "endpoints")} <= world[
        "security_groups"
    ]


def test_load_balancers_listeners_and_target_groups(world):
    assert world["schemes"] == {f"shop-{ENV}": "internet-facing", f"shop-{ENV}-api": "internal"}
    assert world["target_groups"] == {f"shop-{ENV}-{s}-{c}" for s in ("web", "api") for c in ("blue", "green")}
    for lb, service in ((f"shop-{ENV}", "web"), (f"shop-{ENV}-api", "api")):
        blue, green = f"shop-{ENV}-{service}-blue", f"shop-{ENV}-{service}-green"
        # production listener: the SSM weights (bootstrap blue 100 / green 0); test listener: SSM test = green
        assert world["listeners"][lb] == {443: {blue: 100, green: 0}, 8443: {blue: 0, green: 100}}, lb


def test_ecs_cluster_and_services(world):
    assert world["clusters"] == [f"shop-{ENV}"]
    names = {f"shop-{ENV}-{s.name}-{c}" for s in gen.SERVICES for c in gen.COLOURS}
    assert set(world["desired"]) == names
    # No DesiredCount in the template: CloudFormation (and the patched moto) starts each service with 1 task.
    assert set(world["desired"].values()) == {1}
    assert world["task_families"] == {f"shop-{ENV}-{s.name}" for s in gen.SERVICES}


def test_database_queue_and_internal_name(world):
    db = world["db"][f"shop-{ENV}-db"]
    assert db["Engine"] == "postgres" and db["DBName"] == "shop" and db["MultiAZ"] is True
    assert world["queues"] == {f"shop-{ENV}-worker", f"shop-{ENV}-worker-dlq"}
    assert (f"api.internal.{ENV}.shop.example.com", "A") in world["records"]


def test_outputs_name_what_deckwatch_needs(world):
    out = world["outputs"]
    assert out["ClusterName"] == f"shop-{ENV}"
    for s in gen.SERVICES:
        for c in gen.COLOURS:
            assert out[f"{s.prefix}{c.title()}ServiceName"] == f"shop-{ENV}-{s.name}-{c}"
            if s.alb:
                assert f"targetgroup/shop-{ENV}-{s.name}-{c}/" in out[f"{s.prefix}{c.title()}TargetGroupArn"]
        if s.alb:
            assert ":listener/app/" in out[f"{s.prefix}ProductionListenerArn"]
            assert out[f"{s.prefix}TrafficParameterPrefix"] == f"/deckwatch/{ENV}/traffic/{s.name}/"
    assert out["WorkerQueueUrl"].endswith(f"/shop-{ENV}-worker")
    assert out["DbInstanceIdentifier"] == f"shop-{ENV}-db"
    assert out["ArtifactKeyArn"].startswith(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/")
    assert out["DrillSecretKeyArn"].startswith(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/")
    assert out["ArtifactBucketName"].startswith(f"shop-{ENV}-artifactbucket-")


def test_skipped_types_are_all_classified(world):
    """Every type moto skipped is either acceptable (with a reason) or a reported gap; nothing else."""
    assert world["skipped"] == set(moto_cfn.SKIPPED)
    assert not set(REQUIRED_TYPES) & set(moto_cfn.SKIPPED)
    created_types = {t for (t, physical) in world["resources"].values() if not physical.startswith("moto-skipped:")}
    for rtype in (
        "AWS::EC2::VPC",
        "AWS::EC2::Subnet",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::ElasticLoadBalancingV2::Listener",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        "AWS::ECS::Cluster",
        "AWS::ECS::Service",
        "AWS::RDS::DBInstance",
    ):
        assert rtype in created_types, rtype


def test_required_types_are_created(world):
    assert world["status"] == "CREATE_COMPLETE"
    names = {a["AlarmName"] for a in world["alarms"]}
    assert f"shop-{ENV}-web-green-5xx-rate" in names and f"shop-{ENV}-db-free-storage-low" in names
    assert len(world["alarms"]) == 33 - 1  # the replica-lag alarm exists in prod only
    assert {p["name"] for p in world["pipelines"]} == {"shop-web", "shop-api", "shop-worker"}
    assert [v["BackupVaultName"] for v in world["vaults"]] == [f"shop-{ENV}-vault"]
    assert [p["BackupPlanName"] for p in world["plans"]] == [f"shop-{ENV}-plan"]
    assert [b["BudgetName"] for b in world["budgets"]] == [f"shop-{ENV}-monthly"]


def test_metric_math_alarm_keeps_its_queries(world):
    alarm = next(a for a in world["alarms"] if a["AlarmName"] == f"shop-{ENV}-web-blue-5xx-rate")
    ids = {m["Id"]: m for m in alarm["Metrics"]}
    assert ids["rate"]["Expression"] == "100 * FILL(errors, 0) / FILL(requests, 1)"
    dims = {d["Name"]: d["Value"] for d in ids["requests"]["MetricStat"]["Metric"]["Dimensions"]}
    assert dims["TargetGroup"].startswith(f"targetgroup/shop-{ENV}-web-blue/")
    assert dims["LoadBalancer"].startswith(f"app/shop-{ENV}/")
    assert alarm["Threshold"] == 1.0 and alarm["EvaluationPeriods"] == 5 and alarm["DatapointsToAlarm"] == 3


def test_pipeline_declaration_in_the_api_shape(world):
    stages = [s["name"] for s in world["web_pipeline"]["stages"]]
    assert stages == ["Source", "Build", "Cutover", "Approval", "Release"]  # staging: Cutover before ApproveProd
    cutover = world["web_pipeline"]["stages"][2]["actions"][0]
    kind = {"category": "Invoke", "owner": "AWS", "provider": "StepFunctions", "version": "1"}
    assert cutover["actionTypeId"] == kind
    doc = json.loads(cutover["configuration"]["Input"])
    assert doc["service"] == "web" and doc["image"] == "#{BuildVariables.IMAGE_URI}"
    assert cutover["configuration"]["StateMachineArn"].endswith(f":stateMachine:deckwatch-{ENV}-cutover")


def test_drill_secret_from_the_stack(world):
    secret = world["drill_secret"]
    assert secret["Name"] == f"shop/{ENV}/db-drill"
    assert {"Key": "deckwatch:drill-credentials", "Value": "true"} in secret["Tags"]
    assert secret["KmsKeyId"] == world["outputs"]["DrillSecretKeyArn"]
    assert set(json.loads(world["drill_secret_value"])) == {"username", "dbname", "engine", "port", "password"}


def test_ecs_services_are_registered_with_their_target_groups(world):
    (lb,) = world["web_blue_load_balancers"]
    assert lb["containerName"] == "web" and lb["containerPort"] == 8080
    assert lb["targetGroupArn"] == world["outputs"]["WebBlueTargetGroupArn"]


# ----------------------------------------------------------------------------------------------- update ---


def test_update_completes(world):
    assert world["update_status"] == "UPDATE_COMPLETE"


def test_update_leaves_traffic_where_ssm_says(world):
    after = world["listeners_after_update"]
    web_blue, web_green = f"shop-{ENV}-web-blue", f"shop-{ENV}-web-green"
    api_blue, api_green = f"shop-{ENV}-api-blue", f"shop-{ENV}-api-green"
    assert after[f"shop-{ENV}"][443] == {web_blue: 0, web_green: 100}
    assert after[f"shop-{ENV}"][8443] == {web_blue: 0, web_green: 100}
    assert after[f"shop-{ENV}-api"][443] == {api_blue: 100, api_green: 0}
    assert after[f"shop-{ENV}-api"][8443] == {api_blue: 100, api_green: 0}  # test colour now blue


def test_update_keeps_desired_counts(world):
    before = world["desired_before_update"]
    assert before[f"shop-{ENV}-web-green"] == 7 and before[f"shop-{ENV}-worker-blue"] == 3
    assert world["desired_after_update"] == before


def test_control_a_desired_count_in_the_template_would_reset_it(world):
    assert world["desired_with_count_in_template"][f"shop-{ENV}-web-green"] == 2


# ------------------------------------------------------------------------------------------------- gaps ---

_MICRO = {
    "depends-on-lazy": """
Resources:
  Name: {Type: AWS::SSM::Parameter, Properties: {Name: n, Type: String, Value: !GetAtt Service.Name}}
  Cluster: {Type: AWS::ECS::Cluster, Properties: {ClusterName: c}}
  Task:
    Type: AWS::ECS::TaskDefinition
    Properties: {Family: f, ContainerDefinitions: [{Name: web, Image: nginx, Memory: 512}]}
  Service:
    Type: AWS::ECS::Service
    DependsOn: [Task]
    Properties: {ServiceName: s, Cluster: !Ref Cluster, TaskDefinition: f}
""",
    "fn-cidr": """
Resources:
  Vpc: {Type: AWS::EC2::VPC, Properties: {CidrBlock: 10.0.0.0/16}}
  Subnet:
    Type: AWS::EC2::Subnet
    Properties: {VpcId: !Ref Vpc, CidrBlock: !Select [1, !Cidr [10.0.0.0/16, 2, 8]]}
""",
    "kms-key-tags": """
Resources:
  Key:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy: {Version: "2012-10-17", Statement: []}
      Tags: [{Key: Environment, Value: staging}]
""",
    "getatt-dotted-attribute": """
Resources:
  Db:
    Type: AWS::RDS::DBInstance
    Properties: {DBInstanceIdentifier: db, Engine: postgres, DBInstanceClass: db.t4g.micro, AllocatedStorage: 20,
                 MasterUsername: a, MasterUserPassword: abcdefgh12}
Outputs:
  Address: {Value: !GetAtt Db.Endpoint.Address}
""",
    "skipped-type-references": """
Resources:
  Secret: {Type: AWS::SecretsManager::Secret, Properties: {Name: s}}
  Group: {Type: AWS::Logs::LogGroup, Properties: {LogGroupName: !Sub "g-${Secret.Id}"}}
""",
}


@pytest.mark.parametrize("gap", sorted(_MICRO))
def test_moto_gap_is_real_and_patched(gap):
    """Each gap in moto_cfn.GAPS that a three-line template shows: moto fails without the patch, not with it."""
    assert gap in moto_cfn.GAPS

    def create(name: str) -> str:
        cf = boto3.client("cloudformation", region_name=REGION)
        try:
            cf.create_stack(StackName=name, TemplateBody=_MICRO[gap])
            return cf.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        except Exception as exc:  # noqa: BLE001 - without the patch moto fails with its own internal errors
            return f"failed: {type(exc).__name__}"

    with mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with moto_cfn.moto_as_is():
            assert create("unpatched").startswith("failed")
        with moto_cfn.patched():
            assert create("patched") == "CREATE_COMPLETE"


_REQUIRED_MICRO = """
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement: [{Effect: Allow, Principal: {Service: codepipeline.amazonaws.com}, Action: sts:AssumeRole}]
  Alarm:
    Type: AWS::CloudWatch::Alarm
    Properties: {AlarmName: a, Namespace: N, MetricName: M, Statistic: Sum, Period: 60, EvaluationPeriods: 1,
                 Threshold: 1, ComparisonOperator: GreaterThanThreshold}
  Vault: {Type: AWS::Backup::BackupVault, Properties: {BackupVaultName: v}}
  Plan:
    Type: AWS::Backup::BackupPlan
    Properties:
      BackupPlan:
        BackupPlanName: p
        BackupPlanRule: [{RuleName: daily, TargetBackupVault: !Ref Vault, ScheduleExpression: "cron(0 5 * * ? *)"}]
  Budget:
    Type: AWS::Budgets::Budget
    Properties: {Budget: {BudgetName: b, BudgetType: COST, TimeUnit: MONTHLY, BudgetLimit: {Amount: 10, Unit: USD}}}
  Secret: {Type: AWS::SecretsManager::Secret, Properties: {Name: s, SecretString: x}}
  Pipeline:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      Name: pl
      RoleArn: !GetAtt Role.Arn
      ArtifactStore: {Type: S3, Location: bucket}
      Stages:
        - Name: Source
          Actions: [{Name: S, ActionTypeId: {Category: Source, Owner: AWS, Provider: S3, Version: "1"},
                     Configuration: {S3Bucket: bucket, S3ObjectKey: k}, OutputArtifacts: [{Name: Src}]}]
        - Name: Approve
          Actions: [{Name: A, ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: "1"}}]
"""


def _required(name: str) -> dict[str, int]:
    cf = boto3.client("cloudformation", region_name=REGION)
    cf.create_stack(StackName=name, TemplateBody=_REQUIRED_MICRO)
    assert cf.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    backup = boto3.client("backup", region_name=REGION)
    return {
        "alarms": len(boto3.client("cloudwatch", region_name=REGION).describe_alarms()["MetricAlarms"]),
        "vaults": len(backup.list_backup_vaults()["BackupVaultList"]),
        "plans": len(backup.list_backup_plans()["BackupPlansList"]),
        "budgets": len(
            boto3.client("budgets", region_name=REGION).describe_budgets(AccountId=ACCOUNT).get("Budgets", [])
        ),
        "secrets": len(boto3.client("secretsmanager", region_name=REGION).list_secrets()["SecretList"]),
        "pipelines": len(boto3.client("codepipeline", region_name=REGION).list_pipelines()["pipelines"]),
    }


def test_required_types_gap_is_real_and_patched():
    """moto as it is skips every one of them and still reports CREATE_COMPLETE; patched, each is created."""
    assert "skipped-required-types" in moto_cfn.GAPS
    with mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with moto_cfn.moto_as_is():
            assert set(_required("unpatched").values()) == {0}
    with mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with moto_cfn.patched():
            assert set(_required("patched").values()) == {1}


_ECS_MICRO = """
Resources:
  Vpc: {Type: AWS::EC2::VPC, Properties: {CidrBlock: 10.0.0.0/16}}
  Cluster: {Type: AWS::ECS::Cluster, Properties: {ClusterName: c}}
  Task:
    Type: AWS::ECS::TaskDefinition
    Properties: {Family: f, ContainerDefinitions: [{Name: web, Image: nginx, Memory: 512}]}
  Group: {Type: AWS::ElasticLoadBalancingV2::TargetGroup, Properties: {Name: tg, Port: 80, Protocol: HTTP,
          VpcId: !Ref Vpc}}
  Service:
    Type: AWS::ECS::Service
    Properties:
      ServiceName: s
      Cluster: !Ref Cluster
      TaskDefinition: !Ref Task
      LoadBalancers: [{ContainerName: web, ContainerPort: 80, TargetGroupArn: !Ref Group}]
      Tags: [{Key: deckwatch:colour, Value: blue}]
"""


def test_ecs_service_properties_gap_is_real_and_patched():
    def create(name: str) -> dict:
        boto3.client("cloudformation", region_name=REGION).create_stack(StackName=name, TemplateBody=_ECS_MICRO)
        ecs = boto3.client("ecs", region_name=REGION)
        return ecs.describe_services(cluster="c", services=["s"], include=["TAGS"])["services"][0]

    with mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with moto_cfn.moto_as_is():
            service = create("unpatched")
            assert service["desiredCount"] == 0 and service["loadBalancers"] == [] and not service.get("tags")
    with mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with moto_cfn.patched():
            service = create("patched")
            assert service["desiredCount"] == 1
            assert [lb["containerName"] for lb in service["loadBalancers"]] == ["web"]
            assert {"key": "deckwatch:colour", "value": "blue"} in service["tags"]


_UPDATE_MICRO = """
Parameters:
  Path: {Type: String}
  Image: {Type: String}
Resources:
  Vpc: {Type: AWS::EC2::VPC, Properties: {CidrBlock: 10.0.0.0/16}}
  Group: {Type: AWS::ElasticLoadBalancingV2::TargetGroup, Properties: {Name: tg, Port: 80, Protocol: HTTP,
          VpcId: !Ref Vpc, HealthCheckPath: !Ref Path}}
  Task:
    Type: AWS::ECS::TaskDefinition
    Properties: {Family: f, ContainerDefinitions: [{Name: web, Image: !Ref Image, Memory: 512}]}
Outputs:
  Group: {Value: !Ref Group}
"""


def test_update_gaps_are_real_and_patched():
    """update-without-model and task-definition-update: an update of a target group and a task definition."""
    assert {"update-without-model", "task-definition-update"} <= set(moto_cfn.GAPS)

    def update(name: str) -> tuple[dict[str, str], str | None, str]:
        cf = boto3.client("cloudformation", region_name=REGION)
        params = [{"ParameterKey": "Path", "ParameterValue": "/a"}, {"ParameterKey": "Image", "ParameterValue": "v1"}]
        cf.create_stack(StackName=name, TemplateBody=_UPDATE_MICRO, Parameters=params)
        params = [{"ParameterKey": "Path", "ParameterValue": "/b"}, {"ParameterKey": "Image", "ParameterValue": "v2"}]
        cf.update_stack(StackName=name, TemplateBody=_UPDATE_MICRO, Parameters=params)
        stack = cf.describe_stacks(StackName=name)["Stacks"][0]
        outputs = {o["OutputKey"]: o.get("OutputValue") for o in stack.get("Outputs", [])}
        ecs = boto3.client("ecs", region_name=REGION)
        container = ecs.describe_task_definition(taskDefinition="f")["taskDefinition"]["containerDefinitions"][0]
        group = boto3.client("elbv2", region_name=REGION).describe_target_groups(Names=["tg"])["TargetGroups"][0]
        return outputs, container.get("image"), group["HealthCheckPath"]

    with mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with moto_cfn.moto_as_is():
            outputs, image, path = update("unpatched")
            assert "targetgroup/tg/" not in str(outputs.get("Group")) and image is None and path == "/a"
    with mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with moto_cfn.patched():
            outputs, image, path = update("patched")
            assert "targetgroup/tg/" in str(outputs["Group"]) and image == "v2" and path == "/b"


_ROLE_MICRO = """
Parameters:
  Bucket: {Type: String, Default: ""}
Conditions:
  HasBucket: !Not [!Equals [!Ref Bucket, ""]]
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]
      Policies:
        - PolicyName: read
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action: s3:GetObject
                Resource:
                  - arn:aws:s3:::always/*
                  - !If [HasBucket, !Sub "arn:aws:s3:::${Bucket}/*", !Ref AWS::NoValue]
"""


def test_parameter_and_role_update_gaps_are_real_and_patched():
    """parameter-update, role-update and novalue-in-list: a role whose inline policy names a bucket parameter,
    created without it (the workload is deployed after the control plane), updated with it."""
    assert {"parameter-update", "role-update", "novalue-in-list"} <= set(moto_cfn.GAPS)

    def resources(name: str) -> list:
        cf = boto3.client("cloudformation", region_name=REGION)
        cf.create_stack(StackName=name, TemplateBody=_ROLE_MICRO, Capabilities=["CAPABILITY_IAM"])
        params = [{"ParameterKey": "Bucket", "ParameterValue": "artifacts"}]
        cf.update_stack(StackName=name, TemplateBody=_ROLE_MICRO, Parameters=params, Capabilities=["CAPABILITY_IAM"])
        role = cf.describe_stack_resource(StackName=name, LogicalResourceId="Role")["StackResourceDetail"]
        doc = boto3.client("iam").get_role_policy(RoleName=role["PhysicalResourceId"], PolicyName="read")
        policy = doc["PolicyDocument"]  # moto returns the document CloudFormation gave it as Python's repr
        policy = ast.literal_eval(policy) if isinstance(policy, str) else policy
        return policy["Statement"][0]["Resource"]

    with mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with moto_cfn.moto_as_is():
            assert resources("unpatched") == ["arn:aws:s3:::always/*", None]
    with mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with moto_cfn.patched():
            assert resources("patched") == ["arn:aws:s3:::always/*", "arn:aws:s3:::artifacts/*"]


def test_kms_key_policy_gap_is_real_and_patched():
    template = """
Resources:
  Key:
    Type: AWS::KMS::Key
    Properties: {KeyPolicy: {Version: "2012-10-17", Statement: []}}
"""

    def policy(name: str) -> object:
        cf = boto3.client("cloudformation", region_name=REGION)
        cf.create_stack(StackName=name, TemplateBody=template)
        key = cf.describe_stack_resource(StackName=name, LogicalResourceId="Key")["StackResourceDetail"]
        kms = boto3.client("kms", region_name=REGION)
        return kms.get_key_policy(KeyId=key["PhysicalResourceId"], PolicyName="default")["Policy"]

    assert "kms-key-policy" in moto_cfn.GAPS
    with mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with moto_cfn.moto_as_is():
            assert isinstance(policy("unpatched"), dict)
        with moto_cfn.patched():
            assert json.loads(str(policy("patched"))) == {"Version": "2012-10-17", "Statement": []}


def test_task_definition_properties_gap_is_real_and_patched():
    template = """
Resources:
  Task:
    Type: AWS::ECS::TaskDefinition
    Properties: {Family: f, Cpu: "256", Memory: "512", NetworkMode: awsvpc, RequiresCompatibilities: [FARGATE],
                 ContainerDefinitions: [{Name: web, Image: nginx}]}
"""

    def described(name: str) -> dict:
        boto3.client("cloudformation", region_name=REGION).create_stack(StackName=name, TemplateBody=template)
        return boto3.client("ecs", region_name=REGION).describe_task_definition(taskDefinition="f")["taskDefinition"]

    assert "task-definition-properties" in moto_cfn.GAPS
    with mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with moto_cfn.moto_as_is():
            assert "cpu" not in described("unpatched")
    with mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with moto_cfn.patched():
            td = described("patched")
            assert (td["cpu"], td["networkMode"], td["requiresCompatibilities"]) == ("256", "awsvpc", ["FARGATE"])


def test_template_is_plain_yaml_moto_can_read():
    """moto parses the YAML itself; the short forms it mangles are covered by moto_cfn (getatt-dotted-attribute)."""
    assert yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=cfn.CfnLoader)["Resources"]


def test_unpatched_moto_gaps_are_as_documented(world):
    """moto_cfn.UNPATCHED, as observed; a moto upgrade that fixes one makes this fail (then drop the entry)."""
    assert set(moto_cfn.UNPATCHED) == {"rds-subnet-group-ref"}
    assert world["outputs"]["DrillSubnetGroupName"].startswith("<moto.rds.models.DBSubnetGroup object")


def test_novalue_is_dropped_from_lists(world):
    """novalue-in-list: outside prod the replica-lag alarm does not exist and leaves no 'None' behind."""
    assert world["outputs"]["DatabaseAlarms"] == f"shop-{ENV}-db-connections-high,shop-{ENV}-db-free-storage-low"
