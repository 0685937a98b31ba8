"""The traffic-router interface: what the cutover state machine needs from whatever carries the traffic.

Slots are what traffic is split between (ECS: the colours "blue"/"green"; Lambda: alias versions). Traffic is
what the target receives: an ALB's requests, a queue's messages (a queue worker's share is its share of the tasks
consuming the queue), an alias's invocations. Every method reads the observed state first and changes nothing
that is already as wanted, so that a re-run or a resumed execution converges instead of repeating itself; a shift
is verified after it is made (Flagger's SetWeight then VerifyWeight): the router reads the weights (a worker: the
task counts) back and fails when they are not what it set. A new kind of target (e.g. API Gateway canaries) is one
new adapter module registered in `ROUTERS`; the state machine and the steps do not change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from deckwatch.actions import Executor
    from deckwatch.aws import Clients
    from deckwatch.policy.model import Service


@dataclass(frozen=True)
class Observed:
    """Where traffic goes now, and what each slot runs."""

    weights: dict[str, int]  # slot -> percent of traffic
    revisions: dict[str, str]  # slot -> task definition ARN / version
    images: dict[str, str] = field(default_factory=dict)  # slot -> container image (ECS)
    capacity: dict[str, int] = field(default_factory=dict)  # slot -> desired count

    @property
    def live(self) -> str:
        """The slot carrying the most traffic (ties: the first slot)."""
        return max(self.weights, key=lambda s: (self.weights[s], -list(self.weights).index(s)))

    @property
    def split(self) -> bool:
        return sum(1 for w in self.weights.values() if w > 0) > 1


@dataclass(frozen=True)
class Prepared:
    slot: str  # the slot that will take the new revision
    revision: str
    image: str = ""


class TrafficRouter(Protocol):
    executor: Executor  # every change goes through it: dry-run, the ledger's record of what was done

    def lock_keys(self) -> list[str]: ...

    def observe(self) -> Observed: ...

    def prepare(self, observed: Observed, target: dict[str, str]) -> Prepared: ...

    def deploy(self, slot: str, revision: str, capacity: int) -> None: ...

    def stable(self, slot: str, revision: str, capacity: int) -> tuple[bool, str]: ...

    def shift(self, stable: str, new: str, weight: int, *, capacity: int = 0) -> bool:
        """`weight` percent on `new`, the rest on `stable`, verified; False when it already was so. `capacity` is
        the cutover's planned capacity (the stable colour's desired count when it began): what a router that
        splits by task counts divides (0: what both colours run now); routers that split by weight ignore it."""
        ...

    def restore(self, stable: str, new: str, *, capacity: int = 0) -> int:
        """A rollback: all traffic back on `stable` as fast as the target allows, verified; returns the weight
        `new` had before (observed, not planned). `capacity` as for shift."""
        ...

    def unhealthy(self, slot: str) -> list[str]: ...

    def scale_down(self, slot: str) -> None: ...

    def resolved(self) -> dict[str, Any]:
        """The identifiers this router looked up (ECS: the listener and target group ARNs), for `pin`."""
        ...

    def pin(self, resolved: dict[str, Any]) -> None:
        """Take identifiers `resolved` returned earlier instead of looking them up again: the rollback reflex
        (cutover.reflex) starts its restore with the read before the change, not with the look-ups."""
        ...

    def point_test(self, slot: str) -> str | None:
        """Point the test route (ECS: the test listener) at `slot`; returns what it reaches now, None if there is
        no test route."""
        ...


Factory = Callable[["Service", "Clients", "Executor", str], TrafficRouter]
ROUTERS: dict[str, Factory] = {}


def register(kind: str) -> Callable[[Factory], Any]:
    def wrap(factory: Factory) -> Any:
        ROUTERS[kind] = factory
        return factory

    return wrap


def router_for(service: Service, clients: Clients, environment: str, dry_run: bool = False) -> TrafficRouter:
    from deckwatch.actions import Executor
    from deckwatch.cutover import ecs_alb, ecs_worker, lambda_alias  # noqa: F401 - adapters register themselves

    return ROUTERS[service.kind](service, clients, Executor(clients, dry_run=dry_run), environment)
