"""A month in the life (issue 12): a long, seeded simulation of a team's month on the embedded AWS, built from the
workload stack, with the system's promises checked after every event (`deckwatch simulate`)."""

from __future__ import annotations

from pathlib import Path

POLICIES = Path(__file__).resolve().parent / "policies"


def policy(environment: str) -> Path:
    """The simulation's policy of an environment: the example's, plus the workload's api service, weekly drills."""
    return POLICIES / f"{environment}.yaml"
