"""Subcommands that capabilities add to `deckwatch` (e.g. `incidents`, `drills`, `resume`, `rollback`).

A module here defines `register(subparsers) -> None`, adding its parsers with `set_defaults(func=...)`; a command
function takes the parsed arguments and returns the exit code (raise `deckwatch.local.cli.UsageError` for bad
input: one line, exit 2).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any


def register_all(subparsers: Any) -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}").register(subparsers)
