"""Reaction times in AWS, estimated from the critical path of a traced run in the embedded AWS.

For each reaction, the run is traced (world.traced); the critical path is walked from the first invocation of the
function the triggering event reaches to the AWS call that is the reaction (ModifyListener, UpdateService,
StartRestoreJob, Publish), keeping only what is sequential in AWS: once a function hands off (StartExecution,
SendTask*), its later calls run beside the path, not on it; Step Functions transitions are counted from the
execution's own path and the state machine definitions. Each hop gets the per-hop latency of latencies.py; a
cold Lambda adds the sandbox start and the handler's init measured by cold_start.py, scaled to the CPU share of
the function's memory (Lambda gives one vCPU at 1,769 MB).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from deckwatch.local.runtime import LocalAWS, Report
from support.samples import EVENTS, REPO_ROOT, load_event

from benchmarks import latencies as lat
from benchmarks.world import Trace, cpu_scale, traced

HANDLER_COMPUTE = lat.Hop(0.01, 0.05, "assumed (handler CPU between calls, at 1 vCPU)")
HANDOFFS = {("sfn", "StartExecution"), ("sfn", "SendTaskSuccess"), ("sfn", "SendTaskFailure")}
GOAL_P50_WARM_S = 1.0
GOAL_P99_COLD_S = 3.0


def _norm(service: str) -> str:
    s = service.replace("-", "").lower()
    return {"elasticloadbalancingv2": "elbv2", "stepfunctions": "sfn"}.get(s, s)


def _asl() -> dict[str, dict[str, tuple[str, str | None]]]:
    """State machine (logical id) -> state name -> (type, task function logical id)."""
    out: dict[str, dict[str, tuple[str, str | None]]] = {}
    for path in (REPO_ROOT / "statemachines").glob("*.asl.json"):
        machine = "".join(p.capitalize() for p in path.name.removesuffix(".asl.json").split("_")) + "StateMachine"
        states: dict[str, tuple[str, str | None]] = {}

        def walk(doc: dict[str, Any], states: dict[str, tuple[str, str | None]] = states) -> None:
            for name, s in doc.items():
                text = json.dumps(s.get("Parameters", s.get("Arguments", {}))) + str(s.get("Resource", ""))
                found = re.search(r"\$\{(\w+)FunctionArn\}", text)
                states[name] = (s["Type"], f"{found.group(1)}Function" if found else None)
                for branch in s.get("Branches", []):
                    walk(branch["States"])

        walk(json.loads(path.read_text(encoding="utf-8"))["States"])
        out[machine] = states
    return out


def critical_path(
    trace: Trace, report: Report, start: str, target: tuple[str, str], resumes_after: str | None = None
) -> dict[str, Any]:
    """The sequential hops from `start`'s first invocation to the first `target` call on the chain."""
    machines = _asl()
    handoff_at: dict[str, dict[str, Any]] = {}
    paths: dict[str, list[dict[str, Any]]] = {}  # each function's branch: the hops that led to it, then its own
    chain: list[str] = []  # functions invoked on the path, in order
    pending: tuple[str, str] | None = None  # (function that handed off, "start" | "callback")
    cursor: dict[str, int] = {}
    for step in trace.steps:
        if step[0] == "invoke":
            fn = step[1]
            if not chain and fn == start:
                paths[fn] = [
                    {"hop": "EventBridge rule -> target", "kind": "eventbridge"},
                    {"hop": f"Lambda async invoke {fn}", "kind": "lambda", "function": fn, "async": True},
                ]
                chain.append(fn)
            elif chain and pending is not None:
                machine, execution = _execution_of(fn, report, machines)
                if machine is None:
                    continue
                path = execution["path"] if execution else []
                pos = cursor.get(machine)
                if pos is None:
                    resume = resumes_after if pending[1] == "callback" and resumes_after in path else None
                    pos = 0 if resume is None else _last(path, resume) + 1
                transitions = 0
                while pos < len(path):
                    transitions += 1
                    kind, task_fn = machines[machine].get(path[pos], ("?", None))
                    pos += 1
                    if kind == "Task" and task_fn == fn:
                        break
                cursor[machine] = pos
                branch = list(paths[pending[0]][: paths[pending[0]].index(handoff_at[pending[0]]) + 1])
                if pending[1] == "callback":
                    branch.append({"hop": "Step Functions task callback", "kind": "sfn_callback"})
                branch.append({"hop": f"{machine}: {transitions} transition(s)", "kind": "sfn", "n": transitions})
                branch.append({"hop": f"Lambda invoke {fn} (task)", "kind": "lambda", "function": fn, "async": False})
                paths[fn] = branch
                chain.append(fn)
                pending = None
            continue
        _, fn, service, operation = step
        if fn not in paths:
            continue
        svc = _norm(service)
        hop = {"hop": f"{svc}.{operation}", "kind": "api", "service": svc}
        paths[fn].append(hop)
        if (svc, operation) == target:
            return {"reached": True, "functions": _lineage(paths[fn]), "hops": paths[fn]}
        if (svc, operation) in HANDOFFS:
            handoff_at[fn] = hop
            pending = (fn, "start" if operation == "StartExecution" else "callback")
    return {"reached": False, "functions": chain, "hops": paths.get(chain[-1], []) if chain else []}


def _lineage(hops: list[dict[str, Any]]) -> list[str]:
    return [h["function"] for h in hops if h["kind"] == "lambda"]


def _last(path: list[str], name: str) -> int:
    return len(path) - 1 - path[::-1].index(name)


def _execution_of(
    fn: str, report: Report, machines: dict[str, dict[str, tuple[str, str | None]]]
) -> tuple[str | None, dict[str, Any] | None]:
    for execution in report.executions:
        machine = execution["state_machine"]
        if any(task == fn for _, task in machines.get(machine, {}).values()):
            return machine, execution
    return None, None


def estimate(path: dict[str, Any], cold_init_s: dict[str, float]) -> dict[str, Any]:
    """p50 with warm functions and p99 with every function on the path cold (the worst case the goal names); a
    function's init and compute are scaled to the CPU share of its MemorySize (template.yaml)."""
    scales = [cpu_scale(h["function"]) for h in path["hops"] if h["kind"] == "lambda"]
    p50_warm = p99_warm = p99_cold = p50_cold = 0.0
    for hop in path["hops"]:
        kind = hop["kind"]
        if kind == "eventbridge":
            h = lat.EVENTBRIDGE_DELIVERY
        elif kind == "sfn":
            h = lat.Hop(lat.SFN_TRANSITION.p50 * hop["n"], lat.SFN_TRANSITION.p99 * hop["n"], "")
        elif kind == "sfn_callback":
            h = lat.SFN_TASK_CALLBACK
        elif kind == "api":
            h = lat.api(hop["service"])
        else:  # lambda
            scale = cpu_scale(hop["function"])
            queue = lat.LAMBDA_ASYNC_QUEUE if hop["async"] else lat.Hop(0, 0, "")
            warm = lat.Hop(
                queue.p50 + lat.LAMBDA_WARM_INVOKE.p50 + HANDLER_COMPUTE.p50 * scale,
                queue.p99 + lat.LAMBDA_WARM_INVOKE.p99 + HANDLER_COMPUTE.p99 * scale,
                "",
            )
            init = cold_init_s.get(hop["function"], max(cold_init_s.values(), default=1.0)) * scale
            p50_warm += warm.p50
            p99_warm += warm.p99
            p50_cold += queue.p50 + lat.LAMBDA_COLD_SANDBOX.p50 + init + HANDLER_COMPUTE.p50 * scale
            p99_cold += queue.p99 + lat.LAMBDA_COLD_SANDBOX.p99 + init + HANDLER_COMPUTE.p99 * scale
            hop["p50_s"], hop["p99_s"] = round(warm.p50, 4), round(warm.p99, 4)
            hop["cold_init_s"] = round(init, 3)
            continue
        hop["p50_s"], hop["p99_s"] = round(h.p50, 4), round(h.p99, 4)
        p50_warm += h.p50
        p99_warm += h.p99
        p50_cold += h.p50
        p99_cold += h.p99
    return {
        "p50_warm_s": round(p50_warm, 3),
        "p99_warm_s": round(p99_warm, 3),
        "p50_cold_s": round(p50_cold, 3),
        "p99_cold_s": round(p99_cold, 3),
        "cpu_scale": [round(x, 2) for x in scales],
    }


# ------------------------------------------------------------------------------------------ the four runs -------
def _bake(rt: LocalAWS) -> Report:
    from deckwatch.local.mock_services import elbv2
    from support.cutover import console_input, image

    elbv2.bad_image(image("bench-bad"))
    try:
        return rt.start_execution(
            "CutoverStateMachine", console_input("staging-image.json", image=image("bench-bad")), name="bench-bake"
        )
    finally:
        elbv2.reset()
        elbv2.recover_alarms()


def _alarm(rt: LocalAWS) -> Report:
    from support.remediation import CPU_ALARM, alarm_event

    return rt.replay(alarm_event(CPU_ALARM))


def _backup(rt: LocalAWS) -> Report:
    from deckwatch.local.mock_services import backup
    from support.drills import DB_ARN

    b = rt.client("backup")
    job = b.start_backup_job(
        BackupVaultName=backup.SEED_VAULT, ResourceArn=DB_ARN, IamRoleArn="arn:aws:iam::123456789012:role/backup"
    )
    described = b.describe_backup_job(BackupJobId=job["BackupJobId"])
    event = load_event(EVENTS / "backup_events/backup-job-completed.json")
    event["resources"] = [job["RecoveryPointArn"]]
    event["detail"].update(
        backupJobId=job["BackupJobId"],
        backupVaultName=backup.SEED_VAULT,
        completionDate=described["CompletionDate"].strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    )
    return rt.replay(event)


def _anomaly(rt: LocalAWS) -> Report:
    event = load_event(EVENTS / "cost_events/anomaly-detected.json")
    event["detail"]["anomalyId"] = str(uuid.uuid4())
    return rt.replay(event)


# name -> (run, first function, the reaction's call, the callback state the path resumes after)
REACTIONS: dict[str, tuple[Callable[[LocalAWS], Report], str, tuple[str, str], str | None]] = {
    "alarm during bake -> listener restored": (_bake, "AlarmEventsFunction", ("elbv2", "ModifyListener"), "Bake"),
    "alarm -> remediating call": (_alarm, "AlarmEventsFunction", ("ecs", "UpdateService"), None),
    "backup job event -> restore started": (_backup, "BackupEventsFunction", ("backup", "StartRestoreJob"), None),
    "anomaly -> notification": (_anomaly, "CostEventsFunction", ("sns", "Publish"), None),
}


def measure(rt: LocalAWS, cold_init_s: dict[str, float]) -> tuple[dict[str, Any], dict[str, Trace]]:
    """Each reaction's traced run, path and estimate; the traces too (the cost model counts from them)."""
    out: dict[str, Any] = {}
    traces: dict[str, Trace] = {}
    for name, (run, start, target, resumes) in REACTIONS.items():
        error = None
        with traced(rt) as trace:
            try:
                report = run(rt)
            except Exception as exc:  # noqa: BLE001 - a reaction that cannot run here is reported, not fatal
                error, report = f"{type(exc).__name__}: {exc}", Report(event={}, environment=rt.environment)
        traces[name] = trace
        path = critical_path(trace, report, start, target, resumes)
        out[name] = {
            "reached": path["reached"],
            "error": error,
            "functions_on_path": path["functions"],
            "hops": path["hops"],
            "executions": [{"state_machine": e["state_machine"], "path": e["path"]} for e in report.executions],
            **estimate(path, cold_init_s),
        }
    return out, traces


def cold_inits(cold: dict[str, Any] | None) -> dict[str, float]:
    """Measured import + first invocation per handler (seconds, this machine), by the function's logical id."""
    if not cold:
        return {}
    return {
        "".join(p.capitalize() for p in name.split("_")) + "Function": r["total_ms"] / 1000
        for name, r in cold["handlers"].items()
        if name != "minimal"
    }
