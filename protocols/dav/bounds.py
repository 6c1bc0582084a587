"""The dates and recurrence instances a calendar accepts (RFC 4791
section 5.2.6-5.2.8), checked at PUT and on every REPORT's time range.

Together they bound what a query can cost: every stored object has at most
``max_instances`` instances before :data:`MAX_DATE_TIME`, and no query
reaches past it, so matching one object walks at most that many. What a
request spends overall is bounded by its :class:`~protocols.dav.budget.Budget`.

* PUT: a ``DTSTART`` outside [:data:`MIN_DATE_TIME`, :data:`MAX_DATE_TIME`]
  is refused ``403`` with ``CALDAV:min-date-time`` / ``max-date-time``; a
  recurrence with more than ``max_instances`` instances before
  :data:`MAX_DATE_TIME` (``FREQ=SECONDLY`` for ever, 86,400 a day...) is
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


def _aware(value: Any) -> bool:
    return isinstance(value, datetime.datetime) and value.tzinfo is not None


def check_item(vobject_item: Any, max_instances: int) -> None:
    """Raise :class:`Refusal` (403) when a calendar object is outside the
    bounds; its recurrences are walked up to :data:`MAX_DATE_TIME`, at most
    ``max_instances`` + 1 of them."""
    for component in vobject_item.getChildren():
        if component.name not in CHECKED or "dtstart" not in component.contents:
            continue
        start = _utc(component.dtstart.value)
        if start < MIN_DATE_TIME:
            raise Refusal(403, MIN_ELEMENT, f"DTSTART {start:%Y-%m-%d} before {MIN_DATE_TIME:%Y-%m-%d}")
        if start > MAX_DATE_TIME:
            raise Refusal(403, MAX_ELEMENT, f"DTSTART {start:%Y-%m-%d} after {MAX_DATE_TIME:%Y-%m-%d}")
        if "rrule" not in component.contents and "rdate" not in component.contents:
            continue
        instances = 0
        limit = None
        for instance in component.getrruleset(addRDate=True) or ():
            if limit is None:
                # Compared as the instances come (floating ones naive), not
                # converted one by one: this loop may run 100,000 times.
                limit = MAX_DATE_TIME if _aware(instance) else MAX_DATE_TIME.replace(tzinfo=None)
                if not isinstance(instance, datetime.datetime):
                    limit = limit.date()
            if instance > limit:
                break
            instances += 1
            if instances > max_instances:
                raise Refusal(403, INSTANCES_ELEMENT, f"more than {max_instances} instances before {MAX_DATE_TIME:%Y}")


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
