"""The month's plan: what happens to each environment and when, from a seed (a pure function: the same days and
seed give the same plan).

Times are seconds from the start of the simulated month, whose day 0 begins at 09:00 (`HOUR0`); quiet hours are
02:00-05:00. Per 30 days (counts scale with the days; the special cases are placed at fixed fractions of the period,
so that a 3-day run has each of them once):

- about 40 releases (ordinary ones: dev 13, staging 8, prod 7; then the special ones) through the workload's
  pipelines (web, api; the worker's too, twice a month, cut over by its share of the queue's consumers, and in
  staging one bad worker release, rolled back on its failed messages); one in six is bad (30% errors),
  one in eight slow (p99 of 450 ms); in prod one is rejected at the manual approval; in staging one is
  superseded while another's cutover runs (the first stack update switched shop-api to SUPERSEDED) and one is
  rolled back by a person (`deckwatch rollback`); in each environment one runs while the workload stack is
  updated;
- per environment, 2 workload stack updates in quiet hours and 1 during a cutover;
- CPU alarm storms (a surge of three times the load on web, the first one during a cutover of web) and a storage
  alarm storm (the database's free-storage alarm flapping while a drill holds the database), an RDS Multi-AZ
  failover;
- daily backups at 05:00 (the drills sample them weekly), one of them finishing with a stale recovery point;
- a cost runaway in staging (Cost Anomaly Detection) with night-time savings and morning resumes;
- duplicate (5%) and late (3%: out of order) deliveries of the pipelines' events;
- a policy change pushed mid-month (staging's web canary gets a 50% step and 5-minute bakes).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

HOUR = 3600.0
DAY = 24 * HOUR
HOUR0 = 9  # the simulated month starts at 09:00
RELEASES_PER_30_DAYS = {"dev": 13, "staging": 8, "prod": 7}  # ordinary ones; with the special ones about 40
SERVICES = ("web", "api")


@dataclass(frozen=True)
class Step:
    at: float  # seconds from the start
    environment: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def when(self) -> str:
        return clock_text(self.at)


def clock_text(at: float) -> str:
    """'d02 14:35' for `at` seconds from the start (day 0 at 09:00)."""
    hours = at / HOUR + HOUR0
    day, hour = divmod(hours, 24)
    minutes = (hour - int(hour)) * 60
    return f"d{int(day):02d} {int(hour):02d}:{int(minutes):02d}"


def at_hour(day: int, hour: float) -> float:
    """Seconds from the start at `hour` o'clock of day `day` (day 0 starts at HOUR0)."""
    return day * DAY + (hour - HOUR0) * HOUR


def plan(days: int, seed: int, environments: tuple[str, ...] = ("dev", "staging", "prod")) -> list[Step]:
    steps: list[Step] = []
    for env in environments:  # each environment's plan depends on the seed only, not on the others run
        mine = sorted(_environment(env, days, random.Random(f"{seed}:{env}")), key=lambda s: (s.at, s.kind))  # noqa: S311
        n = 0
        for step in mine:  # releases numbered in the order they happen
            if step.kind == "release":
                n += 1
                step.params["n"] = n
        steps += mine
    return sorted(steps, key=lambda s: (s.at, s.environment, s.kind))


def _working_time(rng: random.Random, day: int) -> float:
    return at_hour(day, rng.uniform(9.5, 17.5))


def _frac(days: int, fraction: float, hour: float) -> float:
    """A moment at `hour` o'clock of the day `fraction` of the way through the period (never before the start)."""
    day = min(days - 1, int(days * fraction))
    if hour < HOUR0 and day == 0:
        day = 1
    return at_hour(min(day, days), hour)


def _environment(env: str, days: int, rng: random.Random) -> list[Step]:
    steps: list[Step] = []
    count = max(2, round(RELEASES_PER_30_DAYS[env] * days / 30))
    n = 0

    def release(at: float, service: str, **params: Any) -> None:
        nonlocal n
        n += 1
        steps.append(Step(at, env, "release", {"service": service, "n": n, **params}))

    # ordinary releases, in working hours, each tagged good, bad or slow
    for _ in range(count):
        service = rng.choice(SERVICES)
        quality = rng.choices(["good", "bad", "slow"], weights=[17, 4, 3])[0]
        release(_working_time(rng, rng.randrange(days)), service, quality=quality)
    # the worker's pipeline hands its releases to Deckwatch too
    for i in range(max(1, round(2 * days / 30))):
        release(at_hour(int(days * (0.2 + 0.5 * i)) % days, 11.0), "worker", quality="good")
    # special releases, at fixed fractions of the period
    if env == "prod":
        release(_frac(days, 0.45, 14.0), "web", quality="good", approval="reject")
    if env == "staging":
        release(_frac(days, 0.30, 10.0), "web", quality="good", rollback_by_person=1500.0)
        burst = _frac(days, 0.55, 11.0)  # after the first stack update switched shop-api to SUPERSEDED
        for i, delay in enumerate((0.0, 420.0, 840.0)):
            release(burst + delay, "api", quality="good", burst=i)
        release(_frac(days, 0.80, 15.0), "web", quality="bad")
        release(_frac(days, 0.90, 14.0), "worker", quality="bad")  # its failed messages roll it back
    release(_frac(days, 0.70, 10.0), "web", quality="good", stack_update_at=900.0)  # the update during a cutover
    # stack updates in quiet hours (the one during a cutover is the release above, in staging)
    quiet = [_frac(days, 0.15, 3.0), _frac(days, 0.85, 3.5)]
    if env == "staging":
        steps.append(Step(quiet[0], env, "stack-update", {"change": "supersede-api", "quiet": True}))
        steps.append(Step(quiet[1], env, "stack-update", {"change": "health-check", "quiet": True}))
    else:
        steps.append(Step(quiet[0], env, "stack-update", {"change": "tags", "quiet": True}))
        steps.append(Step(quiet[1], env, "stack-update", {"change": "health-check", "quiet": True}))
    # alarm storms and a failover: the first CPU storm hits web in the middle of a cutover of web (remediation must
    # leave the colours to the cutover's lock), the storage storm a database a drill holds
    steps.append(Step(_frac(days, 0.25, 12.0), env, "cpu-storm", {"service": "web", "factor": 3.0, "minutes": 40}))
    # its cutover starts 5 minutes after the release (the build), in prod after ApproveProd's 30 minutes too
    release(_frac(days, 0.25, 11.75 - (0.5 if env == "prod" else 0.0)), "web", quality="good")
    if days >= 10:
        steps.append(Step(_frac(days, 0.65, 16.0), env, "cpu-storm", {"service": "api", "factor": 3.0, "minutes": 35}))
    drill_day = min(days, max(1, 1 + 7 * round((0.4 * days - 1) / 7)))  # a day the weekly sampling drills
    steps.append(Step(at_hour(drill_day, 5.1), env, "storage-storm", {"flaps": 4, "minutes": 50}))
    steps.append(Step(_frac(days, 0.50, 4.0), env, "rds-failover", {"seconds": 95}))
    # backups every day at 05:00; one finishes with a stale recovery point (on a day the weekly sampling drills)
    stale = 1 + 7 * ((days - 1) // 14)
    for day in range(1, days + 1):
        steps.append(Step(at_hour(day, 5.0), env, "backup", {"stale_hours": 40.0 if day == stale else 0.0}))
    # cost: a runaway in staging, night-time savings and morning resumes
    if env == "staging":
        night = int(days * 0.2)
        steps.append(Step(at_hour(night, 22.5), env, "cost-anomaly", {"impact": 240.0}))
        steps.append(Step(at_hour(night + 1, 8.0), env, "resume", {}))
        if days >= 5:
            steps.append(Step(at_hour(night + 1, 22.5), env, "cost-anomaly", {"impact": 310.0}))
            steps.append(Step(at_hour(night + 2, 8.0), env, "resume", {}))
    # a policy change pushed mid-month
    if env == "staging":
        steps.append(Step(_frac(days, 0.5, 9.0), env, "policy-change", {"service": "web", "steps": [10, 50, 100],
                                                                          "bake_minutes": 5}))  # fmt: skip
    return steps
