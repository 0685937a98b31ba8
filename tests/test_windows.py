"""The policy's window syntax and its evaluation (deckwatch.windows): weekly windows, dated periods, time zones and
daylight-saving changes; and bad windows in a policy are one line each, with file, line and field (exit 2)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from deckwatch import windows
from deckwatch.local.cli import main
from deckwatch.policy.windows import Freeze, Period, Window

PARIS = ZoneInfo("Europe/Paris")
OFFICE = Window.model_validate({"days": ["mon-fri"], "from": "09:00", "to": "16:00", "timezone": "Europe/Paris"})


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS).astimezone(UTC)


def test_inside_and_outside_a_weekday_window() -> None:
    inside = windows.check([OFFICE], paris(2027, 3, 17, 10))  # Wednesday 10:00
    assert inside.open and inside.closes_at == paris(2027, 3, 17, 16)
    assert inside.window == "mon-fri 09:00-16:00 Europe/Paris"
    friday = windows.check([OFFICE], paris(2027, 3, 19, 17))
    assert not friday.open and friday.opens_at == paris(2027, 3, 22, 9)  # Monday 09:00
    assert windows.check([OFFICE], paris(2027, 3, 19, 16)).open is False  # `to` is exclusive
    assert windows.check([], paris(2027, 3, 20, 3)).open  # no windows: always open


@pytest.mark.parametrize(
    ("friday", "monday_nine_utc"),
    [
        ((2027, 3, 19, 17), "2027-03-22T08:00:00"),  # winter time both sides: UTC+1
        ((2027, 3, 26, 17), "2027-03-29T07:00:00"),  # clocks go forward on Sunday 28 March: UTC+2 on Monday
        ((2027, 10, 29, 17), "2027-11-01T08:00:00"),  # clocks go back on Sunday 31 October: UTC+1 on Monday
    ],
)
def test_a_window_across_a_dst_change_opens_at_the_local_hour(friday: tuple[int, ...], monday_nine_utc: str) -> None:
    verdict = windows.check([OFFICE], paris(*friday))
    assert verdict.opens_at == utc(monday_nine_utc)
    assert verdict.opens_at is not None and verdict.opens_at.astimezone(PARIS).hour == 9


def test_a_window_spanning_the_changeover_night_lasts_one_hour_less() -> None:
    night = Window.model_validate({"days": ["sun"], "from": "01:00", "to": "05:00", "timezone": "Europe/Paris"})
    verdict = windows.check([night], paris(2027, 3, 28, 1, 30))
    assert verdict.open and verdict.closes_at == utc("2027-03-28T03:00:00")  # 05:00 CEST
    assert verdict.closes_at - paris(2027, 3, 28, 1) == (utc("2027-03-28T03:00:00") - utc("2027-03-28T00:00:00"))


def test_a_skipped_local_time_opens_an_hour_later_on_the_clock() -> None:
    skipped = Window.model_validate({"days": ["sun"], "from": "02:30", "to": "04:00", "timezone": "Europe/Paris"})
    opens = windows.check([skipped], paris(2027, 3, 28, 0)).opens_at
    assert opens == utc("2027-03-28T01:30:00") and opens.astimezone(PARIS).strftime("%H:%M") == "03:30"


def test_windows_that_touch_at_midnight_are_one_night() -> None:
    evening = Window.model_validate({"days": ["mon-fri"], "from": "19:00", "to": "24:00", "timezone": "UTC"})
    morning = Window.model_validate({"days": ["tue-sat"], "from": "00:00", "to": "08:00", "timezone": "UTC"})
    night = windows.check([evening, morning], utc("2027-03-17T22:00:00"))
    assert night.open and night.closes_at == utc("2027-03-18T08:00:00")
    assert night.window is not None and " + " in night.window


def test_a_freeze_includes_its_last_day_and_is_waited_out() -> None:
    freeze = Freeze.model_validate(
        {"from": "2026-12-20", "to": "2027-01-04", "timezone": "Europe/Paris", "reason": "year end"}
    )
    assert windows.active([freeze], paris(2027, 1, 4, 23, 59)) is freeze
    assert windows.active([freeze], paris(2027, 1, 5, 0, 0)) is None
    nxt = windows.next_open([OFFICE], [freeze], paris(2026, 12, 18, 17))
    assert nxt.opens_at == paris(2027, 1, 5, 9)  # the first window after the freeze


def test_a_period_with_local_times() -> None:
    p = Period.model_validate({"from": "2027-01-10T02:00", "to": "2027-01-10T06:00", "timezone": "Europe/Paris"})
    assert windows.active([p], paris(2027, 1, 10, 5, 59)) is p
    assert windows.active([p], paris(2027, 1, 10, 6, 0)) is None


def test_instants_need_an_offset() -> None:
    assert windows.parse_instant("2027-01-10T06:00:00+01:00") == utc("2027-01-10T05:00:00")
    with pytest.raises(ValueError, match="no time zone offset"):
        windows.parse_instant("2027-01-10T06:00:00")


# ------------------------------------------------------------------ bad windows in a policy ----------------------
BAD = {
    "timezone": ('{days: [mon-fri], from: "09:00", to: "16:00", timezone: Europe/Pariss}', "unknown time zone"),
    "from-after-to": ('{days: [mon], from: "17:00", to: "09:00", timezone: UTC}', "is not later than from"),
    "unquoted": ('{days: [mon], from: "09:00", to: 16:00, timezone: UTC}', "write the time in quotes"),
    "bad-day": ('{days: [moon], from: "09:00", to: "16:00", timezone: UTC}', "unknown day 'moon'"),
    "day-twice": ('{days: [mon-fri, wed], from: "09:00", to: "16:00", timezone: UTC}', "wed is given twice"),
    "bad-time": ('{days: [mon], from: "9h", to: "16:00", timezone: UTC}', "is not a time HH:MM"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_window_is_one_line_with_file_line_and_field(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    window, message = BAD[case]
    path = tmp_path / "bad.yaml"
    path.write_text(f"version: 1\nenvironment: staging\nrelease:\n  windows:\n    - {window}\n", encoding="utf-8")
    assert main(["policy", "validate", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}:5: release.windows[0].") and message in lines[0]


OTHER = {
    "overlap": (
        "release:\n  windows:\n"
        '    - {days: [mon-fri], from: "09:00", to: "16:00", timezone: Europe/Paris}\n'
        '    - {days: [wed], from: "15:00", to: "18:00", timezone: Europe/Paris}\n',
        ":6: release.windows[1]: overlaps windows[0] on wed",
    ),
    "freeze-backwards": (
        "release:\n  freezes:\n    - {from: 2027-01-04, to: 2026-12-20, timezone: Europe/Paris, reason: year end}\n",
        ":5: release.freezes[0].to: 2026-12-20 is before from 2027-01-04",
    ),
    "freeze-no-reason": (
        "release:\n  freezes:\n    - {from: 2027-01-04, to: 2027-01-05, timezone: Europe/Paris}\n",
        ":5: release.freezes[0].reason: Field required",
    ),
    "maintenance-unknown-service": (
        "maintenance:\n  - {resources: [service:nope], reason: patching, periods: "
        "[{from: 2027-01-10, to: 2027-01-10, timezone: UTC}]}\n",
        ":4: maintenance[0].resources[0]: no service 'nope' in services",
    ),
    "maintenance-when": (
        "maintenance:\n  - {resources: ['rds:shop-staging-db'], reason: patching}\n",
        ":4: maintenance[0]: give windows or periods",
    ),
    "drill-hours": (
        'drills:\n  windows:\n    - {days: [sat], from: "24:00", to: "24:00", timezone: UTC}\n',
        ':5: drills.windows[0].from: "24:00" is the end of a day',
    ),
}


@pytest.mark.parametrize("case", sorted(OTHER))
def test_other_bad_windows_are_refused_naming_line_and_field(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body, expected = OTHER[case]
    path = tmp_path / "bad.yaml"
    path.write_text(f"version: 1\nenvironment: staging\n{body}", encoding="utf-8")
    assert main(["policy", "validate", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{path}{expected}"), lines
