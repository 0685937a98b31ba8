"""Deckwatch watching itself: alarms on its own failures (each function, each state machine, the DLQ) to the
operators' topic, never remediated by Deckwatch; a dashboard whose Deckwatch figures are exactly those the domain
code emits (EMF); structured logs with the event id, execution and resource, and no secrets in them."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
import yaml
from deckwatch import metrics
from deckwatch.errors import DeckwatchError, InvalidEventError
from deckwatch.local.mock_services import faults
from deckwatch.local.runtime import LocalAWS
from deckwatch.local.template import Template, load
from deckwatch.logging import EXPECTED_ERRORS, observe
from deckwatch.policy.model import OWN_ALARM_NAMES
from support.remediation import alarm, alarm_event
from support.samples import EVENTS, INVALID, REPO_ROOT, load_event

PACKAGE = REPO_ROOT / "layers" / "deckwatch" / "deckwatch"
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}


# ------------------------------------------------------------------------------------------------ the template --
@pytest.fixture(scope="module")
def template() -> Template:
    return load(REPO_ROOT, {"Environment": "prod"})


def resolve(cfn: dict[str, Any], value: Any) -> Any:
    """The few intrinsics the alarms use (Ref of a parameter, Fn::FindInMap, Fn::Sub), for the prod stack."""
    names = {"Environment": "prod", **PSEUDO}
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return names.get(value["Ref"], {"Ref": value["Ref"]})
    if isinstance(value, dict) and set(value) == {"Fn::FindInMap"}:
        mapping, first, second = (resolve(cfn, v) for v in value["Fn::FindInMap"])
        return cfn["Mappings"][mapping][first][second]
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        sub = value["Fn::Sub"]
        text, local = (sub, {}) if isinstance(sub, str) else (sub[0], sub[1])
        scope = names | {k: resolve(cfn, v) for k, v in local.items()}
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(scope[m.group(1)]), text)
    return value


def alarms(template: Template) -> dict[str, dict[str, Any]]:
    """Alarm name -> its properties, the intrinsics resolved."""
    cfn = template.cfn
    out = {}
    for res in template.resources("AWS::CloudWatch::Alarm").values():
        props = json.loads(json.dumps(res["Properties"]))
        for query in props.get("Metrics", []):
            for dim in query.get("MetricStat", {}).get("Metric", {}).get("Dimensions", []):
                dim["Value"] = resolve(cfn, dim["Value"])
        for dim in props.get("Dimensions", []):
            dim["Value"] = resolve(cfn, dim["Value"])
        out[resolve(cfn, props["AlarmName"])] = props
    return out


def physical_names(template: Template, cfn_type: str, key: str) -> dict[str, str]:
    return {lid: resolve(template.cfn, res["Properties"][key]) for lid, res in template.resources(cfn_type).items()}


def test_every_function_has_an_errors_alarm_net_of_expected_errors(template: Template) -> None:
    found = alarms(template)
    functions = physical_names(template, "AWS::Lambda::Function", "FunctionName")
    assert len(functions) == 14
    for name in functions.values():
        alarm = found[f"{name}-errors"]
        queries = {q["Id"]: q for q in alarm["Metrics"]}
        errors = queries["errors"]["MetricStat"]["Metric"]
        assert (errors["Namespace"], errors["MetricName"]) == ("AWS/Lambda", "Errors")
        assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": name}]
        expected = queries["expected"]["MetricStat"]["Metric"]
        assert (expected["Namespace"], expected["MetricName"]) == ("Deckwatch", "ExpectedErrors")
        assert expected["Dimensions"] == [
            {"Name": "Environment", "Value": "prod"},
            {"Name": "Function", "Value": name},  # what deckwatch.logging emits: the Lambda context's function name
        ]
        assert queries["unexpected"]["Expression"] == "errors - FILL(expected, 0)"
        assert [q["Id"] for q in alarm["Metrics"] if q["ReturnData"]] == ["unexpected"]
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
        assert alarm["AlarmActions"] == [{"Ref": "NotificationsTopic"}]
    namespace = template.sam["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    assert namespace == "Deckwatch"


def test_every_state_machine_has_a_failed_or_timed_out_alarm(template: Template) -> None:
    found = alarms(template)
    machines = physical_names(template, "AWS::StepFunctions::StateMachine", "StateMachineName")
    assert len(machines) == 5
    for name in machines.values():
        alarm = found[f"{name}-executions-failed"]
        arn = f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"
        metrics_of = {q["Id"]: q["MetricStat"]["Metric"] for q in alarm["Metrics"] if "MetricStat" in q}
        assert {(m["MetricName"], m["Dimensions"][0]["Value"]) for m in metrics_of.values()} == {
            ("ExecutionsFailed", arn),
            ("ExecutionsTimedOut", arn),
        }
        assert [q.get("Expression") for q in alarm["Metrics"] if q["ReturnData"]] == [
            "FILL(failed, 0) + FILL(timedout, 0)"
        ]
        assert alarm["AlarmActions"] == [{"Ref": "NotificationsTopic"}]


def test_the_dead_letter_queue_alarm_reaches_the_operators(template: Template) -> None:
    dlq = alarms(template)["deckwatch-prod-dlq-not-empty"]
    assert (dlq["MetricName"], dlq["Threshold"], dlq["ComparisonOperator"]) == (
        "ApproximateNumberOfMessagesVisible",
        0,
        "GreaterThanThreshold",
    )
    assert dlq["AlarmActions"] == [{"Ref": "NotificationsTopic"}]


def test_every_own_alarm_is_named_so_that_no_rule_can_match_it(template: Template) -> None:
    from deckwatch.policy.model import RemediationRule
    from deckwatch.remediation.selection import match_rule

    everything = RemediationRule.model_validate({"alarm": {"pattern": "*"}, "runbook": "notify_only"})
    names = sorted(alarms(template))
    assert len(names) == 14 + 5 + 1
    for name in names:
        assert OWN_ALARM_NAMES.match(name), name
        assert match_rule([everything], name, {"deckwatch:runbook": "notify_only"}) is None
    assert match_rule([everything], "shop-prod-web-cpu-high", None) is everything


# ---------------------------------------------------------------------------------------- expected errors -------
def _asl_error_names() -> set[str]:
    names: set[str] = set()

    def walk(states: dict[str, Any]) -> None:
        for state in states.values():
            for entry in state.get("Retry", []) + state.get("Catch", []):
                names.update(entry["ErrorEquals"])
            for branch in state.get("Branches", []):
                walk(branch["States"])
            for key in ("Iterator", "ItemProcessor"):
                if key in state:
                    walk(state[key]["States"])

    for path in sorted((REPO_ROOT / "statemachines").glob("*.asl.json")):
        walk(json.loads(path.read_text(encoding="utf-8"))["States"])
    return {n for n in names if not n.startswith(("States.", "Lambda."))}


def _deckwatch_errors() -> set[str]:
    import importlib
    import pkgutil

    import deckwatch

    for info in pkgutil.walk_packages(deckwatch.__path__, "deckwatch."):
        if ".local" not in info.name:
            importlib.import_module(info.name)
    found: set[str] = set()
    todo: list[type] = [DeckwatchError]
    while todo:
        cls = todo.pop()
        found.add(cls.__name__)
        todo += cls.__subclasses__()
    return found


def test_expected_errors_are_deckwatch_errors_and_cover_every_error_the_state_machines_name() -> None:
    named = _asl_error_names()
    assert named >= {"NotStableYetError", "LockHeldError", "ApprovalRejectedError", "DrillInstanceNotReadyError"}
    assert named <= EXPECTED_ERRORS, named - EXPECTED_ERRORS
    assert _deckwatch_errors() >= EXPECTED_ERRORS, EXPECTED_ERRORS - _deckwatch_errors()


class _Context:
    function_name = "deckwatch-staging-cutover"


def test_observe_counts_expected_errors_and_hides_input_values(monkeypatch: pytest.MonkeyPatch) -> None:
    from deckwatch.approvals import ApprovalTask
    from deckwatch.context import Services
    from deckwatch.cutover.errors import NotStableYetError

    emitted: list[tuple[dict[str, Any], dict[str, str]]] = []

    def record(settings: Any, values: dict[str, Any], **dims: str) -> dict[str, Any]:
        emitted.append((values, dims))
        return {}

    monkeypatch.setattr(metrics, "emit", record)
    env = {
        "ENVIRONMENT": "staging",
        "LEDGER_TABLE": "l",
        "STATE_TABLE": "s",
        "IDEMPOTENCY_TABLE": "i",
        "TOPIC_ARN": "t",
        "DLQ_URL": "q",
        "POLICY_PARAMETER": "/p",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    services = Services.lazy()

    def raising(error: Exception) -> Callable[..., Any]:
        def handler(event: Any, context: Any) -> Any:
            raise error

        return observe(services)(handler)

    with pytest.raises(NotStableYetError):
        raising(NotStableYetError("green not stable yet"))({}, _Context())
    assert emitted == [({"ExpectedErrors": 1}, {"Function": "deckwatch-staging-cutover"})]

    with pytest.raises(KeyError):
        raising(KeyError("bug"))({}, _Context())
    assert len(emitted) == 1  # an unexpected error is Lambda's Errors, not subtracted

    token = "AAAAQ-task-token-" + "x" * 40

    def approval(event: Any, context: Any) -> Any:
        return ApprovalTask.model_validate({"task": event})

    with pytest.raises(InvalidEventError) as info:
        observe(services)(approval)({"op": "request", "taskToken": token, "execution": 1, "request": "?"}, _Context())
    assert token not in str(info.value)
    assert "task.request.execution" in str(info.value)


# ------------------------------------------------------------------------------------------- embedded AWS -------
@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The staging example, plus a last rule that matches every alarm name."""
    doc = yaml.safe_load((PACKAGE / "policy/examples/staging.yaml").read_text(encoding="utf-8"))
    doc["remediation"]["rules"].append({"alarm": {"pattern": "*"}, "runbook": "notify_only"})
    doc["remediation"]["max_actions_per_hour"] = 100
    path = tmp_path_factory.mktemp("policy") / "staging.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


Emitted = list[tuple[str, frozenset[str]]]  # (metric, dimension names)


@pytest.fixture(scope="module")
def emitted() -> Iterator[Emitted]:
    """Every figure the domain code emits while the module's scenarios run (the runtime keeps EMF off stdout)."""
    seen: Emitted = []
    original = metrics.emit

    def record(settings: Any, values: dict[str, float | None], **dimensions: str) -> dict[str, Any]:
        for name, value in values.items():
            if value is not None:
                seen.append((name, frozenset({"Environment", *dimensions})))
        return original(settings, values, **dimensions)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(metrics, "emit", record)
        yield seen


@pytest.fixture(scope="module")
def tokens() -> Iterator[list[str]]:
    """The task tokens the approval gate received."""
    from deckwatch import approvals

    seen: list[str] = []
    original = approvals.request

    def request(task: Any, deps: Any) -> dict[str, Any]:
        seen.append(task.task_token)
        return original(task, deps)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(approvals, "request", request)
        yield seen


@pytest.fixture(scope="module")
def rt(
    local_aws_factory: Callable[..., AbstractContextManager[LocalAWS]],
    policy: Path,
    emitted: Emitted,
    tokens: list[str],
) -> Iterator[LocalAWS]:
    with local_aws_factory("staging", approvals="approve", policy_file=policy) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def scenarios(rt: LocalAWS) -> dict[str, Any]:
    """A cutover, a remediated alarm, an anomaly with its savings and their resume, an approval, a rejected event."""
    runs: dict[str, Any] = {}
    runs["cutover"] = rt.replay(json.dumps(load_event(EVENTS / "pipeline_events/action-build-succeeded.json")))
    cpu = "shop-staging-web-cpu-high"
    cw = rt.client("cloudwatch")
    cw.set_alarm_state(AlarmName=cpu, StateValue="OK", StateReason="start clean")
    rt.settle()
    faults.recover_on("ecs", "UpdateService", cpu)
    runs["remediation"] = rt.act(
        "cpu alarm", lambda: cw.set_alarm_state(AlarmName=cpu, StateValue="ALARM", StateReason="Threshold Crossed")
    )
    runs["anomaly"] = rt.replay(json.dumps(load_event(EVENTS / "cost_events/anomaly-detected.json")))
    resume = json.loads((EVENTS / "statemachines/cost_savings/resume-staging.json").read_text(encoding="utf-8"))
    rt.clock.advance(3 * 3600)
    runs["resume"] = rt.start_execution("CostSavingsStateMachine", resume)
    approval = json.loads((EVENTS / "statemachines/approval/staging-remediation.json").read_text(encoding="utf-8"))
    runs["approval"] = rt.start_execution("ApprovalStateMachine", approval)
    runs["rejected"] = rt.replay(json.dumps(load_event(INVALID / "alarm-missing-fields.json")))
    return runs


def decisions(report: Any) -> list[str]:
    return [r["decision"] for r in report.ledger]


def test_scenarios_ran(scenarios: dict[str, Any]) -> None:
    cutovers = [e["status"] for e in scenarios["cutover"].executions if e["state_machine"] == "CutoverStateMachine"]
    assert cutovers == ["SUCCEEDED"]
    assert "incident-mitigated" in decisions(scenarios["remediation"])
    assert any(d in ("scaled-to-zero", "stopped") for d in decisions(scenarios["anomaly"]))
    assert "restored" in decisions(scenarios["resume"])
    assert scenarios["approval"].executions[0]["status"] == "SUCCEEDED"
    assert decisions(scenarios["rejected"]) == ["rejected"]


def test_the_domain_emits_what_the_dashboard_shows(scenarios: dict[str, Any], emitted: Emitted) -> None:
    names = {name for name, _ in emitted}
    assert names >= {
        "CutoverCompleted",
        "CutoverDuration",
        "IncidentsOpened",
        "IncidentsClosed",
        "TimeToMitigate",
        "Anomalies",
        "AnomalyImpact",
        "SavingsActions",
        "SavingsHourlyUsd",
        "Resumes",
        "SavingsUsd",
        "EventsRejected",
    }, names


def dashboard(rt: LocalAWS) -> dict[str, Any]:
    found = rt.client("cloudwatch").get_dashboard(DashboardName="deckwatch-staging")
    body: dict[str, Any] = json.loads(found["DashboardBody"])
    return body


SEARCH = re.compile(
    r"""^SEARCH\('\{Deckwatch,([A-Za-z,]+)\} MetricName="(\w+)" Environment="staging"', '\w+', \d+\)$"""
)


def searched(body: dict[str, Any]) -> set[tuple[str, frozenset[str]]]:
    """(metric, dimension names) of every Deckwatch figure the dashboard searches."""
    out = set()
    for widget in body["widgets"]:
        for line in widget.get("properties", {}).get("metrics", []):
            for item in line:
                if isinstance(item, dict) and "expression" in item:
                    match = SEARCH.match(item["expression"])
                    assert match, item["expression"]
                    out.add((match.group(2), frozenset(match.group(1).split(","))))
    return out


def plain(body: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """(namespace, metric, dimension, value) of every plain metric line, with the "." shorthand expanded."""
    out = set()
    for widget in body["widgets"]:
        previous: list[Any] = []
        for line in widget.get("properties", {}).get("metrics", []):
            if isinstance(line[0], dict):
                continue
            values = [p if p != "." else previous[i] for i, p in enumerate(line) if not isinstance(p, dict)]
            previous = values
            out.add((values[0], values[1], values[2], values[3]))
    return out


def emit_calls() -> set[tuple[str, frozenset[str]]]:
    """(metric, dimension names) of every `metrics.emit(settings, {...}, Dim=...)` call in the package's code."""
    out = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        if "local" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "emit"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "metrics"
            ):
                continue
            values = node.args[1]
            assert isinstance(values, ast.Dict), f"{path}:{node.lineno}: write the metric names out"
            dims = frozenset({"Environment", *(str(k.arg) for k in node.keywords)})
            for key in values.keys:
                assert isinstance(key, ast.Constant), f"{path}:{node.lineno}"
                out.add((str(key.value), dims))
    return out


def test_dashboard_searches_exactly_what_the_code_emits(
    rt: LocalAWS, scenarios: dict[str, Any], emitted: Emitted
) -> None:
    body = dashboard(rt)
    shown = searched(body)
    in_code = emit_calls()
    assert shown == in_code, (shown - in_code, in_code - shown)
    assert set(emitted) <= shown, set(emitted) - shown  # and what ran emitted with those very dimensions


def test_dashboard_shows_each_function_state_machine_and_the_dlq(rt: LocalAWS) -> None:
    lines = plain(dashboard(rt))
    functions = [f["logical_id"] for f in rt.functions.values()]
    assert len(functions) == 14
    for logical in functions:
        name = rt.physical[logical]
        for metric in ("Errors", "Throttles", "Duration"):
            assert ("AWS/Lambda", metric, "FunctionName", name) in lines, (metric, name)
    machines = rt.template.resources("AWS::StepFunctions::StateMachine")
    assert len(machines) == 5
    for logical in machines:
        for metric in ("ExecutionsFailed", "ExecutionsTimedOut"):
            assert ("AWS/States", metric, "StateMachineArn", rt.physical[logical]) in lines
    queue = rt.physical["DeadLetterQueue"].rsplit("/", 1)[-1]
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue) in lines


def test_own_alarms_are_never_remediated(rt: LocalAWS) -> None:
    for name in (
        "deckwatch-staging-cutover-errors",
        "deckwatch-staging-dlq-not-empty",
        "deckwatch-staging-drill-executions-failed",
    ):
        report = rt.replay(json.dumps(alarm_event(name)))
        assert [(r["decision"], r["reason"].split(":")[0]) for r in report.ledger] == [
            ("ignored", f"{name} is one of Deckwatch's own alarms")
        ]
        assert report.executions == []
        assert ("cloudwatch", "ListTagsForResource") not in [(c["service"], c["operation"]) for c in report.aws_calls]
    alarm(rt, "shop-staging-queue-depth")
    control = rt.replay(json.dumps(alarm_event("shop-staging-queue-depth")))  # the same rule matches it
    assert decisions(control)[0] == "runbook-selected"
    assert [e["state_machine"] for e in control.executions] == ["RemediationStateMachine"]


# ---------------------------------------------------------------------------------------------------- logs ------
def log_lines(rt: LocalAWS) -> list[dict[str, Any]]:
    lines = []
    for text in rt.runner.logs.getvalue().splitlines():
        if text.startswith("{"):
            lines.append(json.loads(text))
    return lines


def test_logs_carry_the_event_id_execution_and_resource(rt: LocalAWS, scenarios: dict[str, Any]) -> None:
    lines = log_lines(rt)
    anomaly_id = scenarios["anomaly"].event["id"]
    received = [
        line for line in lines if line.get("message") == "event received" and line.get("event_id") == anomaly_id
    ]
    assert received and received[0]["resource"].startswith("arn:aws:ce::")
    assert received[0]["service"] == "deckwatch" and received[0]["level"] == "INFO"
    tasks = [line for line in lines if line.get("message") == "task" and line.get("execution")]
    assert {line["op"] for line in tasks} >= {"begin", "act", "validate", "request"}
    assert any(line.get("resource", "").startswith("ecs:") for line in tasks)
    rejected = [line for line in lines if line.get("error") == "InvalidEventError"]
    assert rejected and all("event_id" in line for line in rejected)


def test_approval_task_tokens_never_reach_logs_or_the_ledger(
    rt: LocalAWS, scenarios: dict[str, Any], tokens: list[str]
) -> None:
    assert tokens  # the approval gate ran (the test can fail)
    logs = rt.runner.logs.getvalue()
    ledger = json.dumps(rt.ledger_items())  # every item, as stored
    dead = json.dumps(rt.dead_letter_messages())
    assert "approval" in logs and "requested" in ledger  # what is searched is there
    for token in tokens:
        assert len(token) > 20
        assert token not in logs
        assert token not in ledger
        assert token not in dead
