"""The demo world: what the policy says Deckwatch manages (ECS services per colour behind an ALB with weighted
listeners, alarms, databases), created in the embedded AWS so that replays act on real moto state."""

from __future__ import annotations

from typing import Any

from deckwatch.policy.model import Policy


def build(runtime: Any, policy: Policy, account: str, region: str) -> dict[str, Any]:
    ec2, ecs, elb, cw, rds = (runtime.client(s) for s in ("ec2", "ecs", "elbv2", "cloudwatch", "rds"))
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24", AvailabilityZone=f"{region}{az}")["Subnet"][
            "SubnetId"
        ]
        for i, az in enumerate("abc")
    ]
    world: dict[str, Any] = {"vpc": vpc, "subnets": subnets, "services": {}, "alarms": [], "databases": []}
    alarm_names = {a for s in policy.services for a in s.alarms}
    alarm_names |= {r.alarm.name for r in policy.remediation.rules if r.alarm.name}
    for svc in policy.services:
        if svc.ecs is None or svc.alb is None:
            continue
        ecs.create_cluster(clusterName=svc.ecs.cluster)
        family = f"{svc.ecs.cluster}-{svc.name}"
        td = ecs.register_task_definition(
            family=family,
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="256",
            memory="512",
            containerDefinitions=[
                {
                    "name": svc.name,
                    "image": f"{account}.dkr.ecr.{region}.amazonaws.com/{svc.name}:1",
                    "essential": True,
                    "portMappings": [{"containerPort": 8080}],
                }
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        lb = elb.create_load_balancer(Name=svc.alb.load_balancer, Subnets=subnets, Type="application")
        lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
        tgs = {}
        for colour in ("blue", "green"):
            tgs[colour] = elb.create_target_group(
                Name=getattr(svc.alb.target_groups, colour), Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip"
            )["TargetGroups"][0]["TargetGroupArn"]
            ecs.create_service(
                cluster=svc.ecs.cluster,
                serviceName=getattr(svc.ecs.services, colour),
                taskDefinition=td,
                desiredCount=2 if colour == "blue" else 0,
                launchType="FARGATE",
                loadBalancers=[{"targetGroupArn": tgs[colour], "containerName": svc.name, "containerPort": 8080}],
                tags=[  # as the workload tags them (workload/template.yaml): IAM conditions read Environment
                    {"key": "Environment", "value": policy.environment},
                    {"key": "deckwatch:service", "value": svc.name},
                    {"key": "deckwatch:colour", "value": colour},
                ],
            )
        listener = elb.create_listener(
            LoadBalancerArn=lb_arn,
            Protocol="HTTP",
            Port=svc.alb.listener_port,
            DefaultActions=[
                {
                    "Type": "forward",
                    "ForwardConfig": {
                        "TargetGroups": [
                            {"TargetGroupArn": tgs["blue"], "Weight": 100},
                            {"TargetGroupArn": tgs["green"], "Weight": 0},
                        ]
                    },
                }
            ],
        )["Listeners"][0]["ListenerArn"]
        world["services"][svc.name] = {"load_balancer": lb_arn, "listener": listener, "target_groups": tgs}
        _traffic_parameters(runtime, policy.environment, svc.name, test="green")
        if svc.alb.test_listener_port:
            elb.create_listener(
                LoadBalancerArn=lb_arn,
                Protocol="HTTP",
                Port=svc.alb.test_listener_port,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": tgs["green"]}],
            )
    for svc in policy.services:  # each colour's own CPU alarm, as the workload tags them (deckwatch:colour)
        if svc.ecs is None:
            continue
        for colour in ("blue", "green"):
            name = f"{svc.ecs.cluster}-{svc.name}-{colour}-cpu-high"
            service_name = str(getattr(svc.ecs.services, colour))
            cw.put_metric_alarm(
                AlarmName=name,
                Namespace="AWS/ECS",
                MetricName="CPUUtilization",
                Dimensions=[
                    {"Name": "ClusterName", "Value": svc.ecs.cluster},
                    {"Name": "ServiceName", "Value": service_name},
                ],
                Statistic="Average",
                Period=60,
                EvaluationPeriods=3,
                Threshold=80.0,
                ComparisonOperator="GreaterThanThreshold",
                Tags=[
                    _MANAGED,
                    {"Key": "deckwatch:service", "Value": svc.name},
                    {"Key": "deckwatch:colour", "Value": colour},
                ],
            )
            world["alarms"].append(name)
            alarm_names.discard(name)
    owner = {a: s for s in policy.services for a in s.alarms}
    for name in sorted(alarm_names):
        cw.put_metric_alarm(AlarmName=name, **_alarm(name, owner.get(name), world), Tags=[_MANAGED])
        world["alarms"].append(name)
    if policy.drills.network is not None:
        _drill_network(policy.drills.network, ec2, rds, vpc, subnets)
    for dr_region, network in policy.drills.dr_networks.items():
        dr_ec2, dr_rds = runtime.client("ec2", region=dr_region), runtime.client("rds", region=dr_region)
        dr_vpc = dr_ec2.create_vpc(CidrBlock="10.43.0.0/16")["Vpc"]["VpcId"]
        dr_subnets = [
            dr_ec2.create_subnet(VpcId=dr_vpc, CidrBlock=f"10.43.{i}.0/24", AvailabilityZone=f"{dr_region}{az}")[
                "Subnet"
            ]["SubnetId"]
            for i, az in enumerate("abc")
        ]
        _drill_network(network, dr_ec2, dr_rds, dr_vpc, dr_subnets)
    for target in policy.drills.targets:
        if target.engine == "aurora-postgresql":
            rds.create_db_cluster(
                DBClusterIdentifier=target.resource,
                Engine="aurora-postgresql",
                MasterUsername="shop_admin",
                ManageMasterUserPassword=True,
                DatabaseName=target.database,
                StorageEncrypted=True,
                Tags=[{"Key": "Environment", "Value": policy.environment}],
            )
            rds.create_db_instance(
                DBInstanceIdentifier=f"{target.resource}-1",
                DBClusterIdentifier=target.resource,
                DBInstanceClass=target.instance_class,
                Engine="aurora-postgresql",
            )
            world["databases"].append(target.resource)
            continue
        rds.create_db_instance(
            DBInstanceIdentifier=target.resource,
            DBInstanceClass="db.t4g.medium",
            Engine="postgres",
            MasterUsername="shop_admin",
            AllocatedStorage=50,
            ManageMasterUserPassword=True,
            DBName=target.database,
            Tags=[{"Key": "Environment", "Value": policy.environment}],
        )
        world["databases"].append(target.resource)
    return world


_MANAGED = {"Key": "deckwatch:managed", "Value": "true"}
SLO_SECONDS = 0.2  # the workload's latency SLO (workload/template.yaml Slo mapping)


def _alarm(name: str, service: Any, world: dict[str, Any]) -> dict[str, Any]:
    """An alarm shaped as the workload declares its kind (workload/template.yaml): the 5xx rate and p99 latency of
    a service's load balancer, a Lambda alias's errors; any other as CPU of the ECS service (not modelled)."""
    lb = world["services"].get(service.name, {}).get("load_balancer", "") if service is not None else ""
    lb_dim = [{"Name": "LoadBalancer", "Value": lb.split("loadbalancer/", 1)[-1]}] if lb else []
    base = {"Period": 60, "ComparisonOperator": "GreaterThanThreshold"}
    if lb and name.endswith("-5xx-rate"):

        def stat(qid: str, metric: str) -> dict[str, Any]:
            m = {"Namespace": "AWS/ApplicationELB", "MetricName": metric, "Dimensions": lb_dim}
            return {"Id": qid, "ReturnData": False, "MetricStat": {"Metric": m, "Period": 60, "Stat": "Sum"}}

        return {
            "ComparisonOperator": "GreaterThanThreshold",
            "EvaluationPeriods": 3,
            "DatapointsToAlarm": 2,
            "Threshold": 5.0,
            "TreatMissingData": "notBreaching",
            "Metrics": [
                {
                    "Id": "rate",
                    "Expression": "100 * (FILL(elb5xx, 0) + FILL(target5xx, 0)) / FILL(requests, 1)",
                    "ReturnData": True,
                },
                stat("requests", "RequestCount"),
                stat("elb5xx", "HTTPCode_ELB_5XX_Count"),
                stat("target5xx", "HTTPCode_Target_5XX_Count"),
            ],
        }
    if lb and name.endswith("-p99-latency"):
        return base | {
            "Namespace": "AWS/ApplicationELB",
            "MetricName": "TargetResponseTime",
            "Dimensions": lb_dim,
            "ExtendedStatistic": "p99",
            "EvaluationPeriods": 5,
            "DatapointsToAlarm": 3,
            "Threshold": SLO_SECONDS,
            "TreatMissingData": "notBreaching",
        }
    if service is not None and service.function is not None and name.endswith("-errors"):
        return base | {
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Dimensions": [
                {"Name": "FunctionName", "Value": service.function.function},
                {"Name": "Resource", "Value": f"{service.function.function}:{service.function.alias}"},
            ],
            "Statistic": "Sum",
            "EvaluationPeriods": 2,
            "Threshold": 10.0,
            "TreatMissingData": "notBreaching",
        }
    return base | {
        "Namespace": "AWS/ECS",
        "MetricName": "CPUUtilization",
        "Statistic": "Average",
        "EvaluationPeriods": 3,
        "Threshold": 80.0,
    }


def _traffic_parameters(runtime: Any, environment: str, service: str, test: str) -> None:
    """What workload/bootstrap.sh puts in SSM before the workload stack's first create: the weights the stack's
    listeners read (blue 100, green 0) and the colour its test listener reaches."""
    ssm = runtime.client("ssm")
    for colour, value in (("blue", "100"), ("green", "0"), ("test", test)):
        ssm.put_parameter(Name=f"/deckwatch/{environment}/traffic/{service}/{colour}", Value=value, Type="String")


def _drill_network(network: Any, ec2: Any, rds: Any, vpc: str, subnets: list[str]) -> None:
    """The subnet group and security group drills restore into (the policy's drills.network or dr_networks)."""
    rds.create_db_subnet_group(
        DBSubnetGroupName=network.db_subnet_group, DBSubnetGroupDescription="restore drills", SubnetIds=subnets
    )
    ec2.create_security_group(GroupName=network.security_group, Description="restore drills", VpcId=vpc)
