"""`deckwatch replay` answers each event seen to fail with exit 2 and one line: refused before delivery when AWS
would not deliver it (not JSON, nesting, PutEvents' limits, an SNS delivery without its record), or after its
handler rejected it, with the report of what happened (the ledger's rejection, the dead letter) on stdout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from deckwatch.local.cli import main
from support.bad_events import SEEN_TO_FAIL
from support.samples import EVENTS, REPO_ROOT


def replay(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, str, str]:
    code = main(["replay", str(path), "--env", "staging", "--json", "--root", str(REPO_ROOT)])
    out, err = capsys.readouterr()
    return code, out, err


REPLAY = {  # case -> what the one line says
    "100k-deep": "not an event: nested deeper than 32 levels",
    "500-deep": "not an event: nested deeper than 32 levels (at detail.configuration.a.a...a.a.a)",
    "sns-without-Sns": "not an SNS delivery: Records[0] has no Sns object",
    "200KB-alarm-name": "rejected by AlarmEventsFunction: malformed event: detail.alarmName: String should have at "
    "most 255 characters (the ledger says why; the DLQ has it)",
    "3000-char-arn": "resources[0] is 3048 characters; PutEvents accepts at most 2048",
    "nan-amount": "not valid JSON: NaN is not a JSON number",
    "drill-stop-without-execution": "rejected by DrillFunction: malformed event: detail.executionArn: Field required "
    "(the ledger says why; the DLQ has it)",
    "lone-surrogate": "not an event: detail.alarmName: not Unicode text (a lone surrogate)",
}


def _text(case: str) -> str:
    event = SEEN_TO_FAIL[case]
    if case == "100k-deep":  # json.dumps recurses too
        return (
            '{"source": "aws.cloudwatch", "detail-type": "x", "detail": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}"
        )
    if case == "drill-stop-without-execution":
        event = dict(event, detail={k: v for k, v in event["detail"].items() if k != "executionArn"})
    return json.dumps(event)


@pytest.mark.parametrize("case", sorted(REPLAY))
def test_replay_exits_2_with_one_line(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / f"{case}.json"
    path.write_text(_text(case), encoding="utf-8")
    code, out, err = replay(capsys, path)
    assert code == 2
    (line,) = err.splitlines()
    assert line == f"deckwatch: {path}: {REPLAY[case]}"
    if "rejected by" in line:
        report = json.loads(out)  # what happened is shown all the same
        assert [r["decision"] for r in report["ledger"]] == ["rejected"]
        assert len(report["dead_letters"]) == 1
    else:
        assert out == ""  # refused before anything ran


def test_a_sample_replays_with_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = replay(capsys, EVENTS / "drill" / "execution-aborted.json")
    assert (code, err) == (0, "")
    assert json.loads(out)["invocations"][0]["status"] == "ok"
