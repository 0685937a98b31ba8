"""The embedded AWS: moto in-process, the control plane created from template.yaml through moto's
CloudFormation, handlers run in-process, state machines run by moto's engine in simulated time.

    with LocalAWS(root, environment="staging") as aws:
        report = aws.replay(event)          # route by the template's rules, run to completion
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import time
import uuid
import zipfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from deckwatch import clock
from deckwatch.local import moto_patches, routing
from deckwatch.local.functions import FunctionRunner, Outcome, new_context
from deckwatch.local.template import CODE_BUCKET, Template, load

if TYPE_CHECKING:
    from deckwatch.context import Services

Approvals = Literal["approve", "reject", "timeout"]
ACCOUNT = "123456789012"
REGION = "us-east-1"
IDLE_SECONDS = 0.15  # real time with nothing moving before a callback wait is declared unanswerable
# How stale the count of open approvals may be when a waiting task asks; well below IDLE_SECONDS, so that an
# approval requested just now is always seen before its task could be declared unanswered.
PENDING_CACHE_SECONDS = 0.05
MAX_REAL_SECONDS = 300.0  # a replay running longer than this is a bug in a definition, not a slow service


@dataclass
class Report:
    """What one replay did: the `--json` document of `deckwatch replay`."""

    event: dict[str, Any]
    environment: str
    matched_rules: list[str] = field(default_factory=list)
    invocations: list[dict[str, Any]] = field(default_factory=list)
    executions: list[dict[str, Any]] = field(default_factory=list)
    aws_calls: list[dict[str, str]] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    follow_ups: list[dict[str, Any]] = field(default_factory=list)  # events the control plane itself emitted
    simulated_seconds: float = 0.0
    real_seconds: float = 0.0
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "environment": self.environment,
            "matched_rules": self.matched_rules,
            "invocations": self.invocations,
            "executions": self.executions,
            "aws_calls": self.aws_calls,
            "ledger": self.ledger,
            "dead_letters": self.dead_letters,
            "follow_ups": self.follow_ups,
            "simulated_seconds": round(self.simulated_seconds, 3),
            "real_seconds": round(self.real_seconds, 3),
            "note": self.note,
        }


class LocalAWS:
    def __init__(
        self,
        root: Path,
        environment: str = "dev",
        policy_file: Path | None = None,
        approvals: Approvals = "approve",
    ) -> None:
        self.root = root
        self.environment = environment
        self.policy_file = policy_file
        self.approvals = approvals
        self.clock = clock.SimulatedClock()
        self.runner = FunctionRunner()
        self.template: Template
        self.physical: dict[str, str] = {}
        self.outputs: dict[str, str] = {}
        self._calls: list[dict[str, str]] | None = None
        self._calls_lock = threading.Lock()
        self._last_activity = time.monotonic()
        self._saved_env: dict[str, str] = {}
        self._mock: Any = None
        self._queue: deque[dict[str, Any]] = deque()
        self._answering = False
        self._pending_lock = threading.Lock()
        self._pending_checked: tuple[float, int] = (0.0, 0)
        self._report: Report | None = None

    # ------------------------------------------------------------------ lifecycle ----------------------------
    def __enter__(self) -> LocalAWS:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        import logging
        import warnings

        from moto import mock_aws

        # moto's CloudFormation says so for each type it skips; the runtime knows which (see routing/_deploy).
        warnings.filterwarnings("ignore", message="Tried to parse AWS::", category=UserWarning)
        logging.getLogger("moto").setLevel(logging.CRITICAL)  # the ASL engine logs every Fail state as an error

        self._saved_env = dict(os.environ)
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "MOTO_ACCOUNT_ID": ACCOUNT,
            }
        )
        for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
            os.environ.pop(var, None)
        moto_patches.apply()
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._mock.start()
        self._reset_caches()
        clock.install(self.clock)
        moto_patches.HOOKS.invoke = self._invoke_from_moto
        moto_patches.HOOKS.advance = self.clock.advance
        moto_patches.HOOKS.is_idle = self._is_idle
        moto_patches.HOOKS.on_call = self._on_call
        moto_patches.HOOKS.put_event = self._queue_home_event
        from deckwatch.local import mock_services

        mock_services.install()
        self._deploy()

    def _queue_home_event(self, event: dict[str, Any]) -> None:
        """Rules are regional: an event put in another region (a DR region's Restore Job) never reaches the
        stack's rules, so it is not routed."""
        if event.get("region") == REGION:
            self._queue.append(event)

    def stop(self) -> None:
        self.settle()
        moto_patches.HOOKS.invoke = moto_patches.HOOKS.advance = None
        moto_patches.HOOKS.is_idle = moto_patches.HOOKS.on_call = moto_patches.HOOKS.put_event = None
        clock.install(clock.WallClock())
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        self._reset_caches()
        os.environ.clear()
        os.environ.update(self._saved_env)

    @staticmethod
    def _reset_caches() -> None:
        from aws_lambda_powertools.utilities import parameters

        from deckwatch import aws, context, intake

        aws.reset()
        context.reset()
        intake.reset()
        parameters.clear_caches()  # type: ignore[no-untyped-call]

    # ------------------------------------------------------------------ deployment ---------------------------
    @property
    def stack_name(self) -> str:
        return f"deckwatch-{self.environment}"

    def client(self, service: str, region: str | None = None) -> Any:
        from deckwatch import aws

        return aws.client(service, region=region)

    def _deploy(self) -> None:
        from deckwatch.local import world
        from deckwatch.policy import example, load_file

        self.template = load(self.root, {"Environment": self.environment})
        s3 = self.client("s3")
        s3.create_bucket(Bucket=CODE_BUCKET)
        for logical_id in list(self.template.code_dirs) + list(self.template.resources("AWS::Lambda::LayerVersion")):
            s3.put_object(Bucket=CODE_BUCKET, Key=f"{logical_id}.zip", Body=_placeholder_zip())
        cfn = self.client("cloudformation")
        cfn.create_stack(
            StackName=self.stack_name,
            TemplateBody=json.dumps(self.template.cfn),
            Parameters=[{"ParameterKey": "Environment", "ParameterValue": self.environment}],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        for res in cfn.describe_stack_resources(StackName=self.stack_name)["StackResources"]:
            if res.get("PhysicalResourceId"):
                self.physical[res["LogicalResourceId"]] = res["PhysicalResourceId"]
        stack = cfn.describe_stacks(StackName=self.stack_name)["Stacks"][0]
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        self.rules = routing.rules(self.template, REGION, ACCOUNT)
        self.sns = routing.sns_subscriptions(self.template)
        self.on_failure = routing.on_failure_destinations(self.template)
        self.functions = self._functions()
        policy_path = self.policy_file or example(self.environment)
        self.policy = load_file(policy_path)  # invalid -> PolicyError before anything runs
        self.client("ssm").put_parameter(
            Name=f"/deckwatch/{self.environment}/policy",
            Value=Path(policy_path).read_text(encoding="utf-8"),
            Type="SecureString",
            Overwrite=True,
        )
        self.world = world.build(self.policy.policy, ACCOUNT, REGION)
        from deckwatch.local import mock_services

        mock_services.seed(self)

    def _functions(self) -> dict[str, dict[str, Any]]:
        """function name -> what is needed to run it: logical id, code dir, handler, env, ARN."""
        lam = self.client("lambda")
        out = {}
        for logical_id, code_dir in self.template.code_dirs.items():
            name = self.physical[logical_id]
            cfg = lam.get_function_configuration(FunctionName=name)
            out[name] = {
                "logical_id": logical_id,
                "code_dir": code_dir,
                "handler": cfg["Handler"],
                "env": {k: str(v) for k, v in cfg.get("Environment", {}).get("Variables", {}).items()},
                "arn": cfg["FunctionArn"],
                "memory": cfg.get("MemorySize", 128),
                "timeout": cfg.get("Timeout", 3),
            }
        return out

    def logical_of(self, physical: str) -> str:
        for logical, phys in self.physical.items():
            if phys == physical or physical.endswith(f":{phys}") or physical.endswith(f"/{phys}"):
                return logical
        return physical

    # ------------------------------------------------------------------ running ------------------------------
    def replay(self, event: dict[str, Any] | str, kind: str | None = None) -> Report:
        """Deliver one event as AWS would and run everything it triggers to completion."""
        if isinstance(event, str):
            kind, doc = routing.classify(event)
        else:
            doc = event
            kind = kind or ("sns" if doc.get("Type") == "Notification" or "Records" in doc else "eventbridge")
        report = Report(event={}, environment=self.environment)

        def deliver() -> None:
            if kind == "sns":
                self._deliver_sns(doc, report)
            else:
                self._deliver_event(self._as_put_events(doc), report)

        return self._run(report, deliver)

    def fire_schedule(self, rule_logical_id: str) -> Report:
        """Deliver the event a schedule rule sends its targets (its constant Input, or a Scheduled Event)."""
        rule = next((r for r in self.rules if r.logical_id == rule_logical_id), None)
        if rule is None or rule.schedule is None:
            raise KeyError(f"no schedule rule {rule_logical_id}")
        event = self._as_put_events(
            {
                "source": "aws.events",
                "detail-type": "Scheduled Event",
                "detail": {},
                "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{self.physical.get(rule_logical_id, '')}"],
            }
        )
        report = Report(event={k: event[k] for k in ("id", "source", "detail-type")}, environment=self.environment)

        def deliver() -> None:
            report.matched_rules.append(rule.logical_id)
            for target in rule.targets:
                payload = json.loads(target.input) if target.input else event
                self._deliver_to(target.logical_id, payload, report, dead_letter=target.dead_letter)

        return self._run(report, deliver)

    def act(self, description: str, action: Any) -> Report:
        """Call `action()` as the outside world would (an AWS API call whose events Deckwatch reacts to, e.g.
        StartCopyJob), then run everything it triggers to completion, recorded in the report."""
        report = Report(
            event={"id": description, "source": "local", "detail-type": "Action"}, environment=self.environment
        )
        return self._run(report, action)

    def _run(self, report: Report, deliver: Any) -> Report:
        """Run one delivery and everything it triggers to completion, recording it in `report`."""
        started_real, started_sim = time.monotonic(), self.clock.simulated_seconds
        since = clock.iso()
        known = self._known_executions()
        self._calls, self._report = report.aws_calls, report
        try:
            deliver()
            self.settle()
        finally:
            self._calls = self._report = None
        report.executions = self._executions_since(known)
        report.ledger = self.ledger_since(since)
        report.simulated_seconds = self.clock.simulated_seconds - started_sim
        report.real_seconds = time.monotonic() - started_real
        return report

    def _as_put_events(self, doc: dict[str, Any]) -> dict[str, Any]:
        """EventBridge fills in the envelope fields a PutEvents entry does not carry."""
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "account": ACCOUNT,
            "time": clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [],
            "detail": {},
        }
        event.update(doc)
        return event

    def _deliver_event(self, event: dict[str, Any], report: Report, record_as_trigger: bool = True) -> list[str]:
        """Deliver to every rule the event matches; returns their logical ids. The triggering event's rules are the
        report's matched_rules; rules matched by events the control plane emits go with its follow_ups."""
        if record_as_trigger:
            report.event = {k: event.get(k) for k in ("id", "source", "detail-type")}
        matched = []
        for rule in self.rules:
            if not rule.matches(event):
                continue
            matched.append(rule.logical_id)
            if record_as_trigger:
                report.matched_rules.append(rule.logical_id)
            for target in rule.targets:
                payload = json.loads(target.input) if target.input else event
                self._deliver_to(target.logical_id, payload, report, dead_letter=target.dead_letter)
        if not matched and record_as_trigger:
            report.note = "no rule matched"
        return matched

    def _deliver_sns(self, doc: dict[str, Any], report: Report) -> None:
        if "Records" in doc:
            lambda_event, topic_arn = doc, str(doc["Records"][0]["Sns"].get("TopicArn", ""))
        else:
            topic_arn = str(doc["TopicArn"])
            lambda_event = {
                "Records": [
                    {
                        "EventSource": "aws:sns",
                        "EventVersion": "1.0",
                        "EventSubscriptionArn": f"{topic_arn}:{uuid.uuid4()}",
                        "Sns": doc,
                    }
                ]
            }
        sns = lambda_event["Records"][0]["Sns"]
        report.event = {
            "id": sns.get("MessageId"),
            "source": "sns",
            "detail-type": sns.get("Subject") or "Notification",
        }
        topic_name = topic_arn.rsplit(":", 1)[-1]
        for topic_logical, functions in self.sns.items():
            if self.physical.get(topic_logical, "").rsplit(":", 1)[-1] == topic_name:
                report.matched_rules.append(topic_logical)
                for fn in functions:
                    self._deliver_to(fn, lambda_event, report)
        if not report.matched_rules:
            report.note = f"no function is subscribed to topic {topic_name or '(none)'}"

    def _deliver_to(
        self, logical_id: str, event: dict[str, Any], report: Report, dead_letter: str | None = None
    ) -> None:
        """An asynchronous delivery (EventBridge or SNS to Lambda, EventBridge to Step Functions or SQS)."""
        self._touch()
        res_type = self.template.cfn["Resources"][logical_id]["Type"]
        physical = self.physical[logical_id]
        if res_type == "AWS::Lambda::Function":
            outcome = self.invoke(physical, event)
            report.invocations.append(
                {"function": logical_id, "status": "ok" if outcome.ok else "error", "error": outcome.error}
            )
            if not outcome.ok and logical_id in self.on_failure:
                report.dead_letters.append(self._dead_letter(logical_id, event, outcome))
        elif res_type == "AWS::StepFunctions::StateMachine":
            self.client("stepfunctions").start_execution(
                stateMachineArn=physical, name=f"{str(event.get('id', uuid.uuid4()))[:60]}", input=json.dumps(event)
            )
        elif res_type == "AWS::SQS::Queue":
            self.client("sqs").send_message(QueueUrl=self._queue_url(logical_id), MessageBody=json.dumps(event))
        else:
            raise RuntimeError(f"the local runtime cannot deliver to {res_type} ({logical_id})")

    def invoke(self, function_name: str, event: Any) -> Outcome:
        fn = self.functions[function_name]
        ctx = new_context(function_name, fn["arn"], fn["memory"], fn["timeout"])
        env = {**fn["env"], "AWS_LAMBDA_FUNCTION_NAME": function_name, "AWS_REGION": REGION}
        try:
            return self.runner.run(fn["code_dir"], fn["handler"], env, event, ctx)
        finally:
            self._touch()

    def _invoke_from_moto(self, fn_model: Any, event: Any) -> tuple[str, bool, str]:
        """moto's Lambda invoke (used by Step Functions tasks) -> the in-process handler."""
        payload = json.loads(event) if isinstance(event, str) else event
        outcome = self.invoke(fn_model.function_name, payload)
        return json.dumps(outcome.payload, default=str), not outcome.ok, ""

    def _dead_letter(self, logical_id: str, event: dict[str, Any], outcome: Outcome) -> dict[str, Any]:
        """What Lambda's on-failure destination receives for a failed asynchronous invocation."""
        record = {
            "version": "1.0",
            "timestamp": clock.iso(),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.functions[self.physical[logical_id]]["arn"],
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 1,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {k: v for k, v in outcome.payload.items() if k != "stackTrace"},
        }
        queue = self.on_failure[logical_id]
        self.client("sqs").send_message(QueueUrl=self._queue_url(queue), MessageBody=json.dumps(record, default=str))
        return {"function": logical_id, "queue": queue, "error": outcome.error}

    def _queue_url(self, logical_id: str) -> str:
        physical = self.physical[logical_id]
        if physical.startswith("https://"):
            return physical
        return str(self.client("sqs").get_queue_url(QueueName=physical.rsplit("/", 1)[-1])["QueueUrl"])

    def start_execution(self, logical_id: str, payload: dict[str, Any], name: str | None = None) -> Report:
        """Start a state machine as the console would, and run it to completion."""
        execution_name = name or f"console-{uuid.uuid4().hex[:12]}"
        report = Report(
            event={"id": execution_name, "source": "console", "detail-type": "StartExecution"},
            environment=self.environment,
        )

        def deliver() -> None:
            self.client("stepfunctions").start_execution(
                stateMachineArn=self.physical[logical_id], name=execution_name, input=json.dumps(payload)
            )

        return self._run(report, deliver)

    # ------------------------------------------------------------------ executions and approvals -------------
    def _state_machines(self) -> dict[str, str]:
        return {lid: self.physical[lid] for lid in self.template.resources("AWS::StepFunctions::StateMachine")}

    def _known_executions(self) -> set[str]:
        return {arn for _, arn, _, _ in moto_patches.executions(ACCOUNT, REGION)}

    def _running(self) -> list[str]:
        return [arn for _, arn, _, status in moto_patches.executions(ACCOUNT, REGION) if status == "RUNNING"]

    def settle(self) -> None:
        """Until nothing moves: deliver events the control plane emitted, answer approvals, let executions end."""
        deadline = time.monotonic() + MAX_REAL_SECONDS
        while self._queue or self._running():
            while self._queue:
                self._deliver_follow_up(self._queue.popleft())
            self._answer_approvals()
            if time.monotonic() > deadline:
                raise RuntimeError(
                    "state machine executions still running after "
                    f"{MAX_REAL_SECONDS:.0f}s of real time: {self._running()}"
                )
            time.sleep(0.01)

    def _deliver_follow_up(self, event: dict[str, Any]) -> None:
        report = self._report or Report(event={}, environment=self.environment)
        matched = self._deliver_event(event, report, record_as_trigger=False)
        follow_up = {k: event.get(k) for k in ("id", "source", "detail-type")}
        report.follow_ups.append(follow_up | {"matched_rules": matched})

    def _answer_approvals(self) -> None:
        """The person at the keyboard: answer pending approvals as --approvals says (timeout: never)."""
        if self.approvals == "timeout":
            return
        from deckwatch import approvals
        from deckwatch.context import services

        if not self._pending_approvals():
            return
        # Answering counts as activity from the first moment: a waiting task must not be declared unanswered
        # between the approval being claimed and its answer reaching Step Functions.
        self._answering = True
        self._touch()
        try:
            self._answer_pending(approvals, services)
        finally:
            self._answering = False
            self._touch()

    def _answer_pending(self, approvals: Any, services: Any) -> None:
        with self.runner.exclusive(self._function_env_vars()):
            deps = services()
            for item in approvals.pending(deps):
                approvals.decide(
                    deps,
                    item["pk"].split("#", 1)[1],
                    approve=self.approvals == "approve",
                    actor="local-operator",
                    reason=f"--approvals {self.approvals}",
                )
                self._touch()

    @contextlib.contextmanager
    def control_plane(self) -> Iterator[Services]:
        """The control plane's services (ledger, locks, notifier, policy) as a handler sees them, for code the
        runtime or a test runs itself: alone, with a function's environment."""
        from deckwatch.context import services

        with self.runner.exclusive(self._function_env_vars()):
            yield services()

    def _function_env_vars(self) -> dict[str, str]:
        """A function's environment, for control-plane code the runtime runs itself (the simulated operator)."""
        return dict(next(iter(self.functions.values()))["env"])

    def _touch(self) -> None:
        self._last_activity = time.monotonic()

    def _is_idle(self) -> bool:
        """Nothing can answer a waiting task any more: no handler running, no event queued, no approval that the
        simulated operator will answer, and quiet for a moment of real time."""
        if self.runner.in_flight or self._queue or self._answering:
            return False
        if self.approvals != "timeout" and self._pending_approvals():
            return False
        return time.monotonic() - self._last_activity > IDLE_SECONDS

    def _pending_approvals(self) -> int:
        """Open approval requests; cached for a moment, as every waiting execution's thread asks while it waits."""
        with self._pending_lock:
            now = time.monotonic()
            if now - self._pending_checked[0] > PENDING_CACHE_SECONDS:
                self._pending_checked = (now, self._count_pending_approvals())
            return self._pending_checked[1]

    def _count_pending_approvals(self) -> int:
        table = self.physical.get("LocksTable")
        return 0 if table is None else moto_patches.count_keys(ACCOUNT, REGION, table, "approval#")

    def _on_call(self, service: str, operation: str) -> None:
        calls = self._calls
        if calls is not None:
            with self._calls_lock:
                calls.append({"service": service, "operation": operation})

    def _executions_since(self, known: set[str]) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        out = []
        everything = moto_patches.executions(ACCOUNT, REGION)
        for logical, arn in self._state_machines().items():
            for sm_arn, execution_arn, name, status in everything:
                if sm_arn != arn or execution_arn in known:
                    continue
                history = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
                path = [h["stateEnteredEventDetails"]["name"] for h in history if "stateEnteredEventDetails" in h]
                failed = next(
                    (h.get("executionFailedEventDetails") for h in history if "executionFailedEventDetails" in h), None
                )
                out.append(
                    {
                        "state_machine": logical,
                        "name": name,
                        "status": status,
                        "path": path,
                        "transitions": len(path),
                        "error": (failed or {}).get("error"),
                    }
                )
        return out

    # ------------------------------------------------------------------ reading back -------------------------
    def ledger_since(self, since: str) -> list[dict[str, Any]]:
        """Ledger records written since `since` (through the by_day index, as `deckwatch ledger --since` reads)."""
        from deckwatch.ledger import Ledger

        records = Ledger(self.physical["LedgerTable"], client=self.client("dynamodb")).by_time(since)
        items = [{k: v for k, v in r.items() if k not in ("pk", "sk", "day", "expires_at")} for r in records]
        return sorted(items, key=lambda r: (r["time"], r["record_id"]))

    def dead_letter_messages(self) -> list[dict[str, Any]]:
        sqs = self.client("sqs")
        url = self._queue_url("DeadLetterQueue")
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        return [json.loads(m["Body"]) for m in msgs]


def _placeholder_zip() -> bytes:
    # moto stores function code; the runtime runs the real handler from its folder instead.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "# run in-process by deckwatch.local\n")
    return buf.getvalue()
