# ruff: noqa: N999 - scenario modules are named <n>_<capability>.py (deckwatch.local.scenarios)
"""Demo: an alarm remediated and verified by its own OK event, then an alarm storm collapsed into one incident."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

TITLE = "Remediation: an alarm remediated and verified; a storm of 100 events collapsed into one incident"

CLUSTER = "shop-staging"
SERVICE = "shop-staging-web-blue"
ALARM = "shop-staging-web-cpu-high"
STORM = 100


def _line(text: str) -> None:
    sys.stdout.write(text + "\n")


def _say(text: str) -> None:
    _line(f"\n== {text}")


def run(root: Path) -> None:
    from deckwatch import clock
    from deckwatch.local.mock_services import faults as mock_cw
    from deckwatch.local.runtime import LocalAWS, Report
    from deckwatch.local.timeline import render
    from deckwatch.remediation.incidents import seconds_between, summarize

    with LocalAWS(root, environment="staging") as rt:
        ecs, cw = rt.client("ecs"), rt.client("cloudwatch")

        def desired() -> int:
            return int(ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]["desiredCount"])

        def drive(action: Any, title: str) -> list[dict[str, Any]]:
            since, started = clock.iso(), time.monotonic()
            action()
            rt.settle()
            records = rt.ledger_since(since)
            report = Report(event={"id": title, "source": "demo", "detail-type": title}, environment="staging")
            report.ledger, report.real_seconds = records, time.monotonic() - started
            _line(render(report))
            return records

        _say(f"{ALARM} goes to ALARM (SetAlarmState emits the real EventBridge event); {SERVICE} runs {desired()}")
        mock_cw.recover_on("ecs", "UpdateService", ALARM)  # the world: more tasks bring the CPU down
        records = drive(
            lambda: cw.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="Threshold Crossed: 91%"),
            "alarm -> scale out -> OK",
        )
        opened = next(r for r in records if r["decision"] == "runbook-selected")
        acted = next(r for r in records if r["kind"] == "action")
        closed = next((r for r in records if r["decision"] == "incident-mitigated"), None)
        _line(f"   {SERVICE} now runs {desired()} tasks")
        _line(
            f"   control-plane time, alarm event handled -> remediating API call: "
            f"{seconds_between(opened['time'], acted['time']):.3f}s"
        )
        if closed is not None:
            ttm = closed["details"]["time_to_mitigate_seconds"]
            _line(f"   verified by the alarm's OK event; time to mitigate {ttm}s")

        _say(f"a storm: {STORM} ALARM events for {ALARM} within seconds (cooldown over: 20 simulated minutes later)")
        rt.clock.advance(20 * 60)
        since, started = clock.iso(), time.monotonic()
        cw.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="Threshold Crossed: 95%")
        sample = json.loads((root / "events/alarm_events/alarm-metric.json").read_text(encoding="utf-8"))
        entries = [
            {
                "Source": "aws.cloudwatch",
                "DetailType": "CloudWatch Alarm State Change",
                "Resources": sample["resources"],
                "Detail": json.dumps(sample["detail"] | {"stormEvent": str(uuid.uuid4())}),
            }
            for _ in range(STORM - 1)
        ]
        events = rt.client("events")
        for i in range(0, len(entries), 10):
            events.put_events(Entries=entries[i : i + 10])
        rt.settle()
        elapsed = time.monotonic() - started
        records = rt.ledger_since(since)
        triage = [r["decision"] for r in records if r["kind"] == "decision"]
        actions = [r for r in records if r["kind"] == "action"]
        _line(
            f"   {len(triage)} events decided: {triage.count('runbook-selected')} opened the incident, "
            f"{triage.count('incident-joined')} joined it; {len(actions)} action(s); {SERVICE} runs {desired()}"
        )
        _line(f"   alarm path sustained {len(triage) / elapsed:.0f} events/s ({elapsed:.1f}s real)")

        _say("deckwatch incidents --env staging")
        with rt.control_plane() as deps:  # the embedded AWS's ledger (its session has the region, as AWS has)
            incidents = summarize(deps.ledger.by_capability("remediation"))
        for inc in incidents[:5]:
            _line(
                f"   {inc['incident_id']} {inc['state']:<6} {inc['outcome'] or '-':<12} {inc['resource']} "
                f"actions {inc['actions']} joined {inc['joined_events']} ttm {inc['time_to_mitigate_seconds']}"
            )
        mock_cw.clear_reactions()
