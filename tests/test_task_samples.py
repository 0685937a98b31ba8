"""Samples for the functions Step Functions and EventBridge schedules invoke (events/README.md), for
`sam local invoke -e`: each is the payload a named state (or schedule) of template.yaml sends, and each validates
against its handler's model. Their names say where they come from:

  events/<function folder>/<state machine>.<State>.json    the Payload of Task state <State> of
                                                           statemachines/<state machine>.asl.json
  events/<function folder>/schedule.<Event>.json           the constant Input of the function's schedule <Event>

(DrillFunction's are under events/drill/inputs/: events/drill/ itself holds EventBridge events, tests/test_routing.py)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from deckwatch.local.template import load_yaml
from support.samples import EVENTS, REPO_ROOT

SAM = load_yaml(REPO_ROOT / "template.yaml")
FUNCTIONS = {lid: r for lid, r in SAM["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
FOLDER_OF = {lid: Path(r["Properties"]["CodeUri"]).name for lid, r in FUNCTIONS.items()}  # functions/<folder>/
LOGICAL_OF = {folder: lid for lid, folder in FOLDER_OF.items()}
NAMED = re.compile(r"^(?P<source>[a-z_]+)\.(?P<name>[A-Za-z0-9]+)\.json$")


def _validate_cutover(event: dict[str, Any]) -> None:
    from deckwatch.cutover.model import Cutover
    from deckwatch.cutover.tasks import CutoverTask

    task = CutoverTask.model_validate(event)
    if task.cutover is not None:  # the handler validates the cutover document next (cutover.tasks.handle)
        Cutover.model_validate(task.cutover)


def _task(model: str) -> Callable[[dict[str, Any]], None]:
    """The handlers that validate `{"task": event}` with a discriminated model."""

    def validate(event: dict[str, Any]) -> None:
        module, name = model.rsplit(".", 1)
        getattr(__import__(module, fromlist=[name]), name).model_validate({"task": event})

    return validate


def _plain(model: str) -> Callable[[dict[str, Any]], None]:
    def validate(event: dict[str, Any]) -> None:
        module, name = model.rsplit(".", 1)
        getattr(__import__(module, fromlist=[name]), name).model_validate(event)

    return validate


# folder -> (the model its functions/<folder>/app.py validates with, how it validates an event)
HANDLER_MODELS: dict[str, tuple[str, Callable[[dict[str, Any]], None]]] = {
    "approval": ("ApprovalTask", _task("deckwatch.approvals.ApprovalTask")),
    "cutover": ("CutoverTask", _validate_cutover),
    "remediation": ("RemediationTask", _task("deckwatch.remediation.tasks.RemediationTask")),
    "drill": ("DrillTask", _task("deckwatch.drills.model.DrillTask")),
    "drill_validator": ("ValidationRequest", _plain("deckwatch.drills.model.ValidationRequest")),
    "cost_actions": ("CostTask", _task("deckwatch.cost.tasks.CostTask")),
    "cost_report": ("ReportRequest", _plain("deckwatch.cost.report.ReportRequest")),
}


def _sample_dir(folder: str) -> Path:
    return EVENTS / folder / "inputs" if folder == "drill" else EVENTS / folder


def _invoked_by_step_functions() -> set[str]:
    """Functions some state machine's DefinitionSubstitutions names (`!GetAtt XFunction.Arn`)."""
    out = set()
    for res in SAM["Resources"].values():
        if res["Type"] == "AWS::Serverless::StateMachine":
            for value in res["Properties"].get("DefinitionSubstitutions", {}).values():
                if isinstance(value, dict) and "Fn::GetAtt" in value and value["Fn::GetAtt"][0] in FUNCTIONS:
                    out.add(value["Fn::GetAtt"][0])
    return out


def _invoked_by_eventbridge() -> set[str]:
    return {
        lid
        for lid, res in FUNCTIONS.items()
        for event in res["Properties"].get("Events", {}).values()
        if event["Type"] in ("EventBridgeRule", "Schedule", "CloudWatchEvent", "ScheduleV2")
    }


TASK_FOLDERS = sorted(FOLDER_OF[lid] for lid in _invoked_by_step_functions())
NAMED_SAMPLES = sorted(p for folder in TASK_FOLDERS for p in _sample_dir(folder).glob("*.json"))
ALL_SAMPLES = NAMED_SAMPLES + sorted(p for f in ("cost_report", "drill") for p in (EVENTS / f).glob("*.json"))


def _id(path: Path) -> str:
    return str(path.relative_to(EVENTS))


def _tasks(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, state in states.items():
        if state.get("Type") == "Task":
            out[name] = state
        for branch in state.get("Branches", []):
            out |= _tasks(branch["States"])
        inner = state.get("ItemProcessor") or state.get("Iterator")
        if inner:
            out |= _tasks(inner["States"])
    return out


def _target(state: dict[str, Any]) -> tuple[str, Any]:
    """(DefinitionSubstitutions key of the function the Task invokes, the payload template it sends)."""
    params = state.get("Parameters", {})
    if state["Resource"].startswith("${"):  # the function ARN as the resource: Parameters are the payload
        return state["Resource"][2:-1], params
    return str(params["FunctionName"])[2:-1], params["Payload"]


def _shape_problems(template: Any, sample: Any, where: str = "$") -> list[str]:
    """Where `sample` is not something `template` (an ASL payload template) produces: the keys of every object
    (`key.$` is a path, any value), and every constant."""
    if isinstance(template, dict):
        if not isinstance(sample, dict):
            return [f"{where}: an object in the payload, {type(sample).__name__} in the sample"]
        wanted = {k.removesuffix(".$") for k in template}
        if set(sample) != wanted:
            return [f"{where}: keys {sorted(sample)}, the payload has {sorted(wanted)}"]
        constants = [k for k in template if not k.endswith(".$")]
        return [p for k in constants for p in _shape_problems(template[k], sample[k], f"{where}.{k}")]
    return [] if template == sample else [f"{where}: {sample!r}, the payload says {template!r}"]


# ------------------------------------------------------------------ coverage --------------------------------------
def test_functions_invoked_by_step_functions_are_the_task_folders() -> None:
    assert set(TASK_FOLDERS) == {"approval", "cutover", "remediation", "drill", "drill_validator", "cost_actions"}


@pytest.mark.parametrize("logical_id", sorted(_invoked_by_step_functions() | _invoked_by_eventbridge()))
def test_every_function_step_functions_or_eventbridge_invokes_has_a_sample(logical_id: str) -> None:
    folder = FOLDER_OF[logical_id]
    assert list(_sample_dir(folder).glob("*.json")) or list((EVENTS / folder).glob("*.json")), folder


@pytest.mark.parametrize("folder", TASK_FOLDERS)
def test_every_task_folder_follows_the_naming(folder: str) -> None:
    samples = list(_sample_dir(folder).glob("*.json"))
    assert samples
    assert [p.name for p in samples if not NAMED.match(p.name)] == []


@pytest.mark.parametrize("folder", sorted(HANDLER_MODELS))
def test_handler_validates_with_the_model_the_test_uses(folder: str) -> None:
    model, _ = HANDLER_MODELS[folder]
    handler = (REPO_ROOT / "functions" / folder / "app.py").read_text(encoding="utf-8")
    assert re.search(rf"\b{model}\.model_validate\(", handler), f"functions/{folder}/app.py no longer uses {model}"


def test_events_readme_describes_every_folder() -> None:
    readme = (EVENTS / "README.md").read_text(encoding="utf-8")
    folders = {str(p.relative_to(EVENTS)) for p in EVENTS.rglob("*") if p.is_dir()}
    assert [f for f in sorted(folders) if f"`{f}/`" not in readme] == []


# ------------------------------------------------------------------ each sample -----------------------------------
@pytest.mark.parametrize("path", NAMED_SAMPLES, ids=_id)
def test_sample_is_what_its_source_sends(path: Path) -> None:
    match = NAMED.match(path.name)
    assert match is not None
    source, name = match["source"], match["name"]
    folder = path.parent.name if path.parent.name != "inputs" else path.parent.parent.name
    function = LOGICAL_OF[folder]
    sample = json.loads(path.read_text(encoding="utf-8"))
    if source == "schedule":
        event = FUNCTIONS[function]["Properties"]["Events"][name]  # KeyError: no such schedule
        assert event["Type"] == "Schedule"
        assert json.loads(event["Properties"]["Input"]) == sample
        return
    asl = json.loads((REPO_ROOT / "statemachines" / f"{source}.asl.json").read_text(encoding="utf-8"))
    state = _tasks(asl["States"])[name]  # KeyError: no such Task state
    key, payload = _target(state)
    uri = f"statemachines/{source}.asl.json"
    machine = next(r for r in SAM["Resources"].values() if r["Properties"].get("DefinitionUri") == uri)
    assert machine["Properties"]["DefinitionSubstitutions"][key] == {"Fn::GetAtt": [function, "Arn"]}
    assert _shape_problems(payload, sample) == []


@pytest.mark.parametrize("path", ALL_SAMPLES, ids=_id)
def test_sample_validates_against_its_handlers_model(path: Path) -> None:
    folder = path.parent.name if path.parent.name != "inputs" else path.parent.parent.name
    _, validate = HANDLER_MODELS[folder]
    validate(json.loads(path.read_text(encoding="utf-8")))


def test_shape_check_catches_a_drifted_sample() -> None:
    """The check above fails for a sample that lost a key, gained one, or carries another constant."""
    template = {"op": "watch", "phase": "bake", "cutover.$": "$.cutover", "taskToken.$": "$$.Task.Token"}
    good = {"op": "watch", "phase": "bake", "cutover": {}, "taskToken": "t"}
    assert _shape_problems(template, good) == []
    assert _shape_problems(template, {k: v for k, v in good.items() if k != "taskToken"})
    assert _shape_problems(template, good | {"extra": 1})
    assert _shape_problems(template, good | {"phase": "window"})
