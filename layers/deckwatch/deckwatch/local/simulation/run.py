"""Run the month: each environment in an embedded AWS of its own, one after another (moto's backends are
process-wide: one embedded AWS per process at a time), built from the workload stack (`world="workload"`) with the
simulation's policy of that environment. The plan's steps are put on the runtime's scheduler at their time; a
driver that is the runtime's `settle` loop plus the checks runs the month to its end, delivering every event as
EventBridge does and checking the promises (invariants.py) after each one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import tempfile
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deckwatch import clock
from deckwatch.local import moto_patches, simulation
from deckwatch.local.pipelines import Execution, Pipelines, Release
from deckwatch.local.simulation.invariants import OWN_SERVICES, Checker, Violation
from deckwatch.local.simulation.scenario import Step, clock_text, plan

TIMELINE = 40  # last events shown when a promise breaks
BAD = {"error_rate": 0.3, "latency_ms": 110.0}
SLOW = {"error_rate": 0.002, "latency_ms": 450.0}


class SimulationFailed(AssertionError):  # noqa: N818 - the month stopped: a promise broke
    def __init__(self, environment: str, violation: Violation, timeline: list[str], ledger: list[str]) -> None:
        text = "\n".join(
            [
                f"{environment}: {violation}",
                "",
                "last events:",
                *(f"  {line}" for line in timeline),
                "",
                "last ledger records:",
                *(f"  {line}" for line in ledger),
            ]
        )
        super().__init__(text)
        self.environment = environment
        self.violation = violation


@dataclass
class ReleaseRun:
    step: Step
    execution: Execution | None = None
    image: str = ""


@dataclass
class EnvResult:
    environment: str
    summary: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)


class EnvironmentRun:
    """One environment's month on one embedded AWS."""

    def __init__(
        self,
        runtime: Any,
        environment: str,
        steps: list[Step],
        seed: int,
        log: Callable[[str], None],
        postgres: Any = None,
    ) -> None:
        self.rt = runtime
        self.postgres = postgres  # the real PostgreSQL that serves restored drill databases (None: not validated)
        self.env = environment
        self.steps = steps
        self.seed = seed
        self.log = log
        # day 0 begins on the hour: the month's minutes (the traffic model's, the canary intervals) fall the same way
        # in every run, so a seed gives the same figures
        self.t0 = math.ceil(clock.now_epoch() / 3600) * 3600
        runtime.clock.advance_to(self.t0)
        self.timeline: deque[str] = deque(maxlen=TIMELINE)
        self.history: list[str] = []  # every line of the timeline (`deckwatch simulate --timeline`)
        self.checker = Checker(runtime)
        self.pipelines = Pipelines(runtime, emit=self._emit)
        self.releases: list[ReleaseRun] = []
        self.invocations: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.unattributed: list[str] = []
        self.attributed = 0  # world-changing calls of Deckwatch's invocations, each matched to its ledger record
        self.duplicates = self.late = 0
        self.rng = _Rng(f"{seed}:{environment}:deliveries")
        self._local = threading.local()
        self._since = self._last_ledger = clock.iso()
        self._dirty = False
        self._seen: set[str] = set()

    # ------------------------------------------------------------------ time and the timeline ---------------
    def now(self) -> str:
        return clock_text(clock.now_epoch() - self.t0)

    def note(self, text: str) -> None:
        line = f"{self.now()} {self.env:<7} {text}"
        self.timeline.append(line)
        self.history.append(line)

    # ------------------------------------------------------------------ hooks into the embedded AWS -----------
    def _hook(self) -> None:
        original_invoke = self.rt.invoke

        def invoke(function_name: str, event: Any) -> Any:
            self.invocations[self.rt.functions[function_name]["logical_id"]] += 1
            outer = getattr(self._local, "calls", None)
            self._local.calls = []
            since = clock.iso()
            try:
                return original_invoke(function_name, event)
            finally:
                calls, self._local.calls = self._local.calls, outer
                self._pending_calls.append((function_name, since, clock.iso(), calls))

        self.rt.invoke = invoke
        self._pending_calls: list[tuple[str, str, str, list[tuple[str, str]]]] = []

        def on_call(service: str, operation: str) -> None:
            self.calls[f"{service}:{operation}"] += 1
            calls = getattr(self._local, "calls", None)
            if calls is not None:
                calls.append((service, operation))

        moto_patches.HOOKS.on_call = on_call

    def _unhook(self) -> None:
        self.rt.__dict__.pop("invoke", None)
        runtime = moto_patches.HOOKS.runtime
        if runtime is not None and runtime is self.rt:
            moto_patches.HOOKS.on_call = runtime._on_call

    def _emit(self, event: dict[str, Any]) -> None:
        """The pipelines' events: most delivered at once, some twice, some late (out of order)."""
        d = event["detail"]
        what = d.get("action") or d.get("stage") or "pipeline"
        self.note(f"{d['pipeline']} {what} {d['state']}")
        draw = self.rng.random()
        if draw < 0.03:
            self.late += 1
            self.rt.scheduler.call_later(150, lambda: Pipelines._put_event(event), "a late delivery")
            return
        Pipelines._put_event(event)
        if draw < 0.08:
            self.duplicates += 1
            self.rt.scheduler.call_later(20, lambda: Pipelines._put_event(event), "a duplicate delivery")

    # ------------------------------------------------------------------ the driver ---------------------------
    def run(self) -> EnvResult:
        self._hook()
        pending = deque(sorted(self.steps, key=lambda s: s.at))
        try:
            while True:
                until = self.t0 + pending[0].at if pending else None
                self._drive(until)
                if not pending:
                    break
                step = pending.popleft()
                self.rt.clock.advance_to(self.t0 + step.at)  # nothing else before it: the traffic model rests
                self._action(step)()
                self._dirty = True
        except Violation as violation:
            raise SimulationFailed(self.env, violation, list(self.timeline), self._ledger_tail()) from None
        finally:
            self._unhook()
        ledger = self.rt.ledger_since(self._since)
        problems = self.checker.final(ledger, self._resume_list)
        problems += self.unattributed
        return EnvResult(self.env, self._summary(ledger), problems, self.history)

    def _drive(self, until: float | None) -> None:
        """The runtime's settle loop with a check after every event, up to `until` (the next step of the plan): when
        nothing but the traffic model's minutes would happen before it, return (the month jumps to the step)."""
        rt, scheduler = self.rt, self.rt.scheduler
        dirty, self._dirty = self._dirty, False
        while True:
            scheduler.wait_quiet()
            if rt._queue:
                event = rt._queue.popleft()
                self._event(event)
                rt._deliver_follow_up(event)
                dirty = True
                continue
            if dirty:
                self._check()
                dirty = False
            if rt._quiet_moment():
                dirty = True
                continue
            if until is not None and not _busy_before(scheduler, until):
                return
            daemon = _next_is_daemon(scheduler)
            step = scheduler.advance()
            if step is False:
                return
            if callable(step):
                step()
            if not daemon:
                dirty = True

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("detail-type", "")
        if event.get("source") == "aws.codepipeline":
            return  # noted when emitted
        d = event.get("detail") or {}
        summary = d.get("alarmName") or d.get("name") or d.get("service") or d.get("status") or ""
        if isinstance(d.get("state"), dict):
            summary = f"{d.get('alarmName')} -> {d['state'].get('value')}"
        self.note(f"{event.get('source')} {kind} {summary}")

    def _check(self) -> None:
        records = self.rt.ledger_since(self._last_ledger)
        self._last_ledger = records[-1]["time"] if records else self._last_ledger
        fresh = [r for r in records if r["record_id"] not in self._seen]
        for r in fresh:
            self._seen.add(r["record_id"])
            if r["decision"] not in ("ignored",):
                self.note(f"ledger {r['capability']} {r['decision']}: {r.get('reason', '')[:110]}")
        self.checker.on_records(fresh)
        self._attribute(fresh)
        self.checker.check()

    def _attribute(self, records: list[dict[str, Any]]) -> None:
        """Invariant 5: every world-changing call of an invocation has its ledger record."""
        pending, self._pending_calls = self._pending_calls, []
        for function_name, since, until, calls in pending:
            during = [r for r in records if since <= r["time"] <= until]
            missing = Checker.unattributed(calls, during)
            self.attributed += sum(1 for service, _ in calls if service not in OWN_SERVICES) - len(missing)
            if missing:
                self.unattributed.append(f"{self.now()} {function_name}: {', '.join(missing)} without a ledger record")

    def _ledger_tail(self) -> list[str]:
        records = self.rt.ledger_since(self._since)[-15:]
        return [
            f"{clock_text(_epoch(r['time']) - self.t0)} {r['capability']} {r['subject']} {r['decision']}: "
            f"{r.get('reason', '')[:120]}"
            for r in records
        ]

    # ------------------------------------------------------------------ the plan's steps --------------------
    def _action(self, step: Step) -> Callable[[], None]:
        def act() -> None:
            handler = getattr(self, f"_do_{step.kind.replace('-', '_')}")
            self.note(f"** {step.kind} {json.dumps(step.params, sort_keys=True)}")
            handler(step)

        return act

    def _do_release(self, step: Step) -> None:
        from deckwatch.local.mock_services import traffic

        p = step.params
        service = p["service"]
        entry = self.rt.world["services"][service]
        commit = hashlib.sha1(f"{self.seed}:{self.env}:{p['n']}".encode()).hexdigest()  # noqa: S324 - a name
        release = Release(commit=commit)
        release.image = f"{entry['repository']}:{commit[:12]}-{p['n']}"
        quality = p.get("quality", "good")
        if quality in ("bad", "slow"):
            traffic.release(release.image, **(BAD if quality == "bad" else SLOW))
            if quality == "bad":
                self.checker.bad_images.add(release.image)
        if self.env == "prod":  # ApproveProd comes before the cutover there
            release.approval_after = 1800.0
        if p.get("approval") == "reject":
            release.approval = "reject"
        execution = self.pipelines.start(entry["pipeline"], release)
        run = ReleaseRun(step, execution, release.image)
        self.releases.append(run)
        if p.get("rollback_by_person"):
            self.rt.scheduler.call_later(p["rollback_by_person"], lambda: self._person_rollback(service), "person")
        if p.get("stack_update_at"):
            update = Step(step.at + p["stack_update_at"], self.env, "stack-update", {"change": "tags"})
            self.rt.scheduler.call_later(p["stack_update_at"], self._action(update), "stack update in a cutover")

    def _person_rollback(self, service: str) -> None:
        from deckwatch.local.commands.cutover import entry

        self.note(f"** a person runs `deckwatch rollback {service} --env {self.env}`")
        self.rt.client("events").put_events(
            Entries=[entry(service, self.env, "the checkout page looks wrong", "alice@example.com")]
        )

    def _do_stack_update(self, step: Step) -> None:
        from deckwatch.local import workload_world

        template = workload_world.template(self.rt.root)
        change = step.params["change"]
        revision = f"{int(clock.now_epoch() - self.t0)}"
        changed: dict[str, str] = {}
        for res in template["Resources"].values():
            tags = res.get("Properties", {}).get("Tags")
            if res["Type"] in ("AWS::ECS::Service", "AWS::ElasticLoadBalancingV2::TargetGroup") and isinstance(
                tags, list
            ):
                tags.append({"Key": "shop:revision", "Value": revision})
        if change == "supersede-api":
            template["Resources"]["ApiPipeline"]["Properties"]["ExecutionMode"] = "SUPERSEDED"
        if change == "health-check":
            changed["HealthCheckPath"] = "/livez" if step.at % 2 else "/healthz"
        status = workload_world.update_stack(self.rt, json.dumps(template), changed)
        self.note(f"shop-{self.env} update ({change}): {status}")

    def _do_cpu_storm(self, step: Step) -> None:
        from deckwatch.local.mock_services import traffic

        service, factor, minutes = step.params["service"], step.params["factor"], step.params["minutes"]
        traffic.surge(service, factor)
        self.rt.scheduler.call_later(minutes * 60, lambda: traffic.surge(service, 1.0), "the surge ends")

    def _do_storage_storm(self, step: Step) -> None:
        from deckwatch.local.mock_services import elbv2

        alarm = f"shop-{self.env}-db-free-storage-low"
        flaps, minutes = int(step.params["flaps"]), float(step.params["minutes"])
        for i in range(flaps):
            at = i * minutes * 60 / flaps
            self.rt.scheduler.call_later(at, lambda: elbv2.fire(alarm, "FreeStorageSpace below 10 GiB"), "storage")
            self.rt.scheduler.call_later(at + 240, lambda: _ok(alarm), "storage ok")

    def _do_rds_failover(self, step: Step) -> None:
        db = f"shop-{self.env}-db"
        for message, event_id, delay in (
            ("Multi-AZ instance failover started.", "RDS-EVENT-0013", 0.0),
            ("Multi-AZ instance failover completed.", "RDS-EVENT-0071", float(step.params["seconds"])),
        ):
            self.rt.scheduler.call_later(delay, lambda m=message, e=event_id: self._rds_event(db, m, e), "failover")

    def _rds_event(self, db: str, message: str, event_id: str) -> None:
        from moto.events.models import events_backends

        from deckwatch.local.runtime import ACCOUNT, REGION

        arn = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{db}"
        detail = {
            "EventCategories": ["failover"],
            "SourceType": "DB_INSTANCE",
            "SourceArn": arn,
            "Date": clock.iso(),
            "Message": message,
            "SourceIdentifier": db,
            "EventID": event_id,
            "Tags": {"environment": self.env},
        }
        events_backends[ACCOUNT][REGION].put_events(
            [
                {
                    "Source": "aws.rds",
                    "DetailType": "RDS DB Instance Event",
                    "Detail": json.dumps(detail),
                    "Resources": [arn],
                }
            ]
        )

    def _do_backup(self, step: Step) -> None:
        from datetime import timedelta

        from moto.backup.models import backup_backends

        from deckwatch.local.mock_services._backup_jobs import (
            BACKUP_ROLE,
            backend_state,
            emit_event,
            iso,
            start_backup_job,
        )
        from deckwatch.local.runtime import ACCOUNT, REGION

        backend = backup_backends[ACCOUNT][REGION]
        arn = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:shop-{self.env}-db"
        stale = float(step.params.get("stale_hours") or 0)
        params = {
            "BackupVaultName": self.rt.world["backup_vault"],
            "ResourceArn": arn,
            "IamRoleArn": BACKUP_ROLE.format(account=ACCOUNT),
        }
        self._snapshot_data(clock.now_epoch() - 300 - stale * 3600)
        job = start_backup_job(backend, params, emit=not stale)
        if not stale:
            return
        # a job that ran late: its recovery point (its snapshot) is `stale` hours old when the job completes
        kept = backend_state(backend)
        point, record = kept.points[job["RecoveryPointArn"]], kept.jobs[job["BackupJobId"]]
        point["CreationDate"] = record["CreationDate"] = point["CreationDate"] - timedelta(hours=stale)
        vault = backend.vaults[params["BackupVaultName"]]
        emit_event(
            backend,
            "Backup Job State Change",
            [job["RecoveryPointArn"]],
            {
                "backupJobId": job["BackupJobId"],
                "backupVaultArn": vault.backup_vault_arn,
                "backupVaultName": vault.backup_vault_name,
                "creationDate": iso(record["CreationDate"]),
                "completionDate": iso(record["CompletionDate"]),
                "resourceArn": arn,
                "resourceType": record["ResourceType"],
                "state": "COMPLETED",
                "statusMessage": "",
                "percentDone": 100.0,
                "iamRoleArn": params["IamRoleArn"],
            },
        )

    def _snapshot_data(self, taken_at: float) -> None:
        """What a recovery point taken at `taken_at` (simulated) holds: the shop's data, the newest order a minute
        older. The PostgreSQL that serves restored copies keeps wall-clock time; the month's clock is ahead of it."""
        if self.postgres is None:
            return
        behind = time.time() - (taken_at - 60)
        self.postgres.load_fixture(newest=f"{behind:.0f} seconds")

    def _do_cost_anomaly(self, step: Step) -> None:
        from moto.events.models import events_backends

        from deckwatch.local.runtime import ACCOUNT, REGION

        impact = float(step.params["impact"])
        anomaly = str(uuid.UUID(hashlib.md5(f"{self.seed}{step.at}".encode()).hexdigest()))  # noqa: S324 - a name
        detail = {
            "accountName": f"shop-{self.env}",
            "accountId": ACCOUNT,
            "anomalyId": anomaly,
            "anomalyStartDate": clock.now().strftime("%Y-%m-%dT00:00:00Z"),
            "anomalyEndDate": clock.now().strftime("%Y-%m-%dT00:00:00Z"),
            "anomalyScore": {"currentScore": 0.91, "maxScore": 0.93},
            "dimensionValue": "Amazon Elastic Container Service",
            "impact": {
                "maxImpact": impact * 0.6,
                "totalActualSpend": impact * 2.4,
                "totalExpectedSpend": impact * 1.4,
                "totalImpact": impact,
                "totalImpactPercentage": 71,
            },
            "monitorArn": f"arn:aws:ce::{ACCOUNT}:anomalymonitor/{anomaly}",
            "monitorName": f"shop-{self.env}-services",
            "rootCauses": [
                {
                    "linkedAccount": ACCOUNT,
                    "region": REGION,
                    "service": "Amazon Elastic Container Service",
                    "usageType": "USE1-Fargate-vCPU-Hours:perCPU",
                    "impact": {"contribution": impact},
                }
            ],
        }
        events_backends[ACCOUNT][REGION].put_events(
            [{"Source": "aws.ce", "DetailType": "Anomaly Detected", "Detail": json.dumps(detail), "Resources": []}]
        )

    def _do_resume(self, step: Step) -> None:
        """A person, in the morning: `deckwatch resume --env staging`."""
        from deckwatch.cost import savings

        with self.rt.control_plane() as deps:
            stopped = deps.state.savings.all()
            self.note(f"** a person runs `deckwatch resume --env {self.env}`: {len(stopped)} stopped")
            if stopped:
                run_id = f"cli-resume-{uuid.uuid4().hex[:12]}"
                result = savings.resume(deps, run_id=run_id, actor="bob@example.com", resources=None)
                self.note(savings.describe(result, "restore").splitlines()[0][:140])

    def _do_policy_change(self, step: Step) -> None:
        """`deckwatch policy push`: the policy's new version in SSM (read by the functions within a minute)."""
        import yaml

        from deckwatch.policy import parse

        doc = yaml.safe_load(simulation.policy(self.env).read_text(encoding="utf-8"))
        for svc in doc["services"]:
            if svc["name"] == step.params["service"]:
                svc["rollout"]["steps"] = step.params["steps"]
                svc["rollout"]["bake_minutes"] = step.params["bake_minutes"]
        text = yaml.safe_dump(doc, sort_keys=False)
        parse(text, f"{self.env}.yaml")  # validated first, as `policy push` does
        self.rt.client("ssm").put_parameter(
            Name=f"/deckwatch/{self.env}/policy", Value=text, Type="SecureString", Overwrite=True
        )

    def _resume_list(self) -> dict[str, Any]:
        with self.rt.control_plane() as deps:
            return dict(deps.state.savings.all())

    # ------------------------------------------------------------------ the summary ------------------------
    def _summary(self, ledger: list[dict[str, Any]]) -> dict[str, Any]:
        return summarise(self, ledger)


def summarise(run: EnvironmentRun, ledger: list[dict[str, Any]]) -> dict[str, Any]:
    by_execution: dict[str, list[dict[str, Any]]] = {}
    for r in ledger:
        if r.get("execution_arn"):
            by_execution.setdefault(r["execution_arn"], []).append(r)
    releases = []
    for rel in run.releases:
        e = rel.execution
        if e is None:
            continue
        outcome, reason, ttr, exposure = "", "", None, None
        for arn in e.cutovers:
            records = by_execution.get(arn, [])
            if not records:
                outcome, reason = "refused", "the cutover ended before its first record (a service the policy lacks?)"
            first_shift = next((_epoch(r["time"]) for r in records if r["decision"] == "shifted"), None)
            for r in records:
                if r["decision"] in ("completed", "rolled-back"):
                    outcome = r["decision"]
                    reason = r.get("reason", "")[:110]
                    if r["decision"] == "rolled-back":
                        ttr = (r.get("details") or {}).get("time_to_rollback_seconds")
                        if first_shift is not None:  # from its first traffic to all of it back
                            exposure = round(_epoch(r["time"]) - first_shift)
                elif r["decision"] == "planned" and r.get("dry_run"):
                    outcome, reason = "dry-run", "the policy's dry_run: planned, nothing changed"
                elif r["decision"] in ("refused", "failed") and not outcome:
                    outcome, reason = r["decision"], r.get("reason", "")[:110]
        if not e.cutovers:
            outcome = {"Failed": "not started", "Stopped": "stopped", "Superseded": "superseded"}.get(e.status, "")
        failed_at = next((h for h in reversed(e.history) if h["kind"] == "action" and h["state"] == "FAILED"), None)
        releases.append(
            {
                "n": rel.step.params["n"],
                "at": rel.step.when(),
                "service": rel.step.params["service"],
                "quality": rel.step.params.get("quality"),
                "pipeline": e.status,
                "failed_action": f"{failed_at['action']}: {failed_at['summary']}" if failed_at else None,
                "cutover": outcome,
                "reason": reason,
                "time_to_rollback_seconds": ttr,  # from what triggered it to 100% back on the stable colour
                "exposure_seconds": exposure,
            }
        )
    rem = [r for r in ledger if r["capability"] == "remediation"]
    incidents = {
        "opened": sum(1 for r in rem if r["decision"] == "runbook-selected"),
        "joined": sum(1 for r in rem if r["decision"] == "incident-joined"),
        "acted": sum(1 for r in rem if r["decision"] == "acted"),
        "mitigated": sum(1 for r in rem if r["decision"] == "incident-mitigated"),
        "escalated": sum(1 for r in rem if r["decision"] == "escalated"),
        "refused": sum(1 for r in rem if r["decision"] == "incident-refused"),
        # of those, refused because a cutover or a drill held the resource (the storms planned to meet them)
        "refused_locked": {
            holder: sum(
                1
                for r in rem
                if r["decision"] == "incident-refused" and str(r.get("reason", "")).startswith(f"locked by {holder} ")
            )
            for holder in ("cutover", "drills")
        },
        "unverified": sum(1 for r in rem if r["decision"] == "incident-unverified"),
        "failovers_noted": sum(1 for r in rem if r["decision"] in ("noted", "annotated")),
    }
    drills = []
    for r in ledger:
        if r["capability"] == "drills" and r.get("kind") == "report":
            d = r.get("details") or {}
            drills.append(
                {
                    "at": clock_text(_epoch(r["time"]) - run.t0),
                    "outcome": r.get("outcome"),
                    "rto_minutes": d.get("rto_minutes"),
                    "rpo_minutes": round(d["rpo_minutes"]) if d.get("rpo_minutes") is not None else None,
                    # whole minutes: the restored data's clock is the machine's, the month's is simulated
                    "reason": re.sub(
                        r"(\d+\.\d+) min", lambda m: f"{round(float(m.group(1)))} min", r.get("reason", "")
                    )[:100],
                }
            )
    restored = [r for r in ledger if r["capability"] == "cost" and r["decision"] == "restored"]
    savings = {
        "actions": sum(
            1 for r in ledger if r["capability"] == "cost" and r.get("kind") == "action" and r["decision"] != "restored"
        ),
        "resumed": len(restored),
        "hours_stopped": round(sum(float((r.get("details") or {}).get("hours_stopped") or 0) for r in restored), 1),
        "saved_usd": round(sum(float((r.get("details") or {}).get("estimated_savings_usd") or 0) for r in restored), 2),
    }
    executions = moto_patches.executions("123456789012", "us-east-1")
    transitions = _transitions(run.rt)
    dynamodb_writes = sum(
        n for k, n in run.calls.items() if k.split(":")[0] == "dynamodb" and not k.endswith(":CreateTable")
    )
    return {
        "releases": releases,
        "shipped": sum(1 for r in releases if r["cutover"] == "completed"),
        "rolled_back": sum(1 for r in releases if r["cutover"] == "rolled-back"),
        "incidents": incidents,
        "drills": drills,
        "savings": savings,
        "lambda_invocations": sum(run.invocations.values()),
        "invocations_by_function": dict(sorted(run.invocations.items())),
        "state_machine_executions": len(executions),
        "state_transitions": transitions,
        "dynamodb_writes": dynamodb_writes,
        "events": {"duplicated": run.duplicates, "late": run.late},
        "world_changing_calls": run.attributed,
        "checks": run.checker.checks,
    }


def _transitions(rt: Any) -> int:
    """States entered by every execution of the month (what Step Functions bills)."""
    return sum(e["transitions"] for e in rt._executions_since(set()))


def _ok(alarm: str) -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    from deckwatch.local.runtime import ACCOUNT, REGION

    backend = cloudwatch_backends[ACCOUNT][REGION]
    if backend.alarms[alarm].state_value != "OK":
        backend.set_alarm_state(alarm, "Threshold Crossed: FreeStorageSpace back above 10 GiB", "{}", "OK")


def _live(scheduler: Any) -> list[Any]:
    return [t for t in scheduler._timers if not t.cancelled and not (t.waiter and t.waiter.woken)]


def _busy_before(scheduler: Any, until: float) -> bool:
    """Something other than the traffic model's minutes is due before `until`."""
    return any(not t.daemon and t.when <= until for t in _live(scheduler))


def _next_is_daemon(scheduler: Any) -> bool:
    timers = [t for t in scheduler._timers if not t.cancelled and not (t.waiter and t.waiter.woken)]
    return bool(timers) and min(timers).daemon


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class _Rng:
    def __init__(self, seed: str) -> None:
        import random

        self._r = random.Random(seed)  # noqa: S311 - a simulation, not crypto

    def random(self) -> float:
        return self._r.random()


# ------------------------------------------------------------------ the month ------------------------------------
@dataclass
class Month:
    days: int
    seed: int
    results: list[EnvResult] = field(default_factory=list)
    real_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(not r.problems for r in self.results)


@contextlib.contextmanager
def _postgres(environments: tuple[str, ...]) -> Iterator[Any]:
    from deckwatch.local.mock_services import _postgres

    cluster = _postgres.Cluster.start() if _postgres.available() else None
    try:
        yield cluster
    finally:
        if cluster is not None:
            cluster.stop()


def simulate(
    root: Path,
    days: int = 30,
    seed: int = 1,
    environments: tuple[str, ...] = ("dev", "staging", "prod"),
    log: Callable[[str], None] = lambda text: None,
) -> Month:
    """The month, environment after environment. Raises SimulationFailed when a promise breaks."""
    from deckwatch.local.mock_services import backup, traffic
    from deckwatch.local.runtime import LocalAWS

    started = time.monotonic()
    month = Month(days, seed)
    steps = plan(days, seed, environments)
    reports = Path(tempfile.mkdtemp(prefix="deckwatch-month-"))
    with _postgres(environments) as cluster:
        for env in environments:
            mine = [s for s in steps if s.environment == env]
            log(f"{env}: {len(mine)} planned steps over {days} days")
            with LocalAWS(root, environment=env, policy_file=simulation.policy(env), world="workload") as rt:
                rt.extra_env["DECKWATCH_DRILL_REPORTS_DIR"] = str(reports / env)
                traffic.reset()
                traffic.reseed(seed)
                if cluster is not None:
                    cluster.load_fixture()
                    backup.serve_restores_from(
                        cluster.host, cluster.port, f"shop/{env}/db-drill", cluster.credentials(), cluster.ca_file
                    )
                run = EnvironmentRun(rt, env, mine, seed, log, postgres=cluster)
                month.results.append(run.run())
                log(f"{env}: done, {run.checker.checks} checks")
    month.real_seconds = time.monotonic() - started
    return month
