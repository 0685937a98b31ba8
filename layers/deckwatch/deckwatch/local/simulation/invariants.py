"""The system's promises, checked after every event of the month and at its end. A broken one raises `Violation`,
which stops the simulation with a readable timeline of the last events and the ledger.

1. Every production listener's weights sum to 100, and every colour with weight > 0 has running, healthy tasks
   (a service that cost savings stopped on purpose, or that is warming up from such a stop, excepted).
2. No image reaches more traffic than the current step of its cutover before the previous step's bake passed
   (an image serving traffic without a cutover at all is the worst case of it); a bad release never serves more
   than its first step's share for longer than one analysis interval plus the event latency.
3. Remediation acts only on the live colour of a service, never while a cutover or a drill holds the lock.
4. At the end: no lock, watch or approval left open, no drill database left running, every savings action
   resumed or listed by `deckwatch resume --list`, no message in the DLQ that the ledger does not explain.
5. Every AWS call that changed the world (not Deckwatch's own tables, topics, queues and state machines) has a
   ledger record naming the event or execution that caused it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from deckwatch import clock
from deckwatch.local.simulation import state

EVENT_LATENCY_SECONDS = 120.0
# Calls on Deckwatch's own bookkeeping (its tables, topic, queue, state machines, events, metrics): the ledger is
# itself their record. Everything else changes the world Deckwatch manages and needs a ledger action record.
OWN_SERVICES = frozenset({"dynamodb", "sns", "sqs", "sfn", "states", "eventbridge", "events", "cloudwatch", "logs"})


class Violation(AssertionError):  # noqa: N818 - names the broken promise, as the issue does
    def __init__(self, invariant: int, message: str) -> None:
        super().__init__(f"invariant {invariant}: {message}")
        self.invariant = invariant
        self.message = message


@dataclass
class Cutover:
    execution: str
    service: str
    image: str
    steps: list[int]
    interval: float
    baked: int = 0
    done: str = ""  # completed | rolled-back | failed


@dataclass
class Checker:
    runtime: Any
    bad_images: set[str] = field(default_factory=set)
    accepted: dict[str, set[str]] = field(default_factory=dict)  # service -> images that completed a cutover
    cutovers: dict[str, Cutover] = field(default_factory=dict)  # execution ARN -> its plan and progress
    over_first: dict[str, float] = field(default_factory=dict)  # bad image -> since when above its first step
    exposure: dict[str, float] = field(default_factory=dict)  # bad image -> first time it took traffic
    warming: dict[str, float] = field(default_factory=dict)  # ECS service name -> resumed at (cost savings)
    checks: int = 0

    def __post_init__(self) -> None:
        for name, entry in self.runtime.world["services"].items():
            self.accepted[name] = {state.image_of(state.ecs_service(s)) for s in entry["ecs"].values()}

    # ------------------------------------------------------------------ the ledger stream ---------------------
    def on_records(self, records: list[dict[str, Any]]) -> None:
        """Follow the cutovers (plans, bakes, endings) and check remediation's actions (invariant 3)."""
        for r in records:
            arn = r.get("execution_arn") or ""
            if r["capability"] == "cutover" and r["decision"] == "planned" and not r.get("dry_run"):
                d = r.get("details") or {}
                service = r["subject"].split("/", 1)[-1]
                self.cutovers[arn] = Cutover(
                    arn, service, self._image_of_plan(r), [int(s) for s in d.get("steps", [100])],
                    float(d.get("bake_seconds", 600)),
                )  # fmt: skip
            elif r["capability"] == "cutover" and arn in self.cutovers:
                c = self.cutovers[arn]
                if r["decision"] == "baked":
                    c.baked += 1
                elif r["decision"] == "completed":
                    c.done = "completed"
                    self.accepted.setdefault(c.service, set()).add(c.image)
                elif r["decision"] in ("rolled-back", "failed"):
                    c.done = r["decision"]
            if r["capability"] == "remediation" and r.get("kind") == "action" and not r.get("dry_run"):
                self._remediation_action(r)
            if r["capability"] == "cost" and r["decision"] == "restored":
                svc = ((r.get("action") or {}).get("parameters") or {}).get("service")
                if svc:
                    self.warming[str(svc)] = clock.now_epoch()

    def _image_of_plan(self, record: dict[str, Any]) -> str:
        import re

        found = re.search(r"\(([^()\s]+:[^()\s]+)\)", record.get("reason", ""))
        return found.group(1) if found else ""

    def _remediation_action(self, r: dict[str, Any]) -> None:
        action = r.get("action") or {}
        params = action.get("parameters") or {}
        service_name = params.get("service")
        if action.get("operation") != "UpdateService" or not service_name:
            return
        for name, entry in self.runtime.world["services"].items():
            colours = {v: k for k, v in entry["ecs"].items()}
            if service_name not in colours or "listener" not in entry:
                continue
            weights = self._weights(entry)
            colour = colours[service_name]
            if weights.get(colour, 0) < max(weights.values() or [0]):
                raise Violation(3, f"remediation acted on {service_name}, the idle colour of {name} ({weights})")
            key = f"ecs:{self.runtime.world['cluster']}/{service_name}"
            for lease in state.state_items(self.runtime, f"lock#{key}"):
                if lease.get("capability") in ("cutover", "drill"):
                    raise Violation(3, f"remediation acted on {service_name} while {lease['capability']} holds it")

    # ------------------------------------------------------------------ after every event ---------------------
    def check(self) -> None:
        self.checks += 1
        now = clock.now_epoch()
        saved = {str(i.get("resource", "")) for i in state.state_items(self.runtime, "cost#saved#")}
        for name, entry in self.runtime.world["services"].items():
            if "listener" not in entry:
                continue
            weights = self._weights(entry)
            if weights and sum(weights.values()) != 100:
                raise Violation(1, f"{name}'s production listener sends {weights} (sum {sum(weights.values())})")
            for colour, weight in weights.items():
                if weight <= 0:
                    continue
                service_name = entry["ecs"][colour]
                service = state.ecs_service(service_name)
                stopped = f"ecs:{self.runtime.world['cluster']}/{service_name}" in saved
                warming = now - self.warming.get(service_name, -1e12) < 180
                if not stopped and not warming and not state.settled(service):
                    running = getattr(service, "running_count", 0)
                    raise Violation(1, f"{name} {colour} takes {weight}% with {running} running task(s), not settled")
                if not stopped and service is not None and service.task_definition:
                    group = entry["target_groups"][colour].split(":targetgroup/", 1)[1].split("/")[0]
                    from deckwatch.local.mock_services import current

                    if group in current().elbv2.unhealthy:
                        raise Violation(1, f"{name} {colour} takes {weight}% with unhealthy targets")
                self._image_limit(name, colour, weight, state.image_of(service), now)
            self._bad_release(name, entry, weights, now)

    def _weights(self, entry: dict[str, Any]) -> dict[str, int]:
        by_arn = state.listener_weights(entry["listener"])
        return {c: by_arn.get(arn, 0) for c, arn in entry["target_groups"].items()}

    def _image_limit(self, service: str, colour: str, weight: int, image: str, now: float) -> None:
        if image in self.accepted.get(service, set()):
            return
        running = [c for c in self.cutovers.values() if c.service == service and c.image == image and not c.done]
        if not running:
            ended = [c for c in self.cutovers.values() if c.service == service and c.image == image]
            if ended and weight <= ended[-1].steps[0]:
                return  # a rollback in progress: the restore is the next call
            raise Violation(2, f"{image} serves {weight}% of {service} ({colour}) without a cutover")
        c = running[-1]
        allowed = c.steps[min(c.baked, len(c.steps) - 1)]
        if weight > allowed:
            raise Violation(2, f"{image} serves {weight}% of {service} before the {allowed}% step's bake passed")

    def _bad_release(self, service: str, entry: dict[str, Any], weights: dict[str, int], now: float) -> None:
        for colour, weight in weights.items():
            image = state.image_of(state.ecs_service(entry["ecs"][colour]))
            if image not in self.bad_images:
                continue
            if weight > 0:
                self.exposure.setdefault(image, now)
            first = next((c.steps[0] for c in self.cutovers.values() if c.image == image), 100)
            if weight > first:
                since = self.over_first.setdefault(image, now)
                cutover = next((c for c in self.cutovers.values() if c.image == image), None)
                limit = (cutover.interval if cutover else 300.0) + EVENT_LATENCY_SECONDS
                if now - since > limit:
                    raise Violation(2, f"bad release {image} serves {weight}% of {service} for {now - since:.0f}s")
            else:
                self.over_first.pop(image, None)

    # ------------------------------------------------------------------ invariant 5 -------------------------
    @staticmethod
    def unattributed(calls: list[tuple[str, str]], records: list[dict[str, Any]]) -> list[str]:
        """World-changing calls of one invocation without a ledger action record (same operation, naming the event
        or execution) written during it."""
        recorded: dict[str, int] = {}
        for r in records:
            action = r.get("action") or {}
            if (r.get("kind") in ("action",) or action) and (r.get("event_id") or r.get("execution_arn")):
                op = str(action.get("operation", ""))
                recorded[op] = recorded.get(op, 0) + 1
        missing = []
        for service, operation in calls:
            if service in OWN_SERVICES:
                continue
            if recorded.get(operation, 0) > 0:
                recorded[operation] -= 1
            else:
                missing.append(f"{service}:{operation}")
        return missing

    # ------------------------------------------------------------------ at the end -------------------------
    def final(self, ledger: list[dict[str, Any]], resume_list: Callable[[], dict[str, Any]]) -> list[str]:
        problems = []
        for prefix, what in (("lock#", "lock"), ("approval#", "approval")):
            for item in state.state_items(self.runtime, prefix):
                problems.append(f"{what} left open: {item.get('pk')} ({item.get('capability', '')})")
        for item in state.state_items(self.runtime, "watch#"):
            if item.get("watchers"):
                problems.append(f"watch left open: {item.get('pk')} {sorted(item['watchers'])}")
        for db in state.drill_instances():
            problems.append(f"drill database left running: {db}")
        listed = resume_list()
        saved: dict[str, dict[str, Any]] = {}
        for r in ledger:  # savings actions, in order: each resumed since, or still listed by `resume --list`
            if r["capability"] == "cost" and r.get("kind") == "action" and not r.get("dry_run"):
                if r["decision"] in ("scaled-to-zero", "stopped"):
                    saved[r["subject"]] = r
                elif r["decision"] == "restored":
                    saved.pop(r["subject"], None)
        for subject in saved:
            if subject not in listed:
                problems.append(f"savings action on {subject} neither resumed nor listed by `deckwatch resume --list`")
        for key in listed:
            if key not in saved:
                problems.append(f"`deckwatch resume --list` shows {key}, which no savings action stopped")
        explained = {r.get("event_id") for r in ledger if r.get("event_id")}
        for message in state.dead_letters(self.runtime):
            payload = message.get("requestPayload") or message
            event_id = payload.get("id") if isinstance(payload, dict) else None
            if event_id not in explained:
                problems.append(f"DLQ message not explained in the ledger: event {event_id}")
        return problems
