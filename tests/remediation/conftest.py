"""Fixtures of the remediation tests: a staging policy whose remediation rules cover every runbook, and a staging
runtime per test module (helpers are in support/remediation.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import yaml
from deckwatch.local.runtime import LocalAWS
from support.remediation import policy_doc, staging_rules


@pytest.fixture(scope="module")
def staging_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("policy") / "staging.yaml"
    path.write_text(yaml.safe_dump(policy_doc(rules=staging_rules())), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def rt(local_aws_factory: Callable[..., AbstractContextManager[LocalAWS]], staging_policy: Path) -> Iterator[LocalAWS]:
    """A staging runtime per test module, with the remediation tests' policy."""
    with local_aws_factory("staging", policy_file=staging_policy) as runtime:
        yield runtime
