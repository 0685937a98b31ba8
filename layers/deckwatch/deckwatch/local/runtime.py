"""The embedded AWS: moto in-process, the control plane created from template.yaml through moto's
CloudFormation, handlers run in-process, state machines run by moto's engine in simulated time.

    with LocalAWS(root, environment="staging") as aws:
        report = aws.replay(event)          # route by the template's rules, run to completion

The deployment (control plane plus the world the policy describes) is built once per input and restored from a
snapshot afterwards (`snapshot.py`). Time is simulated by a discrete-event scheduler (`scheduler.py`): nothing
sleeps, so outcomes and simulated durations do not depend on the machine's load. One embedded AWS runs in a
process at a time (moto's backends are process-wide); the test suite runs in parallel as processes. The runtime
leaves the process environment as it found it (moto itself sets fake credentials while it runs).

IAM is enforced (`iam.py`): every function runs with credentials of its own role, as Lambda gives them, and every
state machine calls with its own; a call the role does not allow fails as in AWS and is listed in the report's
`access_denied`. The runtime's own clients (the world, the tests' `client(...)`) are not checked.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
import uuid
import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from deckwatch import clock
from deckwatch.local import collector, iam, moto_patches, routing, snapshot
from deckwatch.local.functions import FunctionRunner, Outcome, new_context
from deckwatch.local.mock_services import Mocks
from deckwatch.local.scheduler import Scheduler
from deckwatch.local.template import CODE_BUCKET, Template, load

if TYPE_CHECKING:
    from deckwatch.context import Services

Approvals = Literal["approve", "reject", "timeout"]
World = Literal["policy", "workload"]
ACCOUNT = "123456789012"
REGION = "us-east-1"
# What the deployed snapshot depends on, besides the policy: the template, what it points to, and the code that
# builds the world (relative to the repository and to this package).
SNAPSHOT_INPUTS = ("template.yaml", "statemachines/*.asl.json")
# ... and, for the world built from the workload stack (`world="workload"`), the workload's own files.
WORKLOAD_INPUTS = ("workload/template.yaml", "workload/samconfig.toml", "workload/generate.py")


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
    access_denied: list[dict[str, str]] = field(default_factory=list)  # calls IAM refused (principal, action...)
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
            "access_denied": self.access_denied,
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
        parameters: dict[str, str] | None = None,
        start: float | None = None,
        world: World = "policy",
    ) -> None:
        self.root = root
        self.environment = environment
        self.policy_file = policy_file
        self.approvals = approvals
        self.world_kind: World = world  # "policy": world.build from the policy; "workload": workload/template.yaml
        # the stack's parameters: as samconfig.toml deploys the environment, then these
        self.parameters = {**deployed_parameters(root, environment), **(parameters or {}), "Environment": environment}
        # simulated time starts now, or at `start` (epoch seconds): a release on a Friday at 17:00 in Paris
        self.clock = clock.SimulatedClock(start)
        self.scheduler = Scheduler(self.clock)
        self.mocks = Mocks()
        self.runner = FunctionRunner()
        self.extra_env: dict[str, str] = {}  # added to every function's environment (local report folders)
        self.template: Template
        self.physical: dict[str, str] = {}
        self.deployed: set[str] = set()  # logical ids of the resources the stack has
        self.outputs: dict[str, str] = {}
        self.restored_from_snapshot = False
        self._calls: list[dict[str, str]] | None = None
        self._calls_lock = threading.Lock()
        self._mock: Any = None
        self._session: Any = None
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._queue: deque[dict[str, Any]] = deque()
        self._quiet_actions: list[tuple[Callable[[], bool], Callable[[], None], str]] = []
        self._report: Report | None = None
        self.enforce_iam = True  # off only to show what a check would have let through
        self.principals: dict[str, iam.Principal] = {}  # role ARN -> the function or state machine using it
        # (principal, action, statement, resource) of every allowed authorization, for DECKWATCH_IAM_LOG
        self.iam_used: set[tuple[str, str, str, str]] = set()
        self.iam_denied: list[iam.Denial] = []
        self._iam_world = iam.World(ACCOUNT)
        self._caller_clients: dict[tuple[str, str], Any] = {}
        self._key_roles: dict[str, str] = {}

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

        moto_patches.apply()
        if moto_patches.HOOKS.runtime is not None:
            raise RuntimeError("another embedded AWS is running in this process (moto's backends are process-wide)")
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._mock.start()
        hooks = moto_patches.HOOKS
        hooks.runtime, hooks.scheduler, hooks.mocks = self, self.scheduler, self.mocks
        hooks.invoke, hooks.on_call, hooks.put_event = self._invoke_from_moto, self._on_call, self._queue_home_event
        hooks.authorize = self._authorize
        clock.install(self.clock)
        from deckwatch.local import mock_services

        mock_services.install()
        try:
            self._deploy_or_restore()
        except BaseException:
            self._unbind()
            raise
        collector.settled()

    def _queue_home_event(self, event: dict[str, Any]) -> None:
        """Rules are regional: an event put in another region (a DR region's Restore Job) never reaches the
        stack's rules, so it is not routed."""
        if event.get("region") == REGION:
            self._queue.append(event)

    def stop(self) -> None:
        try:
            self.settle()
        finally:
            self._unbind()
            self._write_iam_log()

    def _write_iam_log(self) -> None:
        """With DECKWATCH_IAM_LOG=<file>: append what IAM allowed (by which statement) and refused, one JSON line per
        runtime, for `python -m deckwatch.local.iam <file>` (the permissions a run never used, and the missing)."""
        import os

        path = os.environ.get("DECKWATCH_IAM_LOG")
        if not path or not (self.iam_used or self.iam_denied):
            return
        doc = {
            "environment": self.environment,
            "used": sorted(self.iam_used),
            "denied": [d.to_json() for d in self.iam_denied],
            "granted": {
                p.name: [[st.source, list(st.actions), list(st.resources)] for st in p.statements]
                for p in self.principals.values()
            },
        }
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(doc) + "\n")

    def _unbind(self) -> None:
        collector.restored()
        moto_patches.HOOKS.clear()
        clock.install(clock.WallClock())
        if self._mock is not None:
            snapshot.clear_backends()
            self._mock.stop(remove_data=False)
            self._mock = None

    # ------------------------------------------------------------------ deployment ---------------------------
    @property
    def stack_name(self) -> str:
        return f"deckwatch-{self.environment}"

    def client(self, service: str, region: str | None = None) -> Any:
        """A boto3 client of the embedded AWS, for the runtime's own work and for tests (the stack's region); built
        once per service and region."""
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self._boto_session().client(service, region_name=region)
        return self._clients[key]

    def _boto_session(self) -> Any:
        if self._session is None:
            import boto3

            # moto's fake credentials, never real ones: this session only ever talks to the embedded AWS
            self._session = boto3.session.Session(
                aws_access_key_id="testing",
                aws_secret_access_key="testing",  # noqa: S106
                region_name=REGION,
            )
        return self._session

    def _policy_path(self) -> Path:
        from deckwatch.policy import example

        return Path(self.policy_file or example(self.environment))

    def _snapshot_key(self) -> str:
        import moto

        package = Path(__file__).resolve().parent
        parts: list[str | bytes] = [self.environment, str(self.root.resolve()), moto.__version__, self.world_kind]
        parts += [f"{k}={v}" for k, v in sorted(self.parameters.items())]
        inputs = SNAPSHOT_INPUTS + (WORKLOAD_INPUTS if self.world_kind == "workload" else ())
        files = [p for pattern in inputs for p in sorted(self.root.glob(pattern))]
        files += sorted(package.rglob("*.py")) + sorted((package.parent / "policy").rglob("*.py"))
        for path in files:
            parts += [str(path), path.read_bytes()]
        parts.append(self._policy_path().read_bytes())
        return snapshot.key(*parts)

    def _deploy_or_restore(self) -> None:
        from deckwatch.local import mock_services

        key = self._snapshot_key()
        saved = snapshot.load(key)
        if saved is not None:
            snapshot.restore_backends(saved.pop("backends"))
            for definition, program in saved.pop("programs").items():
                moto_patches.PROGRAMS.setdefault(definition, program)
            for name, value in saved.items():
                setattr(self, name, value)
            moto_patches.HOOKS.mocks = self.mocks
            self.restored_from_snapshot = True
        else:
            self._deploy()
            mock_services.seed(self)
            snapshot.save(
                key,
                {
                    "backends": snapshot.backends(),
                    "programs": self._programs(),
                    **{n: getattr(self, n) for n in _DEPLOYED},
                },
            )
        mock_services.refresh(self)  # what depends on the clock (recovery points, costs), at every start

    def _deploy(self) -> None:
        from deckwatch.local import world
        from deckwatch.policy import load_file

        self.template = load(self.root, self.parameters)
        s3 = self.client("s3")
        s3.create_bucket(Bucket=CODE_BUCKET)
        for logical_id in list(self.template.code_dirs) + list(self.template.resources("AWS::Lambda::LayerVersion")):
            s3.put_object(Bucket=CODE_BUCKET, Key=f"{logical_id}.zip", Body=_placeholder_zip())
        self._outside_topics()
        cfn = self.client("cloudformation")
        cfn.create_stack(
            StackName=self.stack_name,
            TemplateBody=json.dumps(self.template.cfn),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(self.parameters.items())],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        self.deployed = self._kept_by_conditions()
        for res in cfn.describe_stack_resources(StackName=self.stack_name)["StackResources"]:
            if res.get("PhysicalResourceId"):
                self.physical[res["LogicalResourceId"]] = res["PhysicalResourceId"]
        stack = cfn.describe_stacks(StackName=self.stack_name)["Stacks"][0]
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        self.rules = routing.rules(self.template, REGION, ACCOUNT)
        self.sns = routing.sns_subscriptions(self.template)
        self.on_failure = routing.on_failure_destinations(self.template)
        self.functions = self._functions()
        self.principals = self._principals()
        policy_path = self._policy_path()
        self.policy = load_file(policy_path)  # invalid -> PolicyError before anything runs
        self.client("ssm").put_parameter(  # as `deckwatch policy push` stores it: with the stack's key
            Name=f"/deckwatch/{self.environment}/policy",
            Value=policy_path.read_text(encoding="utf-8"),
            Type="SecureString",
            KeyId=f"alias/deckwatch-{self.environment}",
            Overwrite=True,
        )
        if self.world_kind == "workload":
            from deckwatch.local import workload_world

            self.world = workload_world.build(self, self.root, self.environment, ACCOUNT, REGION)
            # the control plane was updated with the workload's outputs: its roles' policies as they are now
            self.deployed = self._kept_by_conditions()
            self.principals = self._principals()
        else:
            self.world = world.build(self, self.policy.policy, ACCOUNT, REGION)

    def _kept_by_conditions(self) -> set[str]:
        """Logical ids of the resources the stack has: those whose Condition holds for its parameters (moto's
        CloudFormation evaluates them; some types it does not create at all, e.g. AWS::SNS::Subscription)."""
        from moto.cloudformation.models import cloudformation_backends

        stack = next(s for s in cloudformation_backends[ACCOUNT][REGION].stacks.values() if s.name == self.stack_name)
        conditions = stack.resource_map.lazy_condition_map
        return {
            logical
            for logical, res in self.template.cfn["Resources"].items()
            if "Condition" not in res or conditions[res["Condition"]]
        }

    def _outside_topics(self) -> None:
        """The topics the stack is deployed to listen to (CostAlertTopicArns) are the world's: they exist before it."""
        from moto.sns.models import sns_backends

        for arn in filter(None, (a.strip() for a in self.parameters.get("CostAlertTopicArns", "").split(","))):
            parts = arn.split(":")
            if len(parts) != 6 or parts[2] != "sns":
                raise ValueError(f"CostAlertTopicArns: {arn!r} is not an SNS topic ARN")
            sns_backends[parts[4]][parts[3]].create_topic(parts[5])

    def _programs(self) -> dict[str, Any]:
        """The parsed programs of the stack's state machines (parsed when moto's CloudFormation created them)."""
        sfn = self.client("stepfunctions")
        definitions = [
            sfn.describe_state_machine(stateMachineArn=arn)["definition"] for arn in self._state_machines().values()
        ]
        return {d: moto_patches.PROGRAMS[d] for d in definitions if d in moto_patches.PROGRAMS}

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
                "role": cfg["Role"],
            }
        return out

    def _principals(self) -> dict[str, iam.Principal]:
        """The stack's roles as IAM sees them: the template's policies resolved by moto's CloudFormation, with the
        deployment's physical ids and conditions."""
        from moto.cloudformation.models import cloudformation_backends
        from moto.cloudformation.parsing import clean_json
        from moto.iam.aws_managed_policies import aws_managed_policies_data

        stack = next(s for s in cloudformation_backends[ACCOUNT][REGION].stacks.values() if s.name == self.stack_name)
        managed = {name: doc["Document"] for name, doc in json.loads(aws_managed_policies_data).items()}

        def resolve(value: Any) -> Any:
            return _drop_no_value(clean_json(value, stack.resource_map))

        return iam.principals(self.template.cfn, resolve, ACCOUNT, managed)

    def credentials(self, function_name: str) -> dict[str, str]:
        """The session credentials Lambda gives `function_name` (its role's): they identify its calls to IAM."""
        role = self.functions[function_name]["role"]
        digest = uuid.uuid5(uuid.NAMESPACE_URL, role).hex.upper()
        return {
            "AWS_ACCESS_KEY_ID": f"ASIA{digest[:16]}",
            "AWS_SECRET_ACCESS_KEY": digest,
            "AWS_SESSION_TOKEN": f"deckwatch-local-{digest[:24]}",
        }

    def _role_of_key(self, key: str | None) -> str | None:
        if key is None:
            return None
        if key == _ENGINE_KEY:  # moto's Step Functions engine: the execution's role, if this is one
            return getattr(moto_patches.EXECUTION, "role_arn", None)
        functions = getattr(self, "functions", {})  # none yet while the stack is being created
        if len(self._key_roles) != len(functions):
            self._key_roles = {self.credentials(n)["AWS_ACCESS_KEY_ID"]: str(f["role"]) for n, f in functions.items()}
        return self._key_roles.get(key)

    def _authorize(self, call: moto_patches.ApiCall, request: Any) -> Any:
        """The request hook: None if the caller may make `call` (or is the world), else AWS's error response."""
        if not self.enforce_iam:
            return None
        role = self._role_of_key(iam.access_key(request.headers))
        principal = self.principals.get(role) if role else None
        if principal is None:
            return None  # the runtime, the tests and moto itself: the world, not Deckwatch
        service = str(call.service_model.service_name)
        request_call = iam.Call(service, call.operation, call.params, call.region or REGION, ACCOUNT, self._iam_world)
        auths = iam.authorizations(request_call)
        denial, used = iam.check(principal, auths, self._iam_world)
        for auth, statement in used:
            self.iam_used.add((principal.name, auth.action, statement, auth.resource))
        if denial is None:
            return None
        self.iam_denied.append(denial)
        if self._report is not None:
            self._report.access_denied.append(denial.to_json())
        return iam.error_response(call.service_model, request, denial)

    def caller_client(self, function_name: str, service: str) -> Any:
        """A client with `function_name`'s credentials: what Lambda does on the function's behalf (its on-failure
        destination) is authorised by the function's role."""
        key = (function_name, service)
        if key not in self._caller_clients:
            import boto3

            creds = self.credentials(function_name)
            self._caller_clients[key] = boto3.session.Session(
                aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=creds["AWS_SESSION_TOKEN"],
                region_name=REGION,
            ).client(service)  # type: ignore[call-overload]
        return self._caller_clients[key]

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
                event = self._as_put_events(doc)
                self._world_as_the_event_says(event)
                self._deliver_event(event, report)

        return self._run(report, deliver)

    def _world_as_the_event_says(self, event: dict[str, Any]) -> None:
        """A replayed event reports a change that happened in AWS: make it true in the embedded AWS first (the alarm
        is in the state the event says), quietly, so that what Deckwatch reads and waits for afterwards is what AWS
        would show. Events of other accounts or regions change nothing here."""
        from deckwatch.local.mock_services import cloudwatch

        if (
            event.get("source") == "aws.cloudwatch"
            and event.get("detail-type") == "CloudWatch Alarm State Change"
            and event.get("account") == ACCOUNT
            and event.get("region") == REGION
            and isinstance(event.get("detail"), dict)
        ):
            with moto_patches.lock():
                cloudwatch.put_in_state(ACCOUNT, REGION, event["detail"])

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
        refused = []
        for sub in self.sns:
            if sub.logical_id not in self.deployed:
                continue  # its Condition left it out of this deployment
            if self.physical.get(sub.topic, sub.topic) != topic_arn:
                continue
            if not sub.permitted:  # SNS may not invoke the function: Lambda refuses, the message is not delivered
                refused.append(sub.function)
                continue
            # what matched: the stack's own topic, or the subscription to a topic from outside the stack
            report.matched_rules.append(sub.topic if sub.topic in self.physical else sub.logical_id)
            self._deliver_to(sub.function, lambda_event, report)
        if refused:
            report.note = f"SNS may not invoke {', '.join(refused)} from {topic_arn} (no AWS::Lambda::Permission)"
        elif not report.matched_rules:
            report.note = f"no function is subscribed to topic {topic_arn or '(none)'}"

    def _deliver_to(
        self, logical_id: str, event: dict[str, Any], report: Report, dead_letter: str | None = None
    ) -> None:
        """An asynchronous delivery (EventBridge or SNS to Lambda, EventBridge to Step Functions or SQS)."""
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
        return self.runner.run(fn["code_dir"], fn["handler"], self.function_env(function_name), event, ctx)

    def function_env(self, function_name: str | None = None) -> dict[str, str]:
        """The environment a function runs with, as Lambda sets it: its template variables, the runtime's
        region, and the runtime's local extras (a CA bundle for the local PostgreSQL, report folders)."""
        name = function_name or next(iter(self.functions))
        env = {
            **self.functions[name]["env"],
            "AWS_LAMBDA_FUNCTION_NAME": name,
            **self.credentials(name),
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            # EMF documents would go to the process's stdout; the same figures are in the ledger
            "POWERTOOLS_METRICS_DISABLED": "true",
            **self.extra_env,
        }
        if self.mocks.backup.ca_file:
            env["DRILL_CA_BUNDLE"] = self.mocks.backup.ca_file
        return env

    def _invoke_from_moto(self, fn_model: Any, event: Any) -> tuple[str, bool, str]:
        """moto's Lambda invoke (Step Functions tasks, synchronous invokes) -> the in-process handler, or the
        scripted workload function it stands for."""
        from deckwatch.local.mock_services import awslambda

        if awslambda.scripted(fn_model.function_name):
            return awslambda.invoke(fn_model.function_name, event)
        if fn_model.function_name not in self.functions:
            raise RuntimeError(f"no local code for {fn_model.function_name}")
        payload = json.loads(event) if isinstance(event, str) else event
        outcome = self.invoke(fn_model.function_name, payload)
        if moto_patches.invocation_type() == "Event":  # asynchronous (e.g. `deckwatch dlq redrive`): as Lambda does
            logical = self.functions[fn_model.function_name]["logical_id"]
            if self._report is not None:
                self._report.invocations.append(
                    {"function": logical, "status": "ok" if outcome.ok else "error", "error": outcome.error}
                )
            if not outcome.ok and logical in self.on_failure:
                dead = self._dead_letter(logical, payload, outcome)
                if self._report is not None:
                    self._report.dead_letters.append(dead)
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
        from botocore.exceptions import ClientError

        # Lambda sends to the destination with the function's role
        sqs = self.caller_client(self.physical[logical_id], "sqs")
        try:
            sqs.send_message(QueueUrl=self._queue_url(queue), MessageBody=json.dumps(record, default=str))
        except ClientError as exc:
            return {"function": logical_id, "queue": queue, "error": outcome.error, "lost": str(exc)}
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

    def settle(self) -> None:
        """Run until nothing can happen any more. At each quiet moment (no execution can run): deliver the events
        the control plane and the world emitted, let the simulated operator answer, run what waits for a
        condition (`when`); only then move simulated time to the next deadline."""
        while True:
            self.scheduler.wait_quiet()
            if self._queue:
                while self._queue:
                    self._deliver_follow_up(self._queue.popleft())
                continue
            if self._quiet_moment():
                continue
            step = self.scheduler.advance()
            if step is False:
                return
            if callable(step):
                step()

    def when(self, condition: Callable[[], bool], action: Callable[[], None], what: str) -> None:
        """Run `action` (once) at the first quiet moment at which `condition()` holds."""
        self._quiet_actions.append((condition, action, what))

    def _quiet_moment(self) -> bool:
        """Answer what a person or a test would answer now; True if something happened."""
        pending = self._pending_approvals() if self.approvals != "timeout" else 0
        if pending:
            self._answer_pending()
            if self._pending_approvals() < pending:
                return True
        for entry in list(self._quiet_actions):
            condition, action, _ = entry
            if condition():
                self._quiet_actions.remove(entry)
                action()
                return True
        return False

    def _deliver_follow_up(self, event: dict[str, Any]) -> None:
        report = self._report or Report(event={}, environment=self.environment)
        matched = self._deliver_event(event, report, record_as_trigger=False)
        follow_up = {k: event.get(k) for k in ("id", "source", "detail-type")}
        report.follow_ups.append(follow_up | {"matched_rules": matched})

    def _answer_pending(self) -> None:
        """The person at the keyboard: answer pending approvals as --approvals says."""
        from deckwatch import approvals
        from deckwatch.errors import ApprovalNotFoundError

        with self.control_plane() as deps:
            for item in approvals.pending(deps):
                # answered meanwhile, or its run no longer waits (recorded as stale): as a person would be told
                with contextlib.suppress(ApprovalNotFoundError):
                    approvals.decide(
                        deps,
                        item["id"],
                        approve=self.approvals == "approve",
                        actor="local-operator",
                        reason=f"--approvals {self.approvals}",
                    )

    @contextlib.contextmanager
    def control_plane(self) -> Iterator[Services]:
        """The control plane's services (ledger, state, notifier, policy) as a handler sees them, for code the
        runtime or a test runs itself: built from a function's environment, run while no handler runs."""
        from deckwatch.aws import Clients
        from deckwatch.context import Services

        with self.runner.exclusive():
            yield Services.from_env(self.function_env(), clients=Clients(session=self._boto_session()))

    def _pending_approvals(self) -> int:
        table = self.physical.get("StateTable")
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

    def ledger_items(self) -> list[dict[str, Any]]:
        """Every item of the ledger table as stored, for the checks that nothing secret ever reached the ledger: one
        scan (`ledger_since` reads the by_day index a day at a time, one query per day since its lower bound)."""
        from deckwatch.ledger import Ledger

        return Ledger(self.physical["LedgerTable"], client=self.client("dynamodb")).items()

    def dead_letter_messages(self) -> list[dict[str, Any]]:
        sqs = self.client("sqs")
        url = self._queue_url("DeadLetterQueue")
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        return [json.loads(m["Body"]) for m in msgs]


# What the runtime knows after a deployment, kept in its snapshot beside moto's backends.
_DEPLOYED = (
    "template",
    "physical",
    "deployed",
    "outputs",
    "rules",
    "sns",
    "on_failure",
    "functions",
    "principals",
    "policy",
    "world",
    "mocks",
)
_ENGINE_KEY = "ak"  # the access key moto's Step Functions engine signs its service integrations with


def _drop_no_value(value: Any) -> Any:
    """CloudFormation drops AWS::NoValue from lists and objects; moto's resolver leaves it as None."""
    if isinstance(value, dict):
        return {k: _drop_no_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_no_value(v) for v in value if v is not None]
    return value


def deployed_parameters(root: Path, environment: str) -> dict[str, str]:
    """The stack parameters samconfig.toml deploys `environment` with ([<env>.deploy.parameters]
    parameter_overrides, `Key=Value` pairs); {} without a samconfig.toml."""
    import shlex
    import tomllib

    path = root / "samconfig.toml"
    if not path.is_file():
        return {}
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    overrides = config.get(environment, {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
    pairs = shlex.split(overrides) if isinstance(overrides, str) else [str(o) for o in overrides]
    return dict(p.split("=", 1) for p in pairs if "=" in p)


def _placeholder_zip() -> bytes:
    # moto stores function code; the runtime runs the real handler from its folder instead.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "# run in-process by deckwatch.local\n")
    return buf.getvalue()
