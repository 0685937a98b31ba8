"""Fixtures of the cost tests (helpers are in cost_helpers.py: conftest modules share one name)."""

from cost_helpers import fresh

__all__ = ["fresh"]
