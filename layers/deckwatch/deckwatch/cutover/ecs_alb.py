"""ECS blue/green behind an ALB: one ECS service per colour, each in its own target group, and a production
listener forwarding to both by weight. Observed state = the listener's weights and the services' deployments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deckwatch.cutover.ecs_service import COLOURS, EcsColours
from deckwatch.cutover.errors import TargetNotFoundError, TrafficShiftError
from deckwatch.cutover.router import Observed, register
from deckwatch.errors import ActionError

if TYPE_CHECKING:
    from deckwatch.actions import Executor
    from deckwatch.aws import Clients
    from deckwatch.policy.model import Service

__all__ = ["COLOURS", "EcsAlbRouter"]


def _forwards_only_to(listener: dict[str, Any], target: str) -> bool:
    weighted = []
    for action in listener.get("DefaultActions", []):
        if action.get("Type") != "forward":
            continue
        groups = action.get("ForwardConfig", {}).get("TargetGroups") or [
            {"TargetGroupArn": action.get("TargetGroupArn"), "Weight": 1}
        ]
        weighted += [g["TargetGroupArn"] for g in groups if int(g.get("Weight", 1)) > 0]
    return weighted == [target]


@register("ecs")
class EcsAlbRouter(EcsColours):
    def __init__(self, service: Service, clients: Clients, executor: Executor, environment: str) -> None:
        if service.ecs is None or service.alb is None:
            raise TargetNotFoundError(f"service {service.name} has no ecs/alb target")
        super().__init__(service, service.ecs, clients, executor, environment)
        self.alb_cfg = service.alb
        self._elb: Any = None
        self._listener: str | None = None
        self._tgs: dict[str, str] = {}

    # ------------------------------------------------------------------ the load balancer -------------------
    @property
    def elb(self) -> Any:
        if self._elb is None:
            self._elb = self.clients("elbv2")
        return self._elb

    def target_groups(self) -> dict[str, str]:
        if not self._tgs:
            names = [str(getattr(self.alb_cfg.target_groups, c)) for c in COLOURS]
            found = self.elb.describe_target_groups(Names=names)["TargetGroups"]
            by_name = {tg["TargetGroupName"]: tg["TargetGroupArn"] for tg in found}
            self._tgs = {c: by_name[n] for c, n in zip(COLOURS, names, strict=True)}
        return self._tgs

    def listener(self, port: int | None = None) -> str:
        port = port or self.alb_cfg.listener_port
        if port == self.alb_cfg.listener_port and self._listener is not None:
            return self._listener
        lbs = self.elb.describe_load_balancers(Names=[self.alb_cfg.load_balancer])["LoadBalancers"]
        listeners = self.elb.describe_listeners(LoadBalancerArn=lbs[0]["LoadBalancerArn"])["Listeners"]
        match = [li for li in listeners if li["Port"] == port]
        if not match:
            raise TargetNotFoundError(f"no listener on port {port}")
        if port == self.alb_cfg.listener_port:
            self._listener = str(match[0]["ListenerArn"])
        return str(match[0]["ListenerArn"])

    def resolved(self) -> dict[str, Any]:
        return {"listener": self.listener(), "target_groups": self.target_groups()}

    def pin(self, resolved: dict[str, Any]) -> None:
        tgs = resolved.get("target_groups") or {}
        if resolved.get("listener") and set(tgs) == set(COLOURS):
            self._listener, self._tgs = str(resolved["listener"]), {c: str(tgs[c]) for c in COLOURS}

    def load_balancer_arn(self) -> str:
        lbs = self.elb.describe_load_balancers(Names=[self.alb_cfg.load_balancer])["LoadBalancers"]
        return str(lbs[0]["LoadBalancerArn"])

    # ------------------------------------------------------------------ observed state ----------------------
    def observe(self) -> Observed:
        return self._observed(self.weights(), self._services())

    def weights(self) -> dict[str, int]:
        """Where the production listener sends traffic now (percent per colour): one read once the router knows
        the listener and target groups."""
        tgs = self.target_groups()
        listener = self.elb.describe_listeners(ListenerArns=[self.listener()])["Listeners"][0]
        weights = dict.fromkeys(COLOURS, 0)
        for action in listener.get("DefaultActions", []):
            if action.get("Type") != "forward":
                continue
            groups = action.get("ForwardConfig", {}).get("TargetGroups") or [
                {"TargetGroupArn": action.get("TargetGroupArn"), "Weight": 1}
            ]
            total = sum(int(g.get("Weight", 1)) for g in groups) or 1
            for g in groups:
                for c, arn in tgs.items():
                    if g.get("TargetGroupArn") == arn:
                        weights[c] = round(100 * int(g.get("Weight", 1)) / total)
        return weights

    # ------------------------------------------------------------------ steps -------------------------------
    def deploy(self, slot: str, revision: str, capacity: int) -> None:
        """The idle colour at full capacity before it takes any traffic (the listener decides what it receives)."""
        self._deploy(slot, revision, capacity)

    def stable(self, slot: str, revision: str, capacity: int) -> tuple[bool, str]:
        ok, detail = self._rolled_out(self._services()[slot], revision, capacity)
        if not ok:
            return False, detail
        health = self._health(slot)
        healthy = sum(1 for s in health if s == "healthy")
        if healthy < capacity:
            return False, f"{healthy}/{capacity} targets healthy"
        return True, f"{capacity} tasks running, targets healthy"

    def _health(self, slot: str) -> list[str]:
        found = self.elb.describe_target_health(TargetGroupArn=self.target_groups()[slot])
        return [str(d["TargetHealth"]["State"]) for d in found.get("TargetHealthDescriptions", [])]

    def unhealthy(self, slot: str) -> list[str]:
        found = self.elb.describe_target_health(TargetGroupArn=self.target_groups()[slot])
        return [
            f"{d['Target']['Id']}: {d['TargetHealth'].get('Reason', d['TargetHealth']['State'])}"
            for d in found.get("TargetHealthDescriptions", [])
            if d["TargetHealth"]["State"] in ("unhealthy", "unavailable")
        ]

    def shift(self, stable: str, new: str, weight: int, *, capacity: int = 0) -> bool:
        """Send `weight` percent to `new`, the rest to `stable`, and verify it. False when already so.

        The traffic parameters (cutover.colours: what the workload stack's listeners are built from) are written
        first, then the listener; if the listener change fails, the parameters go back to what the listener does."""
        wanted = {new: weight, stable: 100 - weight}
        observed = self.weights()
        recorded = self._recorded_weights()
        if observed == wanted and recorded == wanted:
            return False
        if recorded != wanted:
            self._write_weights(wanted)
        if observed == wanted:
            return True
        self._modify(stable, new, weight, wanted)
        return True

    def restore(self, stable: str, new: str, *, capacity: int = 0) -> int:
        """A rollback's fast path: the listener to 100% on `stable` first (one read, then ModifyListener, verified),
        the traffic parameters after. Every call before the change is time the bad release keeps serving; shift()
        writes the parameters first because a planned step can wait. Returns the weight `new` had."""
        wanted = {new: 0, stable: 100}
        before = self.weights()
        if before != wanted:
            self._modify(stable, new, 0, wanted)
        if self._recorded_weights() != wanted:
            self._write_weights(wanted)
        return before.get(new, 0)

    def _modify(self, stable: str, new: str, weight: int, wanted: dict[str, int]) -> None:
        """ModifyListener, verified; a lost answer is settled by reading the listener, and on a failure the traffic
        parameters are set to what the listener does."""
        tgs = self.target_groups()
        groups = [
            {"TargetGroupArn": tgs[stable], "Weight": 100 - weight},
            {"TargetGroupArn": tgs[new], "Weight": weight},
        ]
        try:
            self.executor.call(
                "elbv2",
                "ModifyListener",
                ListenerArn=self.listener(),
                DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}],
            )
        except ActionError as exc:
            if self.executor.dry_run:
                raise TrafficShiftError(f"ModifyListener {new}={weight}% failed: {exc}") from exc
            seen = self.weights()
            self.executor.resolve(seen == wanted, "listener re-read")
            if seen == wanted:  # applied, only its answer was lost (a read timeout): the shift happened
                return
            self._write_weights(seen)
            raise TrafficShiftError(f"ModifyListener {new}={weight}% failed: {exc}") from exc
        if not self.executor.dry_run:
            seen = self.weights()
            if seen != wanted:
                self._write_weights(seen)
                raise TrafficShiftError(f"ModifyListener {new}={weight}%: the listener forwards {seen} afterwards")

    def point_test(self, slot: str) -> str | None:
        """The test listener (and the `test` traffic parameter) forward to `slot`; returns its target group."""
        from deckwatch.cutover import colours

        port = self.alb_cfg.test_listener_port
        if not port:
            return None
        tg_name = str(getattr(self.alb_cfg.target_groups, slot))
        name = f"{colours.prefix(self.environment, self.svc.name)}/test"
        current = self.clients("ssm").get_parameters(Names=[name]).get("Parameters", [])
        if not current or current[0]["Value"] != slot:
            self.executor.call("ssm", "PutParameter", Name=name, Value=slot, Type="String", Overwrite=True)
        arn = self.listener(port)
        listener = self.elb.describe_listeners(ListenerArns=[arn])["Listeners"][0]
        target = self.target_groups()[slot]
        if _forwards_only_to(listener, target):
            return tg_name
        self.executor.call(
            "elbv2",
            "ModifyListener",
            ListenerArn=arn,
            DefaultActions=[
                {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": target, "Weight": 100}]}}
            ],
        )
        if not self.executor.dry_run:
            after = self.elb.describe_listeners(ListenerArns=[arn])["Listeners"][0]
            if not _forwards_only_to(after, target):
                raise TrafficShiftError(f"test listener {port}: does not forward to {tg_name} after the change")
        return tg_name
