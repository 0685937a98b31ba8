"""CodePipeline, run: the workload's pipelines execute their stages in simulated time on the embedded AWS.

moto stores pipeline declarations (the workload stack creates them) but runs nothing: its executions are
"Succeeded" the moment they start. `Pipelines` runs an execution of a declared pipeline stage by stage, action by
action (by runOrder), on the runtime's scheduler (`scheduler.call_later`), and emits CodePipeline's real
state-change events (pipeline, stage and action; shapes as AWS documents them and as events/pipeline_events/ has
them) on the default bus, where the runtime routes them through the control plane's rules:

- Source (CodeStarSourceConnection): the commit of the release; variables SourceVariables.CommitId.
- Build (CodeBuild, `BuildImage`): `Release.build` seconds, then SUCCEEDED with an output artifact in the declared
  artifact store (a zip holding imagedefinitions.json and imageDetail.json for the service's container, written
  under the store's key as CodePipeline writes it: `<pipeline>/<artifact>/<id>`, encrypted with the store's key),
  variables BuildVariables.IMAGE_URI; or FAILED (`Release.build_fails`). Other CodeBuild actions (`ReleaseImage`)
  succeed after `Release.release` seconds.
- Approval (Manual): STARTED, then waits for `decide()` (a person: `Release.approval` = "approve" or "reject",
  answered `Release.approval_after` seconds later; "wait" leaves it to the caller), then SUCCEEDED or FAILED.
- Invoke StepFunctions (`Cutover`): StartExecution of the declared state machine, named
  `<ExecutionNamePrefix>-<action execution id>`, with the declared Literal input (#{...} variables resolved), then
  polls the execution every POLL_SECONDS: the action SUCCEEDED when the execution did, FAILED when it failed, was
  aborted or timed out.
A failed action fails its stage and the execution. Stages are locked per execution as CodePipeline locks them: an
execution that finished a stage waits at the transition to the next (its inbound execution) while another holds
that one, leaving the stage it finished to the next execution; with ExecutionMode QUEUED (the workload's) inbound
executions go in order, with SUPERSEDED (V1's default) a newer inbound execution supersedes the older one, which
ends SUPERSEDED; PARALLEL locks nothing. `stop(..., abandon=True)` abandons in-progress actions (STOPPING, STOPPED);
without abandon it waits for them.

Every step is recorded on the execution (`Execution.history`) for timelines, and every event passes through
`emit` (a parameter: the month's simulation delivers some twice or late).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from deckwatch import clock

POLL_SECONDS = 60.0  # how often the Step Functions invoke action checks its execution
SOURCE_SECONDS = 20.0
TRANSITION_SECONDS = 2.0
_VARIABLE = re.compile(r"#\{([A-Za-z0-9_]+)\.([A-Za-z0-9_@\-.]+)\}")

Approval = Literal["approve", "reject", "wait"]


@dataclass
class Release:
    """What a pushed commit turns into: the build's image and how each kind of action goes."""

    commit: str
    image: str = ""  # default: <repository>:<commit12>-<build number>
    build: float = 300.0
    build_fails: bool = False
    release: float = 60.0
    approval: Approval = "approve"
    approval_after: float = 900.0
    approval_by: str = "release-manager"


@dataclass
class Execution:
    pipeline: str
    id: str
    release: Release
    status: str = "InProgress"  # CodePipeline's: InProgress, Succeeded, Failed, Stopping, Stopped, Superseded
    stage: str | None = None  # the stage it holds or waits for
    waiting: bool = False
    variables: dict[str, dict[str, str]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    cutovers: list[str] = field(default_factory=list)  # Step Functions executions its actions started
    stop_requested: bool = False
    abandon: bool = False
    _pending: Callable[[], None] | None = None  # what resumes it (an action in progress)
    _approval: tuple[str, str, str] | None = None  # (stage, action, action execution id) awaiting a decision
    _running: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # action id -> (stage, action)
    started_at: float = 0.0
    ended_at: float | None = None

    @property
    def done(self) -> bool:
        return self.status in ("Succeeded", "Failed", "Stopped", "Superseded")


Emit = Callable[[dict[str, Any]], None]


class Pipelines:
    """The simulated CodePipeline service of one embedded AWS."""

    def __init__(self, runtime: Any, emit: Emit | None = None) -> None:
        self.runtime = runtime
        self.emit: Emit = emit or self._put_event
        self.executions: dict[str, Execution] = {}
        self._holders: dict[tuple[str, str], str] = {}  # (pipeline, stage) -> execution id holding it
        self._queues: dict[tuple[str, str], list[str]] = {}  # (pipeline, stage) -> execution ids waiting, in order
        self._builds = 0

    # ------------------------------------------------------------------ declarations -------------------------
    def declaration(self, name: str) -> dict[str, Any]:
        from moto.codepipeline.models import codepipeline_backends

        from deckwatch.local.runtime import ACCOUNT, REGION

        pipeline: dict[str, Any] = codepipeline_backends[ACCOUNT][REGION].pipelines[name].pipeline
        return pipeline

    def _mode(self, name: str) -> str:
        return str(self.declaration(name).get("executionMode") or "SUPERSEDED")

    # ------------------------------------------------------------------ starting -----------------------------
    def start(self, name: str, release: Release) -> Execution:
        """StartPipelineExecution (a push): the execution runs in simulated time from now."""
        from moto.codepipeline.models import PipelineExecution, codepipeline_backends

        from deckwatch.local.runtime import ACCOUNT, REGION

        backend = codepipeline_backends[ACCOUNT][REGION]
        declared = backend.pipelines[name]
        record = PipelineExecution(name, int(declared.pipeline["version"]), None)
        record.status = "InProgress"
        declared.executions[record.pipeline_execution_id] = record
        execution = Execution(name, record.pipeline_execution_id, release, started_at=clock.now_epoch())
        self.executions[execution.id] = execution
        self._pipeline_event(execution, "STARTED")
        self._later(TRANSITION_SECONDS, lambda: self._enter(execution, 0), f"{name} {execution.id[:8]} starts")
        return execution

    def running(self) -> list[Execution]:
        return [e for e in self.executions.values() if not e.done]

    # ------------------------------------------------------------------ people -------------------------------
    def decide(self, execution_id: str, approve: bool, by: str = "release-manager", summary: str = "") -> bool:
        """PutApprovalResult for the execution's pending manual approval; False if none is pending."""
        execution = self.executions[execution_id]
        if execution._approval is None or execution.done:
            return False
        stage, action, action_id = execution._approval
        execution._approval = None
        execution._running.pop(action_id, None)
        declared = self._action(execution.pipeline, stage, action)
        state = "SUCCEEDED" if approve else "FAILED"
        summary = summary or f"{'Approved' if approve else 'Rejected'} by {by}"
        self._action_event(execution, stage, declared, action_id, state, summary=summary)
        if approve:
            self._next_action(execution, stage, action)
        else:
            self._fail(execution, stage, f"{action} rejected by {by}")
        return True

    def stop(self, execution_id: str, abandon: bool, reason: str = "") -> None:
        """StopPipelineExecution: abandon in-progress actions now, or let them finish and start nothing after."""
        execution = self.executions[execution_id]
        if execution.done or execution.stop_requested:
            return
        execution.stop_requested, execution.abandon = True, abandon
        execution.status = "Stopping"
        self._pipeline_event(execution, "STOPPING", reason=reason)
        if abandon or execution.waiting or execution._approval is not None:
            execution._approval = None
            for action_id, (stage, action) in list(execution._running.items()):
                self._action_event(execution, stage, action, action_id, "ABANDONED")
            execution._running.clear()
            self._end_stopped(execution)

    # ------------------------------------------------------------------ stages -------------------------------
    def _stages(self, name: str) -> list[dict[str, Any]]:
        return list(self.declaration(name)["stages"])

    def _action(self, pipeline: str, stage: str, action: str) -> dict[str, Any]:
        for s in self._stages(pipeline):
            if s["name"] == stage:
                for a in s["actions"]:
                    if a["name"] == action:
                        return dict(a)
        raise KeyError(f"{pipeline}: no action {stage}/{action}")

    def _enter(self, execution: Execution, index: int) -> None:
        """Enter stage `index` (or wait at its transition while another execution holds it)."""
        if execution.done:
            return
        stages = self._stages(execution.pipeline)
        if index >= len(stages):
            self._succeed(execution)
            return
        if execution.stop_requested:
            self._end_stopped(execution)
            return
        stage = stages[index]["name"]
        key = (execution.pipeline, stage)
        mode = self._mode(execution.pipeline)
        holder = self._holders.get(key)
        if mode != "PARALLEL" and holder is not None and holder != execution.id:
            waiting = self._queues.setdefault(key, [])
            if mode == "SUPERSEDED":
                for older in list(waiting):
                    waiting.remove(older)
                    self._supersede(self.executions[older])
            waiting.append(execution.id)
            if index > 0:  # an inbound execution waits at the transition: the stage it finished is free
                self._release(execution, stages[index - 1]["name"])
            execution.stage, execution.waiting = stage, True
            execution._pending = lambda: self._enter(execution, index)
            self._note(execution, "waiting", stage=stage, holder=holder)
            return
        execution.waiting = False
        if index > 0:
            self._release(execution, stages[index - 1]["name"])
        if mode != "PARALLEL":
            self._holders[key] = execution.id
        execution.stage = stage
        self._stage_event(execution, stage, "STARTED")
        first = min(int(a.get("runOrder", 1)) for a in stages[index]["actions"])
        for action in stages[index]["actions"]:
            if int(action.get("runOrder", 1)) == first:
                self._run_action(execution, stage, action)

    def _release(self, execution: Execution, stage: str) -> None:
        """The execution leaves `stage`: the next one waiting for it enters."""
        key = (execution.pipeline, stage)
        if self._holders.get(key) != execution.id:
            return
        del self._holders[key]
        waiting = self._queues.get(key) or []
        if waiting:
            nxt = self.executions[waiting.pop(0)]
            resume = nxt._pending
            nxt._pending = None
            if resume is not None:
                self._later(TRANSITION_SECONDS, resume, f"{nxt.pipeline} {nxt.id[:8]} enters {stage}")

    def _next_action(self, execution: Execution, stage: str, done_action: str) -> None:
        """An action succeeded: run the stage's next run order, or leave the stage."""
        if execution.done:
            return
        stages = self._stages(execution.pipeline)
        index = next(i for i, s in enumerate(stages) if s["name"] == stage)
        actions = stages[index]["actions"]
        done_order = int(next(a for a in actions if a["name"] == done_action).get("runOrder", 1))
        later = sorted({int(a.get("runOrder", 1)) for a in actions if int(a.get("runOrder", 1)) > done_order})
        if execution.stop_requested:
            self._stage_event(execution, stage, "STOPPED")
            self._end_stopped(execution)
            return
        if later:
            for action in actions:
                if int(action.get("runOrder", 1)) == later[0]:
                    self._run_action(execution, stage, action)
            return
        self._stage_event(execution, stage, "SUCCEEDED")
        self._later(TRANSITION_SECONDS, lambda: self._enter(execution, index + 1), f"{execution.pipeline} next stage")

    # ------------------------------------------------------------------ actions ------------------------------
    def _run_action(self, execution: Execution, stage: str, action: dict[str, Any]) -> None:
        action_id = str(uuid.uuid4())
        kind = action["actionTypeId"]
        category, provider = kind["category"], kind["provider"]
        self._action_event(execution, stage, action, action_id, "STARTED")
        execution._running[action_id] = (stage, action)
        name = action["name"]

        def finish(state: str, summary: str = "", artifacts: list[dict[str, Any]] | None = None) -> None:
            execution._pending = None
            if execution.done or execution.abandon or action_id not in execution._running:
                return
            del execution._running[action_id]
            self._action_event(execution, stage, action, action_id, state, summary=summary, outputs=artifacts)
            if state == "SUCCEEDED":
                self._next_action(execution, stage, name)
            else:
                self._fail(execution, stage, f"{name}: {summary}")

        release = execution.release
        if category == "Source":
            commit = release.commit
            execution.variables[action.get("namespace") or "SourceVariables"] = {
                "CommitId": commit,
                "BranchName": str(action.get("configuration", {}).get("BranchName", "main")),
            }
            self._later(SOURCE_SECONDS, lambda: finish("SUCCEEDED", f"commit {commit[:12]}"), f"{name} source")
        elif category == "Build" and name == "BuildImage":
            self._builds += 1
            build = self._builds

            def built() -> None:
                if release.build_fails:
                    finish("FAILED", f"Build {build} failed: test stage exited 1")
                    return
                image = release.image or self._image(execution, commit=release.commit, build=build)
                release.image = image
                execution.variables[action.get("namespace") or "BuildVariables"] = {"IMAGE_URI": image}
                outputs = [self._write_artifact(execution, a["name"], image) for a in action.get("outputArtifacts", [])]
                finish("SUCCEEDED", f"Build {build} succeeded: {image}", outputs)

            self._later(release.build, built, f"{execution.pipeline} build {build}")
        elif category == "Build":
            self._later(release.release, lambda: finish("SUCCEEDED", "Build succeeded"), f"{name} build")
        elif category == "Approval":
            execution._approval = (stage, name, action_id)
            if release.approval != "wait":
                approve = release.approval == "approve"

                def answer() -> None:
                    self.decide(execution.id, approve, by=release.approval_by)

                self._later(release.approval_after, answer, f"{execution.pipeline} {name} decision")
        elif category == "Invoke" and provider == "StepFunctions":
            self._invoke_state_machine(execution, action, action_id, finish)
        else:
            self._later(TRANSITION_SECONDS, lambda: finish("SUCCEEDED"), f"{name} {category}")

    def _invoke_state_machine(
        self, execution: Execution, action: dict[str, Any], action_id: str, finish: Callable[..., None]
    ) -> None:
        config = action.get("configuration", {})
        arn = str(config["StateMachineArn"])
        name = f"{config.get('ExecutionNamePrefix', execution.pipeline)}-{action_id}"[:80]
        payload = self._resolve(execution, str(config.get("Input", "{}")))
        sfn = self.runtime.client("stepfunctions")
        try:
            started = sfn.start_execution(stateMachineArn=arn, name=name, input=payload)["executionArn"]
        except Exception as exc:  # noqa: BLE001 - the action fails as CodePipeline's does, with the API's error
            finish("FAILED", f"StartExecution failed: {exc}")
            return
        execution.cutovers.append(str(started))
        self._note(execution, "state-machine-started", execution_arn=started, input=json.loads(payload))

        def poll() -> None:
            if execution.done or execution.abandon:
                return
            status = self._execution_status(str(started))
            if status == "RUNNING":
                self._later(POLL_SECONDS, poll, f"{execution.pipeline} polls {name[-12:]}")
                return
            if status == "SUCCEEDED":
                finish("SUCCEEDED", f"Execution {status}")
            else:
                finish("FAILED", f"Execution {status}")

        execution._pending = poll
        self._later(POLL_SECONDS, poll, f"{execution.pipeline} polls {name[-12:]}")

    def _execution_status(self, arn: str) -> str:
        from deckwatch.local import moto_patches
        from deckwatch.local.runtime import ACCOUNT, REGION

        for _, execution_arn, _, status in moto_patches.executions(ACCOUNT, REGION):
            if execution_arn == arn:
                return status.rsplit(".", 1)[-1]
        return "UNKNOWN"

    def _resolve(self, execution: Execution, text: str) -> str:
        variables = {"codepipeline": {"PipelineExecutionId": execution.id}, **execution.variables}

        def value(match: re.Match[str]) -> str:
            return str(variables.get(match.group(1), {}).get(match.group(2), match.group(0)))

        return _VARIABLE.sub(value, text)

    def _image(self, execution: Execution, commit: str, build: int) -> str:
        from moto.ecr.models import ecr_backends

        from deckwatch.local.runtime import ACCOUNT, REGION

        service = self.runtime.world["pipelines"][execution.pipeline]
        repository = str(self.runtime.world["services"][service]["repository"])
        image = f"{repository}:{commit[:12]}-{build}"
        name = repository.rsplit("/", 1)[-1]
        manifest = json.dumps({"schemaVersion": 2, "config": {"digest": f"sha256:{uuid.uuid4().hex * 2}"}})
        # the build pushes it (ECR keeps it); a repository the world lacks: the tag stands anyway
        with contextlib.suppress(Exception):
            ecr_backends[ACCOUNT][REGION].put_image(name, manifest, f"{commit[:12]}-{build}")
        return image

    def _write_artifact(self, execution: Execution, artifact: str, image: str) -> dict[str, Any]:
        """The build's output artifact, in the pipeline's artifact store as CodePipeline writes it."""
        from moto.s3.models import s3_backends

        from deckwatch.local.runtime import ACCOUNT

        store = self.declaration(execution.pipeline)["artifactStore"]
        bucket = str(store["location"])
        key = f"{execution.pipeline[:20]}/{artifact[:10]}/{uuid.uuid4().hex[:7]}"
        service = self.runtime.world["pipelines"][execution.pipeline]
        container = self.runtime.world["services"][service]["container"]
        body = io.BytesIO()
        with zipfile.ZipFile(body, "w") as zf:
            zf.writestr("imagedefinitions.json", json.dumps([{"name": container, "imageUri": image}]))
            zf.writestr("imageDetail.json", json.dumps({"ImageURI": image}))
        encryption = store.get("encryptionKey") or {}
        s3_backends[ACCOUNT]["aws"].put_object(
            bucket,
            key,
            body.getvalue(),
            encryption="aws:kms" if encryption else None,
            kms_key_id=encryption.get("id"),
        )
        return {"name": artifact, "s3location": {"bucket": bucket, "key": key}}

    # ------------------------------------------------------------------ endings ------------------------------
    def _succeed(self, execution: Execution) -> None:
        self._release_all(execution)
        self._end(execution, "Succeeded", "SUCCEEDED")

    def _fail(self, execution: Execution, stage: str, reason: str) -> None:
        self._stage_event(execution, stage, "FAILED")
        self._release_all(execution)
        self._end(execution, "Failed", "FAILED", reason=reason)

    def _supersede(self, execution: Execution) -> None:
        execution._pending = None
        self._release_all(execution)
        self._end(execution, "Superseded", "SUPERSEDED")

    def _end_stopped(self, execution: Execution) -> None:
        if execution.done:
            return
        if execution.stage and not execution.waiting:
            self._stage_event(execution, execution.stage, "STOPPED")
        self._release_all(execution)
        for key, waiting in self._queues.items():
            if execution.id in waiting and key[0] == execution.pipeline:
                waiting.remove(execution.id)
        self._end(execution, "Stopped", "STOPPED")

    def _release_all(self, execution: Execution) -> None:
        for (pipeline, stage), holder in list(self._holders.items()):
            if pipeline == execution.pipeline and holder == execution.id:
                self._release(execution, stage)

    def _end(self, execution: Execution, status: str, state: str, reason: str = "") -> None:
        from moto.codepipeline.models import codepipeline_backends

        from deckwatch.local.runtime import ACCOUNT, REGION

        execution.status = status
        execution.ended_at = clock.now_epoch()
        execution._pending = None
        record = codepipeline_backends[ACCOUNT][REGION].pipelines[execution.pipeline].executions.get(execution.id)
        if record is not None:
            record.status, record.status_summary = status, reason or None
        self._pipeline_event(execution, state, reason=reason)

    # ------------------------------------------------------------------ events -------------------------------
    def _later(self, seconds: float, action: Callable[[], None], what: str) -> None:
        self.runtime.scheduler.call_later(seconds, action, what)

    def _note(self, execution: Execution, kind: str, **data: Any) -> None:
        execution.history.append({"time": clock.iso(), "kind": kind, **data})

    def _base(self, execution: Execution) -> dict[str, Any]:
        return {
            "pipeline": execution.pipeline,
            "execution-id": execution.id,
            "start-time": _iso_ms(execution.started_at),
            "version": float(self.declaration(execution.pipeline)["version"]),
            "pipeline-execution-attempt": 1.0,
        }

    def _pipeline_event(self, execution: Execution, state: str, reason: str = "") -> None:
        detail = self._base(execution) | {"state": state}
        detail["execution-trigger"] = {
            "trigger-type": "CodeStarSourceConnection",
            "trigger-detail": f"commit {execution.release.commit[:12]}",
        }
        self._note(execution, "pipeline", state=state, reason=reason)
        self._send(execution, "CodePipeline Pipeline Execution State Change", detail)

    def _stage_event(self, execution: Execution, stage: str, state: str) -> None:
        self._note(execution, "stage", stage=stage, state=state)
        self._send(execution, "CodePipeline Stage Execution State Change", self._base(execution) | {
            "stage": stage, "state": state})  # fmt: skip

    def _action_event(
        self,
        execution: Execution,
        stage: str,
        action: dict[str, Any],
        action_id: str,
        state: str,
        summary: str = "",
        outputs: list[dict[str, Any]] | None = None,
    ) -> None:
        from deckwatch.local.runtime import REGION

        kind = action["actionTypeId"]
        detail = self._base(execution) | {
            "stage": stage,
            "action-execution-id": action_id,
            "action": action["name"],
            "state": state,
            "region": REGION,
            "type": {
                "owner": kind["owner"],
                "provider": kind["provider"],
                "category": kind["category"],
                "version": str(kind.get("version", "1")),
            },
            "input-artifacts": [{"name": a["name"]} for a in action.get("inputArtifacts", [])],
        }
        if state != "STARTED":
            detail["execution-result"] = {"external-execution-summary": summary or state.title()}
            if outputs:
                detail["output-artifacts"] = outputs
        self._note(execution, "action", stage=stage, action=action["name"], state=state, summary=summary)
        self._send(execution, "CodePipeline Action Execution State Change", detail)

    def _send(self, execution: Execution, detail_type: str, detail: dict[str, Any]) -> None:
        from deckwatch.local.runtime import ACCOUNT, REGION

        self.emit(
            {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": detail_type,
                "source": "aws.codepipeline",
                "account": ACCOUNT,
                "time": clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": REGION,
                "resources": [f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{execution.pipeline}"],
                "detail": detail,
            }
        )

    @staticmethod
    def _put_event(event: dict[str, Any]) -> None:
        """On the default bus, as CodePipeline puts it (the runtime routes it through the control plane's rules)."""
        from moto.events.models import events_backends

        events_backends[event["account"]][event["region"]].put_events(
            [
                {
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Detail": json.dumps(event["detail"]),
                    "Resources": event["resources"],
                }
            ]
        )


def _iso_ms(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
