"""RDS failover events and ECS "task start impaired" events: they annotate the timeline of the open incident of
the resource they concern (or are recorded as seen, when no incident is open)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from deckwatch.decisions import decide
from deckwatch.events import Envelope, Lenient

if TYPE_CHECKING:
    from deckwatch.context import Services

FAILOVER_EVENTS = {
    "RDS-EVENT-0013": "failover started",
    "RDS-EVENT-0015": "failover completed (DNS propagation)",
    "RDS-EVENT-0049": "failover completed",
    "RDS-EVENT-0034": "failover abandoned (a recent failover)",
    "RDS-EVENT-0070": "cluster failover: promoting the previous primary",
    "RDS-EVENT-0071": "cluster failover completed",
    "RDS-EVENT-0072": "cluster failover started (same AZ)",
    "RDS-EVENT-0073": "cluster failover started (cross AZ)",
    "RDS-EVENT-0069": "cluster failover failed",
}


class RdsDetail(Lenient):
    EventCategories: list[str] = Field(default_factory=list)
    SourceType: str = ""
    SourceArn: str = ""
    SourceIdentifier: str = Field(min_length=1)
    Date: str = ""
    Message: str = ""
    EventID: str | None = None


class EcsDetail(Lenient):
    eventType: str = ""  # noqa: N815
    eventName: str = Field(min_length=1)  # noqa: N815
    clusterArn: str = Field(min_length=1)  # noqa: N815
    reason: str = ""
    createdAt: str = ""  # noqa: N815


class ResourceEvent(Envelope):
    """aws.rds DB instance/cluster events (failover category) and aws.ecs Service Action events."""

    source: Literal["aws.rds", "aws.ecs"]
    detail: dict[str, Any]

    @model_validator(mode="after")
    def _detail_shape(self) -> ResourceEvent:
        if self.source == "aws.rds":
            RdsDetail.model_validate(self.detail)
        else:
            EcsDetail.model_validate(self.detail)
            if not any(r.split(":", 5)[-1].startswith("service/") for r in self.resources):
                raise ValueError("an ECS Service Action event names its service in resources (…:service/<c>/<s>)")
        return self

    def resource_and_note(self) -> tuple[str, str]:
        if self.source == "aws.rds":
            d = RdsDetail.model_validate(self.detail)
            what = FAILOVER_EVENTS.get(d.EventID or "", "failover event")
            return f"rds:{d.SourceIdentifier}", f"{d.EventID or 'RDS event'} {what}: {d.Message}".strip()
        e = EcsDetail.model_validate(self.detail)
        service_arn = next(r for r in self.resources if r.split(":", 5)[-1].startswith("service/"))
        parts = service_arn.split(":", 5)[-1].split("/")
        cluster = parts[1] if len(parts) == 3 else e.clusterArn.rsplit("/", 1)[-1]
        return f"ecs:{cluster}/{parts[-1]}", f"{e.eventName}: {e.reason}".strip(": ")


def annotate(event: ResourceEvent, deps: Services) -> dict[str, Any]:
    from deckwatch.remediation import incidents, runbooks

    resource, note = event.resource_and_note()
    found = [inc for rb in sorted(runbooks.REGISTRY) if (inc := incidents.get(deps, resource, rb)) is not None]
    if not found:
        return decide(
            deps,
            event,
            capability="remediation",
            subject=resource,
            decision="noted",
            reason=f"{note} (no open incident for {resource})",
            details={"resource": resource, "detail_type": event.detail_type},
        )
    inc = found[0]
    return decide(
        deps,
        event,
        capability="remediation",
        subject=resource,
        decision="annotated",
        reason=note,
        details={
            "incident_id": inc["incident_id"],
            "resource": resource,
            "runbook": inc["runbook"],
            "detail_type": event.detail_type,
        },
    )
