"""Time, in one place, so that the local runtime can simulate it (Wait states, leases, cooldowns).

In AWS this is the wall clock. The local runtime installs a `SimulatedClock` that starts at the wall clock and
moves forward when a Wait state or a retry interval would have slept.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float: ...


class WallClock:
    def time(self) -> float:
        return time.time()


class SimulatedClock:
    """Wall-clock start, then only moves when told to (thread-safe; shared by concurrent executions)."""

    def __init__(self, start: float | None = None) -> None:
        self._offset = 0.0
        self._start = time.time() if start is None else start
        self._real_start = time.time()
        self._lock = threading.Lock()

    def time(self) -> float:
        # Real elapsed time still counts, so that the control plane's own latency is measurable.
        with self._lock:
            return self._start + (time.time() - self._real_start) + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += max(0.0, seconds)

    @property
    def simulated_seconds(self) -> float:
        return self._offset


_clock: Clock = WallClock()


def install(clock: Clock) -> None:
    global _clock  # noqa: PLW0603 - the process-wide clock is swapped only by the local runtime and tests
    _clock = clock


def current() -> Clock:
    return _clock


def now_epoch() -> float:
    return _clock.time()


def now() -> datetime:
    return datetime.fromtimestamp(_clock.time(), tz=UTC)


def iso(ts: float | None = None) -> str:
    """ISO-8601 UTC with milliseconds, sortable as text."""
    value = datetime.fromtimestamp(now_epoch() if ts is None else ts, tz=UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
