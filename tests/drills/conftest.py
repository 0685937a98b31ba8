"""Drill fixtures: a real throwaway PostgreSQL (server binaries of the machine, TLS with a throwaway CA) serving
every restored database. Per-module runtimes and helpers are in drill_helpers.py (conftest modules share one name)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from deckwatch.local.mock_services._postgres import Cluster
from drill_helpers import STAGING_POLICY, fresh

__all__ = ["fresh"]


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    cluster = Cluster.start()  # fails loudly when the machine has no PostgreSQL server binaries
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def drill_policy() -> Path:
    """The staging example policy as it is: validation over TLS, verify-full."""
    return STAGING_POLICY


@pytest.fixture(scope="session")
def reports_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("drill-reports")
