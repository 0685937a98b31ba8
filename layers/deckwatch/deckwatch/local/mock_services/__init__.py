"""What moto lacks and Deckwatch needs, as stateful extensions of moto's own backends: one module per AWS
service in this package (AWS Backup jobs and restores, Cost Explorer anomalies and forecasts, alarm evaluation,
CodePipeline state...), each shaped by botocore's service model. Together with `moto_patches`, this package is
the one place where Deckwatch changes moto.

A service module defines `install() -> None` (patch moto once per process; idempotent) and may define
`seed(runtime) -> None` (fill the embedded AWS from the policy's demo world after the stack is deployed: kept in
the deployment's snapshot) and `refresh(runtime) -> None` (what depends on the clock, at every start: recovery
points a few minutes old, the last 45 days of cost).

What the extensions keep beside moto's backends (restores in progress, injected faults, scripted functions...)
lives in one `Mocks` object owned by the running embedded AWS: a new runtime starts with a new one, and a
snapshot of the deployed world carries it along with moto's backends.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deckwatch.local.mock_services._backup_jobs import Controls
    from deckwatch.local.mock_services.awslambda import LambdaState
    from deckwatch.local.mock_services.ecs import EcsState
    from deckwatch.local.mock_services.elbv2 import ElbState
    from deckwatch.local.mock_services.faults import FaultState
    from deckwatch.local.mock_services.traffic import TrafficState


def _factory(module: str, name: str) -> Any:
    def make() -> Any:
        return getattr(importlib.import_module(f"{__name__}.{module}"), name)()

    return make


@dataclass
class Mocks:
    backup: Controls = field(default_factory=_factory("_backup_jobs", "Controls"))
    ecs: EcsState = field(default_factory=_factory("ecs", "EcsState"))
    elbv2: ElbState = field(default_factory=_factory("elbv2", "ElbState"))
    faults: FaultState = field(default_factory=_factory("faults", "FaultState"))
    awslambda: LambdaState = field(default_factory=_factory("awslambda", "LambdaState"))
    traffic: TrafficState = field(default_factory=_factory("traffic", "TrafficState"))


_detached: Mocks | None = None


def current() -> Mocks:
    """The running embedded AWS's extension state (moto used without a runtime, as some unit tests do: one of
    its own)."""
    global _detached  # noqa: PLW0603 - moto without a runtime is process-wide; so is its extension state
    from deckwatch.local import moto_patches

    if moto_patches.HOOKS.mocks is not None:
        return moto_patches.HOOKS.mocks
    if _detached is None:
        _detached = Mocks()
    return _detached


def client(service: str, region: str | None = None) -> Any:
    """A client of the embedded AWS, for the extensions' own calls (the running runtime's; without one, moto's)."""
    from deckwatch.local import moto_patches

    runtime = moto_patches.HOOKS.runtime
    if runtime is not None:
        return runtime.client(service, region=region)
    import boto3

    return boto3.client(service, region_name=region or "us-east-1")  # type: ignore[call-overload]


def _modules() -> list[ModuleType]:
    return [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name)
        if not info.name.startswith("_")
    ]


def install() -> None:
    for module in _modules():
        module.install()


def seed(runtime: Any) -> None:
    for module in _modules():
        if hasattr(module, "seed"):
            module.seed(runtime)


def refresh(runtime: Any) -> None:
    for module in _modules():
        if hasattr(module, "refresh"):
            module.refresh(runtime)
