"""An alarm storm through the embedded AWS: `resources` alarms go to ALARM (their real events), then the same ALARM
events again and again until `events` have been delivered, in waves (the local runtime settles each wave within
its real-time budget). Two traced phases: the first event per resource (which acts), then the duplicates (which
must only join the open incident), so that writes per duplicate are counted on their own.

Reuses the remediation tests' machinery (support.remediation: alarm events, put_events). What is measured here is
the control plane's logic under load (exactly one action per resource; writes and invocations per event), and
events/second through moto, which is a floor for AWS (moto serialises everything in one process).
"""

from __future__ import annotations

import resource
import time
from collections import Counter
from typing import Any

from deckwatch.local.runtime import LocalAWS
from support.remediation import alarm_event, put_events

from benchmarks.world import Trace, traced

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
WAVE = 500


def _writes(trace: Trace) -> int:
    return sum(1 for _, service, op in trace.calls() if service == "dynamodb" and op in WRITES)


def _by_call(trace: Trace, per: int) -> dict[str, float]:
    """Writes per duplicate event, by function and operation: where a duplicate's writes go."""
    found = Counter(f"{fn} {op}" for fn, service, op in trace.calls() if service == "dynamodb" and op in WRITES)
    return {k: round(v / per, 3) for k, v in found.most_common()} if per else {}


def _actions(trace: Trace) -> int:
    return sum(
        1
        for fn, service, op in trace.calls()
        if fn == "RemediationFunction" and (service, op) == ("ecs", "UpdateService")
    )


def run(rt: LocalAWS, events: int, resources: int) -> dict[str, Any]:
    ecs, cw = rt.client("ecs"), rt.client("cloudwatch")
    ecs.create_cluster(clusterName="bench")
    td = ecs.list_task_definitions(familyPrefix="shop-staging-web")["taskDefinitionArns"][0]
    names = [f"bench-cpu-{i:04d}" for i in range(resources)]
    for i in range(resources):
        ecs.create_service(
            cluster="bench", serviceName=f"bench-svc-{i:04d}", taskDefinition=td, desiredCount=1, launchType="FARGATE"
        )
    started = time.perf_counter()
    with traced(rt) as first:
        for i in range(0, resources, WAVE // 5):
            for name in names[i : i + WAVE // 5]:
                cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="Threshold Crossed: bench storm")
            rt.settle()
    first_s = time.perf_counter() - started
    duplicates = events - resources
    with traced(rt) as dups:
        for i in range(0, duplicates, WAVE):
            put_events(rt, [alarm_event(names[(i + j) % resources]) for j in range(min(WAVE, duplicates - i))])
            rt.settle()
    total_s = time.perf_counter() - started
    invocations = len(first.invocations()) + len(dups.invocations())
    writes = _writes(first) + _writes(dups)
    return {
        "events": events,
        "resources": resources,
        "actions": _actions(first) + _actions(dups),
        "real_seconds": round(total_s, 1),
        "events_per_second": round(events / total_s, 1),
        "first_events_per_second": round(resources / first_s, 1),
        "duplicate_events_per_second": round(duplicates / max(total_s - first_s, 1e-9), 1) if duplicates else None,
        "lambda_invocations_per_event": round(invocations / events, 3),
        "dynamodb_writes_per_event": round(writes / events, 3),
        "dynamodb_writes_per_duplicate": round(_writes(dups) / duplicates, 3) if duplicates else None,
        "dynamodb_writes_per_first_event": round(_writes(first) / resources, 2),
        "duplicate_writes_by_call": _by_call(dups, duplicates),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "note": "in-process embedded AWS (moto): events/s is moto's; peak memory is the whole process, moto included",
    }
