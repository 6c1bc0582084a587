"""The agenda: the events a user sees in a week or a month, from the
business's shared calendars and the user's own.

Events are read from the same storage the CalDAV server writes
(:mod:`storage.dav`), as clients left them. Recurring events are expanded
by ``recurring_ical_events`` (RFC 5545 RRULE, RDATE, EXDATE and changed
instances); the stored time range of each item (Radicale's, which knows
recurrences) picks the items to read. Times are shown in the business's
time zone: the ``calendar-timezone`` of its shared calendar (RFC 4791
section 5.2.2) when a client set one, else UTC. An event with floating
times (no zone) keeps its wall-clock times.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import zoneinfo
from dataclasses import dataclass

import icalendar
import recurring_ical_events

from storage import dav, directory, names

from ..errors import NotFound
from .base import Stores

#: Most events (occurrences) one view shows; the rest are counted.
MAX_EVENTS = 500
#: Longest view, in days (a month view shows whole weeks).
MAX_DAYS = 42
_COLOUR_RE = re.compile(r"#[0-9A-Fa-f]{6}")
_TZID_RE = re.compile(r"^TZID:(.+?)\r?$", re.MULTILINE)
#: Colours of calendars a client gave none, in turn.
PALETTE = ("#1f6feb", "#b35900", "#2e7d32", "#8e24aa", "#c62828", "#00796b")


@dataclass(frozen=True)
class Calendar:
    """One calendar the viewer sees: its random reference, name, colour."""

    ref: str
    name: str
    colour: str
    shared: bool


@dataclass(frozen=True)
class Event:
    """One occurrence of an event, in the view's time zone."""

    calendar: str  # the Calendar's ref
    uid: str
    title: str
    place: str
    start: dt.datetime | dt.date
    end: dt.datetime | dt.date
    all_day: bool
    recurring: bool

    def days(self) -> list[dt.date]:
        """The days this occurrence covers (an all-day end is exclusive)."""
        first = self.start if self.all_day else self.start.date()
        if self.all_day:
            last = self.end - dt.timedelta(days=1)
        else:
            last = (self.end - dt.timedelta(microseconds=1)).date() if self.end > self.start else first
        last = max(first, last)
        return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


@dataclass(frozen=True)
class View:
    """The events of ``days`` days from ``first``, in ``zone``."""

    first: dt.date
    days: int
    zone: str
    calendars: list[Calendar]
    events: list[Event]
    #: Occurrences left out past :data:`MAX_EVENTS`.
    left_out: int

    def calendar(self, ref: str) -> Calendar:
        return next(c for c in self.calendars if c.ref == ref)

    def on(self, day: dt.date) -> list[Event]:
        return [e for e in self.events if day in e.days()]


def _is_events(collection: dav.CollectionRow) -> bool:
    kinds = collection.props.get("C:supported-calendar-component-set") or "VEVENT"
    return "VEVENT" in kinds.upper()


def zone_of(collection: dav.CollectionRow | None) -> dt.tzinfo:
    """The zone a calendar's ``calendar-timezone`` names, else UTC."""
    text = (collection.props.get("C:calendar-timezone") or "") if collection else ""
    m = _TZID_RE.search(text)
    if m:
        try:
            return zoneinfo.ZoneInfo(m.group(1).strip())
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    return dt.timezone.utc


def zone_name(zone: dt.tzinfo) -> str:
    return getattr(zone, "key", None) or "UTC"


class Agenda:
    """What users see of their calendars (see module doc)."""

    def __init__(self, stores: Stores):
        self.stores = stores

    @staticmethod
    def _viewer(conn: sqlite3.Connection, address: str) -> None:
        user = directory.get_user(conn, address)
        if user is None or user["state"] != "active":
            raise NotFound("no such user")

    def view(self, slug: str, address: str, first: dt.date, days: int) -> View:
        """The occurrences of events of the shared calendars of ``slug``
        and of ``address``'s own calendars over ``days`` days from
        ``first`` (at most :data:`MAX_DAYS`, at most :data:`MAX_EVENTS`
        occurrences, earliest first). Changes nothing. Raises NotFound
        when ``address`` is not an active user of ``slug``."""
        address = names.address(address)
        days = max(1, min(days, MAX_DAYS))

        def read(conn: sqlite3.Connection) -> View:
            self._viewer(conn, address)
            zone = zone_of(dav.get_collection(conn, f"{slug}/calendar"))
            start = dt.datetime.combine(first, dt.time(), zone)
            end = start + dt.timedelta(days=days)
            calendars, events = [], []
            rows = [(r.collection, True) for r in dav.calendars(conn, slug)]
            rows += [(r.collection, False) for r in dav.calendars(conn, address)]
            for collection, shared in rows:
                if not _is_events(collection):
                    continue
                calendar = _calendar(collection, shared, len(calendars))
                calendars.append(calendar)
                # A day's margin each side: floating and all-day times are
                # stored as UTC but mean the wall clock of the view's zone.
                low, high = int(start.timestamp()) - 86400, int(end.timestamp()) + 86400
                for item in dav.items_in_range(conn, collection.id, "VEVENT", low, high):
                    events += _occurrences(item.text, calendar.ref, start, end, zone)
            events.sort(key=lambda e: (_sort_key(e.start, zone), e.title))
            return View(first, days, zone_name(zone), calendars, events[:MAX_EVENTS],
                        max(0, len(events) - MAX_EVENTS))

        return self.stores.handle(slug).read_sync("agenda view", read)


def _calendar(collection: dav.CollectionRow, shared: bool, n: int) -> Calendar:
    name = collection.props.get("D:displayname") or collection.path.rpartition("/")[2]
    colour = (collection.props.get("ICAL:calendar-color") or "")[:7]
    if not _COLOUR_RE.fullmatch(colour):
        colour = PALETTE[n % len(PALETTE)]
    return Calendar(collection.nonce, name, colour.lower(), shared)


def _sort_key(value: dt.datetime | dt.date, zone: dt.tzinfo) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return dt.datetime.combine(value, dt.time())


def _local(value: dt.datetime | dt.date, zone: dt.tzinfo) -> dt.datetime | dt.date:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(zone)
    return value


def _occurrences(text: str, ref: str, start: dt.datetime, end: dt.datetime, zone: dt.tzinfo) -> list[Event]:
    """Every occurrence of the events of one stored object in [start, end)."""
    try:
        calendar = icalendar.Calendar.from_ical(text)
        found = recurring_ical_events.of(calendar, components=["VEVENT"]).between(start, end)
    except Exception:  # a client's object this reader cannot follow is left out, not fatal
        return []
    repeating = {str(c.get("UID", "")) for c in calendar.walk("VEVENT") if "RRULE" in c or "RDATE" in c}
    events = []
    for component in found:
        begin = component.get("DTSTART")
        if begin is None:
            continue
        first = begin.dt
        all_day = not isinstance(first, dt.datetime)
        finish = component.get("DTEND")
        last = finish.dt if finish is not None else (first + dt.timedelta(days=1) if all_day else first)
        events.append(Event(
            calendar=ref, uid=str(component.get("UID", "")), title=str(component.get("SUMMARY", "")),
            place=str(component.get("LOCATION", "")), start=_local(first, zone), end=_local(last, zone),
            all_day=all_day, recurring=str(component.get("UID", "")) in repeating,
        ))
    return events
