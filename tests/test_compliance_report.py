"""`deckwatch report compliance`: an auditor's view of one environment from its ledger (deckwatch.local.compliance),
on records a real run wrote: a production release with its approval, the ledger's integrity, drills against the
schedule, and bad periods refused in one line."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from deckwatch import clock
from deckwatch.local import compliance
from deckwatch.local.commands import report
from deckwatch.local.runtime import LocalAWS
from support.cutover import console_input, image

Factory = Callable[..., AbstractContextManager[LocalAWS]]


def _release(rt: LocalAWS) -> str:
    """Run a prod release; the day (UTC) it began."""
    began = clock.iso()[:10]
    payload = console_input("prod-image.json", image=image(f"audit-{uuid.uuid4().hex[:6]}"))
    rt.start_execution("CutoverStateMachine", payload, name=f"audit-{uuid.uuid4().hex[:8]}")
    return began


def _doc(rt: LocalAWS, since: str) -> dict[str, Any]:
    """The report from the day the release began to today: simulated time starts from the wall clock, so a release
    begun shortly before midnight UTC ends the next day, its approval on the first."""
    with rt.control_plane() as deps:
        return report.compliance_of(deps, rt.environment, since, clock.iso()[:10])


# a release begun five minutes before midnight UTC ends the next day (it failed so once, the suite run at 23:57)
@pytest.mark.parametrize("start", [None, 1_796_255_700.0], ids=["now", "before-midnight"])
def test_an_approved_release_is_a_change_with_its_approval(
    local_aws_factory: Factory, tmp_path: Path, start: float | None
) -> None:
    with local_aws_factory("prod", approvals="approve", start=start) as rt:
        began = _release(rt)
        doc = _doc(rt, began)
    [change] = doc["production_changes"]
    assert change["what"].startswith("cutover") and change["approved"] is True
    assert [a["decision"] for a in change["approvals"]] == ["requested", "approved"]
    assert doc["ledger_verified"] is True
    assert doc["actions"]["cutover"]["done"] >= 3  # the task definition, the deployment, the listener...
    assert doc["policy_versions"] and doc["policy_versions"][0]["records"] == doc["records"] - _unversioned(doc)
    assert not [f for f in doc["findings"] if "unapproved" in f or "ledger" in f]
    json_path, page = compliance.write(tmp_path, doc)
    assert json.loads(json_path.read_text(encoding="utf-8"))["environment"] == "prod"
    text = page.read_text(encoding="utf-8")
    assert "Changes and their approvals" in text and "<script" not in text


def _unversioned(doc: dict[str, Any]) -> int:
    return doc["records"] - sum(v["records"] for v in doc["policy_versions"])


def test_a_rejected_release_is_a_refusal_not_a_change_and_a_changed_record_is_a_finding(
    local_aws_factory: Factory,
) -> None:
    with local_aws_factory("prod", approvals="reject") as rt:
        began = _release(rt)
        doc = _doc(rt, began)
        assert doc["ledger_verified"] is True
        # someone with table access edits a record: the report says so, and exits 1
        ddb = rt.client("dynamodb")
        table = rt.physical["LedgerTable"]
        item = next(i for i in ddb.scan(TableName=table)["Items"] if i.get("decision", {}).get("S") == "rejected")
        ddb.put_item(TableName=table, Item={**item, "reason": {"S": "approved after all"}})
        tampered = _doc(rt, began)
    [change] = doc["production_changes"]
    assert change["approved"] == "rejected"  # refused by a person: not an unapproved change
    assert [r["decision"] for r in doc["refusals"]] == ["rejected"]
    assert not [f for f in doc["findings"] if "unapproved" in f]
    assert tampered["ledger_verified"] is False
    assert any(f.startswith("ledger: changed") for f in tampered["findings"])
    assert report.emit(tampered, None, as_json=False) == 1


def test_a_drilled_resource_without_a_drill_in_the_period_is_a_finding() -> None:
    doc = compliance.build("prod", [], start="2026-11-01", end="2026-11-30", integrity=[])
    assert compliance.missed_schedule(doc, ["shop-prod-db"]) == [
        "no drill of shop-prod-db between 2026-11-01 and 2026-11-30"
    ]
    assert doc["findings"] == ["no drill of shop-prod-db between 2026-11-01 and 2026-11-30"]


@pytest.mark.parametrize(
    ("start", "end", "says"),
    [
        ("", "2026-11-30", "--from and --to are required"),
        ("2026-13-01", "2026-11-30", "--from '2026-13-01' is not an ISO date"),
        ("2026-11-30", "2026-11-01", "--to 2026-11-01 is before --from 2026-11-30"),
    ],
)
def test_a_bad_period_is_refused_in_one_line(start: str, end: str, says: str) -> None:
    from deckwatch.local.cli import UsageError

    with pytest.raises(UsageError, match=says):
        report._period(start, end)
