"""Each sample event is routed by template.yaml's own rules to its function, and only to it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from deckwatch.local import routing
from deckwatch.local.template import Template, load
from support.samples import (
    APPROVAL_INPUTS,
    EVENTS,
    FUNCTION_FOLDERS,
    FUNCTION_SAMPLES,
    INVALID,
    REPO_ROOT,
    camel,
    load_event,
    sample_id,
)


@pytest.fixture(scope="module")
def template() -> Template:
    # The SAM translator resolves pseudo parameters (AWS::Region) from the boto3 session: it needs a region.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        return load(REPO_ROOT, {"Environment": "staging"})


@pytest.fixture(scope="module")
def rules(template: Template) -> list[routing.Rule]:
    return routing.rules(template)


def test_one_rule_per_function_folder(template: Template, rules: list[routing.Rule]) -> None:
    assert len([r for r in rules if r.schedule is None]) == len(FUNCTION_FOLDERS)  # + schedules (tests/cost)
    for folder in FUNCTION_FOLDERS:
        function = f"{camel(folder)}Function"
        assert template.code_dirs[function] == REPO_ROOT / "functions" / folder
        owned = [r for r in rules if r.logical_id.startswith(function) and r.schedule is None]
        assert len(owned) == 1, (folder, [r.logical_id for r in rules])
        assert [t.logical_id for t in owned[0].targets] == [function]
        assert owned[0].targets[0].dead_letter == "DeadLetterQueue"


def test_every_function_folder_has_samples() -> None:
    for folder in FUNCTION_FOLDERS:
        assert list((EVENTS / folder).glob("*.json")), folder


@pytest.mark.parametrize("path", FUNCTION_SAMPLES, ids=sample_id)
def test_sample_matches_exactly_its_functions_rule(path: Path, rules: list[routing.Rule]) -> None:
    kind, event = routing.classify(path.read_text(encoding="utf-8"))
    assert kind == "eventbridge"
    matched = [r.logical_id for r in rules if r.matches(event)]
    assert len(matched) == 1, matched
    assert matched[0].startswith(f"{camel(path.parent.name)}Function")


@pytest.mark.parametrize("path", FUNCTION_SAMPLES, ids=sample_id)
def test_sample_is_a_full_eventbridge_envelope(path: Path) -> None:
    event = load_event(path, fresh_id=False)
    assert set(event) >= {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
    assert event["version"] == "0"
    assert event["account"] == "123456789012"
    assert event["region"] == "us-east-1"
    assert isinstance(event["detail"], dict)
    assert event["detail"]


def test_sample_ids_are_unique() -> None:
    ids = [load_event(p, fresh_id=False)["id"] for p in FUNCTION_SAMPLES]
    assert len(ids) == len(set(ids))


def test_unknown_source_matches_no_rule(rules: list[routing.Rule]) -> None:
    kind, event = routing.classify((INVALID / "unknown-source.json").read_text(encoding="utf-8"))
    assert kind == "eventbridge"
    assert event["source"] == "aws.health"
    assert [r.logical_id for r in rules if r.matches(event)] == []


@pytest.mark.parametrize("name", ["alarm-missing-fields.json", "backup-missing-fields.json"])
def test_malformed_samples_still_route(name: str, rules: list[routing.Rule]) -> None:
    # Routing looks at source and detail-type only: a malformed detail reaches the function, which rejects it.
    _, event = routing.classify((INVALID / name).read_text(encoding="utf-8"))
    assert len([r for r in rules if r.matches(event)]) == 1


def test_wrong_detail_type_matches_nothing(rules: list[routing.Rule]) -> None:
    event = load_event(EVENTS / "alarm_events" / "alarm-metric.json")
    event["detail-type"] = "CloudWatch Alarm Configuration Change"
    assert [r.logical_id for r in rules if r.matches(event)] == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("not-json.txt", "not valid JSON"),
        ("array.json", "an event is a JSON object, got a JSON list"),
        ("no-source.json", "missing source and detail-type"),
    ],
)
def test_classify_rejects_bad_input(name: str, message: str) -> None:
    with pytest.raises(routing.BadInput, match=message):
        routing.classify((INVALID / name).read_text(encoding="utf-8"))


def test_classify_rejects_oversized_event() -> None:
    event = load_event(EVENTS / "cost_events" / "anomaly-detected.json")
    event["detail"]["padding"] = "x" * routing.MAX_EVENT_BYTES
    raw = json.dumps(event)
    assert len(raw) > 256 * 1024
    with pytest.raises(routing.BadInput, match="EventBridge accepts at most 262144"):
        routing.classify(raw)
    with pytest.raises(routing.BadInput):
        routing.classify(raw.encode())


def test_classify_rejects_non_object_detail() -> None:
    event = load_event(EVENTS / "cost_events" / "anomaly-detected.json")
    event["detail"] = "not an object"
    with pytest.raises(routing.BadInput, match="detail must be a JSON object"):
        routing.classify(json.dumps(event))


def test_every_file_under_events_is_used() -> None:
    """Each file under events/ is read by a test: samples, negative samples, state machine inputs."""
    used = set(FUNCTION_SAMPLES)
    used |= {
        INVALID / n
        for n in (
            "not-json.txt",
            "array.json",
            "no-source.json",
            "unknown-source.json",
            "alarm-missing-fields.json",
            "backup-missing-fields.json",
        )
    }
    used |= {APPROVAL_INPUTS / "prod-cutover.json", APPROVAL_INPUTS / "staging-remediation.json"}
    used |= set((EVENTS / "statemachines" / "remediation").glob("*.json"))  # tests/remediation/test_console.py
    used |= set((EVENTS / "statemachines" / "drill").glob("*.json"))  # tests/drills/test_drills.py
    used |= set((EVENTS / "statemachines" / "cutover").glob("*.json"))  # tests/cutover
    used |= {
        p for f in ("cost_alerts", "cost_report", "statemachines/cost_savings") for p in (EVENTS / f).glob("*.json")
    }  # tests/cost
    used |= {
        p
        for f in ("approval", "cutover", "remediation", "drill/inputs", "drill_validator", "cost_actions")
        for p in (EVENTS / f).glob("*.json")
    }  # tests/test_task_samples.py
    used.add(EVENTS / "README.md")  # tests/test_task_samples.py: describes every folder
    used.add(EVENTS / "SOURCES.md")  # test_documented_samples_name_their_source
    used |= set((EVENTS / "foreign").glob("*.json"))  # tests/test_replay.py: events from elsewhere
    on_disk = {p for p in EVENTS.rglob("*") if p.is_file()}
    assert on_disk == used


def test_documented_samples_name_their_source() -> None:
    """events/SOURCES.md names the AWS documentation page of each documented sample; each is listed once and exists."""
    rows = [
        line.split("|")[1:4]
        for line in (EVENTS / "SOURCES.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("| ") and not line.startswith("| sample") and not line.startswith("| ---")
    ]
    names = [row[0].strip() for row in rows]
    assert len(names) == len(set(names)) and names
    for name, source, adapted in rows:
        assert (EVENTS / name.strip()).is_file(), name
        assert source.strip() and adapted.strip(), name
        load_event(EVENTS / name.strip())  # a JSON event
    pages = [row[1] for row in rows if "https://docs.aws.amazon.com/" in row[1]]
    assert pages, "each page is named with its address at least once"
