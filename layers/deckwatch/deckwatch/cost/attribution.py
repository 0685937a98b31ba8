"""Which environment an anomaly or budget alert belongs to, which AWS services caused it, and how bad it is.

Attribution, most specific first: the environment's own anomaly monitor (name or ARN) or budget name; the
environment's cost-allocation tag value as the anomaly's dimension value (a monitor on the tag); then names that
mention another environment ("shop-prod-services") -> that environment's stack handles it. Anything else is
unattributed: recorded and notified, never acted on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from deckwatch.events.cost import AnomalyDetail
    from deckwatch.policy.model import Cost, CostThresholds

Severity = Literal["low", "medium", "high"]
RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2}
Owner = Literal["ours", "other", "unknown"]

_ENV_WORDS = {
    "dev": "dev",
    "development": "dev",
    "staging": "staging",
    "stage": "staging",
    "stg": "staging",
    "prod": "prod",
    "production": "prod",
    "prd": "prod",
}


@dataclass(frozen=True)
class Attribution:
    owner: Owner
    environment: str | None  # the environment the alert belongs to, when known
    reason: str


def severity(total_impact: float, percent: float | None, thresholds: CostThresholds) -> Severity:
    """high: both thresholds crossed; medium: one; low: neither."""
    crossed = (total_impact >= thresholds.absolute_usd) + (percent is not None and percent >= thresholds.percent)
    return ("low", "medium", "high")[crossed]


def environments_named(*texts: str | None) -> set[str]:
    """Environments whose name appears as a word in any of `texts` ("shop-prod-services" -> {"prod"})."""
    found = set()
    for text in texts:
        for word in re.split(r"[^a-z0-9]+", (text or "").lower()):
            if word in _ENV_WORDS:
                found.add(_ENV_WORDS[word])
    return found


def attribute_anomaly(detail: AnomalyDetail, environment: str, cost: Cost) -> Attribution:
    monitor = detail.monitorName or detail.monitorArn
    if cost.anomaly_monitor and cost.anomaly_monitor in (detail.monitorName, detail.monitorArn):
        return Attribution("ours", environment, f"monitor {monitor} is {environment}'s")
    tag = cost.allocation_tag or {}
    value = tag.get("value")
    if value and detail.dimensionValue and detail.dimensionValue.split("$")[-1] == value:
        return Attribution("ours", environment, f"cost-allocation tag {tag.get('key')}={value}")
    return _by_name(environment, f"monitor {monitor}", detail.monitorName, detail.dimensionValue)


def attribute_budget(budget_name: str, environment: str, cost: Cost) -> Attribution:
    if cost.budget and cost.budget == budget_name:
        return Attribution("ours", environment, f"budget {budget_name} is {environment}'s")
    return _by_name(environment, f"budget {budget_name}", budget_name)


def _by_name(environment: str, what: str, *names: str | None) -> Attribution:
    named = environments_named(*names)
    if len(named) == 1:
        other = next(iter(named))
        if other != environment:
            return Attribution("other", other, f"{what} belongs to {other}")
        # names this environment, but is not the one the policy declares: worth a person's look, not an action
        return Attribution("unknown", None, f"{what} names {environment} but is not the one in its policy")
    return Attribution("unknown", None, f"{what} matches no environment's monitor, budget or tag")


def root_causes(detail: AnomalyDetail) -> list[dict[str, Any]]:
    """Root causes, largest contribution first: service, account, region, usage type, contribution."""
    out = []
    for cause in detail.rootCauses:
        extra = cause.model_extra or {}
        impact = extra.get("impact") or {}
        contribution = impact.get("contribution") if isinstance(impact, dict) else None
        out.append(
            {
                "service": cause.service,
                "linked_account": cause.linkedAccount,
                "linked_account_name": extra.get("linkedAccountName"),
                "region": cause.region,
                "usage_type": cause.usageType,
                "contribution_usd": float(contribution) if isinstance(contribution, int | float) else None,
            }
        )
    return sorted(out, key=lambda c: -(c["contribution_usd"] or 0.0))


def main_service(detail: AnomalyDetail) -> str:
    causes = root_causes(detail)
    if causes and causes[0]["service"]:
        return str(causes[0]["service"])
    return detail.dimensionValue or "unknown service"
