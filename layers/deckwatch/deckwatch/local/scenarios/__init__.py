"""Scenarios of `deckwatch demo`, one module per capability (run in name order after the foundation's).

A scenario module defines `TITLE: str` and `run(root: pathlib.Path) -> None`; it starts its own LocalAWS and
narrates with `deckwatch.local.timeline.render`.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def all_scenarios() -> list[ModuleType]:
    return [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name)
        if not info.name.startswith("_")
    ]
