"""Cost alerts delivered by SNS to the cost-alerts topic: Cost Anomaly Detection IMMEDIATE alerts (JSON, with
`dimensionalValue`) and AWS Budgets notifications (plain text).

The Lambda SNS event is first flattened into an intake document whose `id` is the SNS MessageId (so the shared
intake dedupes redeliveries, and a malformed message is rejected into the ledger and the DLQ like any event).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from deckwatch.cost import attribution, budgets, costs
from deckwatch.decisions import record_decision
from deckwatch.events.cost import AnomalyDetail

if TYPE_CHECKING:
    from deckwatch.context import Services


def flatten(event: Any) -> Any:
    """Lambda SNS event -> {"id", "source", "resources", "subject", "message", "timestamp"}; a delivery that is not
    one SNS record -> {"id", "source", "problem", "delivery"}, which the intake rejects with that reason (ledger
    and DLQ)."""
    if not isinstance(event, dict):
        return event
    records = event.get("Records")
    if not isinstance(records, list) or len(records) != 1 or not isinstance(records[0], dict):
        what = f"{len(records)} records" if isinstance(records, list) else "no Records list"
        shape = "a record that is not an object" if isinstance(records, list) and len(records) == 1 else what
        return {
            "id": _text(event.get("id")),
            "source": "aws.sns",
            "problem": f"an SNS delivery has one record, not {shape}",
            "delivery": event,
        }
    sns = records[0].get("Sns")
    if not isinstance(sns, dict):
        return {"id": None, "source": "aws.sns", "problem": "the SNS record has no Sns object", "delivery": event}
    return {
        "id": _text(sns.get("MessageId")),
        "source": "aws.sns",
        "resources": [sns["TopicArn"]] if isinstance(sns.get("TopicArn"), str) else [],
        "subject": sns.get("Subject"),
        "message": sns.get("Message"),
        "timestamp": sns.get("Timestamp"),
    }


def _text(value: Any) -> str | None:
    """An id, or None: the intake keys the rejection of a delivery without one by its content."""
    return value if isinstance(value, str) and value else None


class CostAlert(BaseModel):
    """One SNS cost alert, already recognised: `anomaly` or `budget` is set."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1)
    source: Literal["aws.sns"]
    resources: list[str] = Field(min_length=1)
    subject: str | None = None
    message: str = Field(min_length=1)
    timestamp: str | None = None
    kind: Literal["anomaly", "budget"]
    anomaly: AnomalyDetail | None = None
    budget: budgets.BudgetNotification | None = None

    @property
    def origin(self) -> tuple[str, str, str]:
        """(source, account, region): the account the alert is about (an anomaly's accountId, a budget's "AWS
        Account" line); Cost Anomaly Detection and Budgets have no region of their own."""
        account = (self.anomaly.model_extra or {}).get("accountId") if self.anomaly is not None else None
        if self.budget is not None:
            account = self.budget.account
        return self.source, str(account or ""), ""

    @property
    def origin_subject(self) -> str:
        if self.anomaly is not None:
            return f"anomaly/{self.anomaly.anomalyId}"
        return f"budget/{self.budget.budget_name}" if self.budget is not None else self.resources[0]

    @model_validator(mode="before")
    @classmethod
    def _recognise(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("problem"), str):
            raise ValueError(data["problem"])  # flatten's verdict on the delivery
        if not isinstance(data, dict) or not isinstance(data.get("message"), str):
            return data
        text = data["message"]
        stripped = text.lstrip()
        if stripped.startswith("{"):
            try:
                doc = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise ValueError(f"message looks like JSON but is not: {exc}") from None
            if not isinstance(doc, dict) or "anomalyId" not in doc:
                raise ValueError("JSON message is not a Cost Anomaly Detection alert (no anomalyId)")
            return data | {"kind": "anomaly", "anomaly": doc}
        if budgets.looks_like_budget(text, data.get("subject")):
            return data | {"kind": "budget", "budget": budgets.parse(text, data.get("subject"))}
        raise ValueError("message is neither a Cost Anomaly Detection alert nor an AWS Budgets notification")


def handle(alert: CostAlert, deps: Services) -> dict[str, Any]:
    from deckwatch.cost.anomalies import evaluate

    if alert.anomaly is not None:
        return evaluate(alert.anomaly, deps, event_id=alert.id, channel="sns")
    if alert.budget is None:  # the model guarantees one of them; keeps the type checker honest
        raise ValueError("empty alert")
    return on_budget(alert.budget, deps, event_id=alert.id)


def on_budget(note: budgets.BudgetNotification, deps: Services, *, event_id: str) -> dict[str, Any]:
    loaded = deps.policy()
    policy = loaded.policy
    env = policy.environment
    subject = f"budget/{note.budget_name}"
    who = attribution.attribute_budget(note.budget_name, env, policy.cost)
    details: dict[str, Any] = {"budget": note.model_dump(), "attributed_to": who.environment, "attribution": who.reason}
    decision, reason = "ignored", f"{who.reason}: that environment's stack handles it"
    if who.owner != "other":
        outlook = costs.month_outlook(costs.ce_client(deps), policy.cost) if who.owner == "ours" else None
        details["forecast"] = outlook
        level: Literal["warning", "critical"] = (
            "critical" if note.alert_type == "ACTUAL" and note.over_budget else "warning"
        )
        details["severity"] = level
        if who.owner == "ours" or policy.cost.notify_unattributed:
            _notify(deps, env, note, outlook, who.reason, level, unattributed=who.owner == "unknown")
        if who.owner == "ours":
            decision = "alerted"
            reason = f"{note.alert_type} {_amount(note.amount_usd)} against {_amount(note.budgeted_usd)} budgeted"
        else:
            decision, reason = "unattributed", f"{who.reason}; notified, not acted on"
    record_decision(
        deps, event_id=event_id, capability="cost", subject=subject, decision=decision, reason=reason, details=details
    )
    return {"capability": "cost", "subject": subject, "decision": decision, "reason": reason}


def _amount(value: float | None) -> str:
    return "an unknown amount" if value is None else f"${value:,.2f}"


def _notify(
    deps: Services,
    env: str,
    note: budgets.BudgetNotification,
    outlook: dict[str, Any] | None,
    why: str,
    level: Literal["warning", "critical"],
    unattributed: bool,
) -> None:
    threshold = (
        f"{note.threshold:g}% of the budget"
        if note.threshold_unit == "%" and note.threshold is not None
        else _amount(note.threshold)
    )
    lines = [
        f"AWS Budgets ({'unattributed' if unattributed else env}): {note.budget_name} crossed its "
        f"{note.alert_type} threshold of {threshold}.",
        f"{note.alert_type.title()} amount {_amount(note.amount_usd)}; budgeted {_amount(note.budgeted_usd)}"
        + (" - OVER BUDGET." if note.over_budget else "."),
        f"Attribution: {why}.",
    ]
    if outlook is not None:
        lines.append("Forecast: " + costs.describe_outlook(outlook))
    if note.unparsed:
        lines += ["", "Lines Deckwatch did not understand (verbatim):", *[f"  | {u}" for u in note.unparsed]]
    lines += ["", "What was done: notified only (budget alerts start no savings; anomalies do)."]
    deps.notifier.publish(
        subject=f"budget {note.budget_name}: {note.alert_type} {_amount(note.amount_usd)}",
        text="\n".join(lines),
        capability="cost",
        environment=env,
        severity=level,
        data={"budget": note.model_dump(), "forecast": outlook, "unattributed": unattributed},
    )
