"""Policy validation: the examples are valid; every problem is reported with its field path and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from deckwatch.errors import PolicyError
from deckwatch.policy import example, load_file, parse
from deckwatch.policy.model import Policy

BAD = """\
version: 1
environment: staging
dry_run: maybe
services:
  - name: web
    kind: ecs
    ecs:
      cluster: shop-staging
      services: {blue: web-blue, green: web-green}
    alb:
      load_balancer: shop-staging
      listener_port: 443
      target_groups: {blue: web-blue, green: web-green}
    rollout:
      steps: [10, 50]
    colour: blue
remediation:
  max_actions_per_hour: lots
"""

PROD_SAVINGS_ACT = """\
version: 1
environment: prod
cost:
  savings:
    mode: act
"""


def problems_of(text: str) -> dict[str, tuple[int | None, str]]:
    with pytest.raises(PolicyError) as info:
        parse(text, "test.yaml")
    return {p.path: (p.line, p.message) for p in info.value.problems}


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_example_policies_validate(environment: str) -> None:
    loaded = load_file(example(environment))
    assert loaded.policy.environment == environment
    assert len(loaded.version) == 12
    assert loaded.source.endswith(f"{environment}.yaml")


def test_staging_example_names_the_sample_resources() -> None:
    # The sample events under events/ use these names; if the example changes, the samples must follow.
    policy = load_file(example("staging")).policy
    web = policy.service("web")
    assert web is not None
    assert [(t.pipeline, t.action, t.state) for t in web.triggers] == [("shop-web", "BuildImage", "SUCCEEDED")]
    assert policy.cost.anomaly_monitor == "shop-staging-services"
    assert [t.resource for t in policy.drills.targets] == ["shop-staging-db"]
    assert policy.remediation.rules[0].alarm.name == "shop-staging-web-cpu-high"
    assert policy.remediation.rules[0].service == "web"
    assert policy.remediation.rules[1].alarm.pattern == "shop-staging-web-*-cpu-high"
    assert policy.remediation.rules[2].alarm.prefix == "shop-staging-db-free-storage"


def test_every_error_has_its_path_and_line() -> None:
    problems = problems_of(BAD)
    assert set(problems) == {
        "dry_run",
        "services[0].rollout.steps",
        "services[0].colour",
        "remediation.max_actions_per_hour",
    }
    assert problems["dry_run"][0] == 3
    assert "boolean" in problems["dry_run"][1]
    assert problems["services[0].rollout.steps"] == (15, "Value error, must end at 100")
    assert problems["services[0].colour"][0] == 16
    assert "Extra inputs are not permitted" in problems["services[0].colour"][1]
    assert problems["remediation.max_actions_per_hour"][0] == 18
    assert "integer" in problems["remediation.max_actions_per_hour"][1]


def test_error_message_lists_problems_with_lines() -> None:
    with pytest.raises(PolicyError) as info:
        parse(BAD, "bad.yaml")
    text = str(info.value)
    assert text.startswith("invalid policy bad.yaml: ")
    assert "line 3: dry_run:" in text
    assert "line 16: services[0].colour:" in text


def test_unknown_top_level_field_is_an_error() -> None:
    problems = problems_of("version: 1\nenvironment: dev\nnotifcations: {}\n")
    assert problems == {"notifcations": (3, "Extra inputs are not permitted")}


def test_prod_refuses_savings_mode_act_with_its_path_and_line() -> None:
    problems = problems_of(PROD_SAVINGS_ACT)
    assert len(problems) == 1
    ((path, (line, message)),) = problems.items()
    assert "'act' is not allowed in prod" in message
    # The problem is the `mode: act` on line 5, and a person fixing it needs to be sent there.
    assert (path, line) == ("cost.savings.mode", 5)


def test_staging_accepts_savings_mode_act() -> None:
    loaded = parse(PROD_SAVINGS_ACT.replace("prod", "staging"))
    assert loaded.policy.cost.savings.mode == "act"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1\nenvironment: [dev\n", "not valid YAML"),
        ("- version: 1\n- environment: dev\n", "a policy is a mapping"),
        ("just some text\n", "a policy is a mapping"),
        ("", "a policy is a mapping"),
    ],
)
def test_non_yaml_and_non_mapping_are_rejected(text: str, expected: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse(text, "x.yaml")
    assert len(info.value.problems) == 1
    assert expected in info.value.problems[0].message
    assert info.value.problems[0].line is not None


def test_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_file(tmp_path / "missing.yaml")


def test_json_schema_export() -> None:
    schema = Policy.model_json_schema()
    assert {"version", "environment", "dry_run", "notifications", "services", "remediation", "drills", "cost"} <= set(
        schema["properties"]
    )
    assert set(schema["required"]) == {"version", "environment"}
    assert schema["additionalProperties"] is False
    assert schema["properties"]["dry_run"]["description"]


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_dr_regions_of_each_example_are_the_stacks_drill_dr_region(environment: str) -> None:
    """The drill function may act only in its region and DrillDrRegion (IAM aws:RequestedRegion): every region of
    an example policy's drills.dr_networks must be its environment's DrillDrRegion in samconfig.toml."""
    import tomllib

    config = tomllib.loads((Path(__file__).parents[1] / "samconfig.toml").read_text(encoding="utf-8"))
    # what `sam deploy --config-env <env>` reads: the environment's global section, its deploy section over it
    sections = config[environment]
    merged = {**sections["global"]["parameters"], **sections.get("deploy", {}).get("parameters", {})}
    overrides = dict(p.split("=", 1) for p in merged["parameter_overrides"].split())
    policy = load_file(example(environment)).policy
    assert set(policy.drills.dr_networks) == ({overrides["DrillDrRegion"]} if "DrillDrRegion" in overrides else set())


def test_drill_copies_need_a_dr_network_and_dr_regions_are_checked() -> None:
    text = """version: 1
environment: dev
drills:
  network: {db_subnet_group: drills, security_group: drill-sg}
  dr_networks:
    mars-north-9a: {db_subnet_group: drills, security_group: drill-sg}
  targets:
    - resource: db
      database: shop
      secret: db/drill
      drill_copies: true
      objectives: {rto_minutes: 60, rpo_minutes: 60}
"""
    problems = problems_of(text)
    line, message = problems["drills.dr_networks.mars-north-9a.[key]"]
    assert line == 6 and "should match pattern" in message
    no_dr = text.replace("  dr_networks:\n    mars-north-9a: {db_subnet_group: drills, security_group: drill-sg}\n", "")
    (message,) = [m for _, m in problems_of(no_dr).values()]
    assert "drill copies" in message and "dr_networks" in message


# ---------------------------------------------------------------- names, as AWS constrains them ---------------------
NAMES = """\
version: 1
environment: staging
services:
  - name: web
    ecs:
      cluster: {cluster}
      services: {{blue: web_blue, green: web-green}}
    alb:
      load_balancer: {load_balancer}
      listener_port: 443
      target_groups: {{blue: web-blue, green: web-green}}
    alarms: [{alarm}]
    triggers: [{{pipeline: {pipeline}, action: Build.Image}}]
remediation:
  rules:
    - alarm: {{name: {alarm}}}
      runbook: notify_only
drills:
  network: {{db_subnet_group: {subnet_group}, security_group: {security_group}}}
  targets:
    - resource: {db}
      database: shop
      secret: shop/staging/db-drill
      objectives: {{rto_minutes: 60, rpo_minutes: 60}}
cost:
  budget: {budget}
  anomaly_monitor: {monitor}
"""
LEGAL = {
    "cluster": "shop_staging-1",
    "load_balancer": "shop-staging",
    "alarm": '"EC2 CPU Utilization Anomaly"',  # the CloudWatch guide's own alarm (events/SOURCES.md)
    "pipeline": "shop.web@v2",
    "subnet_group": '"shop staging drills"',
    "security_group": '"shop drill restore (postgres)"',
    "db": "shop-staging-db",
    "budget": '"Shop staging monthly"',
    "monitor": '"Shop staging services"',
}


def names(**changes: str) -> str:
    return NAMES.format(**{**LEGAL, **changes})


def test_every_name_aws_accepts_is_accepted() -> None:
    policy = parse(names(budget='"Shop staging monthly (USD)"'), "names.yaml").policy
    assert policy.remediation.rules[0].alarm.name == "EC2 CPU Utilization Anomaly"
    assert policy.services[0].alarms == ["EC2 CPU Utilization Anomaly"]
    assert policy.cost.budget == "Shop staging monthly (USD)"
    assert policy.cost.anomaly_monitor == "Shop staging services"
    assert policy.drills.network is not None and policy.drills.network.db_subnet_group == "shop staging drills"


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("alarm", '"tab\\tin name"', "remediation.rules[0].alarm.name"),
        ("budget", '"team:budget"', "cost.budget"),
        ("budget", '"team/action/x"', "cost.budget"),
        ("pipeline", '"shop web"', "services[0].triggers[0].pipeline"),
        ("cluster", "shop.staging", "services[0].ecs.cluster"),
        ("load_balancer", "internal-shop", "services[0].alb.load_balancer"),
        ("load_balancer", "shop-staging-load-balancer-name-33", "services[0].alb.load_balancer"),
        ("subnet_group", "default", "drills.network.db_subnet_group"),
        ("security_group", "sg-123", "drills.network.security_group"),
        ("db", "shop--db", "drills.targets[0].resource"),
        ("db", "1shop", "drills.targets[0].resource"),
    ],
)
def test_only_what_aws_rejects_is_rejected(field: str, value: str, path: str) -> None:
    assert list(problems_of(names(**{field: value})))[-1:] == [path]


def test_name_fields_cite_the_aws_api_reference() -> None:
    schema = Policy.model_json_schema()
    text = str(schema)
    for api in ("PutMetricAlarm", "API_budgets_Budget", "API_AnomalyMonitor", "API_PipelineDeclaration",
                "API_CreateService", "API_CreateLoadBalancer", "API_Invoke", "API_CreateDBInstance",
                "API_CreateDBSubnetGroup", "API_CreateSecurityGroup", "API_CreateSecret"):  # fmt: skip
        assert f"{api}.html" in text, api
