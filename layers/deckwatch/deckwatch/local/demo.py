"""`deckwatch demo`: replay the samples in events/ through the real wiring on the embedded AWS, and narrate.

Each capability adds its scenario here; the foundation's shows event routing, triage decisions in the ledger,
duplicate delivery, a malformed event kept in the DLQ, and an approval gate answered and timed out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deckwatch.local.runtime import LocalAWS
from deckwatch.local.timeline import render


def _say(text: str) -> None:
    print(f"\n== {text}")


def run(root: Path, environment: str = "staging", report: Path | None = None) -> int:
    """The demo; with `report`, also report/index.html from the ledgers of every embedded AWS it ran."""
    if report is None:
        return _run(root, environment)
    from deckwatch.local import html_report

    with html_report.collecting() as ledgers:
        _run(root, environment)
    path = html_report.write(report, {env: list(recs.values()) for env, recs in ledgers.items()}, "Deckwatch demo")
    print(f"\n== report of the demo's ledgers ({', '.join(sorted(ledgers))}): {path}")
    return 0


def _run(root: Path, environment: str) -> int:
    events = root / "events"
    samples = sorted(
        p for p in events.glob("*/*.json") if p.parent.name not in ("statemachines", "invalid") and _is_event(p)
    )
    with LocalAWS(root, environment=environment) as rt:
        _say(
            f"embedded AWS up: stack {rt.stack_name}, {len(rt.functions)} functions, {len(rt.rules)} rules, "
            f"policy version {rt.policy.version}"
        )
        for path in samples:
            _say(f"replay {path.relative_to(root)}")
            print(render(rt.replay(_load(path))))
        if samples:
            first = _load(samples[0])
            _say(f"the same event delivered again (EventBridge is at-least-once): {samples[0].name}")
            print(render(rt.replay(first)))
        for bad in sorted((events / "invalid").glob("*-missing-fields.json")):
            _say(f"malformed event {bad.name}: rejected, recorded, kept in the DLQ")
            print(render(rt.replay(_load(bad))))
        print(f"   DLQ now holds {len(rt.dead_letter_messages())} message(s)")
        approval_inputs = [
            p
            for p in sorted((events / "statemachines" / "approval").glob("*.json"))
            if _load(p).get("environment") == environment
        ]
        if approval_inputs:
            _say("approval gate, answered by the operator")
            print(render(rt.start_execution("ApprovalStateMachine", _load(approval_inputs[0]), name="demo-approve")))
    if approval_inputs:
        with LocalAWS(root, environment=environment, approvals="timeout") as rt:
            _say("approval gate nobody answers: it expires in simulated time and counts as rejected")
            print(render(rt.start_execution("ApprovalStateMachine", _load(approval_inputs[0]), name="demo-timeout")))
    from deckwatch.local.scenarios import all_scenarios

    for scenario in all_scenarios():
        print(f"\n\n######## {scenario.TITLE}")
        scenario.run(root)
    return 0


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _is_event(path: Path) -> bool:
    """An EventBridge event or SNS message; not what Step Functions sends a task function (events/README.md)."""
    doc = _load(path)
    return isinstance(doc, dict) and ("detail-type" in doc or "Records" in doc or doc.get("Type") == "Notification")
