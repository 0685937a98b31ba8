"""Savings outside working hours: the cost capability's `cost.savings.working_hours` (the policy's window syntax)
decides, at each tick of a schedule (template.yaml CostActionsFunction `WorkingHours`, every 15 minutes), whether
to take the savings (nights and weekends: scale the listed ECS services to zero, stop the RDS instances) or to
resume them (working hours). The schedule fires whatever the time; the window decides, and the decision records
the window that allowed it.

Each stretch of closed (or open) time starts one execution of the cost-savings state machine, named after the
stretch (`savings-night-<when the window opens>`, `savings-day-<when it closes>`): later ticks of the same night
start nothing more, and a redelivered tick is the same execution. In the morning only what a night's execution
stopped is resumed: savings taken for a cost anomaly stay until a person resumes them. In 'approve' mode (and
always in production) each night asks for an approval; in 'notify' mode the schedule only records what it would do.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from deckwatch import clock, windows
from deckwatch.ledger import Record

if TYPE_CHECKING:
    from deckwatch.context import Services

NIGHT, DAY = "savings-night-", "savings-day-"


def tick(deps: Services) -> dict[str, Any]:
    loaded = deps.policy()
    policy = loaded.policy
    savings = policy.cost.savings
    if not savings.working_hours:
        return {"acted": False, "reason": "no cost.savings.working_hours in the policy"}
    now = clock.now()
    verdict = windows.check(savings.working_hours, now)
    env = policy.environment
    if verdict.open:
        stamp = windows.iso(verdict.closes_at or now).replace(":", "")
        name = f"{DAY}{stamp}"
        saved = deps.state.savings.all()
        resources = sorted(k for k, c in saved.items() if NIGHT in str(c.get("execution", "")))
        if not resources:
            return {"acted": False, "reason": "working hours: nothing the schedule stopped is waiting to resume"}
        request: dict[str, Any] = {"action": "resume", "resources": resources}
        decision, why = "resume-scheduled", f"working hours ({verdict.window}): resume {', '.join(resources)}"
    else:
        stamp = windows.iso(verdict.opens_at or now).replace(":", "")
        name = f"{NIGHT}{stamp}"
        if savings.mode == "notify":
            _record(
                deps,
                loaded.version,
                name,
                "notify-only",
                "outside working hours: notify mode takes no savings",
                verdict,
            )
            return {"acted": False, "reason": "notify mode"}
        request = {"action": "save", "approval": savings.mode == "approve" or env == "prod"}
        decision, why = (
            "savings-scheduled",
            f"outside working hours until {verdict.opens_at and windows.iso(verdict.opens_at)}",
        )
    request |= {
        "environment": env,
        "dryRun": policy.dry_run,
        "reason": why,
        "requestedBy": "schedule: cost.savings.working_hours",
    }
    sfn = deps.clients("stepfunctions")
    try:
        arn = sfn.start_execution(
            stateMachineArn=deps.settings.require("savings_state_machine_arn"), name=name, input=json.dumps(request)
        )["executionArn"]
    except sfn.exceptions.ExecutionAlreadyExists:
        return {"acted": False, "reason": f"{name} already started for this stretch"}
    _record(deps, loaded.version, name, decision, why, verdict, execution=arn)
    return {"acted": True, "execution": arn, "action": request["action"]}


def _record(
    deps: Services, version: str, name: str, decision: str, reason: str, verdict: windows.Verdict, execution: str = ""
) -> None:
    deps.ledger.append(
        Record(
            record_id=f"{name}:cost:{decision}",
            environment=deps.settings.environment,
            capability="cost",
            subject=f"savings/{deps.settings.environment}",
            kind="decision",
            decision=decision,
            reason=reason,
            execution_arn=execution or None,
            policy_version=version,
            actor="schedule",
            details={"window": verdict.doc()},
        )
    )
