"""Property-based tests (hypothesis) of every event model the handlers parse: any JSON value either parses or is
rejected with the intake's InvalidEventError, whose reason is one line, after a rejection record that always fits
DynamoDB (keys, item size, nesting) was written to the ledger. The task models of the state machines' functions
answer any JSON value with a model or a pydantic ValidationError, never another exception.

Besides arbitrary JSON, the values are the sample events with parts replaced by arbitrary JSON, and the inputs seen
to fail before: a 100k-deep event, an SNS record without Sns, a 200 KB alarm name, a 3,000-character ARN, a NaN
amount, 500-deep nesting, a drill stop event without its execution."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from deckwatch.context import Services
from deckwatch.errors import InvalidEventError
from deckwatch.intake import MAX_REASON, parse, screen
from deckwatch.ledger import Capability, Ledger
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from support.bad_events import SEEN_TO_FAIL, alarm
from support.dynamodb_limits import item_problems
from support.samples import EVENTS

# The ledger table's key attributes (template.yaml LedgerTable: pk/sk, GSIs by_capability and by_day on sk).
LEDGER_KEYS = {"pk": "HASH", "sk": "RANGE", "capability": "HASH", "day": "HASH"}


# ---------------------------------------------------------------------------------------------- a fake ledger --
class _CancelledError(Exception):
    response: dict[str, Any] = {}


@dataclass
class FakeDynamo:
    """The ledger's DynamoDB client, refusing what DynamoDB refuses (support.dynamodb_limits)."""

    items: list[dict[str, Any]] = field(default_factory=list)

    class exceptions:  # noqa: N801 - boto3's spelling
        TransactionCanceledException = _CancelledError

    def query(self, **kwargs: Any) -> dict[str, Any]:  # the head of the subject's hash chain: none yet
        return {"Items": []}

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        for entry in TransactItems:
            item = entry["Put"]["Item"]
            problems = item_problems(item, LEDGER_KEYS)
            assert not problems, problems
            self.items.append(item)
        return {}


def fake_services() -> tuple[Services, FakeDynamo]:
    env = {
        "ENVIRONMENT": "staging",
        "LEDGER_TABLE": "ledger",
        "STATE_TABLE": "state",
        "IDEMPOTENCY_TABLE": "idem",
        "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t",
        "DLQ_URL": "https://sqs/q",
        "POLICY_PARAMETER": "/deckwatch/staging/policy",
        "AWS_REGION": "us-east-1",
    }
    deps = Services.from_env(env)
    dynamo = FakeDynamo()
    deps.ledger = Ledger("ledger", client=dynamo)
    return deps, dynamo


# --------------------------------------------------------------------------------------------- the event models --
def _lambda_sns(doc: dict[str, Any]) -> dict[str, Any]:
    if "Records" in doc:
        return doc
    return {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": "x", "Sns": doc}]}


@dataclass(frozen=True)
class Intake:
    """One handler's way in: its model, capability, how the handler adapts the Lambda event, and its samples."""

    model: type[BaseModel]
    capability: Capability
    samples: tuple[str, ...]
    adapt: Callable[[Any], Any] = lambda event: event
    sample_form: Callable[[dict[str, Any]], dict[str, Any]] = lambda doc: doc


def _intakes() -> dict[str, Intake]:
    from deckwatch.cost.alerts import CostAlert, flatten
    from deckwatch.cutover.trigger import ReleaseEvent
    from deckwatch.drills.model import ExecutionStatusChange
    from deckwatch.events import Envelope
    from deckwatch.events.alarm import AlarmEvent
    from deckwatch.events.backup import BackupEvent
    from deckwatch.events.cost import AnomalyEvent
    from deckwatch.events.pipeline import PipelineEvent
    from deckwatch.remediation.annotate import ResourceEvent

    return {
        "Envelope": Intake(Envelope, "core", ("alarm_events/alarm-metric.json", "drill/execution-aborted.json")),
        "AlarmEvent": Intake(AlarmEvent, "remediation", ("alarm_events/alarm-metric.json",)),
        "BackupEvent": Intake(BackupEvent, "drills", ("backup_events/backup-job-completed.json",)),
        "AnomalyEvent": Intake(AnomalyEvent, "cost", ("cost_events/anomaly-detected.json",)),
        "PipelineEvent": Intake(PipelineEvent, "cutover", ("pipeline_events/action-build-succeeded.json",)),
        "ReleaseEvent": Intake(
            ReleaseEvent,
            "cutover",
            ("pipeline_events/approval-started.json", "pipeline_events/rollback-requested.json"),
        ),
        "ResourceEvent": Intake(
            ResourceEvent,
            "remediation",
            ("remediation_events/rds-failover-completed.json", "remediation_events/ecs-task-start-impaired.json"),
        ),
        "CostAlert": Intake(
            CostAlert,
            "cost",
            ("cost_alerts/anomaly-immediate.json", "cost_alerts/budget-forecasted-lambda-record.json"),
            adapt=flatten,
            sample_form=_lambda_sns,
        ),
        "ExecutionStatusChange": Intake(ExecutionStatusChange, "drills", ("drill/execution-aborted.json",)),
    }


INTAKES = _intakes()


def sample(intake: Intake, name: str) -> dict[str, Any]:
    return intake.sample_form(json.loads((EVENTS / name).read_text(encoding="utf-8")))


def test_every_sample_parses_as_its_model() -> None:
    for intake in INTAKES.values():
        for name in intake.samples:
            deps, dynamo = fake_services()
            assert isinstance(parse(intake.adapt(sample(intake, name)), intake.model, "core", deps), intake.model)
            assert dynamo.items == []


def test_every_intake_handler_is_covered() -> None:
    """Each function that parses events through the intake (its app.py passes `model=`) has its model here."""
    models = set()
    for app in sorted(Path(EVENTS.parent / "functions").glob("*/app.py")):
        text = app.read_text(encoding="utf-8")
        if "receive(" in text:
            models.add(text.split("model=", 1)[1].split(",", 1)[0])
        if "stopped_event(" in text:
            models.add("ExecutionStatusChange")
    assert models <= set(INTAKES), models - set(INTAKES)
    assert len(models) == 7


# ------------------------------------------------------------------------------------------------ strategies --
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(["", "ALARM", "OK", "aws.cloudwatch", "aws.sns", "aws.states", "ABORTED", "\ud800", "x" * 3000])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


@st.composite
def mutated(draw: st.DrawFn, intake: Intake) -> Any:
    """A sample of the model with one to three of its parts replaced by arbitrary JSON, or deleted."""
    doc = copy.deepcopy(sample(intake, draw(st.sampled_from(intake.samples))))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        doc = _replace(doc, path, draw(JSON), delete=draw(st.booleans()))
    return doc


# ------------------------------------------------------------------------------------------------ properties --
def check(intake: Intake, value: Any) -> None:
    """The property: parsed and nothing recorded, or InvalidEventError (one line) after one rejection that fits."""
    deps, dynamo = fake_services()
    try:
        parsed = parse(intake.adapt(value), intake.model, intake.capability, deps)
    except InvalidEventError as exc:
        reason = str(exc)
        assert reason and "\n" not in reason and "\r" not in reason
        assert len(reason) <= MAX_REASON
        assert len(dynamo.items) == 3  # the record, its id item and its chain link, each within DynamoDB's limits
        record = next(i for i in dynamo.items if "kind" in i)
        assert record["kind"] == {"S": "rejection"}
        assert record["reason"] == {"S": reason}
        return
    assert isinstance(parsed, intake.model)
    assert dynamo.items == []


PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _property(name: str) -> Callable[..., None]:
    intake = INTAKES[name]

    @PROFILE
    @given(value=JSON | mutated(intake))
    def prop(value: Any) -> None:
        check(intake, value)

    for name, case in SEEN_TO_FAIL.items():
        if "deep" not in name:  # hypothesis prints its examples recursively; the deep ones have their own test
            prop = example(value=case)(prop)
    return prop


test_envelope = _property("Envelope")
test_alarm_event = _property("AlarmEvent")
test_backup_event = _property("BackupEvent")
test_anomaly_event = _property("AnomalyEvent")
test_pipeline_event = _property("PipelineEvent")
test_release_event = _property("ReleaseEvent")
test_resource_event = _property("ResourceEvent")
test_cost_alert = _property("CostAlert")
test_execution_status_change = _property("ExecutionStatusChange")


@pytest.mark.parametrize("case", sorted(SEEN_TO_FAIL))
def test_each_input_seen_to_fail_is_rejected_by_the_model_it_reaches(case: str) -> None:
    """Each of them, at the handler AWS would deliver it to, is rejected (not accepted, not a crash)."""
    reaches = {
        "sns-without-Sns": "CostAlert",
        "nan-amount": "AnomalyEvent",
        "drill-stop-without-execution": "ExecutionStatusChange",
    }.get(case, "AlarmEvent")
    intake = INTAKES[reaches]
    deps, dynamo = fake_services()
    with pytest.raises(InvalidEventError) as info:
        parse(intake.adapt(SEEN_TO_FAIL[case]), intake.model, intake.capability, deps)
    assert "\n" not in str(info.value)
    assert len(dynamo.items) == 3


def test_rejections_of_different_events_without_ids_do_not_share_a_record() -> None:
    """An event without a usable id is keyed by its content's digest: two of them are two records."""
    keys = set()
    for alarm_name in ("a" * 300, "b" * 300):
        deps, dynamo = fake_services()
        with pytest.raises(InvalidEventError):
            parse(alarm(id=None, alarmName=alarm_name), INTAKES["AlarmEvent"].model, "remediation", deps)
        keys.add(next(i["record_id"]["S"] for i in dynamo.items if "kind" in i))
    assert len(keys) == 2
    assert all(k.startswith("no-id-") for k in keys)


def test_long_keys_are_trimmed_with_a_digest() -> None:
    deps, dynamo = fake_services()
    event = alarm(id="i" * 5000, resources=["arn:" + "r" * 5000], alarmName="")
    with pytest.raises(InvalidEventError):
        parse(event, INTAKES["AlarmEvent"].model, "remediation", deps)
    record = next(i for i in dynamo.items if "kind" in i)
    assert len(record["pk"]["S"].encode()) <= 1024 < 5000
    assert record["pk"]["S"].startswith("arn:rrrr") and "~" in record["pk"]["S"]
    assert len(record["sk"]["S"].encode()) <= 1024
    assert record["details"]["M"]["event_digest"]["S"] == screen(event).digest


# --------------------------------------------------------------------------------------------- the task models --
def _task_models() -> dict[str, Callable[[Any], Any]]:
    from deckwatch.approvals import ApprovalTask
    from deckwatch.cost.report import ReportRequest
    from deckwatch.cost.tasks import CostTask
    from deckwatch.cutover.tasks import CutoverTask
    from deckwatch.drills.model import DrillTask, ValidationRequest
    from deckwatch.remediation.tasks import RemediationTask

    return {  # as each handler (functions/*/app.py) validates its input
        "approval": lambda e: ApprovalTask.model_validate({"task": e}),
        "cost_actions": lambda e: CostTask.model_validate({"task": e}),
        "cost_report": ReportRequest.model_validate,
        "cutover": CutoverTask.model_validate,
        "drill": lambda e: DrillTask.model_validate({"task": e}),
        "drill_validator": ValidationRequest.model_validate,
        "remediation": lambda e: RemediationTask.model_validate({"task": e}),
    }


TASK_MODELS = _task_models()


@pytest.mark.parametrize("name", sorted(TASK_MODELS))
def test_task_models_answer_any_json_with_a_model_or_a_validation_error(name: str) -> None:
    validate = TASK_MODELS[name]

    @PROFILE
    @given(
        value=JSON
        | st.fixed_dictionaries(
            {"op": st.sampled_from(["prepare", "request", "begin", "x"])},
            optional={"state": JSON, "execution": JSON, "task": JSON, "request": JSON, "taskToken": JSON},
        )
    )
    def prop(value: Any) -> None:
        with contextlib.suppress(ValidationError):
            validate(value)

    prop()
