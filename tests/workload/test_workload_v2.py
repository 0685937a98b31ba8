"""Reference workload v2 (issues 20, 11, 12): the per-service anatomy, the traffic contract, the pipeline's
hand-off to Deckwatch, cache and edge, and the stack-to-stack contract - checked offline on the evaluated
template for every environment. The moto round trip is in test_workload_moto.py.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from support import workload_cfn as cfn

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
WORKLOAD = REPO / "workload"
TEMPLATE = WORKLOAD / "template.yaml"
ENVIRONMENTS = ("dev", "staging", "prod")


def _load(name: str, path: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


gen = _load("workload_generate", WORKLOAD / "generate.py")
SERVICES = {s.name: s for s in gen.SERVICES}
ALB_SERVICES = [s.name for s in gen.SERVICES if s.alb]
COLOURS = gen.COLOURS


@pytest.fixture(scope="module")
def template() -> dict:
    return cfn.load_template(TEMPLATE)


def bootstrap(env: str) -> tuple[dict[str, str], dict[str, str]]:
    params, values = {}, {}
    for s in gen.SERVICES:
        for param, (path, value) in gen.traffic_parameters(s).items():
            params[param] = path.format(env=env)
            values[path.format(env=env)] = value.format(env=env)
    return params, values


def stack(template: dict, env: str, ssm: dict[str, str] | None = None, **extra: str) -> cfn.Stack:
    params, values = bootstrap(env)
    return cfn.Stack(template, {"Environment": env, **params, **extra}, {**values, **(ssm or {})})


def props_of(st: cfn.Stack, rtype: str) -> list[dict]:
    return list(st.of_type(rtype).values())


def by_name(st: cfn.Stack, rtype: str, prop: str) -> dict:
    return {p[prop]: p for p in props_of(st, rtype)}


def tags(p: dict, key: str):
    return cfn.tag_value(p.get("Tags"), key)


def logical_of(value) -> str | None:
    if isinstance(value, cfn.Unresolved):
        return value.what.split()[1].split(".")[0]
    return None


# ------------------------------------------------------------------------------------------- generator ---


def test_committed_template_is_the_generator_output():
    """Fails when template.yaml was edited between the markers, or generate.py changed without a re-run."""
    text = TEMPLATE.read_text(encoding="utf-8")
    assert gen.render(text) == text, "run: python3 workload/generate.py"
    assert (
        subprocess.run(
            [sys.executable, str(WORKLOAD / "generate.py"), "--check"], capture_output=True, check=False
        ).returncode
        == 0
    )


def test_generated_yaml_means_what_the_generator_says(template):
    """The emitter's YAML, read back, is exactly the generator's data (no quoting or flow-style surprises)."""
    sections = {"parameters": "Parameters", "mappings": "Mappings", "resources": "Resources", "outputs": "Outputs"}
    for name, key in sections.items():
        data = gen.SECTIONS[name]()
        for logical, value in data.items():
            assert template[key][logical] == gen.to_long(value), (key, logical)


def test_generated_sections_are_marked(template):
    text = TEMPLATE.read_text(encoding="utf-8")
    for name in gen.SECTIONS:
        assert text.count(gen.begin_marker(name)) == 1 and text.count(gen.end_marker(name)) == 1


def test_every_service_resource_comes_from_the_generator(template):
    """Declared once: no ECS service, target group, listener, scaling or pipeline is written by hand."""
    generated = set(gen.resources())
    for logical, res in template["Resources"].items():
        if res["Type"] in (
            "AWS::ECS::Service",
            "AWS::ECS::TaskDefinition",
            "AWS::ElasticLoadBalancingV2::TargetGroup",
            "AWS::ElasticLoadBalancingV2::Listener",
            "AWS::ApplicationAutoScaling::ScalableTarget",
            "AWS::ApplicationAutoScaling::ScalingPolicy",
            "AWS::CodePipeline::Pipeline",
            "AWS::CodeBuild::Project",
        ):
            assert logical in generated, logical


def test_services_have_three_shapes():
    assert {s.kind for s in gen.SERVICES} == {gen.PUBLIC, gen.INTERNAL, gen.QUEUE}
    assert [s.name for s in gen.SERVICES] == ["web", "api", "worker"]


# ------------------------------------------------------------------------------------ per service, colour ---


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("service", list(SERVICES))
def test_both_colours_exist_with_their_target_groups(template, env, service):
    st = stack(template, env)
    s = SERVICES[service]
    ecs = by_name(st, "AWS::ECS::Service", "ServiceName")
    tgs: dict[str | None, dict] = dict(st.of_type("AWS::ElasticLoadBalancingV2::TargetGroup").items())
    for c in COLOURS:
        name = f"shop-{env}-{service}-{c}"
        p = ecs[name]
        assert p["Cluster"] == f"shop-{env}"
        assert "DesiredCount" not in p
        assert (tags(p, "deckwatch:service"), tags(p, "deckwatch:colour")) == (service, c)
        assert p["PropagateTags"] == "SERVICE"
        if s.alb:
            (lb,) = p["LoadBalancers"]
            tg = tgs[logical_of(lb["TargetGroupArn"])]
            assert tg["Name"] == name and lb["ContainerName"] == service
            assert (tags(tg, "deckwatch:service"), tags(tg, "deckwatch:colour")) == (service, c)
        else:
            assert "LoadBalancers" not in p


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_ecs_service_has_a_desired_count(template, env):
    services = props_of(stack(template, env), "AWS::ECS::Service")
    assert len(services) == 2 * len(SERVICES)
    assert all("DesiredCount" not in p for p in services)
    # and the reason is written next to them
    assert "For existing services, if a desired count is not specified" in TEMPLATE.read_text(encoding="utf-8")


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("service", list(SERVICES))
def test_per_colour_alarms_named_and_tagged(template, env, service):
    st = stack(template, env)
    s = SERVICES[service]
    alarms = by_name(st, "AWS::CloudWatch::Alarm", "AlarmName")
    metrics = ["cpu-high", "memory-high"] + (["5xx-rate", "p99-latency"] if s.alb else ["error-rate", "message-age"])
    for c in COLOURS:
        for metric in metrics:
            name = f"shop-{env}-{service}-{c}-{metric}"
            assert name in alarms, name
            p = alarms[name]
            assert tags(p, "deckwatch:managed") == "true"
            assert tags(p, "deckwatch:service") == service
            assert tags(p, "deckwatch:colour") == c
            assert tags(p, "Environment") == env
            assert p["AlarmActions"] == p["OKActions"]
        assert gen.colour_alarm_names(s, c, env) == [f"shop-{env}-{service}-{c}-{m}" for m in metrics]
    own = {n for n in alarms if n.startswith(f"shop-{env}-{service}-")}
    colourless = own - {f"shop-{env}-{service}-{c}-{m}" for c in COLOURS for m in metrics}
    expected = {f"shop-{env}-worker-queue-age", f"shop-{env}-worker-dlq-depth"} if service == "worker" else set()
    if service == "web":  # the load-balancer-wide alarms the v1 policies name
        expected = {f"shop-{env}-web-{m}" for m in ("5xx-rate", "p99-latency", "cpu-high", "memory-high")}
    assert colourless == expected


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_latency_alarms_derive_from_one_200ms_slo(template, env):
    slo = template["Mappings"]["Slo"]["Targets"]
    assert slo["LatencyMs"] == 200 and slo["LatencySeconds"] == slo["LatencyMs"] / 1000 == 0.2
    st = stack(template, env)
    latency = [p for p in props_of(st, "AWS::CloudWatch::Alarm") if p.get("MetricName") == "TargetResponseTime"]
    assert len(latency) == 1 + 2 * len(ALB_SERVICES)  # web LB-wide + one per colour and ALB service
    for p in latency:
        assert p["ExtendedStatistic"] == "p99" and p["Threshold"] == 0.2, p["AlarmName"]
    for service in ALB_SERVICES:
        for c in COLOURS:
            p = by_name(st, "AWS::CloudWatch::Alarm", "AlarmName")[f"shop-{env}-{service}-{c}-p99-latency"]
            assert {d["Name"] for d in p["Dimensions"]} == {"TargetGroup", "LoadBalancer"}


def test_worker_canary_signals(template):
    st = stack(template, "prod")
    alarms = by_name(st, "AWS::CloudWatch::Alarm", "AlarmName")
    age = alarms["shop-prod-worker-queue-age"]
    assert age["MetricName"] == "ApproximateAgeOfOldestMessage" and age["Threshold"] == 60
    for c in COLOURS:
        errors = alarms[f"shop-prod-worker-{c}-error-rate"]
        dims = {
            d["Name"]: d["Value"]
            for m in errors["Metrics"]
            if "MetricStat" in m
            for d in m["MetricStat"]["Metric"]["Dimensions"]
        }
        assert dims == {"Environment": "prod", "Colour": c}


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("service", list(SERVICES))
def test_scaling_bounds_and_idle_colour(template, env, service):
    st = stack(template, env)
    size = SERVICES[service].sizes[env]
    targets = {
        p["ResourceId"]: (logical, p)
        for logical, p in st.of_type("AWS::ApplicationAutoScaling::ScalableTarget").items()
    }
    policies = props_of(st, "AWS::ApplicationAutoScaling::ScalingPolicy")
    for c in COLOURS:
        logical, p = targets[f"service/shop-{env}/shop-{env}-{service}-{c}"]
        # MinCapacity 0: registering/updating never raises a colour Deckwatch scaled to zero.
        assert p["MinCapacity"] == 0 and p["MaxCapacity"] == size.max_tasks
        assert "SuspendedState" not in p  # Deckwatch's to set
        mine = [q for q in policies if logical_of(q["ScalingTargetId"]) == logical]
        kinds = {
            (q["TargetTrackingScalingPolicyConfiguration"].get("PredefinedMetricSpecification") or {}).get(
                "PredefinedMetricType", "custom"
            )
            for q in mine
        }
        expected = {"ECSServiceAverageCPUUtilization"}
        expected |= {"ALBRequestCountPerTarget"} if SERVICES[service].alb else {"custom"}
        assert kinds == expected
        for q in mine:
            spec = q["TargetTrackingScalingPolicyConfiguration"].get("CustomizedMetricSpecification")
            if spec:  # worker: zero while this colour has no tasks, so it cannot scale an idle colour out
                (expr,) = [m["Expression"] for m in spec["Metrics"] if "Expression" in m]
                assert expr.startswith("IF(FILL(mine, 0) > 0,")
                assert q["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == size.scaling_target


def test_prod_bounds_come_from_the_capacity_arithmetic():
    c = gen.CAPACITY
    assert c["concurrent_users"] >= 100_000
    assert gen.peak_rate("web") == 10_000 and gen.peak_rate("api") == 10_000 and gen.peak_rate("worker") == 1_000
    assert {s.name: s.sizes["prod"].max_tasks for s in gen.SERVICES} == {"web": 60, "api": 38, "worker": 15}
    for s in gen.SERVICES:
        prod = s.sizes["prod"]
        assert prod.max_tasks == gen.prod_max_tasks(s.name) and prod.scaling_target == gen.prod_scaling_target(s.name)
        # the live colour's floor leaves room; the ceiling carries peak with one AZ lost
        assert prod.min_tasks <= prod.max_tasks
        assert prod.max_tasks * c["per_task"][s.name] >= gen.peak_rate(s.name) * c["az_headroom"]
    readme = (WORKLOAD / "README.md").read_text(encoding="utf-8")
    for figure in ("100,000", "10,000", "1,000", "| 60 |", "| 38 |", "| 15 |", "10,500", "16,800", "3,000"):
        assert figure in readme, figure


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_database_connections_fit_at_full_scale(template, env):
    """Both colours at MaxTasks (the worst moment of a cutover), every pool full, stay under the alarm."""
    total = sum(2 * s.sizes[env].max_tasks * s.sizes[env].db_pool for s in gen.SERVICES)
    assert total < template["Mappings"]["EnvConfig"][env]["DbConnectionsHigh"]


# --------------------------------------------------------------------------------- traffic contract ---


def test_traffic_parameters_are_ssm_typed(template):
    params = template["Parameters"]
    for service in ALB_SERVICES:
        s = SERVICES[service]
        assert set(gen.traffic_parameters(s)) == {
            f"{s.prefix}BlueWeight",
            f"{s.prefix}GreenWeight",
            f"{s.prefix}TestColour",
            f"{s.prefix}BlueTaskDefinition",
            f"{s.prefix}GreenTaskDefinition",
        }
        for name in gen.traffic_parameters(s):
            assert params[name]["Type"] == "AWS::SSM::Parameter::Value<String>", name
            assert "Default" not in params[name]  # the name depends on the environment: samconfig.toml passes it
            assert f"/deckwatch/<env>/traffic/{service}/" in params[name]["Description"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("service", ALB_SERVICES)
def test_listeners_take_their_weights_from_ssm(template, env, service):
    lb = gen.ids(SERVICES[service])["LoadBalancer"]
    blue, green = f"shop-{env}-{service}-blue", f"shop-{env}-{service}-green"
    base = f"/deckwatch/{env}/traffic/{service}"

    def listeners(ssm):
        st = stack(template, env, ssm)
        names: dict[str | None, str] = {
            logical: p["Name"] for logical, p in st.of_type("AWS::ElasticLoadBalancingV2::TargetGroup").items()
        }
        out = {}
        for p in props_of(st, "AWS::ElasticLoadBalancingV2::Listener"):
            if logical_of(p["LoadBalancerArn"]) != lb:
                continue
            (action,) = p["DefaultActions"]
            assert action["Type"] == "forward" and "TargetGroupArn" not in action
            out[p["Port"]] = {
                names[logical_of(t["TargetGroupArn"])]: int(t["Weight"])
                for t in action["ForwardConfig"]["TargetGroups"]
            }
        return out

    assert listeners({}) == {443: {blue: 100, green: 0}, 8443: {blue: 0, green: 100}}
    shifted = {f"{base}/blue": "10", f"{base}/green": "90", f"{base}/test": "blue"}
    assert listeners(shifted) == {443: {blue: 10, green: 90}, 8443: {blue: 100, green: 0}}


def test_test_colour_mapping_covers_exactly_the_colours(template):
    assert template["Mappings"]["TestListenerWeights"] == {
        "blue": {"Blue": 100, "Green": 0},
        "green": {"Blue": 0, "Green": 100},
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_samconfig_passes_every_required_parameter(template, env):
    config = tomllib.loads((WORKLOAD / "samconfig.toml").read_text(encoding="utf-8"))
    overrides = dict(x.split("=", 1) for x in config[env]["deploy"]["parameters"]["parameter_overrides"])
    required = {k for k, v in template["Parameters"].items() if "Default" not in v}
    assert required <= set(overrides), required - set(overrides)
    assert set(overrides) <= set(template["Parameters"])
    params, _ = bootstrap(env)
    for name, path in params.items():
        assert overrides[name] == path, name
    assert overrides["Environment"] == env
    for key, value in overrides.items():
        spec = template["Parameters"][key]
        if "AllowedPattern" in spec:
            assert re.fullmatch(spec["AllowedPattern"], value), key


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_bootstrap_script_puts_every_traffic_parameter_without_overwrite(env):
    out = subprocess.run(
        ["bash", str(WORKLOAD / "bootstrap.sh"), env, "--region", "us-east-1", "--dry-run"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    _, values = bootstrap(env)
    assert sorted(out) == sorted(
        f"aws ssm put-parameter --region us-east-1 --type String --name {k} --value {v}" for k, v in values.items()
    )
    assert "--overwrite" not in (WORKLOAD / "bootstrap.sh").read_text(encoding="utf-8")
    assert (
        values[f"/deckwatch/{env}/traffic/web/blue"] == "100"
        and values[f"/deckwatch/{env}/traffic/web/test"] == "green"
    )


# ------------------------------------------------------------------------------------------ pipelines ---


def _actions(pipeline: dict) -> list[dict]:
    return [a for stage in pipeline["Stages"] for a in stage["Actions"]]


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("service", list(SERVICES))
def test_pipeline_hands_the_image_to_deckwatch(template, env, service):
    sm = f"arn:aws:states:us-east-1:123456789012:stateMachine:deckwatch-{env}-cutover"
    st = stack(template, env, DeckwatchCutoverStateMachineArn=sm)
    pipelines = by_name(st, "AWS::CodePipeline::Pipeline", "Name")
    name = f"shop-{service}-dev" if env == "dev" else f"shop-{service}"
    actions = _actions(pipelines[name])
    order = [a["Name"] for a in actions]
    if env == "prod":  # the prod policy triggers on ApproveProd: the cutover comes after it
        assert order == ["Source", "BuildImage", "ApproveProd", "Cutover", "ReleaseImage"]
    else:  # dev and staging trigger on BuildImage
        assert order == ["Source", "BuildImage", "Cutover", "ApproveProd", "ReleaseImage"]
    assert all(a["ActionTypeId"]["Category"] != "Deploy" for a in actions), "the pipeline never deploys to a colour"
    cutover = next(a for a in actions if a["Name"] == "Cutover")
    assert cutover["ActionTypeId"] == {
        "Category": "Invoke",
        "Owner": "AWS",
        "Provider": "StepFunctions",
        "Version": "1",
    }
    config = cutover["Configuration"]
    assert config["StateMachineArn"] == sm and config["InputType"] == "Literal"
    assert config["ExecutionNamePrefix"] == f"shop-{env}-{service}"
    document = json.loads(config["Input"])
    assert document == {
        "environment": env,
        "service": service,
        "image": "#{BuildVariables.IMAGE_URI}",
        "pipeline": name,
        "pipelineExecutionId": "#{codepipeline.PipelineExecutionId}",
        "commit": "#{SourceVariables.CommitId}",
        "approvedByPipeline": env == "prod",
        "requestedBy": f"pipeline:{name}/Cutover",
    }
    build = next(a for a in actions if a["Name"] == "BuildImage")
    assert build["Namespace"] == "BuildVariables"
    project = by_name(st, "AWS::CodeBuild::Project", "Name")[build["Configuration"]["ProjectName"]]
    assert project["Name"] == f"shop-{env}-{service}"
    spec = project["Source"]["BuildSpec"]
    assert "exported-variables: [IMAGE_URI, IMAGE_TAG]" in spec and "imageDetail.json" in spec


@pytest.mark.parametrize("service", list(SERVICES))
def test_pipeline_role_least_privilege_on_the_state_machine(template, service):
    sm = "arn:aws:states:us-east-1:123456789012:stateMachine:deckwatch-prod-cutover"
    st = stack(template, "prod", DeckwatchCutoverStateMachineArn=sm)
    role = st.props(gen.ids(SERVICES[service])["PipelineRole"])
    statements = [x for p in role["Policies"] for x in p["PolicyDocument"]["Statement"]]
    states = [x for x in statements if any(str(a).startswith("states:") for a in _list(x["Action"]))]
    assert {(tuple(_list(x["Action"])), x["Resource"]) for x in states} == {
        (("states:StartExecution",), sm),
        (
            ("states:DescribeExecution", "states:StopExecution"),
            f"arn:aws:states:us-east-1:123456789012:execution:deckwatch-prod-cutover:shop-prod-{service}-*",
        ),
    }
    actions = {a for x in statements for a in _list(x["Action"])}
    assert not {a for a in actions if a.startswith(("ecs:", "iam:"))}, "no deploy rights left"
    assert all(x["Resource"] != "*" for x in statements)


def _list(value) -> list:
    return value if isinstance(value, list) else [value]


# -------------------------------------------------------------------------------------- cache and edge ---


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cache(template, env):
    st = stack(template, env)
    (cache,) = props_of(st, "AWS::ElastiCache::ReplicationGroup")
    assert cache["TransitEncryptionEnabled"] is True and cache["AtRestEncryptionEnabled"] is True
    assert logical_of(cache["KmsKeyId"]) == "DataKey"
    assert "TransitEncryptionMode" not in cache or cache["TransitEncryptionMode"] == "required"
    assert cache["AuthToken"] == "{{resolve:secretsmanager:<Ref CacheAuthSecret>:SecretString:token}}"
    nodes = cache["NumCacheClusters"]
    if env == "prod":
        assert nodes == 3 and cache["MultiAZEnabled"] is True and cache["AutomaticFailoverEnabled"] is True
    elif env == "dev":
        assert nodes == 1 and cache["MultiAZEnabled"] is False and cache["AutomaticFailoverEnabled"] is False
    else:
        assert nodes == 2 and cache["AutomaticFailoverEnabled"] is True
    (subnets,) = props_of(st, "AWS::ElastiCache::SubnetGroup")
    assert [logical_of(x) for x in subnets["SubnetIds"]] == ["IsolatedSubnet1", "IsolatedSubnet2", "IsolatedSubnet3"]
    assert [logical_of(x) for x in cache["SecurityGroupIds"]] == ["CacheSecurityGroup"]
    assert "SecurityGroupIngress" not in st.props("CacheSecurityGroup")
    sources = {
        logical_of(p["SourceSecurityGroupId"])
        for p in props_of(st, "AWS::EC2::SecurityGroupIngress")
        if logical_of(p["GroupId"]) == "CacheSecurityGroup"
    }
    assert sources == {gen.ids(s)["SecurityGroup"] for s in gen.SERVICES}
    # tasks get the token from Secrets Manager, never in plain text
    for task in props_of(st, "AWS::ECS::TaskDefinition"):
        (container,) = task["ContainerDefinitions"]
        assert {s["Name"] for s in container["Secrets"]} == {"CACHE_AUTH_TOKEN"}


def test_cloudfront_in_front_of_the_public_alb(template):
    st = stack(template, "prod")
    (dist,) = props_of(st, "AWS::CloudFront::Distribution")
    config = dist["DistributionConfig"]
    assert config["ViewerCertificate"]["MinimumProtocolVersion"] == "TLSv1.2_2021"
    assert isinstance(config["ViewerCertificate"]["AcmCertificateArn"], cfn.Unresolved)  # CloudFrontCertificateArn
    (origin,) = config["Origins"]
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert origin["OriginCustomHeaders"] == [
        {
            "HeaderName": "X-Origin-Verify",
            "HeaderValue": "{{resolve:secretsmanager:<Ref OriginVerifySecret>:SecretString:value}}",
        }
    ]
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    # us-east-1 with no ARN given: the stack creates the CLOUDFRONT-scope ACL; elsewhere it takes the parameter
    assert logical_of(config["WebACLId"]) == "CloudFrontWebAcl"
    assert st.props("CloudFrontWebAcl")["Scope"] == "CLOUDFRONT"
    elsewhere = cfn.Stack(
        template,
        {
            "Environment": "prod",
            "AWS::Region": "eu-west-1",
            "CloudFrontWebAclArn": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/x/1",
        },
    )
    assert "CloudFrontWebAcl" not in elsewhere.resources()
    assert elsewhere.props("Distribution")["DistributionConfig"]["WebACLId"].endswith("global/webacl/x/1")
    rule = template["Rules"]["CloudFrontWebAclOutsideUsEast1"]
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "CloudFrontWebAclArn"}, ""]}]}


def test_origin_accepts_only_cloudfront(template):
    st = stack(template, "prod")
    sg = st.props("AlbSecurityGroup")
    by_port = {r["FromPort"]: r for r in sg["SecurityGroupIngress"]}
    assert set(by_port) == {443, 8443}
    assert "CidrIp" not in by_port[443] and by_port[443]["SourcePrefixListId"] == "pl-3b927c52"
    assert by_port[8443]["CidrIp"] == "10.0.0.0/8"
    acl = st.props("WebAcl")
    assert acl["Scope"] == "REGIONAL"
    first = min(acl["Rules"], key=lambda r: r["Priority"])
    assert first["Action"] == {"Block": {}}
    header, test_net = first["Statement"]["AndStatement"]["Statements"]
    match = header["NotStatement"]["Statement"]["ByteMatchStatement"]
    assert match["FieldToMatch"] == {"SingleHeader": {"Name": "x-origin-verify"}}
    assert match["SearchString"] == "{{resolve:secretsmanager:<Ref OriginVerifySecret>:SecretString:value}}"
    assert logical_of(test_net["NotStatement"]["Statement"]["IPSetReferenceStatement"]["Arn"]) == "TestClientsIpSet"
    assert logical_of(st.props("WebAclAssociation")["ResourceArn"]) == "LoadBalancer"


def test_internal_alb_for_api(template):
    st = stack(template, "prod")
    lbs = by_name(st, "AWS::ElasticLoadBalancingV2::LoadBalancer", "Name")
    assert lbs["shop-prod"]["Scheme"] == "internet-facing" and lbs["shop-prod-api"]["Scheme"] == "internal"
    assert [logical_of(x) for x in lbs["shop-prod-api"]["Subnets"]] == [
        "PrivateSubnet1",
        "PrivateSubnet2",
        "PrivateSubnet3",
    ]
    ingress = [
        p
        for p in props_of(st, "AWS::EC2::SecurityGroupIngress")
        if logical_of(p["GroupId"]) == "ApiLoadBalancerSecurityGroup"
    ]
    assert [(p["FromPort"], logical_of(p["SourceSecurityGroupId"])) for p in ingress] == [(443, "AppSecurityGroup")]


# ----------------------------------------------------------------------------- stack-to-stack contract ---


def test_drill_secret_contract(template):
    st = stack(template, "prod", DeckwatchDrillValidatorRoleArn="arn:aws:iam::123456789012:role/validator")
    secret = st.props("DrillSecret")
    assert tags(secret, "deckwatch:drill-credentials") == "true"
    assert logical_of(secret["KmsKeyId"]) == "DrillSecretKey"
    grants = [
        x
        for x in st.props("DrillSecretKey")["KeyPolicy"]["Statement"]
        if x.get("Principal") == {"AWS": "arn:aws:iam::123456789012:role/validator"}
    ]
    assert grants == [
        {
            "Sid": "DeckwatchDrillValidatorDecrypts",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:role/validator"},
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}},
        }
    ]
    # no other secret carries the tag, and DataKey grants Deckwatch nothing
    others = [p for logical, p in st.of_type("AWS::SecretsManager::Secret").items() if logical != "DrillSecret"]
    assert all(tags(p, "deckwatch:drill-credentials") is None for p in others)


def test_artifact_contract(template):
    st = stack(template, "prod", DeckwatchPipelineEventsRoleArn="arn:aws:iam::123456789012:role/pipeline-events")
    bucket = st.props("ArtifactBucket")
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert logical_of(sse["KMSMasterKeyID"]) == "ArtifactKey"
    grant = next(
        x for x in st.props("ArtifactKey")["KeyPolicy"]["Statement"] if x.get("Sid") == "DeckwatchReadsBuildArtifacts"
    )
    assert grant["Principal"] == {"AWS": "arn:aws:iam::123456789012:role/pipeline-events"}
    assert grant["Action"] == ["kms:Decrypt", "kms:DescribeKey"]
    assert grant["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
    for p in props_of(st, "AWS::CodePipeline::Pipeline"):
        assert logical_of(p["ArtifactStore"]["Location"]) == "ArtifactBucket"
        assert logical_of(p["ArtifactStore"]["EncryptionKey"]["Id"]) == "ArtifactKey"
    # Deckwatch is granted nothing on the data key
    assert all("Deckwatch" not in str(x) for x in st.props("DataKey")["KeyPolicy"]["Statement"])


def test_outputs_for_deckwatch(template):
    outputs = template["Outputs"]
    shared = {
        "ClusterName",
        "DbInstanceIdentifier",
        "DbInstanceArn",
        "DrillSubnetGroupName",
        "DrillSecurityGroupName",
        "DrillSecretArn",
        "DrillSecretKeyArn",
        "BackupVaultName",
        "BudgetName",
        "CostAnomalyMonitorArn",
        "ArtifactBucketName",
        "ArtifactKeyArn",
        "TrafficParameterPrefix",
        "WebAlarms",
        "DatabaseAlarms",
        "CacheEndpoint",
        "DistributionId",
        # v1 names kept
        "BlueServiceName",
        "GreenServiceName",
        "LoadBalancerName",
        "ProductionListenerArn",
        "TestListenerArn",
        "BlueTargetGroupArn",
        "GreenTargetGroupArn",
        "PipelineName",
    }
    assert shared <= set(outputs), shared - set(outputs)
    for s in gen.SERVICES:
        p = s.prefix
        need = {f"{p}{c.title()}{x}" for c in COLOURS for x in ("ServiceName", "ServiceArn", "Alarms")}
        need |= {f"{p}PipelineName", f"{p}ImageRepositoryUri", f"{p}ContainerName", f"{p}MinTasks", f"{p}MaxTasks"}
        if s.alb:
            need |= {
                f"{p}LoadBalancerName",
                f"{p}ProductionListenerArn",
                f"{p}TestListenerArn",
                f"{p}TrafficParameterPrefix",
            }
            need |= {f"{p}{c.title()}TargetGroupArn" for c in COLOURS}
        else:
            need |= {f"{p}QueueUrl", f"{p}QueueArn", f"{p}DeadLetterQueueUrl", f"{p}ServiceAlarms"}
        assert need <= set(outputs), need - set(outputs)
    assert outputs["Services"]["Value"] == ",".join(SERVICES)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_colour_alarm_outputs_list_the_colour_alarms(template, env):
    st = stack(template, env)
    for s in gen.SERVICES:
        for c in COLOURS:
            assert st.evaluate(template["Outputs"][f"{s.prefix}{c.title()}Alarms"]["Value"]).split(
                ","
            ) == gen.colour_alarm_names(s, c, env)


def _tag_property(rtype: str) -> str | None:
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", rtype).schema
    tagging = schema.get("tagging")
    if tagging is None:
        return "Tags" if "Tags" in schema.get("properties", {}) else None
    if not tagging.get("taggable", False):
        return None
    return tagging.get("tagProperty", "/properties/Tags").split("/")[-1]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_service_resources_carry_the_service_tag(template, env):
    """So that `deckwatch policy init --stack` can group a stack's resources by service from tags alone."""
    st = stack(template, env)
    existing = st.resources()
    checked = 0
    for s in gen.SERVICES:
        for logical in set(gen.ids(s).values()) & set(existing):
            if logical in ("LoadBalancer", "AlbSecurityGroup") and s.name != "web":
                continue
            prop = _tag_property(existing[logical]["Type"])
            if prop is None:
                continue
            checked += 1
            assert cfn.tag_value(st.props(logical).get(prop), "deckwatch:service") == s.name, logical
    assert checked > 60


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_dashboard_body_is_json_with_every_service(template, env):
    body = json.loads(stack(template, env).props("Dashboard")["DashboardBody"])
    titles = " ".join(w["properties"]["title"] for w in body["widgets"])
    for s in gen.SERVICES:
        assert f"{s.name}:" in titles


# ------------------------------------------------------------------------------- upgrade from v1 in place ---

V1 = HERE / "data" / "template_v1.yaml"  # workload/template.yaml as it was before v2, frozen


def _create_only(rtype: str) -> list[str]:
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", rtype).schema
    return [p.split("/")[2] for p in schema.get("createOnlyProperties", []) if p.count("/") == 2]


def upgrade_problems(template: dict, env: str) -> list[str]:
    """What would make a v1 stack fail to update to `template`: a resource with a fixed name that would be
    replaced (CloudFormation creates the replacement first, which fails on the name: ECS services, target
    groups, security groups, the ALB...), or a fixed name that moves to another logical id."""
    problems = []
    v1 = cfn.Stack(cfn.load_template(V1), {"Environment": env})
    v2 = stack(template, env)
    old, new = v1.resources(), v2.resources()
    for logical in sorted(set(old) & set(new)):
        rtype = old[logical]["Type"]
        if new[logical]["Type"] != rtype:
            problems.append(f"{logical}: type changes")
            continue
        fixed = [p for p in _create_only(rtype) if p.endswith(("Name", "Identifier")) and p in v2.props(logical)]
        if not fixed:
            continue  # unnamed: a replacement is created alongside, no conflict
        before, after = v1.props(logical), v2.props(logical)
        problems += [f"{logical}.{p} changes" for p in _create_only(rtype) if before.get(p) != after.get(p)]

    def names(st, resources):
        out = {}
        for logical, res in resources.items():
            for prop in _create_only(res["Type"]):
                value = st.props(logical).get(prop)
                if prop.endswith(("Name", "Identifier")) and isinstance(value, str):
                    out[(res["Type"], value)] = logical
        return out

    before, after = names(v1, old), names(v2, new)
    problems += [
        f"{key} moves from {before[key]} to {after[key]}"
        for key in set(before) & set(after)
        if before[key] != after[key]
    ]
    return problems


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_v1_stacks_update_in_place(template, env):
    assert upgrade_problems(template, env) == []


def test_upgrade_check_is_not_vacuous(template):
    import copy

    broken = copy.deepcopy(template)
    broken["Resources"]["AppSecurityGroup"]["Properties"]["GroupDescription"] = "web tasks"
    assert upgrade_problems(broken, "dev") == ["AppSecurityGroup.GroupDescription changes"]
    moved = copy.deepcopy(template)
    moved["Resources"]["StackDashboard"] = moved["Resources"].pop("Dashboard")
    assert any("moves from Dashboard to StackDashboard" in p for p in upgrade_problems(moved, "dev"))
