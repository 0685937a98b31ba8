"""The world from the workload stack: workload/template.yaml itself, created through moto's CloudFormation as stack
`shop-<env>`, next to the control plane, exactly as an operator deploys it (workload/README.md):

1. what `workload/bootstrap.sh <env>` puts in SSM before the first create: the traffic parameters
   `/deckwatch/<env>/traffic/<service>/{blue,green,test}` (from `workload/generate.py`, the list bootstrap.sh reads;
   never overwritten when they exist);
2. the stack's parameters from `workload/samconfig.toml` ([<env>.deploy.parameters].parameter_overrides), with the
   control plane's own outputs for what the control plane provides (its topics, the cutover state machine, the
   roles of its drill validator and pipeline-events function) and the embedded account in place of the
   placeholder account ids; the ACM certificates are requested in the embedded AWS (moto checks the listeners'
   certificates exist);
3. `CreateStack` with the samconfig tags, through moto's CloudFormation (the gaps mock_services.cloudformation
   fills).

`build` returns the runtime's `world`: the same keys as the policy's world (`services[<name>]` with
`load_balancer`, `listener`, `target_groups`; `alarms`, `databases`, `vpc`, `subnets`), read from the stack's
outputs, plus the stack's name, parameters and outputs and, per service, its test listener, ECS services and (the
worker) its queues.
"""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

COLOURS = ("blue", "green")


def stack_name(environment: str) -> str:
    return f"shop-{environment}"


def generator(root: Path) -> ModuleType:
    """workload/generate.py, the table the template and bootstrap.sh's parameter list are rendered from."""
    name = "deckwatch_workload_generate"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, root / "workload" / "generate.py")
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {root / 'workload' / 'generate.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def traffic_parameters(root: Path, environment: str) -> dict[str, str]:
    """SSM name -> bootstrap value, as `workload/generate.py traffic-parameters <env>` lists them."""
    gen = generator(root)
    out: dict[str, str] = {}
    for service in gen.SERVICES:
        for path, value in gen.traffic_parameters(service).values():
            out[path.format(env=environment)] = value.format(env=environment)
    return out


def bootstrap(runtime: Any, root: Path, environment: str) -> dict[str, str]:
    """workload/bootstrap.sh: create the traffic parameters that do not exist yet, never overwrite one."""
    ssm = runtime.client("ssm")
    created = {}
    for name, value in traffic_parameters(root, environment).items():
        try:
            ssm.get_parameter(Name=name)
        except ssm.exceptions.ParameterNotFound:
            ssm.put_parameter(
                Name=name,
                Value=value,
                Type="String",
                Description="Deckwatch traffic contract (workload/README.md); written by Deckwatch on every shift",
            )
            created[name] = value
    return created


def samconfig(root: Path, environment: str) -> tuple[dict[str, str], dict[str, str]]:
    """(parameter overrides, stack tags) of workload/samconfig.toml for the environment."""
    with (root / "workload" / "samconfig.toml").open("rb") as fh:
        doc = tomllib.load(fh)
    deploy = doc[environment]["deploy"]["parameters"]
    overrides = dict(item.split("=", 1) for item in deploy.get("parameter_overrides", []))
    tags: dict[str, str] = {}
    for part in _split_tags(str(deploy.get("tags", ""))):
        key, _, value = part.partition("=")
        tags[key] = value.strip('"')
    return overrides, tags


def _split_tags(text: str) -> list[str]:
    """`Environment="dev" Application="shop"` -> ['Environment="dev"', 'Application="shop"'] (quoted values)."""
    out, current, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == " " and not quoted:
            if current:
                out.append(current)
            current = ""
            continue
        current += ch
    if current:
        out.append(current)
    return out


def parameters(runtime: Any, root: Path, environment: str, account: str, region: str) -> dict[str, str]:
    """The stack's parameters: samconfig's, with what the control plane provides taken from the control plane."""
    params, _ = samconfig(root, environment)
    for name, value in list(params.items()):
        if value.startswith("arn:"):  # the placeholder accounts of samconfig.toml -> the embedded account
            parts = value.split(":")
            if len(parts) > 4 and parts[4].isdigit():
                parts[4] = account
                params[name] = ":".join(parts)
    acm = runtime.client("acm")
    params["CertificateArn"] = acm.request_certificate(
        DomainName=params["OriginDomainName"], SubjectAlternativeNames=[f"*.{params['InternalDomainName']}"]
    )["CertificateArn"]
    params["CloudFrontCertificateArn"] = runtime.client("acm", region="us-east-1").request_certificate(
        DomainName=params["PublicDomainName"]
    )["CertificateArn"]
    params.update(control_plane_parameters(runtime))
    return params


def control_plane_parameters(runtime: Any) -> dict[str, str]:
    """What the workload stack takes from the control plane of the same environment (workload/README.md,
    "Stack-to-stack contract"), read from the deployed control plane."""
    out = runtime.outputs
    iam = runtime.client("iam")

    def role_arn(output: str, logical_id: str) -> str:
        if output in out:
            return str(out[output])
        return str(iam.get_role(RoleName=runtime.physical[logical_id])["Role"]["Arn"])

    return {
        "DeckwatchTopicArn": str(out["NotificationsTopicArn"]),
        "DeckwatchCostAlertsTopicArn": str(out["CostAlertsTopicArn"]),
        "DeckwatchCutoverStateMachineArn": str(out["CutoverStateMachineArn"]),
        "DeckwatchDrillValidatorRoleArn": role_arn("DrillValidatorRoleArn", "DrillValidatorFunctionRole"),
        "DeckwatchPipelineEventsRoleArn": role_arn("PipelineEventsRoleArn", "PipelineEventsFunctionRole"),
    }


def build(runtime: Any, root: Path, environment: str, account: str, region: str) -> dict[str, Any]:
    """Bootstrap, create the stack, and describe the world from its outputs."""
    bootstrap(runtime, root, environment)
    params = parameters(runtime, root, environment, account, region)
    _, tags = samconfig(root, environment)
    template = (root / "workload" / "template.yaml").read_text(encoding="utf-8")
    name = stack_name(environment)
    cfn = runtime.client("cloudformation")
    cfn.create_stack(
        StackName=name,
        TemplateBody=template,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(params.items())],
        Capabilities=["CAPABILITY_IAM"],
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"workload stack {name}: {stack['StackStatus']} {stack.get('StackStatusReason', '')}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    give_control_plane(runtime, outputs)
    return describe(runtime, root, environment, name, params, outputs)


def give_control_plane(runtime: Any, outputs: dict[str, str]) -> None:
    """The deploy order's last step: the control plane again, with the workload's outputs it takes as parameters
    (its pipeline-events function's grant on the workload's artifact bucket). Its roles stay what the workload's
    key policies name; the runtime reads their policies again afterwards (IAM enforced locally)."""
    import json

    iam = runtime.client("iam")
    before = {lid: iam.get_role(RoleName=runtime.physical[lid])["Role"]["Arn"] for lid in _ROLES}
    cfn = runtime.client("cloudformation")
    cfn.update_stack(
        StackName=runtime.stack_name,
        TemplateBody=json.dumps(runtime.template.cfn),
        Parameters=[  # as deployed (samconfig's), with the workload's bucket
            {"ParameterKey": k, "ParameterValue": v}
            for k, v in sorted({**runtime.parameters, "PipelineArtifactBucket": outputs["ArtifactBucketName"]}.items())
        ],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    status = cfn.describe_stacks(StackName=runtime.stack_name)["Stacks"][0]["StackStatus"]
    after = {lid: iam.get_role(RoleName=runtime.physical[lid])["Role"]["Arn"] for lid in _ROLES}
    if status != "UPDATE_COMPLETE" or after != before:
        raise RuntimeError(f"control plane update with the workload's outputs: {status}, roles {before} -> {after}")


_ROLES = ("DrillValidatorFunctionRole", "PipelineEventsFunctionRole")


def describe(
    runtime: Any, root: Path, environment: str, name: str, params: dict[str, str], outputs: dict[str, str]
) -> dict[str, Any]:
    gen = generator(root)
    world: dict[str, Any] = {
        "kind": "workload",
        "stack": name,
        "parameters": params,
        "outputs": outputs,
        "vpc": outputs["VpcId"],
        "subnets": outputs["PrivateSubnetIds"].split(","),
        "cluster": outputs["ClusterName"],
        "services": {},
        "alarms": [],
        "databases": [outputs["DbInstanceIdentifier"]],
        "backup_vault": outputs["BackupVaultName"],
        "artifact_bucket": outputs["ArtifactBucketName"],
        "pipelines": {},
    }
    for service in gen.SERVICES:
        p = service.prefix
        entry: dict[str, Any] = {
            "ecs": {c: outputs[f"{p}{c.title()}ServiceName"] for c in COLOURS},
            "container": outputs[f"{p}ContainerName"],
            "min_tasks": int(outputs[f"{p}MinTasks"]),
            "max_tasks": int(outputs[f"{p}MaxTasks"]),
            "alarms": {c: outputs[f"{p}{c.title()}Alarms"].split(",") for c in COLOURS},
            "pipeline": outputs[f"{p}PipelineName"],
            "repository": outputs[f"{p}ImageRepositoryUri"],
        }
        if service.alb:
            entry |= {
                "load_balancer": outputs[f"{p}LoadBalancerArn"],
                "load_balancer_name": outputs[f"{p}LoadBalancerName"],
                "listener": outputs[f"{p}ProductionListenerArn"],
                "test_listener": outputs[f"{p}TestListenerArn"],
                "target_groups": {c: outputs[f"{p}{c.title()}TargetGroupArn"] for c in COLOURS},
            }
        else:
            entry |= {
                "queue_url": outputs[f"{p}QueueUrl"],
                "queue_name": outputs[f"{p}QueueName"],
                "dead_letter_queue_url": outputs[f"{p}DeadLetterQueueUrl"],
            }
        world["services"][service.name] = entry
        world["pipelines"][entry["pipeline"]] = service.name
    alarms = runtime.client("cloudwatch").get_paginator("describe_alarms")
    world["alarms"] = sorted(
        a["AlarmName"] for page in alarms.paginate() for a in page["MetricAlarms"] if a["AlarmName"].startswith(name)
    )
    return world


def template(root: Path) -> dict[str, Any]:
    """workload/template.yaml as CloudFormation reads it (moto's own parser), to change and pass to `update_stack`
    as JSON: resources left alone compare equal to the deployed ones, so the update touches only what changed."""
    from moto.cloudformation.models import Stack

    return dict(Stack.parse_template((root / "workload" / "template.yaml").read_text(encoding="utf-8")))


def update_stack(runtime: Any, template_body: str | None = None, changed: dict[str, str] | None = None) -> str:
    """UpdateStack of the workload stack as an operator runs it: the previous value of every parameter it was
    given (SSM-typed ones are resolved again by CloudFormation), `changed` ones new; the previous template unless
    `template_body`. Returns the stack's status."""
    changed = changed or {}
    name = runtime.world["stack"]
    given = set(runtime.world["parameters"]) | set(changed)
    params = [
        {"ParameterKey": k, "ParameterValue": changed[k]}
        if k in changed
        else {"ParameterKey": k, "UsePreviousValue": True}
        for k in sorted(given)
    ]
    body: dict[str, Any] = {"TemplateBody": template_body} if template_body else {"UsePreviousTemplate": True}
    cfn = runtime.client("cloudformation")
    cfn.update_stack(StackName=name, Parameters=params, Capabilities=["CAPABILITY_IAM"], **body)
    return str(cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])
