"""Reversible savings: scale ECS services to zero and stop RDS instances, recording exactly what changed, and
restore it on resume. Every resource is locked while it is changed (never one another capability holds), every
change and every refusal is a ledger record, and dry-run records the plan and changes nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deckwatch import clock, locks, metrics, observe
from deckwatch.actions import Executor
from deckwatch.cost.actions import RDS_HOURLY, fargate_hourly
from deckwatch.cost.errors import SavingsRefusedError
from deckwatch.errors import LockHeldError
from deckwatch.ledger import Action, Kind, Record

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.policy import LoadedPolicy
    from deckwatch.policy.model import Policy

LEASE_SECONDS = 900


class _Run:
    """One savings or resume run: who acts, under which id, and what it did."""

    def __init__(self, deps: Services, run_id: str, actor: str, dry_run: bool, execution: str | None) -> None:
        self.deps = deps
        self.loaded: LoadedPolicy = deps.policy()
        self.run_id = run_id
        self.actor = actor
        self.dry_run = dry_run or self.loaded.policy.dry_run
        self.execution = execution
        self.changed: list[dict[str, Any]] = []
        self.skipped: list[dict[str, Any]] = []
        self.executor = Executor(deps.clients, dry_run=self.dry_run)

    def intend(self, subject: str, action: Action) -> None:
        """Recorded before the call: if the ledger cannot be written, nothing is changed."""
        call = f"{action.service}:{action.operation}"
        self.record(subject, "intent", f"about to call {call}", action, kind="intent", outcome="pending")

    def call(self, subject: str, action: Action) -> None:
        """Make the call; one that got no answer is settled by reading the world (deckwatch.observe): applied
        counts as done. A failure is recorded with its outcome before it is raised."""
        try:
            self.executor.call(action.service, action.operation, **action.parameters)
        except Exception as exc:
            done = self.executor.performed[-1] if self.executor.performed else None
            if done is not None and done.action.operation == action.operation and done.outcome == "unknown":
                seen = observe.applied(self.deps.clients, action)
                if seen is not None:
                    self.executor.resolve(seen, "re-read")
                    done = self.executor.performed[-1]
            if done is not None and done.outcome == "done":
                return
            outcome = done.outcome if done is not None else "unknown"
            error = done.error if done is not None else f"{type(exc).__name__}: {exc}"
            self.record(
                subject, "action-failed", f"{action.service}:{action.operation}: {error}", action, outcome=outcome
            )
            raise

    def record(
        self, subject: str, decision: str, reason: str, action: Action | None, kind: Kind | None = None, **details: Any
    ) -> None:
        self.deps.ledger.append(
            Record(
                record_id=f"{self.run_id}:cost:{decision}:{subject}",
                environment=self.deps.settings.environment,
                capability="cost",
                subject=subject,
                kind=kind or ("action" if action is not None else "decision"),
                decision=decision,
                reason=reason,
                action=action,
                dry_run=self.dry_run,
                outcome=details.pop("outcome", None),
                policy_version=self.loaded.version,
                actor=self.actor,
                execution_arn=self.execution,
                details=details,
            )
        )

    def skip(self, resource: str, reason: str) -> None:
        self.skipped.append({"resource": resource, "reason": reason})
        self.record(resource, "skipped", reason, None)

    def lock(self, resource: str) -> bool:
        try:
            locks.acquire_or_record(
                self.deps.state.leases,
                self.deps.ledger,
                resource=resource,
                owner=self.run_id,
                capability="cost",
                environment=self.deps.settings.environment,
                lease_seconds=LEASE_SECONDS,
                event_id=self.run_id,
                policy_version=self.loaded.version,
            )
        except LockHeldError as held:
            self.skipped.append({"resource": resource, "reason": f"locked by {held.capability} ({held.holder})"})
            return False
        return True

    def result(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "changed": self.changed, "skipped": self.skipped}


# ------------------------------------------------------------------------------------------ save ---------------
def save(
    deps: Services,
    *,
    run_id: str,
    actor: str,
    dry_run: bool,
    approved: bool,
    anomaly_id: str | None,
    execution: str | None = None,
) -> dict[str, Any]:
    run = _Run(deps, run_id, actor, dry_run, execution)
    policy = run.loaded.policy
    if policy.environment == "prod" and not approved:
        run.record(f"savings/{policy.environment}", "refused", "production savings need an approval", None)
        raise SavingsRefusedError("production savings need an approval (cost.savings.mode: approve)")
    ecs, rds = deps.clients("ecs"), deps.clients("rds")
    for cluster, service in ecs_targets(policy):
        if not _under_maintenance(run, locks.resource_key("ecs", cluster, service), _services_of(policy, service)):
            _save_ecs(run, ecs, cluster, service, anomaly_id)
    for db in policy.cost.savings.rds_instances:
        if not _under_maintenance(run, locks.resource_key("rds", db), []):
            _save_rds(run, rds, db, anomaly_id)
    return run.result()


def _services_of(policy: Policy, ecs_service: str) -> list[str]:
    """service:<name> of the policy services one of whose colours is `ecs_service`."""
    return [
        f"service:{s.name}"
        for s in policy.services
        if s.ecs is not None and ecs_service in (s.ecs.services.blue, s.ecs.services.green)
    ]


def _under_maintenance(run: _Run, key: str, aliases: list[str]) -> bool:
    """A resource under planned maintenance is left alone (skipped, with the maintenance, in the ledger)."""
    from deckwatch import maintenance

    under = maintenance.covering(run.deps, [key, *aliases])
    if under is None:
        return False
    run.skipped.append({"resource": key, "reason": under.describe()})
    run.record(key, "skipped", under.describe(), None, maintenance=under.doc())
    return True


def ecs_targets(policy: Policy) -> list[tuple[str, str]]:
    """(cluster, ECS service) pairs savings act on: both colours of each policy service, then the listed ones."""
    out: list[tuple[str, str]] = []
    for name in policy.cost.savings.services:
        svc = policy.service(name)
        if svc is not None and svc.ecs is not None:
            out += [(svc.ecs.cluster, str(getattr(svc.ecs.services, c))) for c in ("blue", "green")]
    out += [(ref.cluster, ref.service) for ref in policy.cost.savings.ecs_services]
    return list(dict.fromkeys(out))


def _save_ecs(run: _Run, ecs: Any, cluster: str, service: str, anomaly_id: str | None) -> None:
    key = locks.resource_key("ecs", cluster, service)
    found = ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
    svc = next((s for s in found if s.get("status") == "ACTIVE"), None)
    if svc is None:
        run.skip(key, "no such active ECS service")
        return
    desired = int(svc["desiredCount"])
    if desired == 0:
        run.skip(key, "already at zero tasks")
        return
    td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
    hourly = fargate_hourly(td.get("cpu"), td.get("memory"), desired)
    action = Action(
        service="ecs", operation="UpdateService", parameters={"cluster": cluster, "service": service, "desiredCount": 0}
    )
    change = {
        "kind": "ecs",
        "cluster": cluster,
        "service": service,
        "previous_desired_count": desired,
        "estimated_hourly_usd": hourly,
    }
    _apply(run, key, action, change, anomaly_id)


def _save_rds(run: _Run, rds: Any, db: str, anomaly_id: str | None) -> None:
    key = locks.resource_key("rds", db)
    try:
        inst = rds.describe_db_instances(DBInstanceIdentifier=db)["DBInstances"][0]
    except rds.exceptions.DBInstanceNotFoundFault:
        run.skip(key, "no such RDS instance")
        return
    status = inst.get("DBInstanceStatus")
    if status != "available":
        run.skip(key, f"instance is {status}, not available")
        return
    action = Action(service="rds", operation="StopDBInstance", parameters={"DBInstanceIdentifier": db})
    change = {
        "kind": "rds",
        "db_instance": db,
        "previous_status": status,
        "instance_class": inst.get("DBInstanceClass"),
        "estimated_hourly_usd": RDS_HOURLY.get(str(inst.get("DBInstanceClass"))),
    }
    _apply(run, key, action, change, anomaly_id)


def _apply(run: _Run, key: str, action: Action, change: dict[str, Any], anomaly_id: str | None) -> None:
    what = "scale to zero" if change["kind"] == "ecs" else "stop"
    if run.dry_run:
        holder = run.deps.state.leases.holder(key)
        note = f" (would be refused: locked by {holder['capability']})" if holder else ""
        run.changed.append({"resource": key, "planned": True, **change})
        run.record(key, "planned", f"dry-run: would {what}{note}", action, outcome="planned", change=change)
        return
    if not run.lock(key):
        return
    try:
        change = change | {"execution": run.run_id, "stopped_at": clock.iso(), "anomaly_id": anomaly_id}
        run.intend(key, action)
        if not run.deps.state.savings.save(key, change):
            run.skip(key, "already stopped by an earlier savings action (resume restores that one)")
            return
        run.call(key, action)
        hourly = change.get("estimated_hourly_usd")
        metrics.emit(
            run.deps.settings,
            {"SavingsActions": 1, "SavingsHourlyUsd": hourly if isinstance(hourly, int | float) else None},
            Kind=str(change["kind"]),
        )
        run.changed.append({"resource": key, **change})
        run.record(
            key,
            "scaled-to-zero" if change["kind"] == "ecs" else "stopped",
            f"reversible savings: {what}",
            action,
            outcome="done",
            change=change,
        )
    finally:
        run.deps.state.leases.release(key, run.run_id)


# ------------------------------------------------------------------------------------------ resume -------------
def resume(
    deps: Services,
    *,
    run_id: str,
    actor: str,
    resources: list[str] | None,
    dry_run: bool = False,
    execution: str | None = None,
) -> dict[str, Any]:
    """Restore what savings actions changed (all of it, or `resources`: resource keys like ecs:<cluster>/<svc>)."""
    run = _Run(deps, run_id, actor, dry_run, execution)
    saved = deps.state.savings.all()
    wanted = list(saved) if resources is None else resources
    ecs = rds = None
    for key in wanted:
        change = saved.get(key)
        if change is None:
            run.skip(key, "not stopped by Deckwatch: nothing recorded to restore")
            continue
        if change["kind"] == "ecs":
            ecs = ecs or deps.clients("ecs")
            _resume_ecs(run, ecs, key, change)
        else:
            rds = rds or deps.clients("rds")
            _resume_rds(run, rds, key, change)
    return run.result()


def _hours(change: dict[str, Any]) -> float:
    from datetime import datetime

    started = datetime.fromisoformat(str(change.get("stopped_at", clock.iso())).replace("Z", "+00:00"))
    return round(max(0.0, (clock.now() - started).total_seconds() / 3600), 2)


def _restore(run: _Run, key: str, change: dict[str, Any], action: Action, needed: bool = True) -> None:
    hours = _hours(change)
    hourly = change.get("estimated_hourly_usd")
    saved_usd = round(hours * hourly, 2) if isinstance(hourly, int | float) else None
    if run.dry_run:
        run.changed.append({"resource": key, "planned": True, **action.parameters})
        run.record(key, "planned", "dry-run: would restore", action, outcome="planned", change=change)
        return
    if not run.lock(key):
        return
    try:
        if needed:
            run.intend(key, action)
            run.call(key, action)
        run.deps.state.savings.forget(key)
        metrics.emit(run.deps.settings, {"Resumes": 1, "SavingsUsd": saved_usd}, Kind=str(change.get("kind", "ecs")))
        run.changed.append(
            {"resource": key, **action.parameters, "hours_stopped": hours, "estimated_savings_usd": saved_usd}
        )
        run.record(
            key,
            "restored",
            f"resumed after {hours:.1f} h",
            action,
            outcome="done",
            change=change,
            hours_stopped=hours,
            estimated_savings_usd=saved_usd,
        )
    finally:
        run.deps.state.leases.release(key, run.run_id)


def _resume_ecs(run: _Run, ecs: Any, key: str, change: dict[str, Any]) -> None:
    cluster, service, previous = change["cluster"], change["service"], int(change["previous_desired_count"])
    action = Action(
        service="ecs",
        operation="UpdateService",
        parameters={"cluster": cluster, "service": service, "desiredCount": previous},
    )
    found = ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
    current = next((int(s["desiredCount"]) for s in found if s.get("status") == "ACTIVE"), None)
    if current is None:
        run.skip(key, "the ECS service is gone: nothing to restore")
        run.deps.state.savings.forget(key)
        return
    if current != 0:
        run.skip(key, f"someone set {current} tasks since: left as is")
        if not run.dry_run:
            run.deps.state.savings.forget(key)
        return
    _restore(run, key, change, action)


def _resume_rds(run: _Run, rds: Any, key: str, change: dict[str, Any]) -> None:
    db = change["db_instance"]
    action = Action(service="rds", operation="StartDBInstance", parameters={"DBInstanceIdentifier": db})
    try:
        status = rds.describe_db_instances(DBInstanceIdentifier=db)["DBInstances"][0].get("DBInstanceStatus")
    except rds.exceptions.DBInstanceNotFoundFault:
        run.skip(key, "the RDS instance is gone: nothing to restore")
        run.deps.state.savings.forget(key)
        return
    # RDS restarts a stopped instance by itself after 7 days: then there is nothing left to start
    _restore(run, key, change, action, needed=status == "stopped")


def describe(result: dict[str, Any], verb: str) -> str:
    lines = []
    for c in result["changed"]:
        if c.get("planned"):
            lines.append(f"  - {c['resource']}: would {verb} (dry-run)")
        elif c.get("kind") == "ecs":
            lines.append(f"  - {c['resource']}: {c['previous_desired_count']} task(s) -> 0")
        elif c.get("kind") == "rds":
            lines.append(f"  - {c['resource']}: stopped (was available)")
        elif "desiredCount" in c:
            lines.append(f"  - {c['resource']}: back to {c['desiredCount']} task(s)")
        else:
            lines.append(f"  - {c['resource']}: started")
    for s in result["skipped"]:
        lines.append(f"  - {s['resource']}: not changed ({s['reason']})")
    return "\n".join(lines) or "  (nothing)"
