"""Which CodePipeline events concern a service the policy manages, and what they ask for."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deckwatch.decisions import decide
from deckwatch.events.pipeline import PipelineEvent

if TYPE_CHECKING:
    from deckwatch.context import Services

ABORTING_STATES = frozenset({"FAILED", "STOPPED", "SUPERSEDED", "CANCELED"})


def triage(event: PipelineEvent, deps: Services) -> dict[str, Any]:
    policy = deps.policy().policy
    d = event.detail
    mapped = [s for s in policy.services if any(t.pipeline == d.pipeline for t in s.triggers)]
    if not mapped:
        return decide(
            deps,
            event,
            capability="cutover",
            subject=f"pipeline/{d.pipeline}",
            decision="ignored",
            reason=f"pipeline {d.pipeline} is not mapped to a service in {policy.environment}",
        )
    names = [s.name for s in mapped]
    if event.detail_type.endswith("Action Execution State Change"):
        starts = [s.name for s in mapped if any(t.action == d.action and t.state == d.state for t in s.triggers)]
        if starts:
            return decide(
                deps,
                event,
                capability="cutover",
                subject=f"service/{starts[0]}",
                decision="cutover-requested",
                reason=f"{d.pipeline}/{d.action} {d.state} starts a cutover of {', '.join(starts)}",
                details={
                    "services": starts,
                    "execution_id": d.execution_id,
                    "artifacts": [a.model_dump() for a in d.output_artifacts],
                },
            )
        if d.type is not None and d.type.category == "Approval" and d.state == "STARTED":
            return decide(
                deps,
                event,
                capability="cutover",
                subject=f"service/{names[0]}",
                decision="approval-pending",
                reason=f"{d.pipeline}/{d.action} awaits approval for {', '.join(names)}",
                details={"services": names, "execution_id": d.execution_id},
            )
    elif event.detail_type.endswith("Pipeline Execution State Change") and d.state in ABORTING_STATES:
        return decide(
            deps,
            event,
            capability="cutover",
            subject=f"service/{names[0]}",
            decision="abort-requested",
            reason=f"pipeline execution {d.execution_id} {d.state}: abort its cutovers",
            details={"services": names, "execution_id": d.execution_id},
        )
    return decide(
        deps,
        event,
        capability="cutover",
        subject=f"pipeline/{d.pipeline}",
        decision="ignored",
        reason=f"{event.detail_type} {d.state} starts nothing",
    )
