"""Planned maintenance: resources (or alarms) people are working on, so that Deckwatch stays out of their way.

Two sources, asked together: entries started by hand (`deckwatch maintenance start --resource R --until ISO
--reason ...`, the state table's `maintenance#all` item, until their end) and maintenance scheduled in the policy
(`maintenance:` with weekly windows or dated periods, `deckwatch.policy.windows`). While a resource is under
maintenance, an alarm about it is recorded (decision "under-maintenance", with the maintenance) and neither
remediated nor paged; drills and cost savings leave it alone and say why. A resource is named by the key every
capability locks it by (ecs:<cluster>/<service>, rds:<db>, service:<policy service>, lambda:<fn>:<alias>) or,
for alarms, alarm:<alarm name>; an entry may be a pattern (`*`), e.g. alarm:shop-prod-db-*.

Starting and stopping are ledger records (capability core, subject the resource), idempotent (the same start
twice is one record), and have a dry run that records the plan and changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from deckwatch import clock, windows
from deckwatch.errors import DeckwatchError
from deckwatch.ledger import Record

if TYPE_CHECKING:
    from deckwatch.context import Services

RESOURCE = re.compile(r"^(ecs|rds|service|lambda|alarm):[^\s]+$")


class MaintenanceInputError(DeckwatchError):
    """A maintenance request that cannot be recorded (bad resource key, an end in the past, no reason)."""


@dataclass(frozen=True)
class Entry:
    """One maintenance that covers a resource now."""

    resource: str  # the key or pattern it was declared for
    reason: str
    source: str  # "deckwatch maintenance" (by hand) or "policy maintenance[i]"
    until: str | None = None  # by hand: its end (ISO UTC)
    window: str | None = None  # from the policy: the window or period that is open

    def doc(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def describe(self) -> str:
        end = f" until {self.until}" if self.until else f" ({self.window})" if self.window else ""
        return f"{self.resource} under maintenance{end}: {self.reason} [{self.source}]"


def covering(deps: Services, keys: Iterable[str], at: datetime | None = None) -> Entry | None:
    """The maintenance that covers any of `keys` (a resource's names: its lock key, its service, its alarm) at
    `at` (default now), or None."""
    wanted = [k for k in keys if k]
    if not wanted:
        return None
    now = at or clock.now()
    for pattern, entry in sorted(deps.state.maintenance.all().items()):
        if int(entry.get("until", 0)) > now.timestamp() and any(fnmatchcase(k, pattern) for k in wanted):
            return Entry(
                pattern,
                str(entry.get("reason", "")),
                "deckwatch maintenance",
                until=clock.iso(float(entry["until"])),
            )
    for i, m in enumerate(deps.policy().policy.maintenance):
        matched = next((p for p in m.resources if any(fnmatchcase(k, p) for k in wanted)), None)
        if matched is None:
            continue
        verdict = windows.check(m.windows, now) if m.windows else None
        if verdict is not None and verdict.open:
            return Entry(matched, m.reason, f"policy maintenance[{i}]", window=verdict.window)
        period = windows.active(m.periods, now)
        if period is not None:
            return Entry(matched, m.reason, f"policy maintenance[{i}]", window=period.label())
    return None


def start(
    deps: Services, *, resource: str, until: str, reason: str, actor: str, dry_run: bool = False
) -> dict[str, Any]:
    """Put `resource` under maintenance until `until` (ISO with an offset). Raises MaintenanceInputError."""
    if not RESOURCE.match(resource):
        raise MaintenanceInputError(
            f"--resource {resource!r}: a resource key (ecs:<cluster>/<service>, rds:<db>, service:<name>, "
            "lambda:<function>:<alias>, alarm:<name>; '*' matches any characters)"
        )
    if not reason.strip():
        raise MaintenanceInputError("--reason must say why (it is in the ledger and the incident timeline)")
    try:
        end = windows.parse_instant(until)
    except ValueError as exc:
        raise MaintenanceInputError(f"--until {until!r}: {exc}") from None
    if end <= clock.now():
        raise MaintenanceInputError(f"--until {windows.iso(end)} is already past")
    entry = {"reason": reason.strip(), "until": int(end.timestamp()), "started_by": actor, "started_at": clock.iso()}
    if not dry_run:
        deps.state.maintenance.start(resource, entry)
    _record(deps, resource, "maintenance-started", f"until {windows.iso(end)}: {reason.strip()}", actor, dry_run, entry)
    _annotate_incidents(deps, resource, "maintenance-started", f"{resource} under maintenance: {reason}", dry_run)
    return {"resource": resource, "until": windows.iso(end), "reason": reason.strip(), "dry_run": dry_run}


def stop(deps: Services, *, resource: str, actor: str, dry_run: bool = False) -> dict[str, Any] | None:
    """End the maintenance of `resource` started by hand; None if there was none (idempotent)."""
    current = deps.state.maintenance.all().get(resource)
    if current is None:
        return None
    if not dry_run:
        deps.state.maintenance.stop(resource)
    _record(deps, resource, "maintenance-stopped", f"ended by {actor}", actor, dry_run, dict(current))
    _annotate_incidents(deps, resource, "maintenance-stopped", f"{resource}: maintenance over", dry_run)
    return {"resource": resource, "dry_run": dry_run}


def listing(deps: Services) -> list[dict[str, Any]]:
    """Maintenance by hand (running) and scheduled in the policy (with whether it is open now)."""
    now = clock.now()
    rows: list[dict[str, Any]] = [
        {"resource": k, "source": "deckwatch maintenance", **v, "until": clock.iso(float(v["until"]))}
        for k, v in sorted(deps.state.maintenance.all().items())
    ]
    for i, m in enumerate(deps.policy().policy.maintenance):
        verdict = windows.check(m.windows, now) if m.windows else None
        period = windows.active(m.periods, now)
        rows.append(
            {
                "resource": ", ".join(m.resources),
                "source": f"policy maintenance[{i}]",
                "reason": m.reason,
                "now": bool((verdict is not None and verdict.open) or period is not None),
                "windows": [w.label() for w in m.windows] + [p.label() for p in m.periods],
            }
        )
    return rows


def _record(
    deps: Services, resource: str, decision: str, reason: str, actor: str, dry_run: bool, entry: dict[str, Any]
) -> None:
    until = entry.get("until", "")
    deps.ledger.append(
        Record(
            record_id=f"maintenance:{resource}:{until}:{decision}" + (":dry-run" if dry_run else ""),
            environment=deps.settings.environment,
            capability="core",
            subject=resource,
            kind="decision",
            decision="planned" if dry_run else decision,
            reason=reason if not dry_run else f"dry-run: {decision}: {reason}",
            dry_run=dry_run,
            actor=actor,
            details={"maintenance": entry},
        )
    )


def _annotate_incidents(deps: Services, resource: str, decision: str, reason: str, dry_run: bool) -> None:
    """An incident open on a resource the maintenance covers shows it in its timeline."""
    if dry_run:
        return
    for item in deps.state.table.scan("incident#"):
        keys = [str(item.get("resource", "")), f"alarm:{item.get('alarm', '')}"]
        if not any(fnmatchcase(k, resource) for k in keys):
            continue
        deps.ledger.append(
            Record(
                record_id=f"maintenance:{resource}:{item['incident_id']}:{decision}:{clock.iso()}",
                environment=deps.settings.environment,
                capability="remediation",
                subject=str(item["resource"]),
                kind="incident",
                decision=decision,
                reason=reason,
                details={"incident_id": item["incident_id"], "resource": item["resource"]},
            )
        )
