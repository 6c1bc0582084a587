"""What one DAV request may spend on recurrences, and how it is stopped.

A recurrence rule is a tiny text that stands for any number of instances
(``RRULE:FREQ=SECONDLY`` is 86,400 a day, forever). Radicale walks them one
by one - to match a ``time-range``, to ``expand``, to compute free-busy, to
find an item's time range at PUT - and nothing there bounds the walk by
time or count, or stops it when the client goes or the daemon stops.

Every instance of every rule is produced by ``dateutil.rrule.rrule._iter``
(vobject builds its recurrence sets from dateutil), so :func:`install`
counts them there - and every month or year it searches, for rules that
match nothing - once per process, against the :class:`Budget` of the
request that the current thread is serving (none outside a request: the
CLI and the ICS feed are unaffected). A budget ends the work by raising
:class:`Refusal`, a ``BaseException``: Radicale answers every ``Exception``
with a 500, and this must pass through it, its locks released by their
``with`` blocks, to :class:`~protocols.dav.wsgi.DavWsgi`, which answers it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Iterator

from dateutil import rrule

#: CalDAV precondition elements (RFC 4791 section 5.2.6-5.2.8 and 9.6.5,
#: RFC 5323 section 3 for the number of matches).
MAX_INSTANCES = "{urn:ietf:params:xml:ns:caldav}max-instances"
MIN_DATE_TIME = "{urn:ietf:params:xml:ns:caldav}min-date-time"
MAX_DATE_TIME = "{urn:ietf:params:xml:ns:caldav}max-date-time"
TOO_MANY_MATCHES = "{DAV:}number-of-matches-within-limits"

#: Instances between two checks of the clock and of the cancel flags.
CHECK_EVERY = 512
#: Instances after which a request counts as heavy and waits its turn.
HEAVY_AFTER = 10_000


class Refusal(BaseException):
    """A request refused for its recurrence work: ``status`` (403 or 507)
    with the DAV:error ``precondition`` element (Clark notation); ``reason``
    is for the log."""

    def __init__(self, status: int, precondition: str, reason: str):
        super().__init__(reason)
        self.status = status
        self.precondition = precondition
        self.reason = reason


class Cancelled(BaseException):
    """The client went away, or the daemon is stopping: nobody needs the
    answer any more."""


class PastCap(Exception):
    """A walk under :func:`capped` reached the year it was capped at."""


class Budget:
    """The recurrence instances and seconds one request may spend.

    ``gone`` is set when the client disconnects, ``stopping`` when the
    service stops; either ends the work at the next check. Past
    :data:`HEAVY_AFTER` instances a request takes ``heavy`` (a semaphore
    shared by the service's requests) until :meth:`release`: pure-Python
    loops hold the GIL, and the event loop serving every other protocol
    gets it back within a switch interval only while few threads compete.
    Waiting counts against the request's seconds.
    """

    def __init__(
        self, instances: int, seconds: float, *,
        gone: threading.Event | None = None, stopping: threading.Event | None = None,
        heavy: threading.Semaphore | None = None,
    ):
        self.instances = instances
        self.left = instances
        self.deadline = time.monotonic() + seconds
        self.seconds = seconds
        self.gone = gone
        self.stopping = stopping
        self.heavy = heavy
        #: See :func:`capped`.
        self.until_year: int | None = None
        self._holding = False
        self._until_check = CHECK_EVERY
        self._periods = 0

    def tick(self) -> None:
        """Count one instance; raise when the request has spent its budget."""
        self.left -= 1
        if self.left < 0:
            raise Refusal(507, TOO_MANY_MATCHES, f"more than {self.instances} recurrence instances")
        self._until_check -= 1
        if self._until_check <= 0:
            self._until_check = CHECK_EVERY
            self.check()
            if not self._holding and self.heavy is not None and self.instances - self.left > HEAVY_AFTER:
                self._wait_turn()

    def period(self, year: int) -> None:
        """Count one period (month or year) dateutil searched, whether or
        not it held an instance: a rule that matches nothing searches to
        the year 9999 without yielding one."""
        if self.until_year is not None and year > self.until_year:
            raise PastCap(year)
        self._periods += 1
        if self._periods % 64 == 0:
            self.check()

    def _wait_turn(self) -> None:
        while not self.heavy.acquire(timeout=0.05):
            self.check()
        self._holding = True

    def release(self) -> None:
        """Give back the heavy turn, if taken (at the end of the request)."""
        if self._holding:
            self._holding = False
            self.heavy.release()

    def check(self) -> None:
        if self.gone is not None and self.gone.is_set():
            raise Cancelled("client disconnected")
        if self.stopping is not None and self.stopping.is_set():
            raise Cancelled("service stopping")
        if time.monotonic() > self.deadline:
            raise Refusal(507, TOO_MANY_MATCHES, f"recurrence work took over {self.seconds:g} s")


_local = threading.local()


def current() -> Budget | None:
    return getattr(_local, "budget", None)


@contextlib.contextmanager
def bounded(budget: Budget) -> Iterator[Budget]:
    """Charge the recurrence work of this thread to ``budget`` meanwhile."""
    previous = current()
    _local.budget = budget
    try:
        yield budget
    finally:
        _local.budget = previous


@contextlib.contextmanager
def capped(year: int) -> Iterator[None]:
    """Meanwhile dateutil raises :class:`PastCap` when its search passes
    ``year``, found anything or not (its own ``until`` is only compared
    with the instances it finds)."""
    budget = current()
    own = budget is None
    if budget is None:
        budget = _local.budget = Budget(1 << 62, 3600)
    previous, budget.until_year = budget.until_year, year
    try:
        yield
    finally:
        budget.until_year = previous
        if own:
            _local.budget = None


def _counted(budget: Budget, instances: Iterator[Any]) -> Iterator[Any]:
    for instance in instances:
        budget.tick()
        yield instance


_installed = threading.Lock()
_original_iter = None
_original_between = None


def install() -> None:
    """Count dateutil's recurrence instances against the thread's budget.

    Idempotent. dateutil has no hook for this, so its generator is wrapped
    (the only patch of a library we make; without a budget it is the
    original). ``between(..., count=N)`` is how Radicale's ``expand`` asks
    for at most N instances of an event: within a request it stops there and
    is refused as too many matches, instead of listing every instance first.
    """
    global _original_iter, _original_between
    with _installed:
        if _original_iter is not None:
            return
        _original_iter = original_iter = rrule.rrule._iter
        _original_between = original_between = rrule.rrulebase.between

        def _iter(self: Any) -> Iterator[Any]:
            budget = current()
            if budget is None:
                return original_iter(self)
            return _counted(budget, original_iter(self))

        def between(self: Any, after: Any, before: Any, inc: bool = False, count: int = 1) -> list:
            # dateutil ignores ``count``; Radicale passes its limit there and
            # checks it only after the whole list was built.
            if current() is None or count <= 1:
                return original_between(self, after, before, inc, count)
            found = []
            for instance in self:
                if instance > before or (not inc and instance == before):
                    break
                if instance > after or (inc and instance == after):
                    found.append(instance)
                    if len(found) >= count:
                        raise Refusal(507, TOO_MANY_MATCHES, f"{count} or more instances in one expansion")
            return found

        original_rebuild = rrule._iterinfo.rebuild

        def rebuild(self: Any, year: int, month: int) -> Any:
            # Called by rrule._iter at each new month (or year) it searches.
            budget = current()
            if budget is not None:
                budget.period(year)
            return original_rebuild(self, year, month)

        rrule.rrule._iter = _iter
        rrule.rrulebase.between = between
        rrule._iterinfo.rebuild = rebuild
