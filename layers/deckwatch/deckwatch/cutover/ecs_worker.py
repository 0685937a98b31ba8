"""ECS blue/green queue workers: one ECS service per colour, both consuming the same SQS queue, and no load balancer.

A worker's traffic is the messages its tasks take, and every running task takes its share: the split is the
colours' task counts. A weight w gives the new colour ceil(total x w / 100) of the cutover's tasks and the stable
colour the rest (a canary never takes the stable colour's last task: with too few tasks to split, the canary's
share is larger than the step, and the observed share is what is recorded). Observed state = the colours' desired
counts (what Deckwatch set and reads back to verify a shift; tasks still starting are the bake's business: their
colour processes nothing, which the canary analysis answers as "no data", and `unhealthy` reports them after the
bake) and the services' deployments. The colours' shares are also written to the traffic parameters
(cutover.colours), so that remediation resolves the worker's live colour as it does a load-balanced service's.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from deckwatch.cutover.ecs_service import COLOURS, EcsColours
from deckwatch.cutover.errors import TargetNotFoundError, TrafficShiftError
from deckwatch.cutover.router import Observed, register
from deckwatch.errors import ActionError

if TYPE_CHECKING:
    from deckwatch.actions import Executor
    from deckwatch.aws import Clients
    from deckwatch.policy.model import Service


def split(stable: str, new: str, weight: int, total: int) -> dict[str, int]:
    """Tasks per colour for `weight` percent on `new` out of `total` tasks."""
    total = max(1, total)
    on_new = 0 if weight <= 0 else total if weight >= 100 else math.ceil(total * weight / 100)
    on_stable = total - on_new
    if 0 < weight < 100 and on_stable == 0:  # the canary never takes the last stable task
        on_stable = 1
    return {new: on_new, stable: on_stable}


def shares(counts: dict[str, int]) -> dict[str, int] | None:
    """Percent of the tasks per colour (None when no colour has a task: no share to speak of)."""
    total = sum(counts.values())
    if total == 0:
        return None
    blue = round(100 * counts["blue"] / total)
    return {"blue": blue, "green": 100 - blue}


@register("ecs_worker")
class EcsWorkerRouter(EcsColours):
    def __init__(self, service: Service, clients: Clients, executor: Executor, environment: str) -> None:
        if service.ecs is None or service.queue is None:
            raise TargetNotFoundError(f"service {service.name} has no ecs/queue target")
        super().__init__(service, service.ecs, clients, executor, environment)
        self.queue_cfg = service.queue

    def resolved(self) -> dict[str, Any]:
        return {}  # the colours' services are named in the policy: nothing to look up

    def pin(self, resolved: dict[str, Any]) -> None:
        return None

    # ------------------------------------------------------------------ observed state ----------------------
    def _desired(self, services: dict[str, dict[str, Any]] | None = None) -> dict[str, int]:
        found = services if services is not None else self._services()
        return {c: int(found[c]["desiredCount"]) for c in COLOURS}

    def observe(self) -> Observed:
        services = self._services()
        weights = shares(self._desired(services))
        if weights is None:  # both colours at zero (scaled down by a person): the last shares Deckwatch set
            weights = self._recorded_weights() or {"blue": 100, "green": 0}
        return self._observed(weights, services)

    # ------------------------------------------------------------------ steps -------------------------------
    def deploy(self, slot: str, revision: str, capacity: int) -> None:
        """The idle colour gets the new revision with the tasks it has (none, normally): any task it ran would
        take messages, so its tasks come with the shifts, not before."""
        self._deploy(slot, revision, None)

    def stable(self, slot: str, revision: str, capacity: int) -> tuple[bool, str]:
        """The revision is deployed and the colour's tasks (if it has any yet) run it."""
        svc = self._services()[slot]
        ok, detail = self._rolled_out(svc, revision, int(svc["desiredCount"]))
        if not ok:
            return False, detail
        if int(svc["desiredCount"]) == 0:
            return True, f"{revision.rsplit('/', 1)[-1]} deployed; its tasks start with the first shift"
        return True, detail

    def unhealthy(self, slot: str) -> list[str]:
        """After a bake: a failed deployment, or tasks that should run and do not (crash-looping, not placed)."""
        svc = self._services()[slot]
        name = self.service_name(slot)
        bad = [
            f"{name}: deployment {d.get('rolloutState')} ({d.get('rolloutStateReason', '')})"
            for d in svc.get("deployments", [])
            if d.get("status") == "PRIMARY" and d.get("rolloutState") == "FAILED"
        ]
        desired, running = int(svc["desiredCount"]), int(svc.get("runningCount", 0))
        if running < desired:
            bad.append(f"{name}: {running}/{desired} tasks running")
        return bad

    def shift(self, stable: str, new: str, weight: int, *, capacity: int = 0) -> bool:
        """`weight` percent of the cutover's tasks (`capacity`; 0: what both colours run now) on `new`, verified by
        reading the services' desired counts back. False when already so. The traffic parameters first (the
        intent), as for a listener; the colour that gains tasks before the one that loses them, so that the queue
        never has fewer consumers than planned because of the shift."""
        desired = self._desired()
        wanted = split(stable, new, weight, capacity or sum(desired.values()))
        recorded = self._recorded_weights()
        if desired == wanted and recorded == shares(wanted):
            return False
        if recorded != shares(wanted):
            self._write_weights(shares(wanted) or {stable: 100, new: 0})
        if desired == wanted:
            return True
        order = [new, stable] if wanted[new] >= desired[new] else [stable, new]
        self._set_counts(order, desired, wanted, f"{new}={weight}%")
        return True

    def restore(self, stable: str, new: str, *, capacity: int = 0) -> int:
        """A rollback's fast path: the new colour to zero tasks first (the bad release stops taking messages at
        once; what it leaves waits in the queue), then the stable colour to the cutover's tasks (or more, if
        autoscaling added some), verified; the traffic parameters after. Returns the share `new` had."""
        desired = self._desired()
        before = (shares(desired) or {}).get(new, 0)
        wanted = {new: 0, stable: max(capacity, desired[stable]) if capacity else max(1, sum(desired.values()))}
        if desired != wanted:
            self._set_counts([new, stable], desired, wanted, f"{stable}=100%")
        if self._recorded_weights() != {stable: 100, new: 0}:
            self._write_weights({stable: 100, new: 0})
        return before

    def _set_counts(self, order: list[str], desired: dict[str, int], wanted: dict[str, int], what: str) -> None:
        """UpdateService desiredCount per colour in `order`, each verified by reading the services back before the
        next colour is touched (a gain that did not take must not be followed by the other colour's loss). A lost
        answer is settled by the same read; on a failure the traffic parameters are set to the shares the
        services observably have."""
        for colour in order:
            if desired[colour] == wanted[colour]:
                continue
            name = self.service_name(colour)
            failed = f"UpdateService {name} desiredCount={wanted[colour]} ({what})"
            try:
                self.executor.call(
                    "ecs", "UpdateService", cluster=self.ecs_cfg.cluster, service=name, desiredCount=wanted[colour]
                )
            except ActionError as exc:
                if self.executor.dry_run:
                    raise TrafficShiftError(f"{failed} failed: {exc}") from exc
                seen = self._desired()
                self.executor.resolve(seen[colour] == wanted[colour], "service re-read")
                if seen[colour] == wanted[colour]:  # applied, only its answer was lost
                    continue
                self._write_observed(seen)
                raise TrafficShiftError(f"{failed} failed: {exc}") from exc
            if self.executor.dry_run:
                continue
            seen = self._desired()
            if seen[colour] != wanted[colour]:
                self._write_observed(seen)
                raise TrafficShiftError(f"{failed}: the service wants {seen[colour]} tasks afterwards ({seen})")

    def _write_observed(self, counts: dict[str, int]) -> None:
        observed = shares(counts)
        if observed is not None and self._recorded_weights() != observed:
            self._write_weights(observed)

    def point_test(self, slot: str) -> str | None:
        return None  # a queue has no test route: a worker's tasks take production messages or none
