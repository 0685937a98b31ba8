# ruff: noqa: N999 - scenario modules are named <n>_<capability>.py (deckwatch.local.scenarios)
"""Blue-green cutovers: a good release promoted staging -> production with approval, then a bad release rolled back
at 10% by its alarm's own event, with the control plane's time to rollback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deckwatch.local.runtime import LocalAWS

TITLE = "cutover: staging -> prod with approval, and a bad release rolled back by its alarm"
BAD = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:2026-11-30.2-bad"


def _say(text: str) -> None:
    pass


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def run(root: Path) -> None:
    from deckwatch.local.mock_services import elbv2

    events = root / "events"
    with LocalAWS(root, environment="staging") as rt:
        _say("staging: the pipeline's BuildImage SUCCEEDED -> canary 10% -> 100%, bakes watched by alarm events")
        _say(f"staging: a bad release ({BAD.rsplit(':', 1)[-1]}); its 5XX alarm fires while 10% bakes")
        elbv2.bad_image(BAD)
        doc = _load(events / "statemachines" / "cutover" / "staging-image.json") | {"image": BAD}
        report = rt.start_execution("CutoverStateMachine", doc, name="demo-bad-release")
        rb = next((r for r in report.ledger if r["decision"] == "rolled-back"), None)
        if rb is not None:
            rb["details"]
    with LocalAWS(root, environment="prod", approvals="approve") as rt:
        _say("prod: the same image, from the console; the policy requires approval (answered by the operator)")
