"""Events as iCalendar VEVENTs (RFC 5545): what the agenda's form shows of
one, a new one, and the same object with the form's properties changed.

The form owns SUMMARY, DTSTART, DTEND (a DURATION becomes a DTEND),
LOCATION, DESCRIPTION, the ATTENDEE list and the reminder (VALARM).
Patching changes those of the series' master and nothing else: every
other property and component a client wrote (X- properties, RRULE,
exceptions, VTIMEZONE) stays. An attendee who stays keeps the parameters
a client gave (PARTSTAT, CN); alarms are replaced only when the reminder
changed, so a client's own alarms survive an edit of the title.

One occurrence of a repeating event is named by its key (the
RECURRENCE-ID it has or would have, :func:`occurrence_key`). Changing it
alone writes an override in the same object (a VEVENT with the series'
UID and that RECURRENCE-ID, RFC 5545 section 3.8.4.4), as Thunderbird and
Outlook do; removing it alone adds an EXDATE to the series' master and
drops its override.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import icalendar
import recurring_ical_events


class EventError(ValueError):
    """The text is not an iCalendar object with that event."""


@dataclass(frozen=True)
class Fields:
    """What the agenda's form shows and sets. Times are aware (or floating
    as the client wrote them); an all-day event's are dates, its end
    exclusive (RFC 5545 section 3.6.1)."""

    title: str
    start: dt.datetime | dt.date
    end: dt.datetime | dt.date
    place: str = ""
    description: str = ""
    attendees: tuple[str, ...] = ()
    #: Minutes before the start of the first alarm, None for none.
    reminder: int | None = None
    organizer: str = ""

    @property
    def all_day(self) -> bool:
        return not isinstance(self.start, dt.datetime)


@dataclass(frozen=True)
class Read:
    fields: Fields
    recurring: bool


def _master(calendar: icalendar.Calendar, uid: str) -> icalendar.Event:
    for component in calendar.walk("VEVENT"):
        if str(component.get("UID", "")) == uid and "RECURRENCE-ID" not in component:
            return component
    raise EventError("no such event")


def _parse(text: str) -> icalendar.Calendar:
    try:
        return icalendar.Calendar.from_ical(text)
    except (ValueError, IndexError, KeyError) as exc:
        raise EventError("not an iCalendar object") from exc


def _address(value: object) -> str:
    text = str(value)
    return text[7:].lower() if text.lower().startswith("mailto:") else text.lower()


def _reminder(event: icalendar.Event) -> int | None:
    for alarm in event.walk("VALARM"):
        trigger = alarm.get("TRIGGER")
        if trigger is None or not isinstance(trigger.dt, dt.timedelta):
            return None
        if trigger.params.get("RELATED", "START").upper() != "START":
            return None
        return max(0, int(-trigger.dt.total_seconds() // 60))
    return None


def _fields_of(event: icalendar.Event) -> Fields:
    if event.get("DTSTART") is None:
        raise EventError("an event without a start")
    start = event["DTSTART"].dt
    if event.get("DTEND") is not None:
        end = event["DTEND"].dt
    elif event.get("DURATION") is not None:
        end = start + event["DURATION"].dt
    else:
        end = start + dt.timedelta(days=1) if not isinstance(start, dt.datetime) else start
    attendees = event.get("ATTENDEE") or []
    if not isinstance(attendees, list):
        attendees = [attendees]
    return Fields(
        title=str(event.get("SUMMARY", "")), start=start, end=end, place=str(event.get("LOCATION", "")),
        description=str(event.get("DESCRIPTION", "")), attendees=tuple(_address(a) for a in attendees),
        reminder=_reminder(event), organizer=_address(event.get("ORGANIZER", "")),
    )


def read(text: str, uid: str) -> Read:
    """What the form shows of event ``uid`` (its master) in ``text``.
    Raises EventError."""
    event = _master(_parse(text), uid)
    return Read(_fields_of(event), "RRULE" in event or "RDATE" in event)


def occurrence_key(value: dt.datetime | dt.date) -> str:
    """The key naming an occurrence whose RECURRENCE-ID is ``value``: UTC
    ``YYYYMMDDTHHMMSSZ`` for a time with a zone, ``YYYYMMDDTHHMMSS`` for
    a floating one, ``YYYYMMDD`` for a date."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return value.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        return value.strftime("%Y%m%dT%H%M%S")
    return value.strftime("%Y%m%d")


def _key_instant(key: str) -> dt.datetime | dt.date:
    try:
        if len(key) == 8:
            return dt.datetime.strptime(key, "%Y%m%d").date()
        if key.endswith("Z"):
            return dt.datetime.strptime(key, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
        return dt.datetime.strptime(key, "%Y%m%dT%H%M%S")
    except ValueError:
        raise EventError("no such occurrence") from None


def _override(calendar: icalendar.Calendar, uid: str, key: str) -> icalendar.Event | None:
    for component in calendar.walk("VEVENT"):
        rid = component.get("RECURRENCE-ID")
        if str(component.get("UID", "")) == uid and rid is not None and occurrence_key(rid.dt) == key:
            return component
    return None


def _instance(calendar: icalendar.Calendar, uid: str, key: str) -> icalendar.Event:
    """Occurrence ``key`` of series ``uid`` as the expansion gives it (an
    override as written, else the master at that time). Raises
    EventError when the series has no such occurrence (an EXDATE, a
    time the rule never reaches)."""
    master = _master(calendar, uid)
    if "RRULE" not in master and "RDATE" not in master:
        raise EventError("not a repeating event")
    found = _override(calendar, uid, key)
    if found is not None:
        return found
    at = _key_instant(key)
    if isinstance(at, dt.datetime):
        begin = master["DTSTART"].dt
        if isinstance(begin, dt.datetime) and begin.tzinfo is None:
            at = at.replace(tzinfo=None)
        elif at.tzinfo is None and isinstance(begin, dt.datetime):
            raise EventError("no such occurrence")
        window = (at, at + dt.timedelta(seconds=1))
    else:
        window = (at, at + dt.timedelta(days=1))
    try:
        expanded = recurring_ical_events.of(calendar, components=["VEVENT"]).between(*window)
    except Exception:  # noqa: BLE001 - a rule this reader cannot follow has no occurrence to edit
        raise EventError("no such occurrence") from None
    for component in expanded:
        rid = component.get("RECURRENCE-ID")
        if str(component.get("UID", "")) == uid and rid is not None and occurrence_key(rid.dt) == key:
            return component
    raise EventError("no such occurrence")


def read_occurrence(text: str, uid: str, key: str) -> Read:
    """What the form shows of occurrence ``key`` of series ``uid``: its
    override's properties when a client (or the panel) wrote one, else
    the series' at that time. Raises EventError."""
    return Read(_fields_of(_instance(_parse(text), uid, key)), True)


def _set_times(event: icalendar.Event, fields: Fields) -> None:
    for name in ("DTSTART", "DTEND", "DURATION"):
        event.pop(name, None)
    event.add("DTSTART", fields.start)
    event.add("DTEND", fields.end)


def _set_text(event: icalendar.Event, name: str, value: str) -> None:
    event.pop(name, None)
    if value:
        event.add(name, value)


def _set_alarm(event: icalendar.Event, minutes: int | None, title: str) -> None:
    event.subcomponents = [c for c in event.subcomponents if c.name != "VALARM"]
    if minutes is None:
        return
    alarm = icalendar.Alarm()
    alarm.add("ACTION", "DISPLAY")
    alarm.add("DESCRIPTION", title or "Reminder")
    alarm.add("TRIGGER", -dt.timedelta(minutes=minutes))
    event.add_component(alarm)


def _set_attendees(event: icalendar.Event, wanted: tuple[str, ...], organizer: str) -> None:
    kept = event.get("ATTENDEE") or []
    if not isinstance(kept, list):
        kept = [kept]
    by_address = {_address(a): a for a in kept}
    event.pop("ATTENDEE", None)
    for address in wanted:
        old = by_address.get(address)
        if old is not None:
            event.add("ATTENDEE", old)
        else:
            event.add("ATTENDEE", f"mailto:{address}", parameters={
                "ROLE": "REQ-PARTICIPANT", "PARTSTAT": "NEEDS-ACTION", "CUTYPE": "INDIVIDUAL"})
    if wanted and "ORGANIZER" not in event and organizer:
        event.add("ORGANIZER", f"mailto:{organizer}")


def _serialise(calendar: icalendar.Calendar) -> str:
    calendar.add_missing_timezones()
    return calendar.to_ical().decode("utf-8")


def new(uid: str, fields: Fields, now: dt.datetime) -> str:
    """A VCALENDAR holding one VEVENT with ``fields``."""
    calendar = icalendar.Calendar()
    calendar.add("VERSION", "2.0")
    calendar.add("PRODID", "-//appliance//agenda//EN")
    event = icalendar.Event()
    event.add("UID", uid)
    event.add("DTSTAMP", now)
    event.add("CREATED", now)
    event.add("LAST-MODIFIED", now)
    event.add("SUMMARY", fields.title)
    _set_times(event, fields)
    _set_text(event, "LOCATION", fields.place)
    _set_text(event, "DESCRIPTION", fields.description)
    _set_attendees(event, fields.attendees, fields.organizer)
    _set_alarm(event, fields.reminder, fields.title)
    calendar.add_component(event)
    return _serialise(calendar)


def _apply(event: icalendar.Event, fields: Fields, now: dt.datetime, invited: bool = False) -> None:
    """Set the form's properties of ``event`` (a master or an override).
    Its SEQUENCE rises when its times change, or on any change when
    ``invited`` (its attendees are sent the new version)."""
    before = _fields_of(event)
    event.pop("SUMMARY", None)
    event.add("SUMMARY", fields.title)
    if (before.start, before.end) != (fields.start, fields.end):
        _set_times(event, fields)
    if (before.start, before.end) != (fields.start, fields.end) or (invited and before != fields):
        sequence = int(event.get("SEQUENCE", 0)) + 1
        event.pop("SEQUENCE", None)
        event.add("SEQUENCE", sequence)
    _set_text(event, "LOCATION", fields.place)
    _set_text(event, "DESCRIPTION", fields.description)
    if set(before.attendees) != set(fields.attendees):
        _set_attendees(event, fields.attendees, fields.organizer)
    if before.reminder != fields.reminder:
        _set_alarm(event, fields.reminder, fields.title)
    _stamp(event, now)


def _stamp(event: icalendar.Event, now: dt.datetime) -> None:
    for name in ("DTSTAMP", "LAST-MODIFIED"):
        event.pop(name, None)
        event.add(name, now)


def patch(text: str, uid: str, fields: Fields, now: dt.datetime, invited: bool = False) -> str:
    """``text`` with the form's properties of event ``uid``'s master set to
    ``fields``, its SEQUENCE raised when its times change (RFC 5546), or
    on any change when ``invited``, everything else as it was. Raises
    EventError."""
    calendar = _parse(text)
    read(text, uid)
    _apply(_master(calendar, uid), fields, now, invited)
    return _serialise(calendar)


def patch_occurrence(text: str, uid: str, key: str, fields: Fields, now: dt.datetime, invited: bool = False) -> str:
    """``text`` with occurrence ``key`` of series ``uid`` set to ``fields``
    alone: its override patched as :func:`patch` patches a master, or a
    new override holding the master's other properties and alarms (no
    rule), with the occurrence's original time as RECURRENCE-ID. The
    series and the other overrides stay as they were. Raises EventError."""
    calendar = _parse(text)
    instance = _instance(calendar, uid, key)
    if _override(calendar, uid, key) is None:
        master = _master(calendar, uid)
        override = icalendar.Event.from_ical(master.to_ical())
        for name in ("RRULE", "RDATE", "EXDATE", "EXRULE", "DTSTART", "DTEND", "DURATION", "RECURRENCE-ID"):
            override.pop(name, None)
        override.add("DTSTART", instance["DTSTART"].dt)
        end = _fields_of(instance).end
        override.add("DTEND", end)
        override.add("RECURRENCE-ID", instance["RECURRENCE-ID"].dt)
        calendar.add_component(override)
        instance = override
    _apply(instance, fields, now, invited)
    return _serialise(calendar)


def series_fields(master: Fields, occurrence: Fields, fields: Fields) -> Fields:
    """``fields`` (the form of one occurrence) for the whole series: its
    start moved by as much as the form moved the occurrence's, its length
    the form's."""
    if fields.all_day == occurrence.all_day:
        start = master.start + (fields.start - occurrence.start)
    else:
        day = _day(master.start) + (_day(fields.start) - _day(occurrence.start))
        start = day if fields.all_day else dt.datetime.combine(day, fields.start.timetz())
    return Fields(fields.title, start, start + (fields.end - fields.start), fields.place, fields.description,
                  fields.attendees, fields.reminder, fields.organizer)


def _day(value: dt.datetime | dt.date) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def exclude(text: str, uid: str, key: str, now: dt.datetime, invited: bool = False) -> str:
    """``text`` without occurrence ``key`` of series ``uid``: an EXDATE of
    its original time on the master (of the master's DTSTART type and
    zone; its SEQUENCE raised when ``invited``), its override removed.
    Raises EventError."""
    calendar = _parse(text)
    instance = _instance(calendar, uid, key)
    original = instance["RECURRENCE-ID"].dt
    master = _master(calendar, uid)
    begin = master["DTSTART"].dt
    if isinstance(begin, dt.datetime) and isinstance(original, dt.datetime) and begin.tzinfo and original.tzinfo:
        original = original.astimezone(begin.tzinfo)
    calendar.subcomponents = [c for c in calendar.subcomponents if not (
        c.name == "VEVENT" and str(c.get("UID", "")) == uid and c.get("RECURRENCE-ID") is not None
        and occurrence_key(c["RECURRENCE-ID"].dt) == key)]
    master.add("EXDATE", original)
    if invited:
        sequence = int(master.get("SEQUENCE", 0)) + 1
        master.pop("SEQUENCE", None)
        master.add("SEQUENCE", sequence)
    _stamp(master, now)
    return _serialise(calendar)
