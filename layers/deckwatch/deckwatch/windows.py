"""Time windows, evaluated in one place: release windows and freezes, planned maintenance, drill hours and the
cost capability's working hours all use the policy's one window syntax (`deckwatch.policy.windows`), so they
agree with each other and daylight-saving time is handled once.

Two shapes, both in a named IANA time zone (`zoneinfo`; the layer ships `tzdata`, as Lambda's image has none):

- a weekly window: days of the week and a local time range, e.g. mon-fri 09:00-16:00 Europe/Paris;
- a period: from a date (or a local date and time) to another, e.g. a change freeze 2026-12-20 to 2027-01-04
  (a date `to` includes that whole day).

Local times are turned into instants day by day, with the offset in force on that day: a window of 09:00 opens
at 09:00 local on both sides of a DST change (08:00 UTC in winter, 07:00 UTC in summer in Paris). A local time
that does not exist (the hour skipped in spring) is read with the offset before the change, i.e. one hour later
on the clock (02:30 on the spring-forward day opens at 03:30); one that exists twice (autumn) is its first
occurrence. Touching or overlapping intervals of several windows are one stretch of open time, so "when does
this window close" is answered across midnight (fri 19:00-24:00 then sat 00:00-08:00 is one night).

Every verdict carries the window that allowed or blocked it (`Verdict.doc()`), for the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HORIZON_DAYS = 400  # how far ahead an opening is looked for (a year of freezes, then the next window)


class WeeklyLike(Protocol):
    """A weekly window as the policy model has it (`deckwatch.policy.windows.Window`)."""

    @property
    def weekdays(self) -> frozenset[int]: ...  # 0 = Monday
    @property
    def start(self) -> time: ...
    @property
    def end(self) -> time | None: ...  # None: midnight at the end of the day (24:00)
    @property
    def timezone(self) -> str: ...
    def label(self) -> str: ...


class PeriodLike(Protocol):
    """A dated period (`deckwatch.policy.windows.Period`): `start`/`end` are dates or naive local datetimes."""

    @property
    def first(self) -> date | datetime: ...
    @property
    def last(self) -> date | datetime: ...
    @property
    def timezone(self) -> str: ...
    def label(self) -> str: ...


@cache
def zone(name: str) -> ZoneInfo:
    """The time zone `name` (raises ZoneInfoNotFoundError or ValueError for an unknown or malformed name)."""
    return ZoneInfo(name)


def local_instant(day: date, at: time | None, tz: ZoneInfo) -> datetime:
    """The UTC instant of local `at` on `day` in `tz` (None: 24:00, the next day's midnight)."""
    if at is None:
        day, at = day + timedelta(days=1), time(0, 0)
    # fold=0: a skipped local time is read with the offset before the change, a repeated one is its first time
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant with its offset (Z or +01:00), as UTC. A time without an offset is refused: which
    zone it meant cannot be guessed."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone offset (write e.g. 2027-01-10T06:00:00Z or ...+01:00)")
    return value.astimezone(UTC)


def iso(instant: datetime) -> str:
    """UTC, to the second, with Z: the format Step Functions' Wait TimestampPath reads."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime
    label: str


def weekly_intervals(window: WeeklyLike, since: datetime, until: datetime) -> list[Interval]:
    """The window's occurrences that end after `since` and start before `until`."""
    tz = zone(window.timezone)
    day = since.astimezone(tz).date() - timedelta(days=1)  # yesterday's window may still be open
    last = until.astimezone(tz).date()
    out = []
    while day <= last:
        if day.weekday() in window.weekdays:
            start, end = local_instant(day, window.start, tz), local_instant(day, window.end, tz)
            if end > since and start < until and end > start:
                out.append(Interval(start, end, window.label()))
        day += timedelta(days=1)
    return out


def period_interval(period: PeriodLike) -> Interval:
    tz = zone(period.timezone)
    first, last = period.first, period.last
    start = first.replace(tzinfo=tz) if isinstance(first, datetime) else local_instant(first, time(0, 0), tz)
    # a date `to` includes its whole day
    end = last.replace(tzinfo=tz) if isinstance(last, datetime) else local_instant(last, None, tz)
    return Interval(start.astimezone(UTC), end.astimezone(UTC), period.label())


def merged(intervals: Iterable[Interval]) -> list[Interval]:
    """Overlapping or touching intervals as one, labelled with every window that makes it up."""
    out: list[Interval] = []
    for i in sorted(intervals, key=lambda x: (x.start, x.end)):
        if out and i.start <= out[-1].end:
            prev = out[-1]
            labels = prev.label if i.label in prev.label.split(" + ") else f"{prev.label} + {i.label}"
            out[-1] = Interval(prev.start, max(prev.end, i.end), labels)
        else:
            out.append(i)
    return out


@dataclass(frozen=True)
class Verdict:
    """Whether `at` is inside the windows, which window says so, and the next change."""

    open: bool
    at: datetime
    window: str | None = None  # the window (or windows, merged) that is open at `at`, or the next one to open
    opens_at: datetime | None = None  # closed: when the next window opens (None: none within the horizon)
    closes_at: datetime | None = None  # open: when this stretch of open time ends (None: no windows, always)

    def doc(self) -> dict[str, Any]:
        """The ledger's account of this verdict."""
        out: dict[str, Any] = {"open": self.open, "at": iso(self.at), "window": self.window or "always"}
        if self.opens_at is not None:
            out["opens_at"] = iso(self.opens_at)
        if self.closes_at is not None:
            out["closes_at"] = iso(self.closes_at)
        return out


def check(windows: Sequence[WeeklyLike], at: datetime, horizon_days: int = 14) -> Verdict:
    """Is `at` inside one of the weekly `windows`? No windows at all means always open."""
    if not windows:
        return Verdict(open=True, at=at)
    spans = merged(i for w in windows for i in weekly_intervals(w, at, at + timedelta(days=horizon_days)))
    for span in spans:
        if span.start <= at < span.end:
            return Verdict(open=True, at=at, window=span.label, closes_at=span.end)
        if span.start > at:
            return Verdict(open=False, at=at, window=span.label, opens_at=span.start)
    return Verdict(open=False, at=at)


def active[P: PeriodLike](periods: Sequence[P], at: datetime) -> P | None:
    """The first of `periods` that covers `at`, or None."""
    for p in periods:
        span = period_interval(p)
        if span.start <= at < span.end:
            return p
    return None


def next_open(
    windows: Sequence[WeeklyLike], blocked: Sequence[PeriodLike], at: datetime, horizon_days: int = HORIZON_DAYS
) -> Verdict:
    """The first instant from `at` on that is inside `windows` and outside every period of `blocked` (e.g. a
    freeze that is waited out). `opens_at` is None when there is none within the horizon."""
    moment = at
    end = at + timedelta(days=horizon_days)
    while moment < end:
        verdict = check(windows, moment, horizon_days=14)
        if not verdict.open:
            if verdict.opens_at is None:
                return Verdict(open=False, at=at)
            moment = verdict.opens_at
            continue
        period = active(blocked, moment)
        if period is None:
            return verdict if moment == at else Verdict(False, at, verdict.window, opens_at=moment)
        moment = period_interval(period).end
    return Verdict(open=False, at=at)


def describe(verdict: Verdict, zone_name: str | None = None) -> str:
    """A sentence for people: the instants in the window's own time zone when one is given."""

    def local(instant: datetime) -> str:
        if zone_name:
            return instant.astimezone(zone(zone_name)).strftime(f"%a %Y-%m-%d %H:%M {zone_name}")
        return iso(instant)

    if verdict.open:
        if verdict.closes_at is None:
            return "no release windows: always open"
        return f"inside {verdict.window} until {local(verdict.closes_at)}"
    if verdict.opens_at is None:
        return "no window opens within the horizon"
    return f"outside the windows; {verdict.window} opens {local(verdict.opens_at)}"
