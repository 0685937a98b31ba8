# ruff: noqa: N999 - scenario modules are named <n>_<capability>.py (deckwatch.local.scenarios)
"""Release windows: the staging policy gets weekday release windows in Paris (pushed to SSM, no redeploy), and a
release triggered on a Friday at 17:00 waits, planned and announced, until Monday 09:00, then runs."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from deckwatch.local.runtime import LocalAWS

TITLE = "release windows: a release triggered on Friday evening waits for Monday morning"
PARIS = ZoneInfo("Europe/Paris")
WINDOWS = [{"days": ["mon-fri"], "from": "09:00", "to": "16:00", "timezone": "Europe/Paris"}]
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:2026-12-04.1"


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def _friday_five_pm() -> float:
    """The next Friday 17:00 in Paris from now."""
    now = datetime.now(PARIS)
    days = (4 - now.weekday()) % 7 or 7
    day = now.date().toordinal() + days
    return datetime.fromordinal(day).replace(hour=17, tzinfo=PARIS).timestamp()


def run(root: Path) -> None:
    from deckwatch.local.mock_services import traffic

    with LocalAWS(root, environment="staging", start=_friday_five_pm()) as rt:
        ssm, name = rt.client("ssm"), "/deckwatch/staging/policy"
        doc = yaml.safe_load(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])
        doc["release"] = {"windows": WINDOWS, "outside_window": "wait", "bake_crossing_end": "pause"}
        for svc in doc["services"]:  # the weekend's traffic is not modelled in this scenario: no canary figures
            svc.setdefault("rollout", {})["analysis"] = {"enabled": False}
        ssm.put_parameter(Name=name, Value=yaml.safe_dump(doc), Type="SecureString", Overwrite=True)
        traffic.enable(False)
        _say("\n== staging policy pushed: release windows mon-fri 09:00-16:00 Europe/Paris (no redeploy)")
        now = datetime.fromtimestamp(rt.clock.time(), PARIS)
        _say(f"   {now:%A %Y-%m-%d %H:%M %Z}: a release of web is triggered from the console")
        report = rt.start_execution(
            "CutoverStateMachine", {"environment": "staging", "service": "web", "image": IMAGE}, name="demo-friday"
        )
        execution = next(e for e in report.executions if e["state_machine"] == "CutoverStateMachine")
        for rec in report.ledger:
            if rec["capability"] != "cutover" or rec["decision"] not in ("waiting-for-window", "planned", "completed"):
                continue
            when = datetime.fromisoformat(rec["time"].replace("Z", "+00:00")).astimezone(PARIS)
            _say(f"   {when:%a %H:%M %Z}  {rec['decision']:<19} {rec['reason'][:150]}")
        waits = execution["path"].index("WaitForWindow") + 1 if "WaitForWindow" in execution["path"] else 0
        _say(
            f"   execution {execution['status']}: {' -> '.join(execution['path'][: waits + 2])} -> ... "
            f"({execution['transitions']} states, {report.simulated_seconds / 3600:.1f} simulated hours)"
        )
