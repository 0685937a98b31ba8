"""The policy's one window syntax (evaluated by `deckwatch.windows`), and the sections built on it: release
windows and change freezes (per environment, optionally per service), planned maintenance, drill hours and the
cost capability's working hours.

    release:
      windows:                      # when cutovers may shift traffic; none: always
        - {days: [mon-fri], from: "09:00", to: "16:00", timezone: Europe/Paris}
      freezes:                      # dated: a date `to` includes that day
        - {from: 2026-12-20, to: 2027-01-04, timezone: Europe/Paris, reason: year-end freeze,
           emergency_override: {approval: required}}
      outside_window: wait          # or refuse
      bake_crossing_end: pause      # or complete

Times are quoted ("09:00"): YAML reads 16:00 unquoted as the number 960. `to: "24:00"` is the end of the day; a
window over midnight is two windows (fri 19:00-24:00 and sat 00:00-08:00), which count as one stretch.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, time
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from deckwatch.windows import DAYS


def _bad(message: str) -> PydanticCustomError:
    """A field's error as people read it (pydantic would prefix a ValueError's message with "Value error, ")."""
    return PydanticCustomError("window", message)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


def _zone(name: str) -> str:
    from zoneinfo import ZoneInfoNotFoundError

    from deckwatch.windows import zone

    try:
        zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _bad(f"unknown time zone {name!r} (an IANA name, e.g. Europe/Paris or UTC)") from None
    return name


TimeZone = Annotated[str, Field(min_length=1, max_length=64, description="An IANA time zone, e.g. Europe/Paris.")]
ResourceKey = Annotated[
    str,
    Field(
        pattern=r"^(ecs|rds|service|lambda|alarm):[^\s]+$",
        max_length=512,
        description="ecs:<cluster>/<service>, rds:<db>, service:<policy service>, lambda:<function>:<alias> or "
        "alarm:<alarm name>; '*' matches any characters (alarm:shop-prod-db-*).",
    ),
]


def _clock(value: Any, field: str, *, end: bool) -> time | None:
    if isinstance(value, int) and not isinstance(value, bool):
        raise _bad(f'write the time in quotes, e.g. "16:00" (YAML reads an unquoted time as the number {value})')
    if not isinstance(value, str):
        raise _bad(f"{field}: a time HH:MM in quotes")
    text = value.strip()
    if end and text == "24:00":
        return None
    try:
        hours, minutes = text.split(":")
        if len(hours) != 2 or len(minutes) != 2:
            raise ValueError
        return time(int(hours), int(minutes))
    except ValueError:
        upper = "24:00" if end else "23:59"
        raise _bad(f"{text!r} is not a time HH:MM from 00:00 to {upper}") from None


def _days(items: list[str]) -> frozenset[int]:
    """mon..sun and ranges (mon-fri; a range may wrap: fri-mon is fri, sat, sun, mon). A day given twice is an
    error: it is always a mistake in the list."""
    seen: dict[int, str] = {}
    for item in items:
        text = str(item).strip().lower()
        first, _, last = text.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise _bad(f"unknown day {item!r} (mon, tue, wed, thu, fri, sat, sun, or a range like mon-fri)")
        a, b = DAYS.index(first), DAYS.index(last or first)
        span = [(a + i) % 7 for i in range((b - a) % 7 + 1)]
        for d in span:
            if d in seen:
                raise _bad(f"{DAYS[d]} is given twice (in {seen[d]!r} and {item!r})")
            seen[d] = str(item)
    return frozenset(seen)


class Window(_Strict):
    """A weekly window: these days, from a local time to another, in a time zone."""

    days: list[Annotated[str, Field(min_length=3, max_length=7)]] = Field(
        min_length=1, description="mon..sun, or ranges like mon-fri."
    )
    from_: str = Field(alias="from", description='Local opening time, "HH:MM" (quoted).')
    to: str = Field(description='Local closing time, "HH:MM" (quoted), later than from; "24:00" is midnight.')
    timezone: TimeZone

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _quoted(cls, value: Any) -> Any:
        _clock(value, "time", end=True)
        return value

    @field_validator("days")
    @classmethod
    def _valid_days(cls, days: list[str]) -> list[str]:
        _days(days)
        return days

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        return _zone(name)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.from_.strip() == "24:00":
            raise ValueError('from: "24:00" is the end of a day, not a start')
        end = self.end
        if end is not None and end <= self.start:
            raise ValueError(
                f"to: {self.to} is not later than from {self.from_} (a window over midnight is two windows: "
                f'... to: "24:00", then from: "00:00" on the next days)'
            )
        return self

    @property
    def weekdays(self) -> frozenset[int]:
        return _days(self.days)

    @property
    def start(self) -> time:
        found = _clock(self.from_, "from", end=False)
        return found if found is not None else time(0, 0)

    @property
    def end(self) -> time | None:
        return _clock(self.to, "to", end=True)

    def label(self) -> str:
        return f"{','.join(self.days)} {self.from_}-{self.to} {self.timezone}"

    def overlaps(self, other: Window) -> str | None:
        """The first day both windows are open at the same local time (same time zone only), or None."""
        if self.timezone != other.timezone:
            return None
        for d in sorted(self.weekdays & other.weekdays):
            a_end, b_end = self.end or time.max, other.end or time.max
            if self.start < b_end and other.start < a_end:
                return DAYS[d]
        return None


class Period(_Strict):
    """A dated period: from a date (or local date and time) to another, in a time zone. A date `to` includes
    that whole day."""

    from_: date | datetime = Field(alias="from", description="First day (YYYY-MM-DD) or local time (YYYY-MM-DDTHH:MM).")
    to: date | datetime = Field(description="Last day (included) or local end time.")
    timezone: TimeZone

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        return _zone(name)

    @field_validator("from_", "to")
    @classmethod
    def _naive(cls, value: date | datetime) -> date | datetime:
        if isinstance(value, datetime) and value.tzinfo is not None:
            raise _bad("a local time without an offset: the period's timezone says which")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        from deckwatch.windows import period_interval

        span = period_interval(self)
        if span.end <= span.start:
            raise ValueError(f"to: {self.to} is before from {self.from_}")
        return self

    @property
    def first(self) -> date | datetime:
        return self.from_

    @property
    def last(self) -> date | datetime:
        return self.to

    def label(self) -> str:
        return f"{self.from_} to {self.to} {self.timezone}"


class EmergencyOverride(_Strict):
    approval: Literal["required"] = Field(
        default="required", description="An override is a release request naming its reason, approved by a person."
    )


class Freeze(Period):
    """A change freeze: no release starts while it lasts, unless its emergency override is approved."""

    reason: str = Field(min_length=1, max_length=300)
    emergency_override: EmergencyOverride | None = Field(
        default=None,
        description="Allow an emergency release during the freeze: it must name its reason and be approved "
        "(none: no release at all).",
    )

    def label(self) -> str:
        return f"freeze {self.from_} to {self.to} {self.timezone} ({self.reason})"


def no_overlap(windows: list[Window], field: str) -> None:
    """Two windows open at the same time are one window written twice, or a typo: refused, naming both (which
    of the two would have allowed a decision could not be said)."""
    for (i, a), (j, b) in itertools.combinations(enumerate(windows), 2):
        day = a.overlaps(b)
        if day is not None:
            raise ValueError(f"{field}[{j}]: overlaps {field}[{i}] on {day} ({b.label()} and {a.label()})")


class Release(_Strict):
    """When cutovers may shift traffic. In `services[].release`, a field that is set replaces the environment's
    (freezes add to the environment's)."""

    windows: list[Window] | None = Field(
        default=None, description="Weekly windows in which cutovers shift traffic (none: always)."
    )
    freezes: list[Freeze] = Field(default_factory=list, description="Dated change freezes.")
    outside_window: Literal["wait", "refuse"] | None = Field(
        default=None,
        description="A release triggered outside the windows: wait (planned, starts when the next window opens; "
        "the default) or refuse (with a notification).",
    )
    bake_crossing_end: Literal["pause", "complete"] | None = Field(
        default=None,
        description="A step whose bake would end after the window closes: pause (hold the traffic where it is, "
        "watched, until the next window; the default) or complete (carry on to the end).",
    )

    @model_validator(mode="after")
    def _windows_distinct(self) -> Self:
        no_overlap(list(self.windows or []), "windows")
        return self


class Maintenance(_Strict):
    """Planned maintenance scheduled in the policy: while any of its windows or periods is open, alarms on its
    resources are recorded and not remediated or paged, and drills and cost savings leave them alone."""

    resources: list[ResourceKey] = Field(min_length=1)
    reason: str = Field(min_length=1, max_length=300)
    windows: list[Window] = Field(default_factory=list, description="Weekly maintenance windows.")
    periods: list[Period] = Field(default_factory=list, description="Dated maintenance periods.")

    @model_validator(mode="after")
    def _when(self) -> Self:
        if not self.windows and not self.periods:
            raise _bad("give windows or periods: when is this maintenance?")
        no_overlap(self.windows, "windows")
        return self
