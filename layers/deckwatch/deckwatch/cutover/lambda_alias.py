"""Lambda behind an alias: slots are published versions, traffic is the alias's weighted routing.
Observed state = the alias's FunctionVersion and its AdditionalVersionWeights."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deckwatch.cutover.errors import ArtifactError, TargetNotFoundError, TrafficShiftError
from deckwatch.cutover.router import Observed, Prepared, register
from deckwatch.errors import ActionError
from deckwatch.locks import resource_key

if TYPE_CHECKING:
    from deckwatch.actions import Executor
    from deckwatch.aws import Clients
    from deckwatch.policy.model import Service


@register("lambda")
class LambdaAliasRouter:
    def __init__(self, service: Service, clients: Clients, executor: Executor, environment: str) -> None:
        if service.function is None:
            raise TargetNotFoundError(f"service {service.name} has no lambda target")
        self.fn = service.function.function
        self.alias = service.function.alias
        self.clients = clients
        self.executor = executor
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self.clients("lambda")
        return self._client

    def lock_keys(self) -> list[str]:
        return [resource_key("lambda", self.fn, self.alias)]

    def resolved(self) -> dict[str, Any]:
        return {}  # the alias is named in the policy: nothing to look up

    def pin(self, resolved: dict[str, Any]) -> None:
        return None

    def _alias(self) -> dict[str, Any]:
        try:
            return dict(self.client.get_alias(FunctionName=self.fn, Name=self.alias))
        except self.client.exceptions.ResourceNotFoundException:
            raise TargetNotFoundError(f"alias {self.fn}:{self.alias} not found") from None

    def observe(self) -> Observed:
        alias = self._alias()
        extra = {
            str(v): round(float(w) * 100)
            for v, w in (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights", {}).items()
        }
        primary = str(alias["FunctionVersion"])
        weights = {primary: 100 - sum(extra.values()), **extra}
        return Observed(weights=weights, revisions={v: v for v in weights}, capacity=dict.fromkeys(weights, 1))

    def prepare(self, observed: Observed, target: dict[str, str]) -> Prepared:
        version = target.get("version")
        if version is None and "image" in target:
            self.executor.call("lambda", "UpdateFunctionCode", FunctionName=self.fn, ImageUri=target["image"])
            out = self.executor.call("lambda", "PublishVersion", FunctionName=self.fn)
            version = str(out.get("Version", "<new version>"))
        if version is None:
            raise ArtifactError(f"a Lambda cutover needs a version or an image, got {sorted(target)}")
        return Prepared(version, version, target.get("image", ""))

    def deploy(self, slot: str, revision: str, capacity: int) -> None:
        return  # a published version is immutable: nothing to deploy, only to verify

    def stable(self, slot: str, revision: str, capacity: int) -> tuple[bool, str]:
        try:
            cfg = self.client.get_function_configuration(FunctionName=self.fn, Qualifier=revision)
        except self.client.exceptions.ResourceNotFoundException:
            raise TargetNotFoundError(f"{self.fn} has no version {revision}") from None
        state = cfg.get("State", "Active")
        return state == "Active", f"version {revision} {state}"

    def restore(self, stable: str, new: str, *, capacity: int = 0) -> int:
        """A rollback: the alias is one read and one update, as fast as a shift."""
        before = self.observe().weights.get(new, 0)
        self.shift(stable, new, 0)
        return before

    def shift(self, stable: str, new: str, weight: int, *, capacity: int = 0) -> bool:
        current = self.observe().weights
        if weight >= 100:
            wanted: dict[str, Any] = {"FunctionVersion": new, "RoutingConfig": {"AdditionalVersionWeights": {}}}
            if current == {new: 100}:
                return False
        elif weight <= 0:
            wanted = {"FunctionVersion": stable, "RoutingConfig": {"AdditionalVersionWeights": {}}}
            if current == {stable: 100}:
                return False
        else:
            wanted = {"FunctionVersion": stable, "RoutingConfig": {"AdditionalVersionWeights": {new: weight / 100}}}
            if current == {stable: 100 - weight, new: weight}:
                return False
        expected = {new: weight, stable: 100 - weight} if 0 < weight < 100 else {new if weight else stable: 100}

        def routed_as_wanted() -> tuple[bool, dict[str, int]]:
            seen = self.observe().weights
            return {k: v for k, v in seen.items() if v} == {k: v for k, v in expected.items() if v}, seen

        try:
            self.executor.call("lambda", "UpdateAlias", FunctionName=self.fn, Name=self.alias, **wanted)
        except ActionError as exc:
            if self.executor.dry_run:
                raise TrafficShiftError(f"UpdateAlias {new}={weight}% failed: {exc}") from exc
            applied, _ = routed_as_wanted()
            self.executor.resolve(applied, "alias re-read")
            if not applied:
                raise TrafficShiftError(f"UpdateAlias {new}={weight}% failed: {exc}") from exc
            return True  # applied, only its answer was lost
        if not self.executor.dry_run:
            applied, seen = routed_as_wanted()
            if not applied:
                raise TrafficShiftError(f"UpdateAlias {new}={weight}%: the alias routes {seen} afterwards")
        return True

    def unhealthy(self, slot: str) -> list[str]:
        return []  # a version has no targets; its alarms (errors, throttles) are what the bake watches

    def scale_down(self, slot: str) -> None:
        return  # versions cost nothing idle

    def point_test(self, slot: str) -> str | None:
        return None  # a version is invoked by its number: there is no test route to point
