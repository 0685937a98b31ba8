"""Cost Anomaly Detection events (EventBridge)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from deckwatch.events import Envelope, Lenient


class Impact(Lenient):
    totalImpact: float = 0.0  # noqa: N815
    totalImpactPercentage: float | None = None  # noqa: N815
    maxImpact: float | None = None  # noqa: N815
    totalActualSpend: float | None = None  # noqa: N815
    totalExpectedSpend: float | None = None  # noqa: N815


class RootCause(Lenient):
    service: str | None = None
    region: str | None = None
    linkedAccount: str | None = None  # noqa: N815
    usageType: str | None = None  # noqa: N815


class AnomalyDetail(Lenient):
    anomalyId: str = Field(min_length=1)  # noqa: N815
    monitorArn: str = Field(min_length=1)  # noqa: N815
    monitorName: str | None = None  # noqa: N815
    impact: Impact
    rootCauses: list[RootCause] = Field(default_factory=list)  # noqa: N815
    # The EventBridge event says dimensionValue; the SNS alert says dimensionalValue.
    dimensionValue: str | None = Field(default=None, alias="dimensionalValue")  # noqa: N815
    anomalyStartDate: str | None = None  # noqa: N815
    anomalyEndDate: str | None = None  # noqa: N815


class AnomalyEvent(Envelope):
    source: Literal["aws.ce"]
    detail: AnomalyDetail  # type: ignore[assignment]
