"""Drill fixtures: a real throwaway PostgreSQL (server binaries of the machine) serving every restored instance,
and a policy that connects to it without TLS (explicitly: `tls: disable`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from deckwatch.local.mock_services._postgres import Cluster


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    cluster = Cluster.start()  # fails loudly when the machine has no PostgreSQL server binaries
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def drill_policy(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The staging example policy, validating over plain TCP (a local PostgreSQL has no TLS)."""
    doc = yaml.safe_load((repo_root / "layers/deckwatch/deckwatch/policy/examples/staging.yaml").read_text())
    for target in doc["drills"]["targets"]:
        target["tls"] = "disable"
    path = tmp_path_factory.mktemp("policy") / "staging.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def reports_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("drill-reports")
