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
import uuid
import zoneinfo
from dataclasses import dataclass

import icalendar
import recurring_ical_events

from storage import dav, directory, names

from .. import davitems, vevent
from ..errors import Conflict, InvalidInput, NotFound
from .base import Stores

#: Most events (occurrences) one view shows; the rest are counted.
MAX_EVENTS = 500
#: Longest view, in days (a month view shows whole weeks).
MAX_DAYS = 42
_COLOUR_RE = re.compile(r"#[0-9A-Fa-f]{6}")
_TZID_RE = re.compile(r"^TZID:(.+?)\r?$", re.MULTILINE)
MAX_TITLE = 200
MAX_PLACE = 200
MAX_DESCRIPTION = 4000
MAX_ATTENDEES = 50
#: The reminders the form offers, in minutes before the start.
REMINDERS = (5, 15, 30, 60, 120, 1440, 2880)
#: Earliest reminder kept from a client's alarm, in minutes (four weeks).
MAX_REMINDER = 40320
_LINE_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_TEXT_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_EMAIL_RE = re.compile(r"[^@\s<>,;\"]{1,64}@[^@\s<>,;\"]+\.[^@\s<>,;\"]+")
#: Most colleagues whose busy times one view shows.
MAX_COLLEAGUES = 50
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
    #: The occurrence's key in its series (:func:`appliance.vevent.occurrence_key`), "" when not repeating.
    occurrence: str = ""

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
class Busy:
    """A colleague's busy times over a view: merged blocks, no titles."""

    address: str
    name: str
    blocks: list[tuple[dt.datetime, dt.datetime]]

    def on(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """The blocks that touch ``day``, cut to it."""
        start = dt.datetime.combine(day, dt.time(), self.blocks[0][0].tzinfo) if self.blocks else None
        end = start + dt.timedelta(days=1) if start else None
        return [(max(a, start), min(b, end)) for a, b in self.blocks if a < end and b > start]


@dataclass(frozen=True)
class Editable:
    """One event as its form shows it: where it is, its fields, its etag
    (the form sends it back so a client's change meanwhile is not lost)."""

    calendar: Calendar
    uid: str
    etag: str
    fields: vevent.Fields
    recurring: bool
    #: The occurrence the form shows ("" for the event or whole series);
    #: ``fields`` are then that occurrence's.
    occurrence: str = ""
    #: The series' own fields when ``occurrence`` is set.
    series: vevent.Fields | None = None


@dataclass(frozen=True)
class Written:
    """What a write did to one calendar object: its UID, its text before
    ("" when new) and after ("" when deleted), for the invitations it
    sends (:mod:`appliance.eventmail`)."""

    uid: str
    previous: str
    text: str


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
    """What a page calls ``zone``: its IANA name, else the name it gives itself."""
    if zone in (dt.timezone.utc,):
        return "UTC"
    return getattr(zone, "key", None) or zone.tzname(None) or str(zone)


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

    def busy(self, slug: str, address: str, first: dt.date, days: int) -> list[Busy]:
        """The busy times of ``address``'s colleagues (the other active users
        of ``slug``, at most :data:`MAX_COLLEAGUES`) over ``days`` days from
        ``first``, from their own calendars: only when, never what (an
        event marked free, TRANSP:TRANSPARENT, or cancelled does not count;
        an all-day event covers its days). Changes nothing. Raises NotFound
        when ``address`` is not an active user of ``slug``."""
        address = names.address(address)
        days = max(1, min(days, MAX_DAYS))

        def read(conn: sqlite3.Connection) -> list[Busy]:
            self._viewer(conn, address)
            zone = zone_of(dav.get_collection(conn, f"{slug}/calendar"))
            start = dt.datetime.combine(first, dt.time(), zone)
            end = start + dt.timedelta(days=days)
            found = []
            users = [u for u in directory.list_users(conn) if u["state"] == "active" and u["address"] != address]
            for user in users[:MAX_COLLEAGUES]:
                blocks = []
                for row in dav.calendars(conn, user["address"]):
                    if not _is_events(row.collection):
                        continue
                    low, high = int(start.timestamp()) - 86400, int(end.timestamp()) + 86400
                    for item in dav.items_in_range(conn, row.collection.id, "VEVENT", low, high):
                        blocks += _busy_blocks(item.text, start, end, zone)
                found.append(Busy(user["address"], user["display_name"] or "", _merged(blocks)))
            return found

        return self.stores.handle(slug).read_sync("agenda busy", read)

    # -- writing -------------------------------------------------------------------

    def writable(self, slug: str, address: str) -> list[Calendar]:
        """The event calendars ``address`` may write: the business's shared
        ones, then their own. Raises NotFound (not an active user)."""
        address = names.address(address)

        def read(conn: sqlite3.Connection) -> list[Calendar]:
            self._viewer(conn, address)
            return [c for c, _ in _writable(conn, slug, address)]

        return self.stores.handle(slug).read_sync("agenda calendars", read)

    def zone(self, slug: str) -> dt.tzinfo:
        """The business's time zone (see module doc)."""
        return self.stores.handle(slug).read_sync(
            "agenda zone", lambda conn: zone_of(dav.get_collection(conn, f"{slug}/calendar")))

    def get(self, slug: str, address: str, ref: str, uid: str, occurrence: str = "") -> Editable:
        """Event ``uid`` of calendar ``ref`` as the form shows it: its
        ``occurrence`` alone when that names one of a repeating event's
        (an override a client wrote shows as written). Raises NotFound
        when ``address`` may not write that calendar, when it has no such
        event or occurrence, or when the event cannot be read."""
        address = names.address(address)

        def read(conn: sqlite3.Connection) -> Editable:
            calendar, collection = self._target(conn, slug, address, ref)
            item = dav.item_by_uid(conn, collection.id, uid)
            if item is None or item.component != "VEVENT":
                raise NotFound("no such event")
            try:
                found = vevent.read(item.text, uid)
                if not occurrence:
                    return Editable(calendar, uid, item.etag, found.fields, found.recurring)
                one = vevent.read_occurrence(item.text, uid, occurrence)
            except vevent.EventError:
                raise NotFound("an event or occurrence the agenda cannot read") from None
            return Editable(calendar, uid, item.etag, one.fields, True, occurrence, found.fields)

        return self.stores.handle(slug).read_sync("agenda event", read)

    def save(self, slug: str, address: str, ref: str, uid: str | None, fields: vevent.Fields, etag: str = "",
             *, actor: str, occurrence: str = "", series: bool = False) -> Written:
        """Write an event into calendar ``ref`` as a DAV PUT does (clients see
        it at their next sync): a new one when ``uid`` is None, else event
        ``uid`` patched (:func:`appliance.vevent.patch`: only the form's
        properties change). With ``occurrence`` (one of a repeating
        event's), ``fields`` are that occurrence's: it alone changes (an
        override in the same object), or with ``series`` the whole series
        does, moved by as much as the occurrence was. An event of
        ``address``'s with attendees gets a higher SEQUENCE on every change
        (they are sent it). Returns what was written. Checks: a title of 1 to :data:`MAX_TITLE` printable characters,
        the end after the start, place, description and attendees within
        their limits, ``etag`` (when given) still the stored one. Raises
        InvalidInput (its message names the field first), NotFound,
        Conflict, LimitExceeded."""
        address = names.address(address)
        fields = _checked(fields, address)
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        limits = self._limits()
        # Attendees are sent each change of ``address``'s own event, so each
        # needs a higher SEQUENCE (RFC 5546 section 2.1.4).
        invited = bool(fields.attendees) and fields.organizer == address

        def write(conn: sqlite3.Connection) -> Written:
            _, collection = self._target(conn, slug, address, ref)
            previous = ""
            if uid is None:
                new_uid = str(uuid.uuid4())
                href, text = f"{new_uid}.ics", vevent.new(new_uid, fields, now)
                action = "event.add"
            else:
                new_uid = uid
                item = dav.item_by_uid(conn, collection.id, uid)
                if item is None or item.component != "VEVENT":
                    raise NotFound("no such event")
                if etag and etag != item.etag:
                    raise Conflict("the event changed meanwhile")
                previous = item.text
                try:
                    if occurrence and not series:
                        text = vevent.patch_occurrence(item.text, uid, occurrence, fields, now, invited)
                    elif occurrence:
                        whole = vevent.series_fields(vevent.read(item.text, uid).fields,
                                                     vevent.read_occurrence(item.text, uid, occurrence).fields, fields)
                        text = vevent.patch(item.text, uid, _checked(whole, address), now, invited)
                    else:
                        text = vevent.patch(item.text, uid, fields, now, invited)
                except vevent.EventError:
                    raise NotFound("an event or occurrence the agenda cannot read") from None
                href, action = item.href, "event.edit"
            dav.put_item(conn, collection.id, self._new_item(collection.path, href, text), limits=limits)
            what = f"{collection.path} {new_uid}" + (f" {occurrence}" if occurrence and not series else "")
            directory.audit(conn, actor, action, what)
            return Written(new_uid, previous, text)

        return self.stores.handle(slug).write_sync("agenda save", write)

    def delete(self, slug: str, address: str, ref: str, uid: str, *, actor: str, occurrence: str = "") -> Written:
        """Delete event ``uid`` (its whole series) from calendar ``ref``, or
        only its ``occurrence`` (an EXDATE on the series, its override
        gone, its SEQUENCE raised when ``address`` invited people:
        :func:`appliance.vevent.exclude`). Returns what was written.
        Raises NotFound."""
        address = names.address(address)
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        limits = self._limits()

        def write(conn: sqlite3.Connection) -> Written:
            _, collection = self._target(conn, slug, address, ref)
            item = dav.item_by_uid(conn, collection.id, uid)
            if item is None or item.component != "VEVENT":
                raise NotFound("no such event")
            if occurrence:
                try:
                    series = vevent.read(item.text, uid).fields
                    invited = bool(series.attendees) and series.organizer == address
                    text = vevent.exclude(item.text, uid, occurrence, now, invited)
                except vevent.EventError:
                    raise NotFound("no such occurrence") from None
                dav.put_item(conn, collection.id, self._new_item(collection.path, item.href, text), limits=limits)
                directory.audit(conn, actor, "event.delete", f"{collection.path} {uid} {occurrence}")
                return Written(uid, item.text, text)
            dav.delete_item(conn, collection.id, item.href)
            directory.audit(conn, actor, "event.delete", f"{collection.path} {uid}")
            return Written(uid, item.text, "")

        return self.stores.handle(slug).write_sync("agenda delete", write)

    def _target(self, conn: sqlite3.Connection, slug: str, address: str,
                ref: str) -> tuple[Calendar, dav.CollectionRow]:
        self._viewer(conn, address)
        for calendar, collection in _writable(conn, slug, address):
            if calendar.ref == ref:
                return calendar, collection
        raise NotFound("no such calendar")

    def _limits(self) -> dav.Limits:
        return davitems.limits(self.stores.settings.dav)

    def _new_item(self, path: str, href: str, text: str) -> dav.NewItem:
        return davitems.new_item(self.stores.settings.dav, path, href, text, "event")


def _writable(conn: sqlite3.Connection, slug: str, address: str) -> list[tuple[Calendar, dav.CollectionRow]]:
    found = []
    rows = [(r.collection, True) for r in dav.calendars(conn, slug)]
    rows += [(r.collection, False) for r in dav.calendars(conn, address)]
    for collection, shared in rows:
        if _is_events(collection):
            found.append((_calendar(collection, shared, len(found)), collection))
    return found


def _checked(fields: vevent.Fields, organizer: str) -> vevent.Fields:
    """``fields`` tidied (spaces, lower-case addresses), or InvalidInput
    whose message starts with the field at fault."""
    title = " ".join(fields.title.split())
    if not title or len(title) > MAX_TITLE or _LINE_CONTROL_RE.search(title):
        raise InvalidInput(f"title: write 1 to {MAX_TITLE} characters")
    place = " ".join(fields.place.split())
    if len(place) > MAX_PLACE or _LINE_CONTROL_RE.search(place):
        raise InvalidInput(f"place: at most {MAX_PLACE} characters")
    description = fields.description.replace("\r\n", "\n").strip()
    if len(description) > MAX_DESCRIPTION or _TEXT_CONTROL_RE.search(description):
        raise InvalidInput(f"description: at most {MAX_DESCRIPTION} characters")
    if isinstance(fields.start, dt.datetime) != isinstance(fields.end, dt.datetime):
        raise InvalidInput("end: both times or both dates")
    for value in (fields.start, fields.end):
        if not 1900 <= value.year <= 2999:
            raise InvalidInput("start: no such date")
    if fields.end <= fields.start:
        raise InvalidInput("end: the end comes after the start")
    attendees = tuple(dict.fromkeys(a.strip().lower() for a in fields.attendees if a.strip()))
    if len(attendees) > MAX_ATTENDEES or not all(_EMAIL_RE.fullmatch(a) for a in attendees):
        raise InvalidInput("attendees: e-mail addresses only")
    if fields.reminder is not None and not 0 <= fields.reminder <= MAX_REMINDER:
        raise InvalidInput("reminder: at most four weeks before")
    return vevent.Fields(title, fields.start, fields.end, place, description, attendees, fields.reminder,
                         fields.organizer or organizer)


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


def _expand(text: str, start: dt.datetime, end: dt.datetime) -> tuple[icalendar.Calendar | None, list]:
    """The parsed object and its VEVENT occurrences that overlap [start,
    end), earliest first, at most :data:`MAX_EVENTS` + 1. A rule repeating
    by the second or minute is not expanded (its object is left out): it
    would cost seconds on every page for nothing a person plans. A
    client's object this reader cannot follow is left out too."""
    try:
        calendar = icalendar.Calendar.from_ical(text)
        for event in calendar.walk("VEVENT"):
            for rule in event.get("RRULE") if isinstance(event.get("RRULE"), list) else [event.get("RRULE")]:
                if rule is not None and str((rule.get("FREQ") or [""])[0]).upper() in ("SECONDLY", "MINUTELY"):
                    return None, []
        found = []
        for component in recurring_ical_events.of(calendar, components=["VEVENT"]).after(start):
            begin = component.get("DTSTART")
            if begin is not None and _instant(begin.dt, start.tzinfo) >= end:
                break
            found.append(component)
            if len(found) > MAX_EVENTS:
                break
        return calendar, found
    except Exception:  # noqa: BLE001 - one unreadable object must not break the page
        return None, []


def _occurrences(text: str, ref: str, start: dt.datetime, end: dt.datetime, zone: dt.tzinfo) -> list[Event]:
    """Every occurrence of the events of one stored object in [start, end)."""
    calendar, found = _expand(text, start, end)
    if calendar is None:
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
        if all_day and isinstance(last, dt.datetime):
            last = last.date()  # a client's mixed DTSTART/DTEND types (RFC 5545 forbids them)
        elif not all_day and not isinstance(last, dt.datetime):
            last = dt.datetime.combine(last, dt.time(), first.tzinfo)
        if last < first:
            last = first
        events.append(Event(
            calendar=ref, uid=str(component.get("UID", "")), title=str(component.get("SUMMARY", "")),
            place=str(component.get("LOCATION", "")), start=_local(first, zone), end=_local(last, zone),
            all_day=all_day, recurring=str(component.get("UID", "")) in repeating,
            occurrence=_occurrence_key(component) if str(component.get("UID", "")) in repeating else "",
        ))
    return events


def _occurrence_key(component: icalendar.Event) -> str:
    rid = component.get("RECURRENCE-ID") or component.get("DTSTART")
    return vevent.occurrence_key(rid.dt) if rid is not None else ""


def _busy_blocks(text: str, start: dt.datetime, end: dt.datetime,
                 zone: dt.tzinfo) -> list[tuple[dt.datetime, dt.datetime]]:
    """The [start, end) of each opaque, not cancelled occurrence in the
    view, in ``zone`` (floating times and dates read in ``zone``)."""
    found = _expand(text, start, end)[1]
    blocks = []
    for component in found:
        if str(component.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
            continue
        if str(component.get("STATUS", "")).upper() == "CANCELLED" or component.get("DTSTART") is None:
            continue
        first = component["DTSTART"].dt
        finish = component.get("DTEND")
        if finish is not None:
            last = finish.dt
        elif component.get("DURATION") is not None:
            last = first + component["DURATION"].dt
        else:
            last = first + dt.timedelta(days=1) if not isinstance(first, dt.datetime) else first
        a, b = _instant(first, zone), _instant(last, zone)
        a, b = max(a, start), min(b, end)
        if a < b:
            blocks.append((a, b))
    return blocks


def _instant(value: dt.datetime | dt.date, zone: dt.tzinfo) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time(), zone)
    return value.replace(tzinfo=zone) if value.tzinfo is None else value.astimezone(zone)


def _merged(blocks: list[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for a, b in sorted(blocks):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged
