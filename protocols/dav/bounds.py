"""The dates and recurrence instances a calendar accepts (RFC 4791
section 5.2.6-5.2.8), checked at PUT and on every REPORT's time range.

Together they bound what a query can cost: every stored object has at most
``max_instances`` instances before :data:`MAX_DATE_TIME`, and no query
reaches past it, so matching one object walks at most that many. What a
request spends overall is bounded by its :class:`~protocols.dav.budget.Budget`.

* PUT (before Radicale parses it): a ``DTSTART`` outside
  [:data:`MIN_DATE_TIME`, :data:`MAX_DATE_TIME`] is refused ``403`` with
  ``CALDAV:min-date-time`` / ``max-date-time``; a recurrence with more than
  ``max_instances`` instances before :data:`MAX_DATE_TIME` (``FREQ=SECONDLY``
  for ever, 86,400 a day, ``COUNT=1000000000``...) or with none at all is
  refused ``403`` with ``CALDAV:max-instances`` - the way Apple's server
  refuses recurrences beyond its limit (Radicale stores anything).
* REPORT: an ``expand``, ``limit-recurrence-set``, ``limit-freebusy-set``
  or free-busy range must lie inside those dates, and a filter's
  ``time-range`` must not start after the last or end before the first:
  else ``403`` with the element of the bound it crossed.
"""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET
from typing import Any

import vobject
from dateutil import rrule

from . import budget
from .budget import MAX_DATE_TIME as MAX_ELEMENT
from .budget import MAX_INSTANCES as INSTANCES_ELEMENT
from .budget import MIN_DATE_TIME as MIN_ELEMENT
from .budget import Refusal

UTC = datetime.timezone.utc
#: The first instant of the Windows FILETIME epoch, the earliest date
#: Outlook writes; a lower bound that refuses nobody's real data.
MIN_DATE_TIME = datetime.datetime(1601, 1, 1, tzinfo=UTC)
MAX_DATE_TIME = datetime.datetime(2100, 1, 1, tzinfo=UTC)
FORMAT = "%Y%m%dT%H%M%SZ"

CALDAV = "{urn:ietf:params:xml:ns:caldav}"
#: Components whose start and recurrences are checked (not VTIMEZONE,
#: whose rules start in 1601 and run for ever by design).
CHECKED = ("VEVENT", "VTODO", "VJOURNAL")
#: Elements whose start and end must both lie within the bounds.
WINDOWS = frozenset({CALDAV + "expand", CALDAV + "limit-recurrence-set", CALDAV + "limit-freebusy-set"})


def advertised(max_instances: int) -> dict[str, str]:
    """The collection properties that tell clients the bounds."""
    return {
        "C:max-instances": str(max_instances),
        "C:min-date-time": MIN_DATE_TIME.strftime(FORMAT),
        "C:max-date-time": MAX_DATE_TIME.strftime(FORMAT),
    }


def _utc(value: Any) -> datetime.datetime:
    """A DATE or DATE-TIME as an aware UTC datetime (floating as UTC)."""
    if not isinstance(value, datetime.datetime):
        value = datetime.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def check_body(body: bytes, max_instances: int) -> None:
    """:func:`check_item` for every calendar in a PUT body; a body that does
    not parse is left to Radicale, which answers it 400."""
    try:
        calendars = list(vobject.readComponents(body.decode("utf-8")))
    except Exception:  # noqa: BLE001 - vobject raises anything on bad input
        return
    for calendar in calendars:
        check_item(calendar, max_instances)


def check_item(vobject_item: Any, max_instances: int) -> None:
    """Raise :class:`Refusal` (403) when a calendar object is outside the
    bounds: a start outside them, a ``COUNT`` over ``max_instances``, more
    than ``max_instances`` instances before :data:`MAX_DATE_TIME`, or a rule
    with no instance before it.

    Each rule is walked with its search capped at :data:`MAX_DATE_TIME`
    (:func:`budget.capped`): a rule that matches nothing
    (``BYMONTH=2;BYMONTHDAY=30``) makes dateutil search to the year 9999
    without yielding - ten seconds of CPU at every query - so it is refused.
    """
    for component in vobject_item.getChildren():
        if component.name not in CHECKED or "dtstart" not in component.contents:
            continue
        start = _utc(component.dtstart.value)
        if start < MIN_DATE_TIME:
            raise Refusal(403, MIN_ELEMENT, f"DTSTART {start:%Y-%m-%d} before {MIN_DATE_TIME:%Y-%m-%d}")
        if start > MAX_DATE_TIME:
            raise Refusal(403, MAX_ELEMENT, f"DTSTART {start:%Y-%m-%d} after {MAX_DATE_TIME:%Y-%m-%d}")
        # One RDATE line may hold many dates.
        total = sum(
            len(line.value) if isinstance(line.value, list) else 1 for line in component.contents.get("rdate", ())
        )
        for line in component.contents.get("rrule", ()):
            total += _instances(line.value, start, max_instances - total)
            if total > max_instances:
                raise Refusal(403, INSTANCES_ELEMENT, f"more than {max_instances} instances before {MAX_DATE_TIME:%Y}")


def _instances(text: str, start: datetime.datetime, most: int) -> int:
    """Instances of the rule ``text`` from ``start`` before the cap, counted
    up to ``most`` + 1; refuses a rule with none or a COUNT over ``most``."""
    naive_start = start.replace(tzinfo=None)
    cap = MAX_DATE_TIME.replace(tzinfo=None)
    try:
        rule = rrule.rrulestr(text, dtstart=naive_start, ignoretz=True)
    except (ValueError, TypeError, OverflowError):
        return 0  # Radicale refuses it as invalid
    if not isinstance(rule, rrule.rrule):
        return 0
    count = rule._count  # noqa: SLF001 - dateutil keeps COUNT only here
    if count is not None and count > most:
        raise Refusal(403, INSTANCES_ELEMENT, f"COUNT={count} is more than {most} instances")
    until = rule._until  # noqa: SLF001 - as COUNT
    capped = rule.replace(count=None, until=cap if until is None or until > cap else until)
    found = 0
    with budget.capped(cap.year):
        try:
            for _ in capped:
                found += 1
                if found > most or (count is not None and found >= count):
                    break
        except budget.PastCap:
            pass
    if found == 0 and (until is None or until > naive_start):
        raise Refusal(403, INSTANCES_ELEMENT, f"RRULE:{text[:80]} has no instance before {MAX_DATE_TIME:%Y}")
    return found


def _when(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    try:
        return datetime.datetime.strptime(text, FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None  # malformed: Radicale answers it 400


def _outside(start: datetime.datetime | None, end: datetime.datetime | None, whole: bool) -> str | None:
    """The bound a range crosses, or None. ``whole``: both ends must be
    inside; else the range must only overlap the bounds."""
    if whole:
        if (start is not None and start < MIN_DATE_TIME) or (end is not None and end < MIN_DATE_TIME):
            return MIN_ELEMENT
        if (start is not None and start > MAX_DATE_TIME) or (end is not None and end > MAX_DATE_TIME):
            return MAX_ELEMENT
        return None
    if start is not None and start > MAX_DATE_TIME:
        return MAX_ELEMENT
    if end is not None and end < MIN_DATE_TIME:
        return MIN_ELEMENT
    return None


def check_report(root: ET.Element) -> None:
    """Raise :class:`Refusal` (403) when a REPORT asks for times outside
    the bounds (see the module docstring)."""
    free_busy = root.tag == CALDAV + "free-busy-query"
    for element in root.iter():
        if element.tag in WINDOWS or (element.tag == CALDAV + "time-range"):
            whole = element.tag in WINDOWS or free_busy
            crossed = _outside(_when(element.get("start")), _when(element.get("end")), whole)
            if crossed is not None:
                which = "earliest" if crossed == MIN_ELEMENT else "latest"
                raise Refusal(
                    403, crossed,
                    f"{element.tag.rpartition('}')[2]} beyond the {which} date this server serves",
                )
