"""The month CI runs (issue 12): 3 days, a fixed seed, all three environments, every promise kept (`make test`; not
in `make test-fast`); the full month is `make simulate`. A module of its own: the month opens its own embedded AWS
per environment."""

from __future__ import annotations

import json
from typing import Any

import pytest
from deckwatch.local.simulation.run import simulate
from support.samples import REPO_ROOT


@pytest.mark.slow
def test_three_days_keep_every_promise() -> None:
    """The month CI runs: 3 days, seed 7, all three environments (about a minute)."""
    month = simulate(REPO_ROOT, days=3, seed=7)
    assert month.ok, {r.environment: r.problems for r in month.results}
    by_env = {r.environment: r.summary for r in month.results}
    releases = {env: {r["n"]: r for r in s["releases"]} for env, s in by_env.items()}

    def outcomes(env: str, **where: Any) -> list[str]:
        return [r["cutover"] for r in releases[env].values() if all(r.get(k) == v for k, v in where.items())]

    # dev's policy is dry-run: plans only; the queue worker cuts over by its share of the queue's consumers: its
    # good releases ship everywhere, and staging's bad one is rolled back on its failed messages
    assert set(outcomes("dev", service="web")) == set(outcomes("dev", service="worker")) == {"dry-run"}
    assert set(outcomes("prod", service="worker")) == {"completed"}
    assert outcomes("staging", service="worker", quality="good") == ["completed"]
    (bad_worker,) = [r for r in releases["staging"].values() if r["service"] == "worker" and r["quality"] == "bad"]
    assert bad_worker["cutover"] == "rolled-back" and "error" in bad_worker["reason"]
    # staging: bad and slow releases rolled back by the canary analysis within one interval of their first step
    bad = [r for r in releases["staging"].values() if r["quality"] in ("bad", "slow")]
    assert bad and all(r["cutover"] == "rolled-back" and r["exposure_seconds"] <= 300 for r in bad)
    assert "superseded" in outcomes("staging") and by_env["staging"]["shipped"] >= 3
    assert any(r["reason"].startswith("manual:") for r in releases["staging"].values())
    # prod: the rejected release never reached Deckwatch; the others shipped or rolled back
    assert outcomes("prod", pipeline="Failed", cutover="not started")
    # remediation: the CPU storm hits web during its cutover and is refused (the cutover's lock); the storage storm
    # is refused while a drill holds the database, then acts once (verified), then cooldown
    for env in ("staging", "prod"):
        incidents = by_env[env]["incidents"]
        assert incidents["acted"] == 1 and incidents["mitigated"] == 1 and incidents["refused"] >= 4
        assert incidents["refused_locked"] == {"cutover": 1, "drills": 1}
        (drill,) = by_env[env]["drills"]
        assert drill["outcome"] == "failed" and drill["rpo_minutes"] > 1500  # the stale recovery point
    assert by_env["staging"]["savings"]["resumed"] == by_env["staging"]["savings"]["actions"] > 0
    assert all(s["world_changing_calls"] > 0 for env, s in by_env.items() if env != "dev")
    assert json.dumps(by_env)  # the summary is JSON
