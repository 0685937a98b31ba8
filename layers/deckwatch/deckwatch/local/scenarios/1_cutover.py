# ruff: noqa: N999 - scenario modules are named <n>_<capability>.py (deckwatch.local.scenarios)
"""Blue-green cutovers: a good release promoted staging -> production with approval, then a bad release rolled back
at 10% by its alarm's own event, with the control plane's time to rollback."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from deckwatch.local.runtime import LocalAWS
from deckwatch.local.timeline import render

TITLE = "cutover: staging -> prod with approval, and a bad release rolled back by its alarm"
BAD = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:2026-11-30.2-bad"


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _weights(rt: LocalAWS, service: str = "web") -> str:
    elb = rt.client("elbv2")
    listener = rt.world["services"][service]["listener"]
    action = elb.describe_listeners(ListenerArns=[listener])["Listeners"][0]["DefaultActions"][0]
    groups = action.get("ForwardConfig", {}).get("TargetGroups", [])
    names = {tg: tg.split("/")[-2] for tg in (g["TargetGroupArn"] for g in groups)}
    return ", ".join(f"{names[g['TargetGroupArn']]}={g.get('Weight', 0)}" for g in groups)


def run(root: Path) -> None:
    from deckwatch.local.mock_services import elbv2

    events = root / "events"
    with LocalAWS(root, environment="staging") as rt:
        _say(
            "\n== staging: the pipeline's BuildImage SUCCEEDED -> canary 10% -> 100%, each bake watched by alarm events"
        )
        _say(f"   listener before: {_weights(rt)}")
        report = rt.replay(_load(events / "pipeline_events" / "action-build-succeeded.json"))
        _say(render(report))
        _say(f"   listener after: {_weights(rt)}")

        _say(f"\n== staging: a bad release ({BAD.rsplit(':', 1)[-1]}); its 5XX alarm fires while 10% bakes")
        elbv2.bad_image(BAD)
        doc = _load(events / "statemachines" / "cutover" / "staging-image.json") | {"image": BAD}
        report = rt.start_execution("CutoverStateMachine", doc, name="demo-bad-release")
        _say(render(report))
        rolled = next((r for r in report.ledger if r["decision"] == "rolled-back"), None)
        if rolled is not None:
            d = rolled["details"]
            _say(
                f"   rolled back at {d['weight_at_rollback']}% ({d['reason']}); time to rollback "
                f"{d['time_to_rollback_seconds']:.3f}s of control-plane time (alarm event -> 100% on the stable colour)"
            )
        _say(f"   listener after rollback: {_weights(rt)}")
        elbv2.reset()
    with LocalAWS(root, environment="prod", approvals="approve") as rt:
        _say(
            "\n== prod: the same good image, from the console; the policy requires approval (answered by the operator)"
        )
        report = rt.start_execution(
            "CutoverStateMachine", _load(events / "statemachines" / "cutover" / "prod-image.json")
        )
        _say(render(report))
        _say(f"   listener after: {_weights(rt)}")
