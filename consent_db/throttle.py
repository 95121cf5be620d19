"""Failed sign-ins slow down the place they come from, never the account they name.

A lock on the account (five wrong passwords, fifteen minutes) let anyone who could type a DSL's
user name keep the DSL out: through the service socket, the login page (a new X-Forwarded-For
each try made each try a new client) or the command line. Failures are counted per *source*
instead (the OS user behind a socket or a command, the address of a web client), and after FREE
failures in a row each further try from that source waits twice as long as the one before (1 s,
2 s, 4 s ... up to MAX_WAIT). The right password from another source is never refused. A success
clears the source; a source quiet for FORGET starts again; an admin's `staff unlock USER` clears
every source whose failures were against USER (its time is the account's `unlocked`).

Where the count lives depends on the door: the command line starts one process per try, so its
sources (OS users, a handful) are kept in the sealed store, written with the failure's audit
entry; the review app and the photo service are single long-running processes, so their sources
stay in this process's memory, bounded (MAX_SOURCES: the ones seen longest ago are forgotten),
and nothing is written to the home for each guess.

The rules are pure functions over a `Record`; `Throttle` keeps records in memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

FREE = 3  # failures in a row before a source waits
MAX_WAIT = 300.0  # seconds: the longest a source is made to wait between tries
FORGET = 3600.0  # seconds without a failure after which a source starts again
MAX_SOURCES = 10_000


@dataclass(frozen=True)
class Record:
    failures: int
    last: float  # time of the last failure (seconds since the epoch, or the clock's)
    user: str = ""  # the user name last tried from this source


def delay(failures: int) -> float:
    """Seconds a source with `failures` failures in a row waits after its last one."""
    if failures < FREE:
        return 0.0
    return min(2.0 ** (failures - FREE), MAX_WAIT)


def current(rec: Record | None, now: float, cleared: float | None = None) -> Record | None:
    """The record as it counts now: None once forgotten or cleared by an unlock after it."""
    if rec is None or now - rec.last > FORGET:
        return None
    if cleared is not None and rec.last <= cleared:
        return None
    return rec


def wait(rec: Record | None, now: float, cleared: float | None = None) -> float:
    """Seconds before the source may try again (0: now)."""
    rec = current(rec, now, cleared)
    if rec is None:
        return 0.0
    return max(0.0, rec.last + delay(rec.failures) - now)


def after_failure(rec: Record | None, user: str, now: float,
                  cleared: float | None = None) -> Record:
    rec = current(rec, now, cleared)
    return Record((rec.failures if rec else 0) + 1, now, user)


def starts_waiting(rec: Record) -> bool:
    """This failure is the one from which the source must wait: audited once per run."""
    return rec.failures == FREE


class Throttle:
    """Sources' records in this process's memory (the review app, the photo service)."""

    FREE = FREE
    MAX_WAIT = MAX_WAIT

    def __init__(self, clock: Callable[[], float] = time.time,
                 max_sources: int = MAX_SOURCES) -> None:
        self._clock = clock
        self._max = max_sources
        self._lock = threading.Lock()
        self._recs: dict[str, Record] = {}

    def now(self) -> float:
        return self._clock()

    def get(self, source: str) -> Record | None:
        with self._lock:
            return self._recs.get(source)

    def put(self, source: str, rec: Record | None) -> None:
        with self._lock:
            self._put(source, rec)

    def _put(self, source: str, rec: Record | None) -> None:
        self._recs.pop(source, None)
        if rec is not None:
            self._recs[source] = rec
            while len(self._recs) > self._max:
                self._recs.pop(next(iter(self._recs)))

    def begin(self, source: str, user: str, now: float,
              cleared: float | None = None) -> tuple[float, Record | None]:
        """(seconds to wait, None), or (0, the record counting this try as failed). A try is
        counted before its password is checked, in one step with the look at the wait: many
        tries sent at once from one source are each counted, not all let through on a count
        that none of them has added to yet. A success clears the source again."""
        with self._lock:
            rec = self._recs.get(source)
            w = wait(rec, now, cleared)
            if w > 0:
                return w, None
            new = after_failure(rec, user, now, cleared)
            self._put(source, new)
            return 0.0, new

    # the review app's short forms
    def wait(self, source: str, cleared: float | None = None) -> float:
        return wait(self.get(source), self._clock(), cleared)

    def failed(self, source: str, user: str = "") -> Record:
        rec = after_failure(self.get(source), user, self._clock())
        self.put(source, rec)
        return rec

    def succeeded(self, source: str) -> None:
        self.put(source, None)
