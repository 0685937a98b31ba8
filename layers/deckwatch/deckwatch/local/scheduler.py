"""The embedded AWS's discrete-event scheduler: simulated time moves only when nothing else can.

Every Step Functions execution runs in a thread of its own (moto's engine); the scheduler counts those threads
as *actors*. An actor that would wait (a Wait state, a retry interval, a `.waitForTaskToken` task) blocks here
with a deadline in simulated time instead of sleeping. The runtime's driver (`LocalAWS.settle`) waits until no
actor can run; then, and only then, it delivers the events that were emitted, lets the simulated operator answer,
and finally moves the clock to the earliest deadline and wakes whoever set it. An answer that arrives (a task
token sent back, an execution stopped) wakes its waiter at once and counts it as running again before the
answering call returns, so the driver never sees a quiet moment that is not one.

Nothing here sleeps in real time, so a replay's outcome and its simulated durations do not depend on how busy the
machine is. A thread that stays busy without ever blocking here for `STALL_SECONDS` of real time is reported with
every thread's stack (a definition or a patch that waits in a way the scheduler does not know).
"""

from __future__ import annotations

import heapq
import itertools
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from deckwatch.clock import SimulatedClock
from deckwatch.local import frame_stack

STALL_SECONDS = 120.0


class SchedulerStalled(RuntimeError):  # noqa: N818 - names the condition, as moto's own errors do
    """Actors kept running without blocking for too long (a bug in a definition or in a patch)."""


@dataclass(eq=False)
class Waiter:
    """One actor's wait: answered by `Scheduler.wake` (an event) or by its deadline."""

    what: str
    blocked: bool = False
    woken: bool = False
    by_event: bool = False
    fired: bool = False  # the answer came before the actor blocked


@dataclass(order=True)
class _Timer:
    when: float
    seq: int
    waiter: Waiter | None = field(compare=False, default=None)
    action: Callable[[], None] | None = field(compare=False, default=None)
    what: str = field(compare=False, default="")
    daemon: bool = field(compare=False, default=False)
    cancelled: bool = field(compare=False, default=False)


class Scheduler:
    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self._cv = threading.Condition(threading.Lock())
        self._runnable = 0
        self._actors: set[int] = set()
        self._waiting: dict[int, Waiter] = {}  # actor thread -> its current wait
        self._timers: list[_Timer] = []
        self._seq = itertools.count()
        self._generation = 0  # bumped on every change, so that a stall can be told from slow progress

    # ------------------------------------------------------------------ actors ------------------------------
    def spawn(self, target: Callable[[], None], name: str) -> threading.Thread:
        """Start `target` in an actor thread, counted as running from this moment until it returns."""
        with self._cv:
            self._runnable += 1
            self._generation += 1

        def run() -> None:
            ident = threading.get_ident()
            with self._cv:
                self._actors.add(ident)
            try:
                frame_stack.run(target)
            finally:
                with self._cv:
                    self._actors.discard(ident)
                    self._waiting.pop(ident, None)
                    self._runnable -= 1
                    self._generation += 1
                    self._cv.notify_all()

        thread = threading.Thread(target=run, daemon=True, name=name)
        thread.start()
        return thread

    def in_actor(self) -> bool:
        return threading.get_ident() in self._actors

    @property
    def running(self) -> int:
        with self._cv:
            return self._runnable

    # ------------------------------------------------------------------ waiting -----------------------------
    def block(self, waiter: Waiter, seconds: float | None) -> bool:
        """Block the calling actor until `wake(waiter)` (True) or until `seconds` of simulated time (False)."""
        with self._cv:
            if waiter.fired or waiter.woken:
                return True
            ident = threading.get_ident()
            if ident not in self._actors:
                raise RuntimeError(f"only an actor thread may wait in simulated time ({waiter.what})")
            if seconds is not None:
                heapq.heappush(
                    self._timers,
                    _Timer(self.clock.time() + max(0.0, seconds), next(self._seq), waiter, what=waiter.what),
                )
            waiter.blocked = True
            self._waiting[ident] = waiter
            self._runnable -= 1
            self._generation += 1
            self._cv.notify_all()
            while not waiter.woken:
                self._cv.wait()
            waiter.blocked = False
            self._waiting.pop(ident, None)
            return waiter.by_event

    def sleep(self, seconds: float, what: str = "sleep") -> None:
        """Wait `seconds` of simulated time: blocks an actor; anywhere else, moves the clock on at once."""
        if self.in_actor():
            self.block(Waiter(what), seconds)
        else:
            self.clock.advance(seconds)

    def wake(self, waiter: Waiter) -> None:
        """Answer `waiter` now (from any thread): its actor counts as running again before this returns."""
        with self._cv:
            self._wake(waiter, by_event=True)

    def wake_thread(self, ident: int | None) -> None:
        """Answer whatever the actor thread `ident` waits for (an execution that is being stopped)."""
        with self._cv:
            waiter = self._waiting.get(ident) if ident is not None else None
            if waiter is not None:
                self._wake(waiter, by_event=True)

    def _wake(self, waiter: Waiter, by_event: bool) -> None:
        if waiter.woken:
            return
        if not waiter.blocked:
            waiter.fired = True
            return
        waiter.woken = True
        waiter.by_event = by_event
        self._runnable += 1
        self._generation += 1
        self._cv.notify_all()

    # ------------------------------------------------------------------ timed work --------------------------
    def call_later(self, seconds: float, action: Callable[[], None], what: str, daemon: bool = False) -> _Timer:
        """Run `action` on the driver's thread once `seconds` of simulated time have passed (asynchronous AWS work:
        a restore that completes, an instance that boots). A daemon timer (a traffic model's next minute) runs
        only while something else is still going on, so that it never keeps a replay alive by itself."""
        timer = _Timer(self.clock.time() + max(0.0, seconds), next(self._seq), action=action, what=what, daemon=daemon)
        with self._cv:
            heapq.heappush(self._timers, timer)
            self._generation += 1
        return timer

    def cancel(self, timer: _Timer) -> None:
        with self._cv:
            timer.cancelled = True

    # ------------------------------------------------------------------ the driver ---------------------------
    def wait_quiet(self) -> None:
        """Return once no actor can run (all blocked or finished). Raises SchedulerStalled with every thread's
        stack if actors run for STALL_SECONDS of real time without any of them blocking or finishing."""
        with self._cv:
            last, since = self._generation, time.monotonic()
            while self._runnable > 0:
                self._cv.wait(timeout=1.0)
                if self._generation != last:
                    last, since = self._generation, time.monotonic()
                elif time.monotonic() - since > STALL_SECONDS:
                    raise SchedulerStalled(f"{self._runnable} actor(s) busy for {STALL_SECONDS:.0f}s\n{_stacks()}")

    def advance(self) -> Callable[[], None] | bool:
        """At a quiet moment: move the clock to the earliest deadline and answer it. Returns the timer's action
        for the driver to run, True when a waiter was woken, False when nothing but daemon timers is left."""
        with self._cv:
            live = [t for t in self._timers if not _dead(t)]
            if not any(not t.daemon for t in live):
                return False  # daemon timers never keep a replay going by themselves
            heapq.heapify(live)
            self._timers = live
            timer = heapq.heappop(self._timers)
            self.clock.advance_to(timer.when)
            if timer.waiter is not None:
                self._wake(timer.waiter, by_event=False)
                return True
            return timer.action or True

    def pending(self) -> list[str]:
        """What is waiting, for diagnostics: blocked actors and live timers."""
        with self._cv:
            return [w.what for w in self._waiting.values()] + [
                f"{t.what} at +{t.when - self.clock.time():.0f}s" for t in sorted(self._timers) if not _dead(t)
            ]


def _dead(timer: _Timer) -> bool:
    return timer.cancelled or (timer.waiter is not None and timer.waiter.woken)


def _stacks() -> str:
    frames = sys._current_frames()
    out = []
    for thread in threading.enumerate():
        frame = frames.get(thread.ident or -1)
        if frame is not None:
            out.append(f"--- {thread.name}\n" + "".join(traceback.format_stack(frame)[-8:]))
    return "\n".join(out)
