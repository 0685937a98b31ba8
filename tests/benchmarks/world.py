"""The embedded AWS the reaction, storm and cost sections run in: one staging runtime (moto is process-wide, so one
per process) with a bench policy that covers every reaction (the cutover tests' services, the remediation tests'
rules, STORM_RESOURCES storm resources, the example policy's drills and cost), and call tracing.

`traced(rt)` records, in order, every Lambda invocation and every AWS call the handlers make
(deckwatch.local.mock_services.faults.trace), each with the function's logical id: the critical paths and the
per-run counts are read from it, not written by hand.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from deckwatch.local.mock_services import faults
from deckwatch.local.runtime import LocalAWS
from support.remediation import policy_doc, staging_rules
from support.samples import REPO_ROOT

CUTOVER_POLICY = REPO_ROOT / "tests/cutover/policies/staging.yaml"
VCPU_MB = 1769  # Lambda gives one vCPU at 1,769 MB (Lambda Developer Guide, "Configuring memory", 2026-12-02)


@lru_cache(maxsize=1)
def _memory() -> tuple[int, dict[str, int]]:
    from support.workload_cfn import load_template

    doc = load_template(REPO_ROOT / "template.yaml")
    default = int(doc.get("Globals", {}).get("Function", {}).get("MemorySize", 128))
    sized = {
        name: int(r["Properties"]["MemorySize"])
        for name, r in doc["Resources"].items()
        if isinstance(r, dict)
        and r.get("Type") == "AWS::Serverless::Function"
        and isinstance(r["Properties"].get("MemorySize"), int)
    }
    return default, sized


def memory_mb(function: str) -> int:
    """A function's MemorySize in template.yaml (its own, else the Globals'): its CPU share and GB-seconds."""
    default, sized = _memory()
    return sized.get(function, default)


def cpu_scale(function: str) -> float:
    """How much slower than one vCPU (this machine's core) the function's init and compute run."""
    return VCPU_MB / memory_mb(function) if memory_mb(function) < VCPU_MB else 1.0


def storm_rules(resources: int) -> list[dict[str, Any]]:
    return [
        {
            "alarm": {"name": f"bench-cpu-{i:04d}"},
            "runbook": "ecs_scale_out",
            "parameters": {"cluster": "bench", "service": f"bench-svc-{i:04d}", "step": 1},
            "bounds": {"max_tasks": 10},
            "verify_minutes": 5,
        }
        for i in range(resources)
    ]


def bench_policy(path: Path, storm_resources: int) -> Path:
    example = policy_doc(rules=staging_rules() + storm_rules(storm_resources))
    doc = yaml.safe_load(CUTOVER_POLICY.read_text(encoding="utf-8"))
    doc["remediation"] = example["remediation"] | {"max_actions_per_hour": 1000}
    for key in ("drills", "cost", "notifications"):
        if key in example:
            doc.setdefault(key, example[key])
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@contextmanager
def runtime(workdir: Path, storm_resources: int) -> Iterator[LocalAWS]:
    workdir.mkdir(parents=True, exist_ok=True)
    rt = LocalAWS(REPO_ROOT, environment="staging", policy_file=bench_policy(workdir / "policy.yaml", storm_resources))
    rt.start()
    try:
        yield rt
    finally:
        rt.stop()


@dataclass
class Trace:
    """What a traced run did, in order: ("invoke", function) and ("call", function, service, operation)."""

    steps: list[tuple[str, ...]] = field(default_factory=list)
    invocation_seconds: list[tuple[str, float]] = field(default_factory=list)  # (function, real seconds)

    def invocations(self) -> list[str]:
        return [s[1] for s in self.steps if s[0] == "invoke"]

    def calls(self) -> list[tuple[str, str, str]]:
        return [(s[1], s[2], s[3]) for s in self.steps if s[0] == "call"]


@contextmanager
def traced(rt: LocalAWS) -> Iterator[Trace]:
    """Record the handlers' invocations and calls while the block runs (merged in order afterwards)."""
    trace = Trace()
    marks: list[tuple[int, str]] = []
    original = rt.runner.run
    logical = {name: fn["logical_id"] for name, fn in rt.functions.items()}

    def run(code_dir: Any, handler: str, env: dict[str, str], event: Any, ctx: Any) -> Any:
        name = logical.get(env.get("AWS_LAMBDA_FUNCTION_NAME", ""), env.get("AWS_LAMBDA_FUNCTION_NAME", "?"))
        marks.append((len(faults._state().traced or []), name))
        started = time.perf_counter()
        try:
            return original(code_dir, handler, env, event, ctx)
        finally:
            trace.invocation_seconds.append((name, time.perf_counter() - started))

    rt.runner.run = run  # type: ignore[method-assign]
    faults.trace(True)
    try:
        yield trace
    finally:
        calls = faults.trace(False)
        rt.runner.run = original  # type: ignore[method-assign]
        at = 0
        for i, call in enumerate(calls):
            while at < len(marks) and marks[at][0] <= i:
                trace.steps.append(("invoke", marks[at][1]))
                at += 1
            trace.steps.append(("call", logical.get(call.function, call.function), call.service, call.operation))
        trace.steps.extend(("invoke", name) for _, name in marks[at:])
