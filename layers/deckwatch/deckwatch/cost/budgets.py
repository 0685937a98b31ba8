"""AWS Budgets notifications, as delivered by SNS: plain text, parsed line by line.

A line Deckwatch does not understand is kept verbatim in `unparsed` (shown in the alert), never dropped. The
budget name and the alert type (ACTUAL or FORECASTED) are required; the rest is best effort.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

_AMOUNT = r"\$?\s*(?P<amount>[0-9][0-9,]*(?:\.[0-9]+)?)\s*(?P<unit>%|USD)?"
_SENTENCE = re.compile(
    r"alert you when the (?P<type>ACTUAL|FORECASTED) (?P<what>[A-Za-z ]+?) associated with your "
    r"(?P<name>.+?) budget (?:is|are) greater than " + _AMOUNT,
    re.IGNORECASE,
)
_NOW = re.compile(r"The (?:ACTUAL|FORECASTED) .*? associated with this budget is " + _AMOUNT, re.IGNORECASE)
_SUBJECT = re.compile(r"AWS Budgets:\s*(?P<name>.+?)\s+has exceeded your alert threshold", re.IGNORECASE)
_FIELD = re.compile(r"^(?P<key>[A-Za-z][A-Za-z ]{1,40}?)\s*:\s*(?P<value>.*)$")
_IGNORED = re.compile(
    r"^(AWS Budget Notification\b.*|AWS Account\s+\d+.*|Dear AWS Customer,?|\[\d+\]\s*https?://\S+|"
    r"You can find additional details below.*|-+)$",
    re.IGNORECASE,
)


class BudgetNotification(BaseModel):
    model_config = ConfigDict(frozen=True)

    budget_name: str = Field(min_length=1)
    alert_type: Literal["ACTUAL", "FORECASTED"]
    budget_type: str | None = None
    budgeted_usd: float | None = None
    threshold: float | None = None
    threshold_unit: Literal["USD", "%"] = "USD"
    amount_usd: float | None = None  # the ACTUAL or FORECASTED amount that crossed the threshold
    notification_date: str | None = None
    account: str | None = None
    unparsed: list[str] = Field(default_factory=list)

    @property
    def threshold_usd(self) -> float | None:
        if self.threshold is None:
            return None
        if self.threshold_unit == "%":
            return None if self.budgeted_usd is None else round(self.budgeted_usd * self.threshold / 100.0, 2)
        return self.threshold

    @property
    def over_budget(self) -> bool:
        return self.amount_usd is not None and self.budgeted_usd is not None and self.amount_usd > self.budgeted_usd


def looks_like_budget(text: str, subject: str | None) -> bool:
    return bool(re.search(r"AWS Budget|Budget Name\s*:", text, re.IGNORECASE) or (subject and _SUBJECT.search(subject)))


def _number(text: str) -> tuple[float, str] | None:
    m = re.search(_AMOUNT, text)
    if not m:
        return None
    return float(m.group("amount").replace(",", "")), (m.group("unit") or "USD")


def parse(text: str, subject: str | None = None) -> BudgetNotification:
    """Raises ValueError (naming what is missing) when the text is not a budget notification."""
    fields: dict[str, object] = {}
    unparsed: list[str] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line or _IGNORED.match(line):
            if line.lower().startswith("aws budget notification"):
                fields["notification_date"] = line[len("AWS Budget Notification") :].strip() or None
            elif line.lower().startswith("aws account"):
                fields["account"] = line.split()[-1]
            continue
        if _sentence(line, fields):
            continue
        m = _FIELD.match(line)
        if m and _field(m.group("key").strip().lower(), m.group("value").strip(), fields):
            continue
        unparsed.append(raw.rstrip())
    if "budget_name" not in fields and subject and (s := _SUBJECT.search(subject)):
        fields["budget_name"] = s.group("name")
    missing = [k for k in ("budget_name", "alert_type") if k not in fields]
    if missing:
        raise ValueError(f"budget notification without {' and '.join(missing)}")
    return BudgetNotification.model_validate(fields | {"unparsed": unparsed})


def _sentence(line: str, fields: dict[str, object]) -> bool:
    matched = False
    if m := _SENTENCE.search(line):
        fields.setdefault("alert_type", m.group("type").upper())
        fields.setdefault("budget_name", m.group("name").strip())
        fields.setdefault("budget_type", m.group("what").strip().split()[0].title())
        fields.setdefault("threshold", float(m.group("amount").replace(",", "")))
        fields.setdefault("threshold_unit", "%" if m.group("unit") == "%" else "USD")
        matched = True
    if n := _NOW.search(line):
        fields.setdefault("amount_usd", float(n.group("amount").replace(",", "")))
        matched = True
    return matched


def _field(key: str, value: str, fields: dict[str, object]) -> bool:
    if key == "budget name" and value:
        fields["budget_name"] = value
    elif key == "budget type" and value:
        fields["budget_type"] = value
    elif key in ("alert type", "notification type") and value.upper() in ("ACTUAL", "FORECASTED"):
        fields["alert_type"] = value.upper()
    elif key in ("budgeted amount", "budget amount") and (n := _number(value)):
        fields["budgeted_usd"] = n[0]
    elif key == "alert threshold" and (n := _number(value)):
        fields["threshold"], fields["threshold_unit"] = n[0], ("%" if n[1] == "%" else "USD")
    elif key in ("actual amount", "forecasted amount", "current amount") and (n := _number(value)):
        fields["amount_usd"] = n[0]
        if key != "current amount":
            fields.setdefault("alert_type", key.split()[0].upper())
    else:
        return False
    return True
