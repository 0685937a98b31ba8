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
    """Wall-clock start, then only moves when told to: by the local runtime's scheduler (Wait states, retry
    intervals, callback timeouts, asynchronous AWS work) or by a test. Thread-safe.

    Machine load never shows in simulated time. Two readings are never equal: a reading that would repeat the
    previous one is one millisecond later, so that records written one after the other keep their order when
    sorted by time (the ledger's sort key starts with the time, to the millisecond).
    """

    TICK = 0.001

    def __init__(self, start: float | None = None) -> None:
        self._start = time.time() if start is None else start
        self._offset = 0.0
        self._last = self._start - self.TICK
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            self._last = max(self._start + self._offset, self._last + self.TICK)
            return self._last

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += max(0.0, seconds)

    def advance_to(self, epoch: float) -> None:
        """Move on to `epoch` (never back)."""
        with self._lock:
            self._offset = max(self._offset, epoch - self._start)

    @property
    def simulated_seconds(self) -> float:
        """Simulated time since the start (readings in between add their ticks)."""
        with self._lock:
            return max(self._offset, self._last - self._start)


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
