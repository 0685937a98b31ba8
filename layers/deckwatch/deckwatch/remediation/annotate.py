"""RDS failover events and ECS service events (task start impaired, task placement failure, deployment failed):
they annotate the timeline of the open incident of the resource they concern (or are recorded as seen, when no
incident is open). An ECS deployment that failed (its circuit breaker) for the colour a running cutover deploys
also fails that cutover at once: a rollback request through the cutover's control channel
(deckwatch.cutover.control.request_rollback).

Shapes (events/SOURCES.md): the RDS User Guide's DB instance event names the instance `rds:my-db-instance` in its
SourceIdentifier, and its SourceArn `...:db:my-db-instance`: the key is the identifier of the ARN. ECS deployment
events carry no clusterArn: the service ARN (`...:service/<cluster>/<service>`) names both."""

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
    eventType: str = ""  # noqa: N815 - INFO, WARN or ERROR
    eventName: str = Field(min_length=1)  # noqa: N815
    clusterArn: str = ""  # noqa: N815 - ECS Service Action events; deployment events have none
    reason: str = ""
    createdAt: str = ""  # noqa: N815
    deploymentId: str | None = None  # noqa: N815 - ECS Deployment State Change


DEPLOYMENT_FAILED = "SERVICE_DEPLOYMENT_FAILED"


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
            return f"rds:{rds_identifier(d, self.resources)}", f"{d.EventID or 'RDS event'} {what}: {d.Message}".strip()
        e = EcsDetail.model_validate(self.detail)
        cluster, service = self.ecs_service()
        note = f"{e.eventName}: {e.reason}".strip(": ")
        if e.eventType:
            note = f"{note} ({e.eventType})"
        return f"ecs:{cluster}/{service}", note

    def ecs_service(self) -> tuple[str, str]:
        """(cluster, service) of an ECS event: from the service ARN (...:service/<cluster>/<service>), or the older
        ARN format (...:service/<service>) with the detail's clusterArn."""
        e = EcsDetail.model_validate(self.detail)
        service_arn = next(r for r in self.resources if r.split(":", 5)[-1].startswith("service/"))
        parts = service_arn.split(":", 5)[-1].split("/")
        cluster = parts[1] if len(parts) == 3 else (e.clusterArn.rsplit("/", 1)[-1] or "default")
        return cluster, parts[-1]


def rds_identifier(d: RdsDetail, resources: list[str]) -> str:
    """The DB instance or cluster identifier an RDS event is about: its SourceArn's (or first resource's) last
    part; else its SourceIdentifier without the "rds:" the documented events put before it (an identifier has no
    ':' of its own)."""
    for arn in (d.SourceArn, *resources):
        kind_and_id = arn.split(":", 5)[-1] if arn.startswith("arn:") else ""
        if kind_and_id.startswith(("db:", "cluster:")):
            return kind_and_id.split(":", 1)[1]
    return d.SourceIdentifier.removeprefix("rds:")


def annotate(event: ResourceEvent, deps: Services) -> dict[str, Any]:
    from deckwatch.remediation import incidents, runbooks

    resource, note = event.resource_and_note()
    found = [inc for rb in sorted(runbooks.REGISTRY) if (inc := incidents.get(deps, resource, rb)) is not None]
    if event.source == "aws.ecs" and event.detail.get("eventName") == DEPLOYMENT_FAILED:
        failed = _fail_cutover(event, deps, note)
        if failed is not None:
            details = {"resource": resource, "detail_type": event.detail_type, **failed}
            if found:
                details |= {"incident_id": found[0]["incident_id"], "runbook": found[0]["runbook"]}
            return decide(
                deps,
                event,
                capability="remediation",
                subject=resource,
                decision="cutover-failed",
                reason=f"{note}: the colour the cutover of {failed['service']} deploys; rollback requested",
                details=details,
            )
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


def _fail_cutover(event: ResourceEvent, deps: Services, note: str) -> dict[str, Any] | None:
    """A failed ECS deployment of the colour a running cutover deploys fails that cutover at once; returns what was
    requested (None: no cutover deploys that service)."""
    from deckwatch.cutover import control

    cluster, ecs_service = event.ecs_service()
    for svc in deps.policy().policy.services:
        if svc.ecs is None or svc.ecs.cluster.rsplit("/", 1)[-1] != cluster:
            continue
        colours = {"blue": svc.ecs.services.blue, "green": svc.ecs.services.green}
        colour = next((c for c, name in colours.items() if name.rsplit("/", 1)[-1] == ecs_service), None)
        running = control.read(deps, svc.name) if colour else None
        if running is None or _deployed_colour(deps, svc.name, running["execution"]) != colour:
            continue
        execution = control.request_rollback(
            deps,
            svc.name,
            reason=f"deployment failed: {note}",
            source="ecs",
            requested_by=f"ecs:{DEPLOYMENT_FAILED}",
        )
        if execution:
            return {"service": svc.name, "colour": colour, "execution": execution}
    return None


def _deployed_colour(deps: Services, service: str, execution: str) -> str | None:
    """The colour a running cutover deploys, as its plan record in the ledger says."""
    for rec in reversed(deps.ledger.by_subject(f"service/{service}")):
        if rec.get("decision") == "planned" and rec.get("execution_arn") == execution:
            new = (rec.get("details") or {}).get("new")
            return str(new) if new else None
    return None
