"""The standing fault matrix: every workflow, every AWS call its handlers make (traced from a clean run), each of
{throttle, 5xx, AccessDenied, timeout-after-apply} x {transient, persistent}, each case in a fresh embedded AWS.
After each case the invariants below must hold; they read the world (listeners, services, state table, DB
instances, executions) and the ledger, never the code's own account of what it did.

- nothing left running: every execution ended (simulated time runs until it does)
- traffic whole: every production listener forwards 100% to one colour, and the traffic parameters say the same
- nothing stranded: no lease, watcher, approval or cutover control item of an ended execution; no incident left
  open/active/acted/verifying without a run
- no drill database left
- the ledger verifies (hash chains whole), and every change the world saw has its record: each applied mutating
  call on a workload service (ECS, ELBv2, RDS, Lambda aliases, Auto Scaling, Backup, SSM traffic parameters) made
  by a handler has an action record of that operation whose outcome is done or unknown
- never more traffic on a bad release than its step had when its alarm fired
- the triggering event was processed, or is in the DLQ
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from deckwatch import clock
from deckwatch.local import moto_patches
from deckwatch.local.mock_services import elbv2, faults
from deckwatch.local.runtime import ACCOUNT, REGION, LocalAWS, Report

KINDS = ("throttle", "5xx", "denied", faults.TIMEOUT_AFTER_APPLY)
PERSISTENT = 10**6
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
WORKLOAD_SERVICES = {"ecs", "elasticloadbalancingv2", "rds", "lambda", "applicationautoscaling", "backup", "ssm"}
# calls that change nothing the workload runs: invocations, tags, and a new task definition revision (immutable and
# inert until a service is updated to it, which is recorded)
WORKLOAD_NOT_CHANGES = {"Invoke", "CreateTags", "AddTagsToResource", "TagResource", "RegisterTaskDefinition"}


@dataclass
class Workflow:
    """One workflow of the matrix: how to start it on a fresh embedded AWS, and its own invariants."""

    name: str
    environment: str
    trigger: Callable[[LocalAWS], list[Report]]
    policy_file: Any = None
    approvals: str = "approve"
    checks: list[Callable[[LocalAWS, list[Report]], list[str]]] = field(default_factory=list)


@dataclass(frozen=True)
class Case:
    workflow: str
    function: str
    service: str
    operation: str
    kind: str
    persistent: bool

    @property
    def id(self) -> str:
        how = "persistent" if self.persistent else "transient"
        return f"{self.workflow}:{self.function.rsplit('-', 1)[-1]}:{self.service}:{self.operation}:{self.kind}:{how}"


@dataclass
class Result:
    case: Case
    problems: list[str]
    real_seconds: float
    injected: int
    simulated_seconds: float = 0.0

    @property
    def held(self) -> bool:
        return not self.problems


def baseline(rt: LocalAWS, wf: Workflow) -> tuple[list[tuple[str, str, str]], list[str]]:
    """A clean run: (function, service, operation) of every distinct call the workflow's handlers make, in
    first-call order, and what the invariants say about it (nothing, or the matrix would prove little)."""
    faults.trace()
    try:
        reports = wf.trigger(rt)
        rt.settle()
    finally:
        seen = faults.trace(on=False)
    out: list[tuple[str, str, str]] = []
    for t in seen:
        site = (t.function, t.service, t.operation)
        if site not in out:
            out.append(site)
    problems = invariants(rt, reports, seen)
    for check in wf.checks:
        problems += check(rt, reports)
    return out, problems


def cases(wf: Workflow, sites: list[tuple[str, str, str]]) -> list[Case]:
    return [
        Case(wf.name, fn, svc, op, kind, persistent)
        for fn, svc, op in sites
        for kind in KINDS
        for persistent in (False, True)
    ]


def selected(all_cases: list[Case], full: bool) -> list[Case]:
    """All of them when `full` (FAULT_MATRIX=full); else one per call site, kinds and durations in rotation.
    FAULT_MATRIX_ONLY=<text> keeps the cases whose id contains it (to re-run one finding)."""
    only = os.environ.get("FAULT_MATRIX_ONLY", "")
    if full:
        return [c for c in all_cases if only in c.id]
    per_site = 2 * len(KINDS)
    return [all_cases[i * per_site + (i % per_site)] for i in range(len(all_cases) // per_site)]


def run_case(rt: LocalAWS, wf: Workflow, case: Case) -> Result:
    """Run `case` on `rt` (a fresh embedded AWS) and check every invariant."""
    started, sim_started = time.monotonic(), rt.clock.simulated_seconds
    faults.inject(
        case.service, case.operation, case.kind, times=PERSISTENT if case.persistent else 1, caller=case.function
    )
    faults.trace()
    problems: list[str] = []
    reports: list[Report] = []
    try:
        reports = wf.trigger(rt)
        rt.settle()
    except Exception as exc:  # noqa: BLE001 - a harness failure is a finding of the case, not a crash of the run
        problems.append(f"the run itself failed: {type(exc).__name__}: {exc}")
    served = PERSISTENT - faults.pending_faults() if case.persistent else 1 - faults.pending_faults()
    traced = faults.trace(on=False)
    faults.clear_faults()
    problems += invariants(rt, reports, traced, deletes_fail=case.persistent and case.operation == "DeleteItem")
    for check in wf.checks:
        problems += check(rt, reports)
    return Result(case, problems, time.monotonic() - started, served, rt.clock.simulated_seconds - sim_started)


# ------------------------------------------------------------------------------------------ invariants --------
def invariants(
    rt: LocalAWS, reports: list[Report], traced: list[faults.Traced], deletes_fail: bool = False
) -> list[str]:
    """Every promise, after a case. `deletes_fail`: every DynamoDB delete of one function failed all run long
    (a refused one, or one applied whose answer never came: its caller failed either way)."""
    return [
        *nothing_running(),
        *traffic_whole(rt),
        *nothing_stranded(rt, traced, deletes_fail),
        *no_drill_database(rt, traced),
        *ledger_verifies(rt),
        *changes_recorded(rt, traced),
        *bad_release_bounded(),
        *events_accounted(reports),
    ]


def nothing_running() -> list[str]:
    return [
        f"execution {name} still {status}"
        for _, _, name, status in moto_patches.executions(ACCOUNT, REGION)
        if status not in TERMINAL
    ]


def _state_items(rt: LocalAWS) -> list[dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    de = TypeDeserializer()
    ddb = rt.client("dynamodb")
    items: list[dict[str, Any]] = []
    for page in ddb.get_paginator("scan").paginate(TableName=rt.physical["StateTable"]):
        items += [{k: de.deserialize(v) for k, v in raw.items()} for raw in page["Items"]]
    return items


# An item's expiry is the backstop when removing it is what keeps failing (DynamoDB refusing every DeleteItem of
# the run: no code can remove anything then; the failed execution alarms): a lease or a cutover's control record
# left that way is accepted if it expires on its own within the longest lease (a production cutover's: stable
# timeout, approval, every bake, the rollback window and an hour).
LEASE_BACKSTOP_SECONDS = 8 * 3600


def nothing_stranded(rt: LocalAWS, traced: Sequence[faults.Traced] = (), deletes_fail: bool = False) -> list[str]:
    now = clock.now_epoch()
    statuses = {}  # by ARN and by name (an incident names its execution by name)
    for _, arn, name, status in moto_patches.executions(ACCOUNT, REGION):
        statuses[arn] = statuses[name] = status
    running = {arn for arn, status in statuses.items() if status == "RUNNING"}
    release_failed = deletes_fail or any(t.operation == "DeleteItem" and not t.applied for t in traced)
    out = []
    for item in _state_items(rt):
        pk = str(item["pk"])
        expires = int(item.get("expires_at", 0))
        live = expires > now
        backstop = release_failed and expires - now <= LEASE_BACKSTOP_SECONDS
        if pk.startswith("lock#") and live and item.get("owner") not in running and not backstop:
            out.append(f"lease {pk} left by {item.get('owner')}")
        elif pk.startswith("watch#"):
            left = [w for w, v in (item.get("watchers") or {}).items() if int(v["expires_at"]) > now]
            if left:
                out.append(f"watchers left on {pk[6:]}: {left}")
        elif pk.startswith("approval#") and live:
            out.append(f"approval {pk} left pending")
        elif pk.startswith("cutover#") and item.get("execution") not in running and not (backstop and live):
            out.append(f"cutover control {pk} left by {item.get('execution')}")
        elif (
            pk.startswith("incident#")
            and item.get("status") in ("open", "active", "acted", "verifying")
            and item.get("execution") not in running
            # closing deletes the item: when every delete was refused, an incident whose run failed is the one the
            # next alarm takes over and the next OK closes (remediation.selection._dead)
            and not (release_failed and statuses.get(str(item.get("execution"))) in ("FAILED", "TIMED_OUT", "ABORTED"))
        ):
            out.append(f"incident {pk} stuck in {item.get('status')}")
    return out


def traffic_whole(rt: LocalAWS) -> list[str]:
    from deckwatch.cutover import colours

    out = []
    policy = rt.policy.policy
    elb, ssm = rt.client("elbv2"), rt.client("ssm")
    for svc in policy.services:
        if svc.alb is None:
            continue
        lb = elb.describe_load_balancers(Names=[svc.alb.load_balancer])["LoadBalancers"][0]["LoadBalancerArn"]
        listener = next(
            li for li in elb.describe_listeners(LoadBalancerArn=lb)["Listeners"] if li["Port"] == svc.alb.listener_port
        )
        names = {tg["TargetGroupArn"]: tg["TargetGroupName"] for tg in elb.describe_target_groups()["TargetGroups"]}
        groups = listener["DefaultActions"][0].get("ForwardConfig", {}).get("TargetGroups", [])
        weights = {names[g["TargetGroupArn"]]: int(g.get("Weight", 0)) for g in groups}
        if sorted(weights.values()) not in ([0, 100], [100]):
            out.append(f"{svc.name}: traffic split at the end: {weights}")
        by_colour = {c: weights.get(str(getattr(svc.alb.target_groups, c)), 0) for c in ("blue", "green")}
        base = colours.prefix(rt.environment, svc.name)
        params = ssm.get_parameters(Names=[f"{base}/blue", f"{base}/green"])["Parameters"]
        recorded = {p["Name"].rsplit("/", 1)[-1]: int(p["Value"]) for p in params}
        if recorded and recorded != by_colour:
            out.append(f"{svc.name}: traffic parameters {recorded} but the listener forwards {by_colour}")
    return out


def no_drill_database(rt: LocalAWS, traced: Sequence[faults.Traced] = ()) -> list[str]:
    """No drill database left; the one exception is a database RDS refused to delete every time it was asked
    (DeleteDBInstance denied for the whole run: nothing can delete it then), which the ledger must name as a
    clean-up left incomplete, so that a person is told."""
    rds = rt.client("rds")
    left = [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]]
    left += [c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]]
    deletes = [t for t in traced if t.operation in ("DeleteDBInstance", "DeleteDBCluster")]
    refused = bool(deletes) and not any(t.applied for t in deletes)
    told = refused and any(r["decision"] == "cleanup-incomplete" for r in _ledger_records(rt))
    return [f"drill database {name} left running" for name in left if "drill" in name and not told]


def _ledger_records(rt: LocalAWS) -> list[dict[str, Any]]:
    """Every record since the day before the world's clock started (by_time queries a day at a time)."""
    from deckwatch.ledger import Ledger

    since = datetime.fromtimestamp(rt.clock.time() - rt.clock.simulated_seconds - 86400, UTC).date().isoformat()
    return Ledger(rt.physical["LedgerTable"], client=rt.client("dynamodb")).by_time(since)


def ledger_verifies(rt: LocalAWS) -> list[str]:
    from deckwatch.ledger import Ledger, verify

    _, findings = verify(Ledger(rt.physical["LedgerTable"], client=rt.client("dynamodb")))
    return [f"ledger: {f.problem} {f.subject} {f.detail}" for f in findings]


def changes_recorded(rt: LocalAWS, traced: list[faults.Traced]) -> list[str]:

    applied = {
        (faults._norm(t.service), t.operation)
        for t in traced
        if t.applied
        and faults._norm(t.service) in WORKLOAD_SERVICES
        and moto_patches.is_mutating(t.operation)
        and t.operation not in WORKLOAD_NOT_CHANGES
    }
    records = _ledger_records(rt)
    recorded = {
        (faults._norm(r["action"]["service"]), r["action"]["operation"])
        for r in records
        if r.get("action")
        and r.get("outcome") not in ("failed", "throttled", "denied", "planned", "dry-run")
        and not r.get("dry_run")
    }
    return [f"{svc}:{op} applied with no record of it" for svc, op in sorted(applied - recorded)]


def bad_release_bounded() -> list[str]:
    out = []
    for tg, (at, weight) in elbv2.fired_at().items():
        for when, weights in elbv2.timeline():
            if when > at and weights.get(tg, 0) > weight:
                out.append(f"{tg} got {weights[tg]}% after its alarm fired at {weight}%")
    return out


def events_accounted(reports: list[Report]) -> list[str]:
    out = []
    for report in reports:
        failed = [i for i in report.invocations if i["status"] != "ok"]
        if failed and not report.dead_letters:
            out.append(f"{failed[0]['function']} failed ({failed[0]['error']}) and nothing reached the DLQ")
    return out
