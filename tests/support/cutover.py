"""Helpers of the cutover tests: inputs, listener weights, records, events delivered mid-bake."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from deckwatch.local.mock_services import codepipeline
from deckwatch.local.runtime import LocalAWS, Report

from support.samples import EVENTS, REPO_ROOT, load_event

Factory = Callable[..., AbstractContextManager[LocalAWS]]
POLICY = REPO_ROOT / "tests" / "cutover" / "policies" / "staging.yaml"
INPUTS = EVENTS / "statemachines" / "cutover"
WEB_ALARM = "shop-staging-web-5xx-rate"


def console_input(name: str, **changes: Any) -> dict[str, Any]:
    doc = json.loads((INPUTS / name).read_text(encoding="utf-8"))
    doc.update(changes)
    return doc


def image(tag: str) -> str:
    return f"123456789012.dkr.ecr.us-east-1.amazonaws.com/web:{tag}"


def weights(rt: LocalAWS, service: str = "web") -> dict[str, int]:
    """Listener weights by colour, as the ALB has them."""
    world = rt.world["services"][service]
    colour_of = {arn: colour for colour, arn in world["target_groups"].items()}
    listener = rt.client("elbv2").describe_listeners(ListenerArns=[world["listener"]])["Listeners"][0]
    groups = listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
    return {colour_of[g["TargetGroupArn"]]: int(g["Weight"]) for g in groups}


def live(rt: LocalAWS) -> str:
    w = weights(rt)
    return max(w, key=lambda c: w[c])


def desired(rt: LocalAWS, colour: str) -> int:
    name = f"shop-staging-web-{colour}"
    found = rt.client("ecs").describe_services(cluster="shop-staging", services=[name])["services"]
    return int(found[0]["desiredCount"])


def only_execution(report: Report) -> dict[str, Any]:
    runs = [e for e in report.executions if e["state_machine"] == "CutoverStateMachine"]
    assert len(runs) == 1, report.executions
    return runs[0]


def decisions(report: Report) -> list[str]:
    return [r["decision"] for r in report.ledger if r["capability"] == "cutover"]


def record(report: Report, decision: str) -> dict[str, Any]:
    found = [r for r in report.ledger if r["decision"] == decision]
    assert len(found) == 1, (decision, decisions(report))
    return found[0]


def ops(report: Report) -> list[tuple[str, str]]:
    return [(c["service"], c["operation"]) for c in report.aws_calls]


def run(rt: LocalAWS, payload: dict[str, Any]) -> Report:
    return rt.start_execution("CutoverStateMachine", payload, name=f"t-{uuid.uuid4().hex[:10]}")


def emit(event: dict[str, Any]) -> None:
    """Put an event on the default bus, as another service or a person would (routed by the template's rules)."""
    from deckwatch.local import moto_patches

    full = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "account": "123456789012",
        "region": "us-east-1",
        "time": "2026-11-30T10:00:00Z",
        "resources": [],
    } | event
    assert moto_patches.HOOKS.put_event is not None
    moto_patches.HOOKS.put_event(full)


def build_event(rt: LocalAWS, tag: str, files: dict[str, str] | None = None) -> dict[str, Any]:
    """A real 'BuildImage SUCCEEDED' event whose output artifact names image web:<tag>."""
    event = load_event(EVENTS / "pipeline_events/action-build-succeeded.json")
    key = f"shop-web/ImageDefin/{uuid.uuid4().hex[:7]}"
    codepipeline.put_artifact(key, files if files is not None else codepipeline.image_definitions(image(tag)))
    event["detail"]["execution-id"] = str(uuid.uuid4())
    event["detail"]["output-artifacts"][0]["s3location"]["key"] = key
    return event
