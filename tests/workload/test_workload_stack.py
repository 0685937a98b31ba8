"""The reference workload stack provides every resource Deckwatch's policies name.

Deckwatch finds the things it manages by name (cluster, services, target groups,
alarms, pipeline actions, database, drill network, budget...). The example
policies in layers/deckwatch/deckwatch/policy/examples/<env>.yaml and the
workload stack in workload/template.yaml must therefore agree name for name, in
every environment. These tests evaluate the template offline for each
environment (conditions, !Sub, !If, !FindInMap) and check the policy against it.
"""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from support import workload_cfn as cfn

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
TEMPLATE = REPO / "workload" / "template.yaml"
POLICIES = REPO / "layers" / "deckwatch" / "deckwatch" / "policy" / "examples"
ENVIRONMENTS = ("dev", "staging", "prod")


def _load(name: str, path: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


gen = _load("workload_generate", REPO / "workload" / "generate.py")


# ----------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def template() -> dict:
    return cfn.load_template(TEMPLATE)


def load_policy(env: str) -> dict:
    with open(POLICIES / f"{env}.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def ssm_parameters(env: str) -> tuple[dict[str, str], dict[str, str]]:
    """(CloudFormation parameters naming the SSM traffic parameters, SSM name -> bootstrap value) for env."""
    params, values = {}, {}
    for s in gen.SERVICES:
        for param, (path, value) in gen.traffic_parameters(s).items():
            params[param] = path.format(env=env)
            values[path.format(env=env)] = value.format(env=env)
    return params, values


def stack_for(template: dict, env: str, ssm: dict[str, str] | None = None) -> cfn.Stack:
    """The stack of env as CloudFormation creates it after workload/bootstrap.sh (or with `ssm` overrides)."""
    params, values = ssm_parameters(env)
    return cfn.Stack(template, {"Environment": env, **params}, {**values, **(ssm or {})})


def _logical(ref) -> str | None:
    """Logical id behind an unresolved Ref/GetAtt placeholder."""
    if isinstance(ref, cfn.Unresolved):
        return ref.what.split()[1].split(".")[0]
    return None


# ---------------------------------------------------------- name inventory


class Inventory:
    """Everything in one evaluated stack that a Deckwatch policy can name."""

    def __init__(self, stack: cfn.Stack):
        self.stack = stack
        self.clusters = {p["ClusterName"] for p in stack.of_type("AWS::ECS::Cluster").values()}

        self.target_groups = {}  # name -> logical id
        for logical, p in stack.of_type("AWS::ElasticLoadBalancingV2::TargetGroup").items():
            self.target_groups[p["Name"]] = logical
        # logical id -> name; looked up with _logical(...), None for a value that is no Ref/GetAtt
        tg_names: dict[str | None, str] = {v: k for k, v in self.target_groups.items()}

        self.services = {}  # name -> {"cluster": str, "target_groups": set[str]}
        for p in stack.of_type("AWS::ECS::Service").values():
            self.services[p["ServiceName"]] = {
                "cluster": p["Cluster"],
                "target_groups": {tg_names.get(_logical(lb["TargetGroupArn"])) for lb in p.get("LoadBalancers", [])},
                "capacity_providers": {s["CapacityProvider"] for s in p.get("CapacityProviderStrategy", [])},
            }

        self.load_balancers = {}  # name -> logical id
        for logical, p in stack.of_type("AWS::ElasticLoadBalancingV2::LoadBalancer").items():
            self.load_balancers[p["Name"]] = logical

        self.listeners = []  # (lb logical, port, {tg name: weight})
        for p in stack.of_type("AWS::ElasticLoadBalancingV2::Listener").values():
            forwards: dict[str | None, int] = {}
            for action in p.get("DefaultActions", []):
                if action.get("Type") != "forward":
                    continue
                if "TargetGroupArn" in action:
                    forwards[tg_names.get(_logical(action["TargetGroupArn"]))] = 1
                for tg in (action.get("ForwardConfig") or {}).get("TargetGroups", []):
                    forwards[tg_names.get(_logical(tg["TargetGroupArn"]))] = int(tg.get("Weight", 1))
            self.listeners.append((_logical(p["LoadBalancerArn"]), int(p["Port"]), forwards))

        self.alarms = {p["AlarmName"]: p.get("Tags", []) for p in stack.of_type("AWS::CloudWatch::Alarm").values()}
        self.queues = {p["QueueName"] for p in stack.of_type("AWS::SQS::Queue").values() if "QueueName" in p}
        self.metric_namespaces = {  # where the containers publish their own metrics (a queue worker's EMF)
            e["Value"]
            for p in stack.of_type("AWS::ECS::TaskDefinition").values()
            for c in p.get("ContainerDefinitions", [])
            for e in c.get("Environment", [])
            if e.get("Name") == "METRICS_NAMESPACE"
        }
        self.pipelines = {
            p["Name"]: {a["Name"] for stage in p["Stages"] for a in stage["Actions"]}
            for p in stack.of_type("AWS::CodePipeline::Pipeline").values()
        }
        self.db_instances = {p["DBInstanceIdentifier"]: p for p in stack.of_type("AWS::RDS::DBInstance").values()}
        self.db_subnet_groups = {p["DBSubnetGroupName"] for p in stack.of_type("AWS::RDS::DBSubnetGroup").values()}
        self.security_groups = {
            p["GroupName"]: logical
            for logical, p in stack.of_type("AWS::EC2::SecurityGroup").items()
            if "GroupName" in p
        }
        self.secrets = {p["Name"] for p in stack.of_type("AWS::SecretsManager::Secret").values()}
        self.budgets = {p["Budget"]["BudgetName"] for p in stack.of_type("AWS::Budgets::Budget").values()}
        self.anomaly_monitors = {p["MonitorName"]: p for p in stack.of_type("AWS::CE::AnomalyMonitor").values()}
        self.backup_vaults = {p["BackupVaultName"]: p for p in stack.of_type("AWS::Backup::BackupVault").values()}


def policy_problems(inv: Inventory, policy: dict) -> list[str]:
    """Every name the policy refers to that the stack does not provide."""
    problems: list[str] = []

    def need(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    def need_service(cluster: str | None, service: str, where: str) -> None:
        need(cluster in inv.clusters, f"{where}: ECS cluster {cluster!r}")
        need(service in inv.services, f"{where}: ECS service {service!r}")
        if service in inv.services:
            need(
                inv.services[service]["cluster"] == cluster,
                f"{where}: service {service!r} runs in {inv.services[service]['cluster']!r}, not {cluster!r}",
            )

    for i, svc in enumerate(policy.get("services") or []):
        where = f"services[{i}]"
        ecs = svc.get("ecs") or {}
        colours = ecs.get("services") or {}
        for colour in ("blue", "green"):
            need(colour in colours, f"{where}.ecs.services.{colour} missing in policy")
            if colour in colours:
                need_service(ecs.get("cluster"), colours[colour], f"{where}.ecs.services.{colour}")

        if svc.get("kind") == "ecs_worker":  # a queue worker: its queue and its metrics, no load balancer
            queue = svc.get("queue") or {}
            need(queue.get("name") in inv.queues, f"{where}.queue.name {queue.get('name')!r}")
            namespace = queue.get("metrics_namespace")
            need(namespace in inv.metric_namespaces, f"{where}.queue.metrics_namespace {namespace!r}")
            need(not svc.get("alb"), f"{where}: a queue worker with an alb")
        else:
            alb = svc.get("alb") or {}
            lb = alb.get("load_balancer")
            need(lb in inv.load_balancers, f"{where}.alb.load_balancer {lb!r}")
            tgs = alb.get("target_groups") or {}
            for colour in ("blue", "green"):
                tg = tgs.get(colour)
                need(tg in inv.target_groups, f"{where}.alb.target_groups.{colour} {tg!r}")
                svc_name = colours.get(colour)
                if svc_name in inv.services and tg in inv.target_groups:
                    need(
                        tg in inv.services[svc_name]["target_groups"],
                        f"{where}: service {svc_name!r} is not registered with target group {tg!r}",
                    )
            lb_logical = inv.load_balancers.get(lb)
            prod = [f for (l, port, f) in inv.listeners if l == lb_logical and port == alb.get("listener_port")]
            need(bool(prod), f"{where}.alb.listener_port {alb.get('listener_port')} on {lb!r}")
            if prod:
                need(
                    set(prod[0]) >= {tgs.get("blue"), tgs.get("green")},
                    f"{where}: listener {alb.get('listener_port')} does not forward to both colours: {prod[0]}",
                )
            test = [f for (l, port, f) in inv.listeners if l == lb_logical and port == alb.get("test_listener_port")]
            need(bool(test), f"{where}.alb.test_listener_port {alb.get('test_listener_port')} on {lb!r}")
            if test:
                need(
                    tgs.get("green") in test[0],
                    f"{where}: test listener {alb.get('test_listener_port')} does not forward to green",
                )

        for alarm in svc.get("alarms") or []:
            need(alarm in inv.alarms, f"{where}.alarms: alarm {alarm!r}")
        for trig in svc.get("triggers") or []:
            pipe = trig.get("pipeline")
            need(pipe in inv.pipelines, f"{where}.triggers: pipeline {pipe!r}")
            if pipe in inv.pipelines:
                need(
                    trig.get("action") in inv.pipelines[pipe],
                    f"{where}.triggers: pipeline {pipe!r} has no action {trig.get('action')!r}",
                )

    for i, rule in enumerate((policy.get("remediation") or {}).get("rules") or []):
        where = f"remediation.rules[{i}]"
        alarm = rule.get("alarm") or {}
        if "name" in alarm:
            need(alarm["name"] in inv.alarms, f"{where}.alarm.name {alarm['name']!r}")
        if "prefix" in alarm:
            need(
                any(name.startswith(alarm["prefix"]) for name in inv.alarms),
                f"{where}.alarm.prefix {alarm['prefix']!r} matches no alarm",
            )
        if "pattern" in alarm:
            from fnmatch import fnmatchcase

            need(
                any(fnmatchcase(name, alarm["pattern"]) for name in inv.alarms),
                f"{where}.alarm.pattern {alarm['pattern']!r} matches no alarm",
            )
        if "tag" in alarm:
            key, value = alarm["tag"]["key"], alarm["tag"]["value"]
            need(
                any(cfn.tag_value(tags, key) == value for tags in inv.alarms.values()),
                f"{where}.alarm.tag {key}={value} is on no alarm",
            )
        if "service" in rule:  # the live colour of a policy service: both of its colours must exist
            svc = next((x for x in policy.get("services") or [] if x.get("name") == rule["service"]), None)
            need(svc is not None, f"{where}.service {rule['service']!r} is no policy service")
            ecs = (svc or {}).get("ecs") or {}
            for colour, name in ecs.get("services", {}).items():
                need_service(ecs.get("cluster"), name, f"{where}.service ({colour})")
        params = rule.get("parameters") or {}
        if "service" in params:
            need_service(params.get("cluster"), params["service"], f"{where}.parameters")
        elif "cluster" in params:
            need(params["cluster"] in inv.clusters, f"{where}.parameters.cluster {params['cluster']!r}")
        if "db_instance" in params:
            need(params["db_instance"] in inv.db_instances, f"{where}.parameters.db_instance {params['db_instance']!r}")

    drills = policy.get("drills") or {}
    network = drills.get("network") or {}
    if network:
        need(
            network.get("db_subnet_group") in inv.db_subnet_groups,
            f"drills.network.db_subnet_group {network.get('db_subnet_group')!r}",
        )
        need(
            network.get("security_group") in inv.security_groups,
            f"drills.network.security_group {network.get('security_group')!r}",
        )
    for i, target in enumerate(drills.get("targets") or []):
        where = f"drills.targets[{i}]"
        db = inv.db_instances.get(target.get("resource"))
        need(db is not None, f"{where}.resource {target.get('resource')!r}")
        if db is not None:
            if "engine" in target:
                need(
                    db.get("Engine") == target["engine"],
                    f"{where}: engine {db.get('Engine')!r} != {target['engine']!r}",
                )
            if "database" in target:
                need(
                    db.get("DBName") == target["database"],
                    f"{where}: database {db.get('DBName')!r} != {target['database']!r}",
                )
        if "secret" in target:
            need(target["secret"] in inv.secrets, f"{where}.secret {target['secret']!r}")

    cost = policy.get("cost") or {}
    if "budget" in cost:
        need(cost["budget"] in inv.budgets, f"cost.budget {cost['budget']!r}")
    if "anomaly_monitor" in cost:
        need(cost["anomaly_monitor"] in inv.anomaly_monitors, f"cost.anomaly_monitor {cost['anomaly_monitor']!r}")
    savings = cost.get("savings") or {}
    for i, s in enumerate(savings.get("ecs_services") or []):
        need_service(s.get("cluster"), s.get("service"), f"cost.savings.ecs_services[{i}]")
    for i, name in enumerate(savings.get("services") or []):
        svc = next((x for x in policy.get("services") or [] if x.get("name") == name), None)
        need(svc is not None, f"cost.savings.services[{i}] {name!r} is no policy service")
        ecs = (svc or {}).get("ecs") or {}
        for colour, ecs_name in ecs.get("services", {}).items():
            need_service(ecs.get("cluster"), ecs_name, f"cost.savings.services[{i}] ({colour})")
    for db in savings.get("rds_instances") or []:
        need(db in inv.db_instances, f"cost.savings.rds_instances {db!r}")
    return problems


# -------------------------------------------------------------------- tests


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_policy_names_exist_in_stack(template, env):
    policy = load_policy(env)
    assert policy["environment"] == env
    problems = policy_problems(Inventory(stack_for(template, env)), policy)
    assert problems == [], f"{env}: policy names the stack does not provide:\n" + "\n".join(problems)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_policy_check_is_not_vacuous(env):
    """Sanity: the policy actually names things in each area the check covers."""
    policy = load_policy(env)
    svc = policy["services"][0]
    assert svc["ecs"]["cluster"] and svc["alb"]["target_groups"] and svc["alarms"] and svc["triggers"]
    assert policy["remediation"]["rules"] and policy["drills"]["targets"]
    assert policy["cost"]["budget"] and policy["cost"]["savings"]["services"]


# Each mutation removes or renames one thing a policy depends on; the check must
# notice. Proves the comparison above is real and not vacuously passing.
MUTATIONS = {
    "green service renamed": ("GreenService", "ServiceName", {"Fn::Sub": "shop-${Environment}-web-grn"}),
    "cluster renamed": ("Cluster", "ClusterName", {"Fn::Sub": "shop-${Environment}-cluster"}),
    "blue target group renamed": ("BlueTargetGroup", "Name", {"Fn::Sub": "shop-${Environment}-blue"}),
    "alb renamed": ("LoadBalancer", "Name", {"Fn::Sub": "${Environment}-shop"}),
    "test listener port": ("TestListener", "Port", 9443),
    "5xx alarm renamed": ("Web5xxRateAlarm", "AlarmName", {"Fn::Sub": "shop-${Environment}-web-5xx"}),
    "cpu alarm renamed": ("WebCpuHighAlarm", "AlarmName", {"Fn::Sub": "shop-${Environment}-cpu"}),
    "free storage alarm renamed": ("DbFreeStorageLowAlarm", "AlarmName", {"Fn::Sub": "shop-${Environment}-storage"}),
    "db renamed": ("Database", "DBInstanceIdentifier", {"Fn::Sub": "shop-${Environment}-postgres"}),
    "db name": ("Database", "DBName", "app"),
    "drill subnet group renamed": ("DrillSubnetGroup", "DBSubnetGroupName", {"Fn::Sub": "shop-${Environment}-drill"}),
    "drill sg renamed": ("DrillRestoreSecurityGroup", "GroupName", {"Fn::Sub": "shop-${Environment}-drills"}),
    "drill secret renamed": ("DrillSecret", "Name", {"Fn::Sub": "shop/${Environment}/drill"}),
    "anomaly monitor renamed": ("CostAnomalyMonitor", "MonitorName", {"Fn::Sub": "shop-${Environment}"}),
    "pipeline renamed": ("Pipeline", "Name", "shop"),
    "worker queue renamed": ("WorkerQueue", "QueueName", {"Fn::Sub": "shop-${Environment}-jobs"}),
}


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_check_detects_missing_name(template, env, mutation):
    logical, prop, value = MUTATIONS[mutation]
    broken = copy.deepcopy(template)
    assert prop in broken["Resources"][logical]["Properties"], "mutation targets a real property"
    broken["Resources"][logical]["Properties"][prop] = value
    assert policy_problems(Inventory(stack_for(broken, env)), load_policy(env)), mutation


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_check_detects_missing_pipeline_action(template, env):
    policy = load_policy(env)
    action = policy["services"][0]["triggers"][0]["action"]
    broken = copy.deepcopy(template)

    def stages(node):  # the stages, including both branches of an Fn::If
        if isinstance(node, dict) and "Fn::If" in node:
            for branch in node["Fn::If"][1:]:
                yield from stages(branch)
        elif isinstance(node, dict):
            yield node

    renamed = 0
    for stage in broken["Resources"]["Pipeline"]["Properties"]["Stages"]:
        for st in stages(stage):
            for a in st["Actions"]:
                if a["Name"] == action:
                    a["Name"] = action + "X"
                    renamed += 1
    assert renamed
    assert policy_problems(Inventory(stack_for(broken, env)), policy)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_check_detects_missing_budget(template, env):
    broken = copy.deepcopy(template)
    del broken["Resources"]["MonthlyBudget"]
    assert policy_problems(Inventory(stack_for(broken, env)), load_policy(env))


# The full naming rule, including names no example policy uses (yet).
NAMING_RULE = {
    ("AWS::ECS::Cluster", "ClusterName"): ["shop-{e}"],
    ("AWS::ECS::Service", "ServiceName"): ["shop-{e}-web-blue", "shop-{e}-web-green"],
    ("AWS::ElasticLoadBalancingV2::LoadBalancer", "Name"): ["shop-{e}"],
    ("AWS::ElasticLoadBalancingV2::TargetGroup", "Name"): ["shop-{e}-web-blue", "shop-{e}-web-green"],
    ("AWS::CloudWatch::Alarm", "AlarmName"): [
        "shop-{e}-web-5xx-rate",
        "shop-{e}-web-p99-latency",
        "shop-{e}-web-cpu-high",
        "shop-{e}-web-memory-high",
        "shop-{e}-db-connections-high",
        "shop-{e}-db-free-storage-low",
    ],
    ("AWS::RDS::DBSubnetGroup", "DBSubnetGroupName"): ["shop-{e}-drills"],
    ("AWS::EC2::SecurityGroup", "GroupName"): ["shop-{e}-drill-restore"],
    ("AWS::SecretsManager::Secret", "Name"): ["shop/{e}/db-drill"],
    ("AWS::CE::AnomalyMonitor", "MonitorName"): ["shop-{e}-services"],
    ("AWS::Backup::BackupVault", "BackupVaultName"): ["shop-{e}-vault"],
}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_naming_rule(template, env):
    stack = stack_for(template, env)
    for (rtype, prop), expected in NAMING_RULE.items():
        names = {p.get(prop) for p in stack.of_type(rtype).values()}
        for pattern in expected:
            assert pattern.format(e=env) in names, f"{rtype}.{prop} {pattern.format(e=env)!r} in {env}"

    inv = Inventory(stack)
    assert f"shop-{env}-db" in inv.db_instances
    assert inv.db_instances[f"shop-{env}-db"]["DBName"] == "shop"
    assert inv.budgets == {f"shop-{env}-monthly"}
    (budget,) = stack.of_type("AWS::Budgets::Budget").values()
    # Scoped to this environment's spend through the cost-allocation tag.
    assert budget["Budget"]["CostFilters"] == {"TagKeyValue": [f"user:Environment${env}"]}
    assert float(budget["Budget"]["BudgetLimit"]["Amount"]) == load_policy(env)["cost"]["monthly_budget_usd"]
    (monitor,) = inv.anomaly_monitors.values()
    assert f'"Values": ["{env}"]' in monitor["MonitorSpecification"]
    (sub,) = stack.of_type("AWS::CE::AnomalySubscription").values()
    assert sub["Frequency"] == "IMMEDIATE"
    suffix = "-dev" if env == "dev" else ""
    assert set(inv.pipelines) == {f"shop-{s}{suffix}" for s in ("web", "api", "worker")}
    for pipeline in inv.pipelines.values():
        assert {"BuildImage", "ApproveProd", "Cutover", "ReleaseImage"} <= pipeline

    # The public ALB: weights as bootstrapped in SSM (blue 100 / green 0, test listener on green). HTTP (80)
    # is CloudFront's business now (viewer protocol policy redirect-to-https).
    ports = {port: fwd for (lb, port, fwd) in inv.listeners if lb == "LoadBalancer"}
    assert ports == {
        443: {f"shop-{env}-web-blue": 100, f"shop-{env}-web-green": 0},
        8443: {f"shop-{env}-web-blue": 0, f"shop-{env}-web-green": 100},
    }

    replica_lag = f"shop-{env}-db-replica-lag-high"
    assert (replica_lag in inv.alarms) == (env == "prod")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_alarms_are_tagged_for_deckwatch(template, env):
    inv = Inventory(stack_for(template, env))
    assert inv.alarms
    for name, tags in inv.alarms.items():
        assert cfn.tag_value(tags, "deckwatch:managed") == "true", name
        assert name.startswith(f"shop-{env}-"), name


def test_prod_has_multi_az_replica_and_vault_lock(template):
    stack = stack_for(template, "prod")
    inv = Inventory(stack)
    primary = inv.db_instances["shop-prod-db"]
    assert primary["MultiAZ"] is True
    assert primary["StorageEncrypted"] is True and primary["EnablePerformanceInsights"] is True
    assert primary["ManageMasterUserPassword"] is True
    assert primary["Engine"] == "postgres" and str(primary["EngineVersion"]).split(".")[0] == "15"
    replicas = [p for p in inv.db_instances.values() if p.get("SourceDBInstanceIdentifier") == "shop-prod-db"]
    assert len(replicas) == 1
    lock = inv.backup_vaults["shop-prod-vault"].get("LockConfiguration")
    assert lock and lock["MinRetentionDays"] >= 1
    # Vault lock must admit every retention the plan uses, or backups would fail.
    plan = next(iter(stack.of_type("AWS::Backup::BackupPlan").values()))["BackupPlan"]
    for rule in plan["BackupPlanRule"]:
        days = rule["Lifecycle"]["DeleteAfterDays"]
        assert lock["MinRetentionDays"] <= days <= lock["MaxRetentionDays"], rule["RuleName"]
        assert rule["CopyActions"], rule["RuleName"]


def test_dev_is_single_az_without_replica_or_lock(template):
    inv = Inventory(stack_for(template, "dev"))
    assert inv.db_instances["shop-dev-db"]["MultiAZ"] is False
    assert set(inv.db_instances) == {"shop-dev-db"}
    assert "LockConfiguration" not in inv.backup_vaults["shop-dev-vault"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_fargate_spot_only_in_dev(template, env):
    stack = stack_for(template, env)
    inv = Inventory(stack)
    assert len(inv.services) == 2 * len(gen.SERVICES)
    for name, svc in inv.services.items():
        providers = svc["capacity_providers"]
        assert providers == ({"FARGATE_SPOT"} if env == "dev" else {"FARGATE"}), (name, providers)
    cluster = next(iter(stack.of_type("AWS::ECS::Cluster").values()))
    default = {s["CapacityProvider"] for s in cluster["DefaultCapacityProviderStrategy"]}
    assert ("FARGATE_SPOT" in default) == (env == "dev")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_task_sizes_smaller_in_dev(template, env):
    tasks = {t["Family"]: t for t in stack_for(template, env).of_type("AWS::ECS::TaskDefinition").values()}
    assert set(tasks) == {f"shop-{env}-{s.name}" for s in gen.SERVICES}
    if env == "dev":
        prod = {t["Family"]: t for t in stack_for(template, "prod").of_type("AWS::ECS::TaskDefinition").values()}
        for s in gen.SERVICES:
            task, big = tasks[f"shop-dev-{s.name}"], prod[f"shop-prod-{s.name}"]
            assert int(task["Cpu"]) < int(big["Cpu"]) and int(task["Memory"]) < int(big["Memory"]), s.name


def _tag_property(rtype: str) -> str | None:
    """Name of the property that holds tags for a taggable type, else None."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", rtype).schema
    tagging = schema.get("tagging")
    if tagging is None:  # older schemas without tagging metadata
        return "Tags" if "Tags" in schema.get("properties", {}) else None
    if not tagging.get("taggable", False):
        return None
    return tagging.get("tagProperty", "/properties/Tags").split("/")[-1]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_taggable_resource_has_environment_tag(template, env):
    """Environment is the cost-allocation tag (policy cost.allocation_tag)."""
    policy_tag = load_policy(env)["cost"]["allocation_tag"]
    assert policy_tag == {"key": "Environment", "value": env}
    stack = stack_for(template, env)
    checked, missing = 0, []
    for logical, res in stack.resources().items():
        prop = _tag_property(res["Type"])
        if prop is None:
            continue
        checked += 1
        tags = stack.props(logical).get(prop)
        if cfn.tag_value(tags, "Environment") != env:
            missing.append(f"{logical} ({res['Type']}.{prop})")
    assert checked > 50
    assert missing == [], "missing Environment tag: " + ", ".join(missing)


def test_environment_tag_check_is_not_vacuous(template):
    broken = copy.deepcopy(template)
    broken["Resources"]["Vpc"]["Properties"]["Tags"] = [{"Key": "Name", "Value": "x"}]
    stack = stack_for(broken, "dev")
    tags = stack.props("Vpc").get(_tag_property("AWS::EC2::VPC"))
    assert cfn.tag_value(tags, "Environment") is None


def test_template_is_plain_cloudformation(template):
    assert "Transform" not in template
    assert template["Parameters"]["Environment"]["AllowedValues"] == list(ENVIRONMENTS)


def test_loader_handles_short_form_intrinsics():
    doc = yaml.load(
        "a: !Ref X\nb: !Sub 'x-${X}'\nc: !GetAtt R.Arn\nd: !If [C, 1, 2]\ne: !Select [0, !GetAZs '']\n",
        Loader=cfn.CfnLoader,
    )
    assert doc == {
        "a": {"Ref": "X"},
        "b": {"Fn::Sub": "x-${X}"},
        "c": {"Fn::GetAtt": ["R", "Arn"]},
        "d": {"Fn::If": ["C", 1, 2]},
        "e": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
    }
    t = {
        "Parameters": {"X": {"Type": "String"}},
        "Conditions": {"C": {"Fn::Equals": [{"Ref": "X"}, "p"]}},
        "Resources": {},
    }
    assert cfn.Stack(t, {"X": "p"}).evaluate(doc["d"]) == 1
    assert cfn.Stack(t, {"X": "q"}).evaluate(doc["d"]) == 2
    assert cfn.Stack(t, {"X": "q"}).evaluate({"Fn::Sub": "a-${X}-${!Y}"}) == "a-q-${Y}"
    assert cfn.Stack(t, {"X": "q"}).evaluate({"Fn::Sub": "tag$${X}"}) == "tag$q"
