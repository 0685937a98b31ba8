"""`deckwatch policy init --stack NAME --env E`: a policy generated from the deployed workload stack (the embedded
AWS's `shop-staging`, built from workload/template.yaml) validates, names everything the stack's outputs name, is
the same text every time, and acts when an event arrives."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from deckwatch.local import simulation
from deckwatch.local.cli import UsageError, cmd_policy_init, main
from deckwatch.local.policy_init import StackError, StackFacts, generate, init, summary
from deckwatch.local.runtime import LocalAWS
from deckwatch.policy import load_file, parse
from deckwatch.policy.model import Policy
from deckwatch.remediation.selection import match_rule
from support.cutover import Factory
from support.samples import load_event

REPO = Path(__file__).resolve().parents[1]
STACK = "shop-staging"


@pytest.fixture(scope="module")
def workload(local_aws_factory: Factory) -> Iterator[LocalAWS]:
    with local_aws_factory(
        "staging", approvals="approve", world="workload", policy_file=simulation.policy("staging")
    ) as rt:
        yield rt


@pytest.fixture(scope="module")
def generated(workload: LocalAWS, tmp_path_factory: pytest.TempPathFactory) -> tuple[StackFacts, str, Path]:
    out = tmp_path_factory.mktemp("init") / "staging.yaml"
    facts, text = init(workload.client, STACK, "staging", out)
    return facts, text, out


@pytest.fixture(scope="module")
def outputs(workload: LocalAWS) -> dict[str, str]:
    stack = workload.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def policy_of(generated: tuple[StackFacts, str, Path]) -> Policy:
    return load_file(generated[2]).policy


def test_generated_policy_validates(
    generated: tuple[StackFacts, str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "validate", str(generated[2])]) == 0
    assert "ok (staging" in capsys.readouterr().out
    assert policy_of(generated).environment == "staging"
    assert "# DECIDE:" in generated[1]  # what a person must decide is marked


def test_names_every_service_pair_and_target_group(
    workload: LocalAWS, generated: tuple[StackFacts, str, Path], outputs: dict[str, str]
) -> None:
    policy = policy_of(generated)
    named = outputs["Services"].split(",")
    with_alb = [s for s in named if f"{s.title()}LoadBalancerName" in outputs]
    assert [s.name for s in policy.services] == named  # every service is a cutover service
    assert [s.name for s in policy.services if s.kind == "ecs"] == with_alb
    elb = workload.client("elbv2")
    for svc in policy.services:
        if svc.name not in with_alb:
            continue
        p = svc.name.title()
        assert svc.ecs is not None and svc.alb is not None
        assert svc.ecs.cluster == outputs["ClusterName"]
        assert (svc.ecs.services.blue, svc.ecs.services.green) == (
            outputs[f"{p}BlueServiceName"],
            outputs[f"{p}GreenServiceName"],
        )
        assert svc.alb.load_balancer == outputs[f"{p}LoadBalancerName"]
        for colour in ("blue", "green"):
            arn = outputs[f"{p}{colour.title()}TargetGroupArn"]
            tg = elb.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
            assert getattr(svc.alb.target_groups, colour) == tg["TargetGroupName"]
        ports = {
            kind: elb.describe_listeners(ListenerArns=[outputs[f"{p}{kind}ListenerArn"]])["Listeners"][0]["Port"]
            for kind in ("Production", "Test")
        }
        assert (svc.alb.listener_port, svc.alb.test_listener_port) == (ports["Production"], ports["Test"])
        assert [t.pipeline for t in svc.triggers] == [outputs[f"{p}PipelineName"]]
    # the queue worker: a cutover service by its share of the queue's consumers (ecs_worker), its colours in the
    # savings by name
    workers = [s for s in named if s not in with_alb]
    assert workers == ["worker"]
    refs = {(r.cluster, r.service) for r in policy.cost.savings.ecs_services}
    for w in workers:
        (svc,) = [s for s in policy.services if s.name == w]
        p = w.title()
        assert svc.kind == "ecs_worker" and svc.alb is None and svc.ecs is not None and svc.queue is not None
        assert svc.ecs.cluster == outputs["ClusterName"]
        assert (svc.ecs.services.blue, svc.ecs.services.green) == (
            outputs[f"{p}BlueServiceName"],
            outputs[f"{p}GreenServiceName"],
        )
        assert svc.queue.name == outputs[f"{p}QueueName"]
        assert svc.queue.metrics_namespace == outputs[f"{p}MetricsNamespace"]
        assert svc.queue.dimensions == {"Environment": "staging"}  # as the worker publishes them
        assert any(a.endswith("-queue-age") for a in svc.alarms)
        assert not [a for a in svc.alarms if a.endswith(("-cpu-high", "-memory-high", "-dlq-depth"))]
        assert [t.pipeline for t in svc.triggers] == [outputs[f"{p}PipelineName"]]
        for colour in ("Blue", "Green"):
            assert (outputs["ClusterName"], outputs[f"{w.title()}{colour}ServiceName"]) in refs


def test_canary_limits_are_the_stacks_slo(
    workload: LocalAWS, generated: tuple[StackFacts, str, Path], outputs: dict[str, str]
) -> None:
    """The canary is held to the objective the stack's own alarms use (p99 200 ms, 1% errors), read from the
    deployed alarms, not from the outputs the generator read."""
    cw = workload.client("cloudwatch")
    for svc in policy_of(generated).services:
        p = svc.name.title()
        mine = [a for a in outputs[f"{p}BlueAlarms"].split(",") if a]
        found = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNames=mine)["MetricAlarms"]}
        limits = {m.name: m.max for m in svc.rollout.analysis.metrics}
        if svc.kind == "ecs_worker":  # failed messages, and the age of the queue's oldest message
            errors = next(a for n, a in found.items() if n.endswith("-error-rate"))
            age = cw.describe_alarms(AlarmNames=[f"shop-staging-{svc.name}-queue-age"])["MetricAlarms"][0]
            assert limits["error_rate"] == errors["Threshold"] / 100
            assert limits["queue_age"] == age["Threshold"] == 60
            continue
        latency = next(a for n, a in found.items() if n.endswith("-p99-latency"))
        errors = next(a for n, a in found.items() if n.endswith("-5xx-rate"))
        assert limits["latency_p99"] == latency["Threshold"] == 0.2
        assert limits["error_rate"] == errors["Threshold"] / 100
        assert limits["unhealthy_hosts"] == 0


def test_every_alarm_of_the_stack_is_watched_or_has_a_rule(
    workload: LocalAWS, generated: tuple[StackFacts, str, Path], outputs: dict[str, str]
) -> None:
    policy = policy_of(generated)
    alarms = {a for k, v in outputs.items() if k.endswith("Alarms") for a in v.split(",") if a}
    assert alarms == set(summary(generated[0])["alarms"])
    existing = {
        a["AlarmName"]
        for page in workload.client("cloudwatch").get_paginator("describe_alarms").paginate()
        for a in page["MetricAlarms"]
    }
    assert alarms <= existing
    watched = {a for s in policy.services for a in s.alarms}
    unruled = {a for a in alarms if match_rule(list(policy.remediation.rules), a, None) is None}
    assert unruled <= watched, unruled
    assert watched <= alarms
    # capacity alarms act: every CPU alarm scales out (the services' live colour, or the worker's colour)
    for a in sorted(x for x in alarms if x.endswith("-cpu-high")):
        rule = match_rule(list(policy.remediation.rules), a, None)
        assert rule is not None and rule.runbook == "ecs_scale_out", a


def test_names_database_vault_budget_and_monitor(
    workload: LocalAWS, generated: tuple[StackFacts, str, Path], outputs: dict[str, str]
) -> None:
    policy, text = policy_of(generated), generated[1]
    db = outputs["DbInstanceIdentifier"]
    assert [t.resource for t in policy.drills.targets] == [db]
    assert policy.cost.savings.rds_instances == [db]
    assert any(r.parameters.get("db_instance") == db for r in policy.remediation.rules)
    assert policy.drills.network is not None
    assert policy.drills.network.security_group == outputs["DrillSecurityGroupName"]
    groups = workload.client("rds").describe_db_subnet_groups()["DBSubnetGroups"]
    assert policy.drills.network.db_subnet_group in {g["DBSubnetGroupName"] for g in groups}
    secret = workload.client("secretsmanager").describe_secret(SecretId=outputs["DrillSecretArn"])
    assert policy.drills.targets[0].secret == secret["Name"]
    assert outputs["BackupVaultName"] in text
    assert policy.cost.budget == outputs["BudgetName"]
    assert policy.cost.anomaly_monitor == outputs["CostAnomalyMonitorName"]
    budget = workload.client("budgets").describe_budget(AccountId="123456789012", BudgetName=outputs["BudgetName"])
    assert policy.cost.monthly_budget_usd == float(budget["Budget"]["BudgetLimit"]["Amount"])
    assert policy.cost.allocation_tag == {"key": "Environment", "value": "staging"}


def test_generating_twice_gives_the_same_text(
    workload: LocalAWS, generated: tuple[StackFacts, str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    again = tmp_path / "again.yaml"
    assert main(["policy", "init", "--stack", STACK, "--env", "staging", "--out", str(again)]) == 0
    assert again.read_text(encoding="utf-8") == generated[1]
    assert generate(generated[0], "staging") == generated[1]
    err = capsys.readouterr().err
    assert "2 services (web, api), 1 workers (worker)" in err and "to review" in err


def test_an_existing_file_is_not_overwritten_without_force(
    workload: LocalAWS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine.yaml"
    out.write_text("mine\n", encoding="utf-8")
    assert main(["policy", "init", "--stack", STACK, "--env", "staging", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err
    assert out.read_text(encoding="utf-8") == "mine\n"
    assert main(["policy", "init", "--stack", STACK, "--env", "staging", "--out", str(out), "--force"]) == 0
    assert out.read_text(encoding="utf-8").startswith("# Deckwatch policy for staging")


def args(stack: str, env: str = "staging") -> argparse.Namespace:
    return argparse.Namespace(stack=stack, env=env, out=None, force=False)


def test_bad_stacks_are_one_line_usage_errors(workload: LocalAWS, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UsageError) as missing:
        cmd_policy_init(args("shop-nowhere"), client=workload.client)
    assert "shop-nowhere" in str(missing.value) and "\n" not in str(missing.value)
    assert main(["policy", "init", "--stack", "shop-nowhere", "--env", "staging"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("deckwatch: stack shop-nowhere") and err.count("\n") == 1

    with pytest.raises(UsageError, match="staging environment's, not prod's"):
        cmd_policy_init(args(STACK, env="prod"), client=workload.client)

    cfn = workload.client("cloudformation")
    body = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}, "Outputs": {"Q": {"Value": {"Ref": "Queue"}}}}
    cfn.create_stack(StackName="not-a-workload", TemplateBody=json.dumps(body))
    try:
        with pytest.raises(UsageError, match="no Deckwatch outputs") as none:
            cmd_policy_init(args("not-a-workload"), client=workload.client)
        assert "\n" not in str(none.value)
    finally:
        cfn.delete_stack(StackName="not-a-workload")


def test_replaying_an_alarm_acts_under_the_generated_policy(
    workload: LocalAWS, generated: tuple[StackFacts, str, Path], outputs: dict[str, str]
) -> None:
    # the worker's blue CPU alarm: only the generated policy has a rule for it (the hand-written one has none)
    alarm = next(a for a in outputs["WorkerBlueAlarms"].split(",") if a.endswith("-cpu-high"))
    service = outputs["WorkerBlueServiceName"]
    event = load_event(REPO / "events/alarm_events/alarm-metric.json")
    event["resources"] = [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm}"]
    event["detail"]["alarmName"] = alarm
    dims = event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]
    dims["ServiceName"] = service
    ssm, name = workload.client("ssm"), "/deckwatch/staging/policy"
    before = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    text = generated[1].replace("dry_run: true", "dry_run: false", 1)
    version = parse(text).version
    try:
        ssm.put_parameter(Name=name, Value=text, Type="SecureString", Overwrite=True)
        workload.clock.advance(61)  # functions read the policy again once their copy is a minute old
        report = workload.replay(json.dumps(event))
    finally:
        ssm.put_parameter(Name=name, Value=before, Type="SecureString", Overwrite=True)
        workload.clock.advance(61)
    selected = next(r for r in report.ledger if r.get("decision") == "runbook-selected")
    assert selected["policy_version"] == version  # decided under the generated policy
    assert selected["dry_run"] is False
    assert selected["details"]["runbook"] == "ecs_scale_out"
    assert selected["details"]["resource"] == f"ecs:{outputs['ClusterName']}/{service}"
    assert "guardrails-passed" in [r.get("decision") for r in report.ledger]


def test_lambda_alias_services_from_outputs() -> None:
    facts = StackFacts(
        "shop-dev",
        {
            "Environment": "dev",
            "Services": "checkout",
            "CheckoutFunctionName": "shop-dev-checkout",
            "CheckoutAliasName": "live",
            "CheckoutBlueAlarms": "shop-dev-checkout-errors",
            "CheckoutPipelineName": "shop-checkout",
        },
        {"Environment": "dev"},
    )
    policy = parse(generate(facts, "dev")).policy
    (svc,) = policy.services
    assert svc.kind == "lambda" and svc.function is not None
    assert (svc.function.function, svc.function.alias) == ("shop-dev-checkout", "live")
    assert svc.alarms == ["shop-dev-checkout-errors"]
    with pytest.raises(StackError, match="no Deckwatch outputs"):
        generate(StackFacts("x", {"Q": "queue"}), "dev")
