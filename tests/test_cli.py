"""`deckwatch` as a person uses it: exit codes, one-line errors, never a traceback for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from deckwatch.local.cli import main
from support.samples import EVENTS, INVALID, REPO_ROOT


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_without_traceback(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("deckwatch: ")
    return lines[0]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("not-json.txt", "not valid JSON"),
        ("array.json", "an event is a JSON object"),
        ("no-source.json", "missing source and detail-type"),
    ],
)
def test_input_that_is_not_an_event_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], name: str, expected: str
) -> None:
    code, out, err = run(capsys, "replay", str(INVALID / name), "--env", "staging", "--root", str(REPO_ROOT))
    assert code == 2
    assert out == ""
    assert expected in one_line_without_traceback(err)


def test_oversized_event_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    doc = json.loads((EVENTS / "alarm_events" / "alarm-metric.json").read_text())
    doc["detail"]["padding"] = "x" * (300 * 1024)
    big = tmp_path / "big.json"
    big.write_text(json.dumps(doc))
    code, _, err = run(capsys, "replay", str(big), "--root", str(REPO_ROOT))
    assert code == 2
    assert "at most 262144" in one_line_without_traceback(err)


def test_missing_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "replay", str(tmp_path / "nope.json"), "--root", str(REPO_ROOT))
    assert code == 2
    assert "cannot read" in one_line_without_traceback(err)


def test_unknown_source_is_processed_and_says_no_rule_matched(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "replay", str(INVALID / "unknown-source.json"), "--env", "staging", "--json", "--root", str(REPO_ROOT)
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["matched_rules"] == []
    assert report["note"] == "no rule matched"
    assert report["event"]["source"] == "aws.health"


def test_known_source_with_missing_fields_is_rejected_by_its_handler(capsys: pytest.CaptureFixture[str]) -> None:
    """Bad input all the same (exit 2, one line), once its handler has rejected it as AWS would: the report of what
    happened is printed, with the ledger's rejection and the dead letter."""
    code, out, err = run(
        capsys,
        "replay",
        str(INVALID / "alarm-missing-fields.json"),
        "--env",
        "staging",
        "--json",
        "--root",
        str(REPO_ROOT),
    )
    assert code == 2
    line = one_line_without_traceback(err)
    assert line.startswith(f"deckwatch: {INVALID / 'alarm-missing-fields.json'}: rejected by AlarmEventsFunction: ")
    assert "detail.alarmName" in line
    report = json.loads(out)
    assert set(report) >= {"event", "environment", "matched_rules", "invocations", "executions", "aws_calls", "ledger"}
    (invocation,) = report["invocations"]
    assert invocation["status"] == "error"
    assert "detail.alarmName" in invocation["error"]
    assert [d["queue"] for d in report["dead_letters"]] == ["DeadLetterQueue"]
    assert [r["decision"] for r in report["ledger"]] == ["rejected"]


def test_timeline_names_rule_function_and_decision(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "replay", str(EVENTS / "alarm_events" / "alarm-ok.json"), "--env", "staging", "--root", str(REPO_ROOT)
    )
    assert code == 0
    assert "rule      AlarmEventsFunctionAlarmStateChange" in out
    assert "invoke    AlarmEventsFunction: ok" in out
    assert "ledger    remediation" in out


def test_invalid_policy_file_exits_2_with_every_problem(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nenvironment: qa\ndry_run: sometimes\n")
    code, _, err = run(capsys, "policy", "validate", str(bad))
    assert code == 2
    assert f"{bad}:2: environment:" in err
    assert f"{bad}:3: dry_run:" in err
    assert "Traceback" not in err
    code, _, err = run(capsys, "replay", str(EVENTS / "alarm_events" / "alarm-ok.json"), "--policy", str(bad))
    assert code == 2
    assert f"{bad}:2: environment:" in err


def test_policy_schema_is_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "policy", "schema")
    assert code == 0
    schema = json.loads(out)
    assert {"version", "environment", "dry_run", "services", "remediation", "drills", "cost"} <= set(
        schema["properties"]
    )


def test_console_script_is_installed_and_answers_bad_input_in_one_line() -> None:
    exe = Path(sys.executable).with_name("deckwatch")
    proc = subprocess.run(
        [str(exe), "replay", str(INVALID / "array.json")], capture_output=True, text=True, check=False, cwd=REPO_ROOT
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "Traceback" not in proc.stderr


def test_console_script_replays_and_writes_its_whole_answer_before_exiting() -> None:
    """`deckwatch` ends its process without the interpreter's heap teardown (cli.run): the answer is complete."""
    exe = Path(sys.executable).with_name("deckwatch")
    event = EVENTS / "alarm_events" / "alarm-metric.json"
    proc = subprocess.run(
        [str(exe), "replay", str(event), "--env", "staging", "--json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["invocations"][0] == {"function": "AlarmEventsFunction", "status": "ok", "error": None}
    assert proc.stderr == ""


def test_the_commands_exit_runs_exit_handlers_and_flushes_then_keeps_mains_code() -> None:
    script = (
        "import atexit, sys\n"
        "from deckwatch.local import cli\n"
        "atexit.register(lambda: print('exit handler ran', file=sys.stderr))\n"
        "sys.argv = ['deckwatch'] + sys.argv[1:]\n"
        "cli.run()\n"
    )
    ok = subprocess.run([sys.executable, "-c", script, "policy", "schema"], capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and json.loads(ok.stdout)["properties"]
    assert ok.stderr == "exit handler ran\n"
    bad_input = ["replay", str(INVALID / "array.json")]
    bad = subprocess.run([sys.executable, "-c", script, *bad_input], capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[-1] == "exit handler ran" and len(bad.stderr.splitlines()) == 2


# ------------------------------------------------------------------ replay --topic (tests/cost/test_topics.py) ------
TEAM_TOPIC = "arn:aws:sns:us-east-1:123456789012:team-costs"
BUDGET = EVENTS / "cost_alerts" / "budget-actual.json"


def test_replay_on_a_named_topic(capsys: pytest.CaptureFixture[str]) -> None:
    """An SNS message as if it arrived on a team's topic: the stack is deployed listening to it."""
    args = ("replay", str(BUDGET), "--env", "staging", "--root", str(REPO_ROOT), "--topic", TEAM_TOPIC, "--json")
    code, out, _ = run(capsys, *args)
    assert code == 0
    doc = json.loads(out)
    assert doc["invocations"] == [{"function": "CostAlertsFunction", "status": "ok", "error": None}]
    assert doc["matched_rules"] == ["CostAlertsSubscriptionarnawssnsuseast1123456789012teamcosts"]


@pytest.mark.parametrize(
    ("event", "topic", "message"),
    [
        (EVENTS / "cost_events" / "anomaly-detected.json", TEAM_TOPIC, "--topic delivers SNS messages"),
        (BUDGET, "team-costs", "is not an SNS topic ARN"),
    ],
)
def test_replay_topic_errors(capsys: pytest.CaptureFixture[str], event: Path, topic: str, message: str) -> None:
    code, out, err = run(capsys, "replay", str(event), "--env", "staging", "--root", str(REPO_ROOT), "--topic", topic)
    assert (code, out) == (2, "")
    assert message in one_line_without_traceback(err)


def test_parameters_must_be_key_value(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["replay", str(BUDGET), "--parameter", "CostAlertTopicArns"])
    assert info.value.code == 2
    assert "is not KEY=VALUE" in capsys.readouterr().err
