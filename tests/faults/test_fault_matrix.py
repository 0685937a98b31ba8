"""The standing fault matrix (support/fault_matrix.py) over the cutover (with and without an alarm), the
production cutover's approval, remediation, and cost savings with their resume; drills in
tests/drills/test_drill_faults.py.

The suite runs one case per call site (the kinds and transient/persistent in rotation over the sites, so that
every kind and both durations are covered in each workflow); `make fault-matrix` (FAULT_MATRIX=full) runs all
eight per site and writes .deckwatch/fault-matrix.json with the counts.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
import yaml
from deckwatch.local.mock_services import elbv2
from deckwatch.local.mock_services import faults as mock_faults
from deckwatch.local.runtime import LocalAWS, Report
from support import fault_matrix as fm
from support.cost import anomaly_event, capacity
from support.cost import console as cost_console
from support.cutover import POLICY, build_event, console_input, image
from support.remediation import CPU_ALARM, policy_doc, staging_rules
from support.samples import REPO_ROOT

FULL = os.environ.get("FAULT_MATRIX") == "full"
OUT = REPO_ROOT / ".deckwatch" / "fault-matrix.json"
Factory = Callable[..., AbstractContextManager[LocalAWS]]


def _cutover(rt: LocalAWS) -> list[Report]:
    return [rt.replay(build_event(rt, f"fm-{uuid.uuid4().hex[:6]}"))]


def _cutover_alarm(rt: LocalAWS) -> list[Report]:
    tag = f"fm-bad-{uuid.uuid4().hex[:6]}"
    elbv2.bad_image(image(tag))
    return [rt.replay(build_event(rt, tag))]


def _approval(rt: LocalAWS) -> list[Report]:
    payload = console_input("prod-image.json", image=image(f"fm-{uuid.uuid4().hex[:6]}"))
    return [rt.start_execution("CutoverStateMachine", payload, name=f"fm-{uuid.uuid4().hex[:8]}")]


def _remediation(rt: LocalAWS) -> list[Report]:
    cw = rt.client("cloudwatch")
    mock_faults.recover_on("ecs", "UpdateService", CPU_ALARM)  # the scale-out fixes the CPU
    return [rt.act("CPU alarm", lambda: cw.set_alarm_state(AlarmName=CPU_ALARM, StateValue="ALARM", StateReason="hot"))]


def _cost(rt: LocalAWS) -> list[Report]:
    saved = rt.replay(json.dumps(anomaly_event()))
    rt.clock.advance(3600)
    resumed = rt.start_execution("CostSavingsStateMachine", cost_console("resume-staging.json"))
    return [saved, resumed]


def _capacity_restored(before: dict[str, Any]) -> Callable[[LocalAWS, list[Report]], list[str]]:
    """Cost: after the resume, what the resume says it restored is back; nothing stays scaled down unrecorded."""

    def check(rt: LocalAWS, reports: list[Report]) -> list[str]:
        now = capacity(rt)
        restored = {
            r["subject"].split("/")[-1].split(":")[-1]
            for rep in reports
            for r in rep.ledger
            if r["decision"] == "restored"
        }
        return [
            f"{name}: {now[name]} after the resume, was {was}, and the ledger has no restore of it"
            for name, was in before.items()
            if now.get(name) != was and name not in restored and not _saved(rt, name)
        ]

    return check


def _saved(rt: LocalAWS, name: str) -> bool:
    """Still recorded as saved (resumable with `deckwatch resume`): a scaled-down resource that is not lost."""
    items = rt.client("dynamodb").scan(TableName=rt.physical["StateTable"])["Items"]
    return any(i["pk"]["S"].startswith("cost#saved#") and name in i["pk"]["S"] for i in items)


def _remediation_policy(tmp: Path) -> Path:
    path = tmp / "staging-remediation.yaml"
    path.write_text(yaml.safe_dump(policy_doc(rules=staging_rules())), encoding="utf-8")
    return path


def workflows(tmp: Path) -> dict[str, fm.Workflow]:
    return {
        "cutover": fm.Workflow("cutover", "staging", _cutover, policy_file=POLICY),
        "cutover-alarm": fm.Workflow("cutover-alarm", "staging", _cutover_alarm, policy_file=POLICY),
        "approval": fm.Workflow("approval", "prod", _approval),
        "remediation": fm.Workflow("remediation", "staging", _remediation, policy_file=_remediation_policy(tmp)),
        "cost": fm.Workflow("cost", "staging", _cost),
    }


@pytest.mark.parametrize("name", ["cutover", "cutover-alarm", "approval", "remediation", "cost"])
def test_fault_matrix(name: str, local_aws_factory: Factory, tmp_path: Path) -> None:
    wf = workflows(tmp_path)[name]

    def fresh() -> AbstractContextManager[LocalAWS]:
        return local_aws_factory(wf.environment, approvals=wf.approvals, policy_file=wf.policy_file)

    with fresh() as rt:
        if name == "cost":
            wf.checks.append(_capacity_restored(capacity(rt)))
        sites, problems = fm.baseline(rt, wf)
    assert problems == [], f"{name} does not hold without faults: {problems}"
    assert len(sites) >= 10, sites  # a workflow makes calls: a trace that saw none proves nothing
    results = []
    for case in fm.selected(fm.cases(wf, sites), FULL):
        with fresh() as rt:
            results.append(fm.run_case(rt, wf, case))
    _write(name, results)
    failed = [f"{r.case.id}: {'; '.join(r.problems[:3])}" for r in results if not r.held]
    print(
        f"\nfault matrix {name}: {len(results)} cases over {len(sites)} call sites, {len(results) - len(failed)} held"
    )
    assert not failed, "\n".join(failed)


def _write(name: str, results: list[fm.Result]) -> None:
    OUT.parent.mkdir(exist_ok=True)
    doc = json.loads(OUT.read_text(encoding="utf-8")) if OUT.is_file() else {}
    doc[name] = {
        "full": FULL,
        "cases": len(results),
        "held": sum(r.held for r in results),
        "faults_served": sum(r.injected for r in results),
        "failures": {r.case.id: r.problems for r in results if not r.held},
        "real_seconds": round(sum(r.real_seconds for r in results), 1),
        "slowest": {
            r.case.id: [round(r.real_seconds, 1), round(r.simulated_seconds)]
            for r in sorted(results, key=lambda r: -r.real_seconds)[:5]
        },
    }
    OUT.write_text(json.dumps(doc, indent=2, sort_keys=True), encoding="utf-8")
