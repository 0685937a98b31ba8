"""Drill fixtures: a real throwaway PostgreSQL (server binaries of the machine, TLS with a throwaway CA) serving
every restored database, and each test's fresh start. Per-module runtimes are in the test modules (`rt`), helpers
in support/drills.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from deckwatch.local.mock_services import backup
from deckwatch.local.mock_services._postgres import Cluster
from deckwatch.local.runtime import LocalAWS
from support.drills import STAGING_POLICY, serve


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


@pytest.fixture(autouse=True)
def fresh(rt: LocalAWS, postgres: Cluster) -> Iterator[None]:
    """Every test starts from the fixture data, restores that complete, served by the real PostgreSQL."""
    backup.controls().outcome = "COMPLETED"
    backup.controls().restore_seconds = 900.0
    serve(postgres)
    postgres.load_fixture()
    yield
    postgres.load_fixture()
