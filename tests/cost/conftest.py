"""Fixtures of the cost tests (helpers are in support/cost.py)."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def fresh() -> str:
    return str(uuid.uuid4())
