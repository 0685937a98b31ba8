"""What every ECS blue/green router shares: one ECS service per colour, the revision each colour runs (pinned in its
traffic parameter before it changes), and the colours' task counts. The adapters differ only in what carries the
traffic: a listener's weights (ecs_alb) or the share of the tasks consuming a queue (ecs_worker)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deckwatch.cutover.errors import ArtifactError, TargetNotFoundError
from deckwatch.cutover.router import Observed, Prepared
from deckwatch.locks import resource_key

if TYPE_CHECKING:
    from deckwatch.actions import Executor
    from deckwatch.aws import Clients
    from deckwatch.policy.model import EcsTarget, Service

COLOURS = ("blue", "green")


class EcsColours:
    """The ECS side of a blue/green router (a base class: the adapters add the traffic side)."""

    def __init__(self, service: Service, ecs_cfg: EcsTarget, clients: Clients, executor: Executor, environment: str):
        self.svc = service
        self.ecs_cfg = ecs_cfg
        self.clients = clients
        self.executor = executor
        self.environment = environment
        self._ecs: Any = None

    @property
    def ecs(self) -> Any:
        if self._ecs is None:
            self._ecs = self.clients("ecs")
        return self._ecs

    def service_name(self, colour: str) -> str:
        return str(getattr(self.ecs_cfg.services, colour))

    def lock_keys(self) -> list[str]:
        return [resource_key("ecs", self.ecs_cfg.cluster, self.service_name(c)) for c in COLOURS]

    # ------------------------------------------------------------------ observed state ----------------------
    def _services(self) -> dict[str, dict[str, Any]]:
        names = [self.service_name(c) for c in COLOURS]
        found = self.ecs.describe_services(cluster=self.ecs_cfg.cluster, services=names)["services"]
        by_name = {s["serviceName"]: s for s in found}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise TargetNotFoundError(f"ECS services not found in {self.ecs_cfg.cluster}: {', '.join(missing)}")
        return {c: by_name[self.service_name(c)] for c in COLOURS}

    def _observed(self, weights: dict[str, int], services: dict[str, dict[str, Any]]) -> Observed:
        revisions = {c: str(services[c]["taskDefinition"]) for c in COLOURS}
        images = {c: self._image(revisions[c]) for c in COLOURS}
        capacity = {c: int(services[c]["desiredCount"]) for c in COLOURS}
        return Observed(weights=weights, revisions=revisions, images=images, capacity=capacity)

    def _task_definition(self, arn: str) -> dict[str, Any]:
        return dict(self.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"])

    def _container(self, td: dict[str, Any]) -> dict[str, Any]:
        containers = td["containerDefinitions"]
        named = [c for c in containers if c["name"] == self.svc.name]
        return dict(named[0] if named else containers[0])

    def _image(self, td_arn: str) -> str:
        return str(self._container(self._task_definition(td_arn)).get("image", ""))

    # ------------------------------------------------------------------ steps -------------------------------
    def prepare(self, observed: Observed, target: dict[str, str]) -> Prepared:
        live = observed.live
        idle = next(c for c in COLOURS if c != live)
        if "task_definition" in target:
            td = target["task_definition"]
            return Prepared(idle, td, self._image(td))
        image = target.get("image")
        if not image:
            raise ArtifactError(f"an ECS cutover needs an image or a task definition, got {sorted(target)}")
        if observed.images.get(idle) == image:  # a crashed or repeated run already registered it
            return Prepared(idle, observed.revisions[idle], image)
        for colour in COLOURS:  # pinned before a new revision exists: a stack update could otherwise pick the latest
            if observed.revisions.get(colour):
                self._write_task_definition(colour, observed.revisions[colour])
        live_td = self._task_definition(observed.revisions[live])
        container = self._container(live_td)
        containers = [
            {**c, "image": image} if c["name"] == container["name"] else c for c in live_td["containerDefinitions"]
        ]
        keep = (
            "family",
            "taskRoleArn",
            "executionRoleArn",
            "networkMode",
            "volumes",
            "placementConstraints",
            "requiresCompatibilities",
            "cpu",
            "memory",
            "runtimePlatform",
        )
        params = {k: live_td[k] for k in keep if live_td.get(k)} | {"containerDefinitions": containers}
        out = self.executor.call("ecs", "RegisterTaskDefinition", **params)
        arn = out.get("taskDefinition", {}).get("taskDefinitionArn", f"{live_td['family']}:<new revision>")
        return Prepared(idle, str(arn), image)

    def _deploy(self, slot: str, revision: str, capacity: int | None) -> None:
        """The colour runs `revision` (with `capacity` tasks; None: the tasks it has). The traffic parameter first:
        a stack update racing the deploy applies this revision."""
        self._write_task_definition(slot, revision)
        current = self._services()[slot]
        wanted = int(current["desiredCount"]) if capacity is None else capacity
        if current["taskDefinition"] == revision and int(current["desiredCount"]) == wanted:
            return
        params: dict[str, Any] = {"taskDefinition": revision}
        if capacity is not None:
            params["desiredCount"] = capacity
        self.executor.call(
            "ecs", "UpdateService", cluster=self.ecs_cfg.cluster, service=self.service_name(slot), **params
        )

    def _rolled_out(self, svc: dict[str, Any], revision: str, capacity: int) -> tuple[bool, str]:
        """The colour's deployment of `revision` completed with at least `capacity` tasks running."""
        primary: dict[str, Any] = next((d for d in svc.get("deployments", []) if d.get("status") == "PRIMARY"), {})
        if svc["taskDefinition"] != revision or primary.get("rolloutState") != "COMPLETED":
            return False, f"deployment {primary.get('rolloutState', 'unknown')}"
        if int(svc.get("runningCount", 0)) < capacity:
            return False, f"{svc.get('runningCount', 0)}/{capacity} tasks running"
        return True, f"{capacity} tasks running"

    def scale_down(self, slot: str) -> None:
        if int(self._services()[slot]["desiredCount"]) == 0:
            return
        self.executor.call(
            "ecs",
            "UpdateService",
            cluster=self.ecs_cfg.cluster,
            service=self.service_name(slot),
            desiredCount=0,
        )

    # ------------------------------------------------------------------ traffic parameters (cutover.colours) -
    def _recorded_weights(self) -> dict[str, int] | None:
        from deckwatch.cutover import colours

        names = [f"{colours.prefix(self.environment, self.svc.name)}/{c}" for c in COLOURS]
        found = self.clients("ssm").get_parameters(Names=names).get("Parameters", [])
        values = {p["Name"].rsplit("/", 1)[-1]: p["Value"] for p in found}
        try:
            return {c: int(values[c]) for c in COLOURS}
        except (KeyError, ValueError):
            return None

    def _write_weights(self, wanted: dict[str, int]) -> None:
        from deckwatch.cutover import colours

        base = colours.prefix(self.environment, self.svc.name)
        for colour in COLOURS:
            self.executor.call(
                "ssm", "PutParameter", Name=f"{base}/{colour}", Value=str(wanted[colour]), Type="String", Overwrite=True
            )

    def _write_task_definition(self, slot: str, revision: str) -> None:
        """The revision the colour runs, in its traffic parameter (cutover.colours): the workload stack's ECS services
        take their task definition from it, so that a stack update re-sends this revision, not its own."""
        from deckwatch.cutover import colours

        name = colours.task_definition_parameter(self.environment, self.svc.name, slot)
        current = self.clients("ssm").get_parameters(Names=[name]).get("Parameters", [])
        if current and current[0]["Value"] == revision:
            return
        self.executor.call("ssm", "PutParameter", Name=name, Value=revision, Type="String", Overwrite=True)
