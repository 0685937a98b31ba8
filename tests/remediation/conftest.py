"""Fixtures of the remediation tests (helpers are in remediation_helpers.py: conftest modules share one name)."""

from remediation_helpers import rt, staging_policy

__all__ = ["rt", "staging_policy"]
