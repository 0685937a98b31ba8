"""What moto lacks and Deckwatch needs, as stateful extensions of moto's own backends: one module per AWS
service in this package (AWS Backup jobs and restores, Cost Explorer anomalies and forecasts, alarm evaluation,
CodePipeline state...), each shaped by botocore's service model. Together with `moto_patches`, this package is
the one place where Deckwatch changes moto.

A service module defines `install() -> None` (patch moto once per process; idempotent) and may define
`seed(runtime) -> None` (fill the embedded AWS from the policy's demo world after the stack is deployed).
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any


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
